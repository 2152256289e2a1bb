package publish

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// Outbox is a bounded on-disk queue of messages waiting for the broker:
// one file per message, named by a sequence number, so order survives a
// restart and a crash loses at most the message being written. Each file
// is fsynced, then renamed into place, then the directory is fsynced, so
// a power cut leaves either the whole message or none of it.
//
// When the disk fails (full, read-only, gone) a message is kept in memory
// instead, in its place in the queue, and delivered from there: it is
// lost only if the daemon stops before the broker takes it. Every failed
// write is counted and the outbox reports itself degraded (Problem) until
// a write succeeds again.
//
// What a file holds is checked before it is sent: a file that is not an
// event (empty, cut short, garbage, or JSON that is no event object, like
// [1,2,3] or {"cmd":"pause"}) is moved to the quarantine subdirectory,
// counted and logged, never published. When the queue is full the oldest
// message is dropped and counted.
type Outbox struct {
	dir   string
	limit int
	log   *slog.Logger
	sync  func(*os.File) error // OutboxOptions.Sync

	mu          sync.Mutex
	queue       []entry // oldest first
	next        uint64
	dropped     int // lost to the size limit
	failed      int // writes that did not reach the disk
	quarantined int // files that were not a message
	lastErr     error
	notify      chan struct{}

	// inject, when set (tests where mounting a small filesystem is
	// refused), fails every write with its error.
	inject error
}

// entry is one queued message: on disk (mem == nil) or, when the disk
// failed, in memory.
type entry struct {
	seq uint64
	mem []byte
}

// QuarantineDir is the subdirectory of the outbox that bad files move to.
const QuarantineDir = "quarantine"

// OutboxOptions configure an outbox.
type OutboxOptions struct {
	// Limit is how many messages it holds; beyond it the oldest is
	// dropped (and counted). At least 1.
	Limit int
	// Log receives quarantined files and what Keep could not keep (nil:
	// slog.Default()).
	Log *slog.Logger
	// Sync makes what was written durable. It is called with each
	// message's file once its bytes are written, before the rename that
	// gives it its name, and with the outbox's directory once the file
	// was renamed into it; a message counts as kept on disk only when
	// both returned nil (otherwise it is kept in memory, and counted as
	// a failed write). nil: (*os.File).Sync, fsync(2). A test passes its
	// own to see that both happen, in that order.
	Sync func(*os.File) error
}

// OpenOutbox opens (or creates) the queue in dir, keeping what a previous
// run left there. A directory that cannot be created, read or written is
// not an error: the outbox starts degraded (memory only) and says so in
// Problem; the error returned alongside is for the log. Only a bad limit
// returns a nil outbox. Quarantined files are logged to log (nil:
// slog.Default()).
func OpenOutbox(dir string, limit int, log *slog.Logger) (*Outbox, error) {
	return OpenOutboxWith(dir, OutboxOptions{Limit: limit, Log: log})
}

// OpenOutboxWith is OpenOutbox with every option.
func OpenOutboxWith(dir string, opt OutboxOptions) (*Outbox, error) {
	if opt.Limit < 1 {
		return nil, fmt.Errorf("outbox: limit must be >= 1")
	}
	if opt.Log == nil {
		opt.Log = slog.Default()
	}
	if opt.Sync == nil {
		opt.Sync = (*os.File).Sync
	}
	o := &Outbox{dir: dir, limit: opt.Limit, log: opt.Log, sync: opt.Sync, next: 1, notify: make(chan struct{}, 1)}
	if err := o.load(); err != nil {
		o.lastErr = err
		o.failed++
		return o, err
	}
	return o, nil
}

// load reads what a previous run left, quarantines stray files and
// checks that the directory takes a write.
func (o *Outbox) load() error {
	if err := os.MkdirAll(o.dir, 0o750); err != nil {
		return fmt.Errorf("outbox %s: %w", o.dir, err)
	}
	entries, err := os.ReadDir(o.dir)
	if err != nil {
		return fmt.Errorf("outbox %s: %w", o.dir, err)
	}
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() {
			continue
		}
		if strings.HasSuffix(name, ".tmp") {
			os.Remove(filepath.Join(o.dir, name)) // a write cut short: never renamed, never acknowledged
			continue
		}
		n, err := strconv.ParseUint(strings.TrimSuffix(name, ".json"), 10, 64)
		if err != nil || !strings.HasSuffix(name, ".json") {
			o.quarantine(name, "not named as a queued event") // a stray file would otherwise stay forever
			continue
		}
		o.queue = append(o.queue, entry{seq: n})
		if n >= o.next {
			o.next = n + 1
		}
	}
	sort.Slice(o.queue, func(i, j int) bool { return o.queue[i].seq < o.queue[j].seq })
	// A directory we can read but not write (read-only mount) is found now,
	// not at the first event.
	probe := filepath.Join(o.dir, ".probe.tmp")
	if err := o.writeSynced(probe, []byte("{}")); err != nil {
		return fmt.Errorf("outbox %s is not writable: %w", o.dir, err)
	}
	os.Remove(probe)
	return nil
}

