package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sorterd/sorterd/internal/testenv"
)

// sorterdBinary builds the daemon into a temporary directory, with the
// build tags this test binary was built with (so the packages come from
// the build cache): a test that sends real signals runs it as systemd
// would.
func sorterdBinary(t *testing.T) string {
	t.Helper()
	testenv.Slow(t, "builds the binary")
	tags := ""
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "-tags" {
				tags = s.Value
			}
		}
	}
	bin := filepath.Join(t.TempDir(), "sorterd")
	if out, err := exec.Command("go", "build", "-tags", tags, "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v: %s", err, out)
	}
	return bin
}

// proc is bin/sorterd (sorterdBinary) running as its own process, as
// systemd runs it: real signals, its own exit.
type proc struct {
	t      *testing.T
	cmd    *exec.Cmd
	logs   *syncBuf
	err    error // Wait's, once exited is closed
	exited chan struct{}
}

// runBinary starts bin with --config cfg, its output in logs; it is killed
// if still running when the test ends.
func runBinary(t *testing.T, bin, cfg string, logs *syncBuf) *proc {
	t.Helper()
	p := &proc{t: t, cmd: exec.Command(bin, "--config", cfg), logs: logs, exited: make(chan struct{})}
	p.cmd.Stdout, p.cmd.Stderr = logs, logs
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.exited) }()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			p.cmd.Process.Kill()
			<-p.exited
		}
	})
	return p
}

// signal sends sig to the process.
func (p *proc) signal(sig os.Signal) {
	p.t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		p.t.Fatal(err)
	}
}

// stop sends SIGTERM and asserts an exit 0 within systemd's
// TimeoutStopSec (15 s).
func (p *proc) stop() {
	p.t.Helper()
	p.signal(syscall.SIGTERM)
	select {
	case <-p.exited:
		if p.err != nil {
			p.t.Errorf("exit after SIGTERM: %v", p.err)
		}
	case <-time.After(15 * time.Second):
		p.t.Fatalf("no exit within 15 s of SIGTERM (TimeoutStopSec):\n%s", p.logs)
	}
}

// notKeptRE is the stop's count of the events it could not keep.
var notKeptRE = regexp.MustCompile(`level=ERROR msg="(\d+) events not kept: the disk refused them[^"]*" count=\d+ first_ids=(\S*)`)

// notKept reads the stop's count and ids of the events it could not keep
// (nil, 0 when it said nothing); the ids are all of them up to 10.
func notKept(t *testing.T, logs string) (ids []string, n int) {
	t.Helper()
	m := notKeptRE.FindStringSubmatch(logs)
	if m == nil {
		return nil, 0
	}
	n, _ = strconv.Atoi(m[1])
	if m[2] != "" {
		ids = strings.Split(m[2], ",")
	}
	if n <= 10 && len(ids) != n {
		t.Errorf("%d events said not kept, %d ids named: %s", n, len(ids), m[0])
	}
	return ids, n
}

// SIGTERM while events are held only in memory (the disk under the state
// dir is full and the broker is away): the daemon exits 0, and says at
// exit how many events it could not keep, which are exactly the events
// the disk refused. It used to drop them without a word. The next start
// (disk and broker back) publishes every other decided item.
func TestSIGTERMCountsEventsNotKept(t *testing.T) {
	testenv.Slow(t, "runs the daemon as a process")
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", dir).CombinedOutput(); err != nil {
		msg := fmt.Sprintf("mounting a tmpfs was refused (%v: %s): run as root, as make test does", err, strings.TrimSpace(string(out)))
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", dir).Run() })
	bin := sorterdBinary(t)
	b := testenv.StartBroker(t)
	rec := testenv.Subscribe(t, b, "sorterd/faults/event")
	s := stationConfig(t, b, filepath.Join(dir, "state"))
	p := runBinary(t, bin, s.cfg, s.logs)
	eventuallyLog(t, s.logs, "events delivered", 60*time.Second, func() bool { return len(rec.Get("sorterd/faults/event")) >= 2 })

	b.Stop()
	// Two items while the broker is away and the disk takes their events:
	// the outbox keeps them for the next start.
	d0 := len(decidedIDs(s.logs.String()))
	eventuallyLog(t, s.logs, "events kept on disk", 60*time.Second, func() bool { return len(decidedIDs(s.logs.String())) >= d0+2 })
	fill := filepath.Join(dir, "filler")
	filler, err := os.Create(fill)
	if err != nil {
		t.Fatal(err)
	}
	for chunk := make([]byte, 16<<10); ; {
		if _, err := filler.Write(chunk); err != nil {
			break // ENOSPC: the disk is full
		}
	}
	filler.Close()
	inMemory := func() int { return strings.Count(s.logs.String(), "event not written to the outbox; kept in memory") }
	eventuallyLog(t, s.logs, "events held in memory", 60*time.Second, func() bool { return inMemory() >= 3 })

	p.stop()
	lost, n := notKept(t, s.logs.String())
	if n == 0 {
		t.Fatalf("no count of the events not kept at exit:\n%s", s.logs)
	}
	if n != inMemory() {
		t.Errorf("%d events said not kept; %d were held only in memory:\n%s", n, inMemory(), s.logs)
	}
	t.Logf("%d events held in memory at SIGTERM, all counted at exit", inMemory())

	// The next start, with room on the disk and the broker back, sends
	// what the outbox kept: every decided item but those counted.
	os.Remove(fill)
	b.Start()
	again := &syncBuf{}
	p2 := runBinary(t, bin, s.cfg, again)
	eventuallyLog(t, again, "the restarted station", 60*time.Second, func() bool { return strings.Contains(again.String(), `msg="station ready"`) })
	both := func() string { return s.logs.String() + again.String() }
	eventuallyLog(t, again, "what the outbox kept, published after the restart", 60*time.Second, func() bool {
		return len(unpublished(t, both(), rec, "sorterd/faults/event", lost)) == 0
	})
	p2.stop()
	checkPublished(t, "SIGTERM with events in memory, then a restart", both, rec, "sorterd/faults/event", lost)
}

