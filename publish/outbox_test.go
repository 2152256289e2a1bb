package publish

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sorterd/sorterd/internal/testenv"
)

// smallFS mounts a tmpfs of size bytes on a fresh directory, unmounted when
// the test ends. Where mounting is refused (not root, no CAP_SYS_ADMIN) it
// says so and returns "": the caller then injects the failure instead.
func smallFS(t *testing.T, size string) string {
	t.Helper()
	dir := t.TempDir()
	out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size+",mode=0750", "tmpfs", dir).CombinedOutput()
	if err != nil {
		t.Logf("mounting a tmpfs was refused (%v: %s); injecting the disk failure instead", err, strings.TrimSpace(string(out)))
		return ""
	}
	t.Cleanup(func() { exec.Command("umount", "-l", dir).Run() })
	return dir
}

func remountRO(t *testing.T, dir string) {
	t.Helper()
	if out, err := exec.Command("mount", "-o", "remount,ro", dir).CombinedOutput(); err != nil {
		t.Fatalf("remount read-only: %v: %s", err, out)
	}
}

func event(i int) []byte {
	return []byte(fmt.Sprintf(`{"id":"%d","pad":%q}`, i, strings.Repeat("x", 900)))
}

// collect runs a publisher on ob's directory against a real broker and
// returns the distinct events the subscriber got, in order.
func distinct(msgs []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, m := range msgs {
		if !seen[m] {
			seen[m] = true
			out = append(out, m)
		}
	}
	return out
}

// A disk that fills up while running: every event still reaches the
// broker (from memory), every refused write is counted, the outbox says
// it is degraded, and no .tmp file is left behind. Once the disk has room
// again the outbox heals.
func TestOutboxDiskFullLosesNothing(t *testing.T) {
	b := testenv.StartBroker(t)
	w := watch(t, b, "sorterd/t1/event")
	dir := smallFS(t, "16k")
	inject := dir == ""
	if inject {
		dir = t.TempDir()
	}
	p, err := New(Options{Broker: b.URL(), Prefix: "sorterd", Station: "t1", OutboxDir: filepath.Join(dir, "outbox"), OutboxSize: 100, Log: slogDiscard()})
	if err != nil {
		t.Fatal(err)
	}
	// Fill the disk before the broker is reachable, so nothing drains.
	if !inject {
		os.WriteFile(filepath.Join(dir, "filler"), make([]byte, 64<<10), 0o600) // cut short at the limit: ENOSPC
	} else {
		p.outbox.inject = syscall.ENOSPC
	}
	var failed int
	for i := 0; i < 12; i++ {
		if err := p.Event(event(i)); err != nil {
			failed++
			if !inject && !strings.Contains(err.Error(), "no space") {
				t.Errorf("event %d: %v, want ENOSPC", i, err)
			}
		}
	}
	if failed == 0 || p.OutboxFailed() != failed {
		t.Fatalf("%d puts failed, OutboxFailed %d: the full disk went unnoticed", failed, p.OutboxFailed())
	}
	if p.OutboxProblem() == "" {
		t.Error("a full disk did not make the outbox degraded")
	}
	if p.OutboxDepth() != 12 || p.OutboxInMemory() != failed {
		t.Errorf("depth %d in memory %d, want 12 and %d", p.OutboxDepth(), p.OutboxInMemory(), failed)
	}
	ents, _ := os.ReadDir(filepath.Join(dir, "outbox"))
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), ".tmp") {
			t.Errorf("left behind: %s", e.Name())
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go p.Run(ctx, time.Second)
	waitFor(t, "12 events", func() bool { return len(distinct(w.Get("sorterd/t1/event"))) >= 12 })
	got := distinct(w.Get("sorterd/t1/event"))
	for i, m := range got {
		if m != string(event(i)) {
			t.Fatalf("event %d out of order or changed: %.30s", i, m)
		}
	}
	// Room again: the next write reaches the disk and the problem clears.
	if inject {
		p.outbox.inject = nil
	} else {
		os.Remove(filepath.Join(dir, "filler"))
	}
	if err := p.Event(event(12)); err != nil {
		t.Fatalf("after freeing the disk: %v", err)
	}
	if p.OutboxProblem() != "" {
		t.Errorf("still degraded: %s", p.OutboxProblem())
	}
}

