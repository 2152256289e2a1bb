// Package testenv holds test fixtures shared by several packages' tests:
// the module's files and ../shared (skipped when absent, failed under
// CI=true), a real mosquitto broker on a free port and a subscriber, a
// log buffer. It is cgo-free, so cgo-free packages' tests (tfmodel) use
// it too; generated videos are in testenv/testvideo. Nothing in the
// daemon imports it.
package testenv

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
	"time"
)

// Broker is a mosquitto process on a loopback port.
type Broker struct {
	t    testing.TB
	Port int
	cmd  *exec.Cmd
	conf string
}

func mosquitto(t testing.TB) string {
	for _, p := range []string{"/usr/sbin/mosquitto", "/usr/bin/mosquitto"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if p, err := exec.LookPath("mosquitto"); err == nil {
		return p
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("mosquitto is not installed (make test installs it)")
	}
	t.Skip("mosquitto is not installed")
	return ""
}

// StartBroker starts mosquitto and stops it when the test ends; extra
// lines are appended to its configuration (a TLS listener, say). The
// fast tier (go test -short) starts none: the test is skipped.
func StartBroker(t testing.TB, extra ...string) *Broker {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: needs a broker (make test runs it)")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	dir := t.TempDir()
	conf := filepath.Join(dir, "mosquitto.conf")
	// Persistence, so that a restart (Stop, Start) keeps subscribers'
	// sessions: a test's subscriber then misses nothing published while it
	// was reconnecting.
	text := fmt.Sprintf("listener %d 127.0.0.1\nallow_anonymous true\npersistence true\npersistence_location %s/\n", port, dir)
	if os.Geteuid() == 0 {
		// As root, mosquitto would switch to its own user, which cannot
		// read the test's private temporary files.
		text += "user root\n"
	}
	for _, e := range extra {
		text += e + "\n"
	}
	os.WriteFile(conf, []byte(text), 0o644)
	b := &Broker{t: t, Port: port, conf: conf}
	b.Start()
	t.Cleanup(b.Stop)
	return b
}

// Start (re)starts the broker on its port.
func (b *Broker) Start() {
	b.cmd = exec.Command(mosquitto(b.t), "-c", b.conf)
	if err := b.cmd.Start(); err != nil {
		b.t.Fatal(err)
	}
	for i := 0; i < 200; i++ {
		if c, err := net.Dial("tcp", b.Addr()); err == nil {
			c.Close()
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	b.t.Fatal("mosquitto did not start")
}

// Stop ends the broker (SIGTERM: it saves its sessions first).
func (b *Broker) Stop() {
	if b.cmd != nil && b.cmd.Process != nil {
		b.cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { b.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			b.cmd.Process.Kill()
			<-done
		}
		b.cmd = nil
	}
}

// Pause stops the broker's process (SIGSTOP): its connections stay open
// and nothing answers, as a hung broker or a stalled link; Resume
// (SIGCONT) lets it go on.
func (b *Broker) Pause() {
	if err := b.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		b.t.Fatal(err)
	}
	b.t.Cleanup(b.Resume) // a stopped broker would not take Stop's SIGTERM
}

// Resume continues a paused broker.
func (b *Broker) Resume() {
	if b.cmd != nil && b.cmd.Process != nil {
		b.cmd.Process.Signal(syscall.SIGCONT)
	}
}

// Addr is host:port; URL is tcp://host:port.
func (b *Broker) Addr() string { return fmt.Sprintf("127.0.0.1:%d", b.Port) }
func (b *Broker) URL() string  { return "tcp://" + b.Addr() }

// FreePort returns a loopback port nobody listens on.
func FreePort(t testing.TB) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Need returns path if it exists. Models come from `make models` and
// photos from ../shared: a user's clone without them skips the test; CI
// (CI=true) fails it, so a missing install step cannot pass as green.
func Need(t testing.TB, path string) string {
	t.Helper()
	if _, err := os.Stat(path); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("missing %s under CI: %v", path, err)
		}
		t.Skipf("missing %s (run make models; ../shared holds the photos): %v", path, err)
	}
	return path
}

// NeedGlob returns the first file matching pattern, or skips the test
// (fails it under CI=true, as Need) with the hint: how to install it.
func NeedGlob(t testing.TB, pattern, hint string) string {
	t.Helper()
	m, _ := filepath.Glob(pattern)
	if len(m) > 0 {
		return m[0]
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("no %s under CI (%s)", pattern, hint)
	}
	t.Skipf("no %s (%s)", pattern, hint)
	return ""
}

// Slow skips a test in the fast tier (go test -short): one that runs the
// full daemon, trains, plays long recordings or waits on real time. what
// says which; make test runs it.
func Slow(t testing.TB, what string) {
	t.Helper()
	if testing.Short() {
		t.Skipf("-short: %s (make test runs it)", what)
	}
}

// Eventually polls cond until it holds, failing the test after d.
func Eventually(t testing.TB, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// Shared is ../shared beside the checkout (SORTERD_SHARED when set).
func Shared() string {
	if s := os.Getenv("SORTERD_SHARED"); s != "" {
		return s
	}
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "..", "shared")
}

// Photo is TrashNet's photo <class><n>.jpg from ../shared (see Need).
func Photo(t testing.TB, class string, n int) string {
	return Need(t, filepath.Join(Shared(), "data", "trashnet", class, fmt.Sprintf("%s%d.jpg", class, n)))
}

// Root is the module root (where go.mod is): tests of every package find
// models/, testdata/ and the built tools from it.
func Root() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// Model is models/<name> under the module root (see Need: `make models`
// puts them there).
func Model(t testing.TB, name string) string {
	t.Helper()
	return Need(t, filepath.Join(Root(), "models", name))
}