// SIGHUP while events are held only in memory (the disk under the state
// dir is full and the broker is away): the reload hands them to the next
// publisher, and once the disk and the broker are back every decided
// item is published. The outbox used to be rebuilt at each reload,
// dropping them.
func TestSIGHUPKeepsEventsInMemory(t *testing.T) {
	testenv.Slow(t, "runs the daemon as a process")
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", dir).CombinedOutput(); err != nil {
		msg := fmt.Sprintf("mounting a tmpfs was refused (%v: %s): run as root, as make test does", err, strings.TrimSpace(string(out)))
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", dir).Run() })
	bin := sorterdBinary(t)
	b := testenv.StartBroker(t)
	rec := testenv.Subscribe(t, b, "sorterd/faults/event")
	s := stationConfig(t, b, filepath.Join(dir, "state"))
	cmd := exec.Command(bin, "--config", s.cfg)
	cmd.Stdout, cmd.Stderr = s.logs, s.logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var waitErr error
	exited := make(chan struct{})
	go func() { waitErr = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		select {
		case <-exited:
		default:
			cmd.Process.Kill()
			<-exited
		}
	})
	eventuallyLog(t, s.logs, "events delivered", 60*time.Second, func() bool { return len(rec.Get("sorterd/faults/event")) >= 2 })

	b.Stop()
	fill := filepath.Join(dir, "filler")
	filler, err := os.Create(fill)
	if err != nil {
		t.Fatal(err)
	}
	for chunk := make([]byte, 16<<10); ; {
		if _, err := filler.Write(chunk); err != nil {
			break // ENOSPC: the disk is full
		}
	}
	filler.Close()
	inMemory := func() int { return strings.Count(s.logs.String(), "event not written to the outbox; kept in memory") }
	eventuallyLog(t, s.logs, "events held in memory", 60*time.Second, func() bool { return inMemory() >= 3 })

	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	ready := func() int { return strings.Count(s.logs.String(), `msg="station ready"`) }
	eventuallyLog(t, s.logs, "the reloaded station", 60*time.Second, func() bool { return ready() >= 2 })
	held := inMemory()
	os.Remove(fill)
	b.Start()
	eventuallyLog(t, s.logs, "every decided item published after the reload", 60*time.Second, func() bool {
		return len(unpublished(t, s.logs.String(), rec, "sorterd/faults/event", nil)) == 0
	})
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-exited:
		if waitErr != nil {
			t.Errorf("exit after SIGTERM: %v", waitErr)
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("no exit within 15 s of SIGTERM (TimeoutStopSec):\n%s", s.logs)
	}
	if strings.Contains(s.logs.String(), "events not kept") {
		t.Errorf("events said not kept:\n%s", s.logs)
	}
	// Every item decided, before the reload, held in memory across it, or
	// after it, was published by the stop (the drain): decided = published.
	checkPublished(t, "SIGHUP with events in memory", s.logs.String, rec, "sorterd/faults/event", nil)
	t.Logf("%d events held in memory across the reload, all published", held)
}