// A state dir that turns read-only while running loses no event; one that
// is read-only at start starts the outbox degraded rather than failing.
func TestOutboxReadOnlyDir(t *testing.T) {
	b := testenv.StartBroker(t)
	w := watch(t, b, "sorterd/t1/event")
	dir := smallFS(t, "1m")
	inject := dir == ""
	if inject {
		dir = t.TempDir()
	}
	ob := filepath.Join(dir, "outbox")
	p, err := New(Options{Broker: b.URL(), Prefix: "sorterd", Station: "t1", OutboxDir: ob, OutboxSize: 100, Log: slogDiscard()})
	if err != nil {
		t.Fatal(err)
	}
	p.Event(event(0)) // on disk
	if inject {
		p.outbox.inject = syscall.EROFS
	} else {
		remountRO(t, dir)
	}
	for i := 1; i < 9; i++ {
		if err := p.Event(event(i)); err == nil {
			t.Fatalf("event %d: a read-only disk took it", i)
		}
	}
	if p.OutboxFailed() != 8 || p.OutboxProblem() == "" {
		t.Errorf("failed %d problem %q", p.OutboxFailed(), p.OutboxProblem())
	}
	ctx, cancel := context.WithCancel(context.Background())
	go p.Run(ctx, time.Second)
	waitFor(t, "9 events", func() bool { return len(distinct(w.Get("sorterd/t1/event"))) >= 9 })
	cancel()

	// A restart on the read-only dir: the outbox opens degraded, and the
	// event on disk that could not be removed is sent again (at least once).
	p2, err := New(Options{Broker: b.URL(), Prefix: "sorterd", Station: "t1", OutboxDir: ob, OutboxSize: 100, Log: slogDiscard()})
	if err != nil {
		t.Fatalf("a read-only state dir stopped the start: %v", err)
	}
	if inject {
		p2.outbox.inject = syscall.EROFS
		p2.outbox.lastErr = syscall.EROFS // as load() would have found
	}
	if p2.OutboxProblem() == "" {
		t.Error("started on a read-only dir without saying so")
	}
	if err := p2.Event(event(9)); err == nil {
		t.Error("read-only dir took an event")
	}
	ctx2, cancel2 := context.WithCancel(context.Background())
	defer cancel2()
	go p2.Run(ctx2, time.Second)
	waitFor(t, "10 events", func() bool { return len(distinct(w.Get("sorterd/t1/event"))) >= 10 })

	// A state dir that cannot even be created.
	p3, err := New(Options{Broker: b.URL(), Prefix: "sorterd", Station: "t1", OutboxDir: "/proc/sorterd-no-such/outbox", Log: slogDiscard()})
	if err != nil || p3.OutboxProblem() == "" {
		t.Errorf("uncreatable dir: err %v problem %q", err, p3.OutboxProblem())
	}
}