func (o *Outbox) path(seq uint64) string {
	return filepath.Join(o.dir, fmt.Sprintf("%020d.json", seq))
}

// writeSynced writes b to name and syncs it (o.sync: fsync); on failure
// nothing is left.
func (o *Outbox) writeSynced(name string, b []byte) (err error) {
	if o.inject != nil {
		return o.inject
	}
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o640)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			os.Remove(name)
		}
	}()
	if _, err = f.Write(b); err != nil {
		return err
	}
	return o.sync(f)
}

// syncDir makes a rename in the directory durable (o.sync: fsync).
func (o *Outbox) syncDir() error {
	d, err := os.Open(o.dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return o.sync(d)
}

// store puts msg on disk as message seq.
func (o *Outbox) store(seq uint64, msg []byte) error {
	tmp := o.path(seq) + ".tmp"
	err := o.writeSynced(tmp, msg)
	if errors.Is(err, os.ErrNotExist) {
		// The directory could not be made at start (or was removed):
		// make it now, which also says why when that fails again.
		if err = os.MkdirAll(o.dir, 0o750); err == nil {
			err = o.writeSynced(tmp, msg)
		}
	}
	if err != nil {
		return fmt.Errorf("outbox: write %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, o.path(seq)); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("outbox: rename %s: %w", tmp, err)
	}
	if err := o.syncDir(); err != nil {
		// The file is complete; only its name may not survive a power cut.
		// Keep the message in memory as well so this run still delivers it.
		os.Remove(o.path(seq))
		return fmt.Errorf("outbox: fsync %s: %w", o.dir, err)
	}
	return nil
}

// Put appends a message. When the disk refuses it, the message is queued
// in memory, the failure is counted and returned (for the log), and the
// message is still delivered: a non-nil error does not mean it is lost.
func (o *Outbox) Put(msg []byte) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	seq := o.next
	o.next++
	err := o.store(seq, msg)
	e := entry{seq: seq}
	if err != nil {
		o.failed++
		o.lastErr = err
		e.mem = append([]byte(nil), msg...)
	} else {
		o.lastErr = nil
	}
	o.queue = append(o.queue, e)
	for len(o.queue) > o.limit {
		o.remove(o.queue[0])
		o.queue = o.queue[1:]
		o.dropped++
	}
	select {
	case o.notify <- struct{}{}:
	default:
	}
	return err
}

func (o *Outbox) remove(e entry) {
	if e.mem == nil {
		os.Remove(o.path(e.seq)) // on a read-only disk it stays: a restart sends it again (at least once)
	}
}

// quarantine moves a file that is not a message out of the queue's way,
// and logs it with why.
func (o *Outbox) quarantine(name, why string) {
	o.quarantined++
	q := filepath.Join(o.dir, QuarantineDir)
	err := os.MkdirAll(q, 0o750)
	if err == nil {
		if err = os.Rename(filepath.Join(o.dir, name), filepath.Join(q, name)); err == nil {
			o.log.Warn("outbox file quarantined, not published", "file", filepath.Join(o.dir, name),
				"moved_to", filepath.Join(q, name), "why", why)
			return
		}
	}
	os.Remove(filepath.Join(o.dir, name))
	o.log.Warn("outbox file removed, not published (it could not be quarantined)", "file", filepath.Join(o.dir, name),
		"why", why, "err", err)
}

// notEvent says why b is not an event ("" when it is one): an event is a
// JSON object with a non-empty string "id", as the station writes.
func notEvent(b []byte) string {
	if !json.Valid(b) {
		return "not JSON (empty, cut short or garbage)"
	}
	var ev struct {
		ID any `json:"id"`
	}
	if err := json.Unmarshal(b, &ev); err != nil {
		return "JSON but not an event object"
	}
	if id, ok := ev.ID.(string); !ok || id == "" {
		return `JSON but not an event: no "id"`
	}
	return ""
}

// Peek returns the oldest message without removing it. A file that does
// not hold an event is quarantined and skipped; one that cannot be read
// is skipped; both are counted and logged.
func (o *Outbox) Peek() (uint64, []byte, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for len(o.queue) > 0 {
		e := o.queue[0]
		if e.mem != nil {
			return e.seq, e.mem, true
		}
		b, err := os.ReadFile(o.path(e.seq))
		why := ""
		if err == nil {
			if why = notEvent(b); why == "" {
				return e.seq, b, true
			}
		}
		o.queue = o.queue[1:]
		switch {
		case err == nil:
			o.quarantine(filepath.Base(o.path(e.seq)), why)
		case !errors.Is(err, os.ErrNotExist):
			o.quarantine(filepath.Base(o.path(e.seq)), "unreadable: "+err.Error())
		default:
			o.quarantined++
			o.log.Warn("outbox file vanished before it was published", "file", o.path(e.seq))
		}
	}
	return 0, nil, false
}

// Persist writes the messages kept only in memory to disk, in their
// places in the queue, so that the next start sends them; it returns how
// many it wrote and the ones the disk still refused: those are lost when
// the process ends.
func (o *Outbox) Persist() (written int, notKept [][]byte) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for i, e := range o.queue {
		if e.mem == nil {
			continue
		}
		if err := o.store(e.seq, e.mem); err != nil {
			o.lastErr = err
			notKept = append(notKept, e.mem)
			continue
		}
		o.queue[i].mem = nil
		written++
	}
	return written, notKept
}

