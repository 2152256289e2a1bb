package publish

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// Outbox is a bounded on-disk queue of messages waiting for the broker:
// one file per message, named by a sequence number, so order survives a
// restart and a crash loses at most the message being written. When it
// is full the oldest message is dropped and counted.
type Outbox struct {
	dir   string
	limit int

	mu      sync.Mutex
	seqs    []uint64 // queued, oldest first
	next    uint64
	dropped int
	notify  chan struct{}
}

// OpenOutbox opens (or creates) the queue in dir, keeping what a previous
// run left there.
func OpenOutbox(dir string, limit int) (*Outbox, error) {
	if limit < 1 {
		return nil, fmt.Errorf("outbox: limit must be >= 1")
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("outbox: %w", err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("outbox: %w", err)
	}
	o := &Outbox{dir: dir, limit: limit, next: 1, notify: make(chan struct{}, 1)}
	for _, e := range entries {
		name := e.Name()
		if strings.HasSuffix(name, ".tmp") {
			os.Remove(filepath.Join(dir, name)) // a write cut short
			continue
		}
		n, err := strconv.ParseUint(strings.TrimSuffix(name, ".json"), 10, 64)
		if err != nil || !strings.HasSuffix(name, ".json") {
			continue
		}
		o.seqs = append(o.seqs, n)
		if n >= o.next {
			o.next = n + 1
		}
	}
	sort.Slice(o.seqs, func(i, j int) bool { return o.seqs[i] < o.seqs[j] })
	return o, nil
}

func (o *Outbox) path(seq uint64) string {
	return filepath.Join(o.dir, fmt.Sprintf("%020d.json", seq))
}

// Put appends a message.
func (o *Outbox) Put(msg []byte) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	seq := o.next
	tmp := o.path(seq) + ".tmp"
	if err := os.WriteFile(tmp, msg, 0o640); err != nil {
		return fmt.Errorf("outbox: %w", err)
	}
	if err := os.Rename(tmp, o.path(seq)); err != nil {
		return fmt.Errorf("outbox: %w", err)
	}
	o.next++
	o.seqs = append(o.seqs, seq)
	for len(o.seqs) > o.limit {
		os.Remove(o.path(o.seqs[0]))
		o.seqs = o.seqs[1:]
		o.dropped++
	}
	select {
	case o.notify <- struct{}{}:
	default:
	}
	return nil
}

// Peek returns the oldest message without removing it.
func (o *Outbox) Peek() (uint64, []byte, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for len(o.seqs) > 0 {
		seq := o.seqs[0]
		b, err := os.ReadFile(o.path(seq))
		if err == nil {
			return seq, b, true
		}
		o.seqs = o.seqs[1:] // unreadable: skip it
		o.dropped++
	}
	return 0, nil, false
}

// Done removes a delivered message.
func (o *Outbox) Done(seq uint64) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.seqs) > 0 && o.seqs[0] == seq {
		os.Remove(o.path(seq))
		o.seqs = o.seqs[1:]
	}
}

// Len is the number of queued messages.
func (o *Outbox) Len() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.seqs)
}

// Dropped counts messages lost to the size limit.
func (o *Outbox) Dropped() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.dropped
}

// Wait returns a channel that receives after a Put.
func (o *Outbox) Wait() <-chan struct{} { return o.notify }