// Files a power cut or a stray hand can leave: empty, cut short, random,
// not a message at all. None is published; each is counted and moved to
// the quarantine directory; the good ones go out in order.
func TestOutboxQuarantinesBadFiles(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o640); err != nil {
			t.Fatal(err)
		}
	}
	write(fmt.Sprintf("%020d.json", 1), `{"id":"a"}`)
	write(fmt.Sprintf("%020d.json", 2), ``)
	write(fmt.Sprintf("%020d.json", 3), `{"id":"b","lab`)
	write(fmt.Sprintf("%020d.json", 4), "\x8f\x01\xffrandom")
	write(fmt.Sprintf("%020d.json", 5), `{"id":"c"}`)
	write(fmt.Sprintf("%020d.json.tmp", 6), `{"id":"half`)
	write("notes.txt", "stray")
	o, err := OpenOutbox(dir, 100, slogDiscard())
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for {
		seq, m, ok := o.Peek()
		if !ok {
			break
		}
		got = append(got, string(m))
		o.Done(seq)
	}
	if strings.Join(got, " ") != `{"id":"a"} {"id":"c"}` {
		t.Errorf("published %q", got)
	}
	if o.Quarantined() != 4 {
		t.Errorf("quarantined %d, want 4 (3 bad events, 1 stray file)", o.Quarantined())
	}
	q, _ := os.ReadDir(filepath.Join(dir, QuarantineDir))
	if len(q) != 4 {
		t.Errorf("quarantine holds %d files, want 4", len(q))
	}
	left, _ := os.ReadDir(dir)
	for _, e := range left {
		if !e.IsDir() {
			t.Errorf("left in the outbox: %s", e.Name())
		}
	}
}

// Files that are valid JSON but no event ([1,2,3], 12345, a command) are
// quarantined like garbage, never published, and every quarantine is a
// WARN naming the file. They were published on the event topic, and no
// quarantine was ever logged.
func TestOutboxQuarantinesNonEvents(t *testing.T) {
	b := testenv.StartBroker(t)
	w := watch(t, b, "sorterd/t1/event")
	dir := t.TempDir()
	bodies := []string{`{"id":"a"}`, `[1,2,3]`, `12345`, `{"cmd":"pause"}`, `{"id":7}`, `"id"`, `{"id":"b"}`, `{"id":"c","lab`}
	for i, body := range bodies {
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("%020d.json", i+1)), []byte(body), 0o640); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("stray"), 0o640)
	logs := &testenv.LogBuffer{}
	p, err := New(Options{Broker: b.URL(), Prefix: "sorterd", Station: "t1", OutboxDir: dir, OutboxSize: 100, Log: logs.Logger()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); p.Run(ctx, time.Second) }()
	defer func() { cancel(); <-done }()
	waitFor(t, "the outbox drained", func() bool { return p.OutboxDepth() == 0 && len(w.Get("sorterd/t1/event")) >= 2 })
	// A last event, delivered in order after whatever the outbox held: once
	// it is there, anything published after the good two is there too.
	p.Event([]byte(`{"id":"last"}`))
	waitFor(t, "the last event", func() bool { return strings.Contains(strings.Join(w.Get("sorterd/t1/event"), " "), `"last"`) })
	if got := strings.Join(w.Get("sorterd/t1/event"), " "); got != `{"id":"a"} {"id":"b"} {"id":"last"}` {
		t.Errorf("published %q, want only the two events (and the last)", got)
	}
	if p.Quarantined() != 7 {
		t.Errorf("quarantined %d, want 7 (6 files that are no event, 1 stray)", p.Quarantined())
	}
	q, _ := os.ReadDir(filepath.Join(dir, QuarantineDir))
	if len(q) != 7 {
		t.Errorf("quarantine holds %d files, want 7", len(q))
	}
	log := logs.String()
	for i, body := range bodies {
		name := fmt.Sprintf("%020d.json", i+1)
		warned := regexp.MustCompile(`level=WARN msg="outbox file quarantined, not published" file=\S*` + name).MatchString(log)
		if isEvent := strings.HasPrefix(body, `{"id":"`) && strings.HasSuffix(body, `"}`); warned == isEvent {
			t.Errorf("%s (%s): quarantine logged %v", name, body, warned)
		}
	}
	if !strings.Contains(log, "notes.txt") {
		t.Errorf("the stray file's quarantine is not logged:\n%s", log)
	}
}

