package main

import (
	"encoding/json"
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

// SIGTERM while events are held only in memory (the disk under the state
// dir is full and the broker is away): the daemon exits 0, and says at
// exit how many events it could not keep, which are exactly the events
// the disk refused. It used to drop them without a word.
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
	filler, err := os.Create(filepath.Join(dir, "filler"))
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
	m := regexp.MustCompile(`level=ERROR msg="(\d+) events not kept: the disk refused them`).FindStringSubmatch(s.logs.String())
	if m == nil {
		t.Fatalf("no count of the events not kept at exit:\n%s", s.logs)
	}
	if n, _ := strconv.Atoi(m[1]); n != inMemory() {
		t.Errorf("%d events said not kept; %d were held only in memory:\n%s", n, inMemory(), s.logs)
	}
	t.Logf("%d events held in memory at SIGTERM, all counted at exit", inMemory())
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

	decided := regexp.MustCompile(`msg=item id=(\S+)`)
	missing := func() []string {
		got := map[string]bool{}
		for _, m := range rec.Get("sorterd/faults/event") {
			var ev struct {
				ID string `json:"id"`
			}
			json.Unmarshal([]byte(m), &ev)
			got[ev.ID] = true
		}
		var out []string
		for _, m := range decided.FindAllStringSubmatch(s.logs.String(), -1) {
			if !got[m[1]] {
				out = append(out, m[1])
			}
		}
		return out
	}
	eventuallyLog(t, s.logs, "every decided item published after the reload", 60*time.Second, func() bool { return len(missing()) == 0 })
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
	eventuallyLog(t, s.logs, "every decided item published by the stop", 10*time.Second, func() bool { return len(missing()) == 0 })
	if strings.Contains(s.logs.String(), "events not kept") {
		t.Errorf("events said not kept:\n%s", s.logs)
	}
	t.Logf("%d events held in memory across the reload, all published", held)
}
