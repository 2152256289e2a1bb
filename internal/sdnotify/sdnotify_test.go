package sdnotify

import (
	"net"
	"path/filepath"
	"testing"
	"time"
)

// Notify writes one datagram of lines to $NOTIFY_SOCKET; without it, nothing.
func TestNotify(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "")
	if err := Notify(Ready); err != nil {
		t.Fatalf("outside systemd: %v", err)
	}
	path := filepath.Join(t.TempDir(), "notify.sock")
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	t.Setenv("NOTIFY_SOCKET", path)
	if err := Notify(Ready, Status+"sorting"); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 256)
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err := c.Read(buf)
	if err != nil || string(buf[:n]) != "READY=1\nSTATUS=sorting" {
		t.Errorf("got %q %v", buf[:n], err)
	}
	t.Setenv("NOTIFY_SOCKET", filepath.Join(t.TempDir(), "gone.sock"))
	if err := Notify(Watchdog); err == nil {
		t.Error("a missing socket gave no error")
	}
}

func TestWatchdogPeriod(t *testing.T) {
	for env, want := range map[string]time.Duration{"": 0, "x": 0, "-5": 0, "10000000": 5 * time.Second} {
		t.Setenv("WATCHDOG_USEC", env)
		if got := WatchdogPeriod(); got != want {
			t.Errorf("WATCHDOG_USEC=%q: %v, want %v", env, got, want)
		}
	}
}