// At a stop, events only in memory (the disk refused them, the broker is
// away) are written to disk if it takes them again, for the next start;
// those it still refuses are counted and logged as not kept. They used to
// vanish without a word.
func TestStopKeepsOrCountsInMemoryEvents(t *testing.T) {
	for _, diskBack := range []bool{false, true} {
		t.Run(fmt.Sprintf("disk back %v", diskBack), func(t *testing.T) {
			dir := t.TempDir()
			logs := &testenv.LogBuffer{}
			p, err := New(Options{Broker: fmt.Sprintf("tcp://127.0.0.1:%d", testenv.FreePort(t)), Prefix: "sorterd", Station: "t1",
				OutboxDir: dir, OutboxSize: 100, Log: logs.Logger()})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() { defer close(done); p.Run(ctx, 200*time.Millisecond) }()
			p.Event(event(1)) // on disk
			p.outbox.inject = syscall.ENOSPC
			for i := 2; i <= 6; i++ {
				p.Event(event(i))
			}
			if p.OutboxInMemory() != 5 {
				t.Fatalf("%d in memory, want 5", p.OutboxInMemory())
			}
			if diskBack {
				p.outbox.mu.Lock()
				p.outbox.inject = nil
				p.outbox.mu.Unlock()
			}
			cancel()
			<-done
			log := logs.String()
			o, err := OpenOutbox(dir, 100, slogDiscard()) // the next start
			if err != nil {
				t.Fatal(err)
			}
			var next []string
			for {
				seq, m, ok := o.Peek()
				if !ok {
					break
				}
				var ev struct{ ID string }
				json.Unmarshal(m, &ev)
				next = append(next, ev.ID)
				o.Done(seq)
			}
			if !diskBack {
				if !strings.Contains(log, `level=ERROR msg="5 events not kept: the disk refused them`) || !strings.Contains(log, `first_ids=2,3,4,5,6`) {
					t.Errorf("no ERROR counting the 5 events not kept:\n%s", log)
				}
				if strings.Join(next, " ") != "1" || !strings.Contains(log, `msg="events wait in the outbox for the next start" count=1 `) {
					t.Errorf("the next start finds %v, want event 1 (on disk), said at the stop:\n%s", next, log)
				}
				return
			}
			if strings.Contains(log, "not kept") || !strings.Contains(log, "events held in memory written to the outbox for the next start\" count=5") {
				t.Errorf("want the 5 written for the next start:\n%s", log)
			}
			if strings.Join(next, " ") != "1 2 3 4 5 6" || !strings.Contains(log, `msg="events wait in the outbox for the next start" count=6 `) {
				t.Errorf("the next start finds %v, want 1-6 in order, said at the stop:\n%s", next, log)
			}
		})
	}
}

// Put makes the message durable: file and directory fsynced. (What this
// can check without cutting power: the file is complete and named when
// Put returns, and no temporary file stays.)
func TestOutboxPutIsComplete(t *testing.T) {
	dir := t.TempDir()
	o, err := OpenOutbox(dir, 10, slogDiscard())
	if err != nil {
		t.Fatal(err)
	}
	if err := o.Put(event(1)); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(o.path(1))
	if err != nil || string(b) != string(event(1)) {
		t.Fatalf("%v %.20s", err, b)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Errorf("dir holds %d entries", len(ents))
	}
}

// syncCall is one call of the outbox's Sync: what was synced, and what
// the disk held at that moment.
type syncCall struct {
	name    string // the file or directory synced
	dir     bool
	content string // a file's bytes when it was synced
	named   bool   // the final name of the last file synced existed then
}

func (c syncCall) String() string {
	if c.dir {
		return fmt.Sprintf("dir %s (last file named: %v)", c.name, c.named)
	}
	return fmt.Sprintf("file %s: %d bytes %.12s… (named: %v)", filepath.Base(c.name), len(c.content), c.content, c.named)
}

