package camera

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/sorterd/sorterd/internal/testenv"
)

// silentURL is an HTTP address that accepts connections and never answers.
func silentURL(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	}()
	t.Cleanup(func() { l.Close() })
	return "http://" + l.Addr().String() + "/stream.mjpg"
}

// A URL that accepts and stays silent: a cancelled Read returns while the
// open is still inside OpenCV (it used to block for 30 s, and SIGTERM
// waited for it), Close does not wait for the open either, and FFmpeg's
// own timeout ends the open (it failed after 30 s, now after 10 s).
func TestSilentURLCancellable(t *testing.T) {
	testenv.Slow(t, "waits on a silent URL")
	url := silentURL(t)
	opened := make(chan error, 4)
	r := &Reconnecting{Min: 50 * time.Millisecond, Max: 100 * time.Millisecond, Log: quiet(),
		Open: func() (Source, error) {
			c, err := Open(Options{Source: url})
			opened <- err
			return c, err // a typed nil with the error, as the daemon's Open returns
		}}
	ctx, cancel := context.WithCancel(context.Background())
	res := make(chan error, 1)
	go func() { _, err := r.Read(ctx); res <- err }()
	time.Sleep(200 * time.Millisecond) // inside the open
	cancel()
	select {
	case err := <-res:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Read: %v, want context.Canceled", err)
		}
	case err := <-opened:
		t.Fatalf("Read was not cancelled: it waited for the open (%v)", err)
	}
	closed := make(chan struct{})
	go func() { r.Close(); close(closed) }()
	select {
	case <-closed:
	case err := <-opened:
		t.Fatalf("Close waited for the open (%v)", err)
	}
	// The abandoned open ends by FFmpeg's I/O timeout (10 s), not 30 s.
	select {
	case err := <-opened:
		if err == nil {
			t.Error("a silent URL opened")
		}
	case <-time.After(25 * time.Second):
		t.Fatal("the open of a silent URL is still blocked after 25 s: no FFmpeg I/O timeout")
	}
	time.Sleep(100 * time.Millisecond) // the abandoned call's clean-up runs (it crashed on the typed nil)
}

// A Read cancelled while waiting for a frame leaves the read to the next
// Read: the camera is not counted as lost and no frame is dropped.
func TestCancelledReadPickedUp(t *testing.T) {
	path := filepath.Join(t.TempDir(), "v.avi")
	writeVideo(t, path, 10, func(int) bool { return false })
	gate := make(chan struct{})
	r := &Reconnecting{Min: time.Millisecond, Max: time.Millisecond, Log: quiet(),
		Open: func() (Source, error) {
			c, err := Open(Options{Source: path})
			if err != nil {
				return nil, err
			}
			return &gatedSource{Source: c, gate: gate}, nil
		}}
	defer r.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := r.Read(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled Read: %v", err)
	}
	ctx2, cancel2 := context.WithCancel(context.Background())
	go func() { time.Sleep(50 * time.Millisecond); cancel2() }()
	if _, err := r.Read(ctx2); !errors.Is(err, context.Canceled) { // blocked in the gated read
		t.Fatalf("Read during a held read: %v", err)
	}
	close(gate)
	f, err := r.Read(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if f.Seq != 1 {
		t.Errorf("frame %d, want the first", f.Seq)
	}
	if st := r.State(); st.Reconnects != 0 || !st.Connected {
		t.Errorf("state %+v: a cancelled read counted as a loss", st)
	}
}

type gatedSource struct {
	Source
	gate chan struct{}
}

func (g *gatedSource) Read(ctx context.Context) (Frame, error) {
	<-g.gate
	return g.Source.Read(ctx)
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// Reconnects counts losses of a working camera, not each new error
// message while it is away (it counted every change of message).
func TestReconnectsCountLosses(t *testing.T) {
	path := filepath.Join(t.TempDir(), "v.avi")
	writeVideo(t, path, 2, func(int) bool { return false })
	fails := 0
	r := &Reconnecting{Min: time.Millisecond, Max: time.Millisecond, Log: quiet(),
		Open: func() (Source, error) {
			if fails > 0 {
				fails--
				return nil, fmt.Errorf("open attempt failed differently: %d", fails)
			}
			return Open(Options{Source: path})
		}}
	defer r.Close()
	read := func() {
		t.Helper()
		f, err := r.Read(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
	fails = 5 // never connected yet: not a loss
	read()
	read()
	fails = 5 // the video ends (a loss), then five different errors
	read()
	if n := r.State().Reconnects; n != 1 {
		t.Errorf("%d reconnects after one loss, want 1", n)
	}
}