// Keep is for the process's stop, once nothing delivers any more: it
// writes the messages still only in memory (the disk refused them and the
// broker did not take them) to disk for the next start, logs how many wait
// on disk for it, and logs how many it could not keep, with the first ids:
// those are lost with the process.
func (o *Outbox) Keep() {
	written, notKept := o.Persist()
	o.mu.Lock()
	log := o.log
	onDisk := 0
	for _, e := range o.queue {
		if e.mem == nil {
			onDisk++
		}
	}
	o.mu.Unlock()
	problem := o.Problem()
	if written > 0 {
		log.Info("events held in memory written to the outbox for the next start", "count", written)
	}
	if onDisk > 0 {
		log.Info("events wait in the outbox for the next start", "count", onDisk, "outbox", o.dir)
	}
	if len(notKept) == 0 {
		return
	}
	var ids []string
	for _, m := range notKept[:min(len(notKept), 10)] {
		var ev struct {
			ID string `json:"id"`
		}
		json.Unmarshal(m, &ev)
		ids = append(ids, ev.ID)
	}
	log.Error(fmt.Sprintf("%d events not kept: the disk refused them and the broker did not take them before the stop", len(notKept)),
		"count", len(notKept), "first_ids", strings.Join(ids, ","), "outbox", o.dir, "err", problem)
}

// adopt takes a new limit and logger for an outbox handed to a new
// publisher (a reload); a smaller limit drops the oldest messages at the
// next Put.
func (o *Outbox) adopt(limit int, log *slog.Logger) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if limit >= 1 {
		o.limit = limit
	}
	if log != nil {
		o.log = log
	}
}

// Done removes a delivered message.
func (o *Outbox) Done(seq uint64) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.queue) > 0 && o.queue[0].seq == seq {
		o.remove(o.queue[0])
		o.queue = o.queue[1:]
	}
}

// Len is the number of queued messages (on disk and in memory).
func (o *Outbox) Len() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.queue)
}

// InMemory is the number of queued messages the disk did not take.
func (o *Outbox) InMemory() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	n := 0
	for _, e := range o.queue {
		if e.mem != nil {
			n++
		}
	}
	return n
}

// Dropped counts messages lost to the size limit.
func (o *Outbox) Dropped() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.dropped
}

// Failed counts writes that did not reach the disk (the message was kept
// in memory instead).
func (o *Outbox) Failed() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.failed
}

// Quarantined counts files found in the outbox that were not a message
// (stray, empty, cut short, unreadable).
func (o *Outbox) Quarantined() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.quarantined
}

// Problem is why the outbox is degraded ("" when the last write reached
// the disk): events are then kept in memory and a crash loses them.
func (o *Outbox) Problem() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.lastErr == nil {
		return ""
	}
	return "outbox not on disk, events kept in memory: " + o.lastErr.Error()
}

// Wait returns a channel that receives after a Put.
func (o *Outbox) Wait() <-chan struct{} { return o.notify }
