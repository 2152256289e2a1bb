// Package statelock holds a daemon's state directory for it alone: an
// exclusive flock on the directory, with the holder's pid beside it for
// the message a second daemon gets.
package statelock

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// Lock is an exclusive flock on the state directory: two daemons on one
// state dir would share the outbox and fight over the broker's client id,
// losing events silently. The lock is on the directory itself, so it also
// holds on a read-only state dir; the kernel drops it when the process
// ends, however it ends.
type Lock struct {
	dir string
	f   *os.File
}

// ErrLocked is returned when another process holds the state dir.
var ErrLocked = errors.New("state_dir is in use by another sorterd")

const pidFile = "sorterd.pid"

// Take takes the lock on dir (created if missing). A dir that cannot be
// created or opened is not locked: the error says why, and the caller
// decides (the daemon logs it and runs degraded).
func Take(dir string) (*Lock, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil && !errors.Is(err, os.ErrExist) {
		return nil, fmt.Errorf("state_dir %s: %w", dir, err)
	}
	f, err := os.Open(dir)
	if err != nil {
		return nil, fmt.Errorf("state_dir %s: %w", dir, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			who := "another process"
			if b, err := os.ReadFile(filepath.Join(dir, pidFile)); err == nil {
				if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
					who = fmt.Sprintf("pid %d", pid)
				}
			}
			return nil, fmt.Errorf("%w: %s holds the lock on %s; stop it, or give this one its own state_dir (and station name)", ErrLocked, who, dir)
		}
		return nil, fmt.Errorf("state_dir %s: lock: %w", dir, err)
	}
	// Best effort: a read-only dir keeps the lock without the pid file.
	os.WriteFile(filepath.Join(dir, pidFile), []byte(strconv.Itoa(os.Getpid())+"\n"), 0o640)
	return &Lock{dir: dir, f: f}, nil
}

// Close releases the lock (nil: no lock, nothing to do).
func (l *Lock) Close() {
	if l == nil {
		return
	}
	os.Remove(filepath.Join(l.dir, pidFile))
	l.f.Close()
}
