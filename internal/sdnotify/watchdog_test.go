package sdnotify

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
)

// The watchdog pings while the daemon progresses and stops while it does
// not; a change of its problem sets STATUS, and a degraded daemon still
// pings.
func TestRunWatchdog(t *testing.T) {
	path := filepath.Join(t.TempDir(), "notify.sock")
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	t.Setenv("NOTIFY_SOCKET", path)
	t.Setenv("WATCHDOG_USEC", "20000") // a ping every 10 ms
	var stuck atomic.Bool
	var problem atomic.Value
	problem.Store("")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		RunWatchdog(ctx, Watch{Log: slog.New(slog.DiscardHandler),
			Health: func(time.Time) error {
				if stuck.Load() {
					Notify("MARK") // in the stream: no ping may follow it while stuck
					return errors.New("stuck")
				}
				return nil
			},
			Problem: func() string { return problem.Load().(string) }})
	}()
	defer func() { cancel(); <-done }()
	next := func() string {
		t.Helper()
		buf := make([]byte, 256)
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, err := c.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		return string(buf[:n])
	}
	if got := next(); got != Watchdog {
		t.Fatalf("first message %q, want a ping", got)
	}
	problem.Store("outbox full")
	for got := next(); got != Status+"outbox full"; got = next() {
		if got != Watchdog {
			t.Fatalf("got %q while waiting for the problem's status", got)
		}
	}
	if got := next(); got != Watchdog {
		t.Errorf("degraded: %q, want the pings to go on", got)
	}
	// Stuck: the pings stop (after the first stuck check, only marks),
	// and the problem's clearing still sets STATUS.
	stuck.Store(true)
	for got := next(); got != "MARK"; got = next() {
	}
	problem.Store("")
	for got := next(); got != Status+"sorting"; got = next() {
		if got != "MARK" {
			t.Fatalf("got %q while stuck", got)
		}
	}
	stuck.Store(false)
	for got := next(); got != Watchdog; got = next() {
		if got != "MARK" {
			t.Fatalf("got %q while waiting for the pings to resume", got)
		}
	}
}