// An event counts as kept on disk only once its file was synced with all
// its bytes, under its temporary name, then renamed, then its directory
// synced: all before Put returns. When either sync fails the event is
// kept in memory instead (still delivered) and the write counted as
// failed; the events a stop writes to disk (Persist) are synced the same
// way. Seen through OutboxOptions.Sync: with both fsyncs removed, every
// other test passed.
func TestOutboxSyncsBeforeKeeping(t *testing.T) {
	dir := t.TempDir()
	var (
		o     *Outbox
		calls []syncCall
		last  string // the final name of the last file synced
		fail  string // "file" or "dir": that sync fails
	)
	sync := func(f *os.File) error {
		c := syncCall{name: f.Name()}
		if fi, err := f.Stat(); err == nil && fi.IsDir() {
			c.dir = true
		} else {
			b, _ := os.ReadFile(f.Name())
			c.content = string(b)
			last = strings.TrimSuffix(f.Name(), ".tmp")
		}
		_, err := os.Stat(last)
		c.named = err == nil
		calls = append(calls, c)
		if (fail == "file" && !c.dir) || (fail == "dir" && c.dir) {
			return syscall.EIO
		}
		return f.Sync()
	}
	var err error
	if o, err = OpenOutboxWith(dir, OutboxOptions{Limit: 10, Log: slogDiscard(), Sync: sync}); err != nil {
		t.Fatal(err)
	}
	synced := func(n uint64) []syncCall {
		return []syncCall{
			{name: o.path(n) + ".tmp", content: string(event(int(n)))},
			{name: dir, dir: true, named: true},
		}
	}
	check := func(what string, want []syncCall) {
		t.Helper()
		if !slices.Equal(calls, want) {
			t.Errorf("%s: syncs\n  %v\nwant\n  %v", what, calls, want)
		}
		calls = nil
	}

	calls = nil
	if err := o.Put(event(1)); err != nil {
		t.Fatal(err)
	}
	check("Put", synced(1))
	if o.InMemory() != 0 || o.Failed() != 0 {
		t.Errorf("a kept event: %d in memory, %d failed writes", o.InMemory(), o.Failed())
	}

	// A file that cannot be synced is not renamed; the event is kept in
	// memory.
	fail = "file"
	if err := o.Put(event(2)); err == nil {
		t.Error("Put with a failed file sync: no error")
	}
	check("Put, file sync failing", synced(2)[:1])
	if _, err := os.Stat(o.path(2)); err == nil {
		t.Error("event 2 named on disk though its file was not synced")
	}
	// A directory that cannot be synced: the name may not survive a power
	// cut, so the event is kept in memory too.
	fail = "dir"
	if err := o.Put(event(3)); err == nil {
		t.Error("Put with a failed directory sync: no error")
	}
	check("Put, directory sync failing", synced(3))
	if o.InMemory() != 2 || o.Failed() != 2 {
		t.Errorf("after two failed syncs: %d in memory, %d failed writes; want 2 and 2", o.InMemory(), o.Failed())
	}
	if _, err := os.Stat(o.path(3)); err == nil {
		t.Error("event 3 left on disk though its directory was not synced")
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Errorf("dir holds %d entries, want event 1's file alone", len(ents))
	}

	// At a stop, the events in memory are written and synced the same way.
	fail = ""
	if written, notKept := o.Persist(); written != 2 || len(notKept) != 0 {
		t.Errorf("Persist: %d written, %d not kept", written, len(notKept))
	}
	check("Persist", append(synced(2), synced(3)...))
	if o.InMemory() != 0 {
		t.Errorf("%d still in memory after Persist", o.InMemory())
	}
}

// BenchmarkOutboxPut is the cost of making one event durable (write,
// fsync file, rename, fsync directory) on the test's temporary disk; the
// pipeline pays it once per item, after the flap.
func BenchmarkOutboxPut(b *testing.B) {
	o, err := OpenOutbox(b.TempDir(), b.N+1, slogDiscard())
	if err != nil {
		b.Fatal(err)
	}
	msg := event(1)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := o.Put(msg); err != nil {
			b.Fatal(err)
		}
	}
}
