package camera

import (
	"context"
	"errors"
	"image"
	"image/color"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"gocv.io/x/gocv"
)

// WriteVideo makes an MJPEG .avi of n frames: a grey tray, with a coloured
// disc ("an item") on frames where item(i) is true.
func writeVideo(t testing.TB, path string, n int, item func(i int) bool) {
	t.Helper()
	w, err := gocv.VideoWriterFile(path, "MJPG", 20, 320, 240, true)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	for i := 0; i < n; i++ {
		m := gocv.NewMatWithSizeFromScalar(gocv.NewScalar(110, 110, 110, 0), 240, 320, gocv.MatTypeCV8UC3)
		if item(i) {
			gocv.Circle(&m, image.Pt(160, 120), 70, color.RGBA{30, 200, 40, 0}, -1)
		}
		if err := w.Write(m); err != nil {
			t.Fatal(err)
		}
		m.Close()
	}
}

func TestVideoFileEndsAndLoops(t *testing.T) {
	path := filepath.Join(t.TempDir(), "v.avi")
	writeVideo(t, path, 5, func(int) bool { return false })
	c, err := Open(Options{Source: path})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for {
		f, err := c.Read(context.Background())
		if errors.Is(err, ErrEnded) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if f.Mat.Cols() != 320 || f.Seq != uint64(n+1) {
			t.Errorf("frame %d: %dx%d seq %d", n, f.Mat.Cols(), f.Mat.Rows(), f.Seq)
		}
		f.Close()
		n++
	}
	c.Close()
	if n != 5 {
		t.Errorf("read %d frames, want 5", n)
	}
	c, err = Open(Options{Source: path, Loop: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for i := 0; i < 12; i++ {
		f, err := c.Read(context.Background())
		if err != nil {
			t.Fatalf("looping read %d: %v", i, err)
		}
		f.Close()
	}
}

func TestOpenMissing(t *testing.T) {
	if _, err := Open(Options{Source: filepath.Join(t.TempDir(), "none.avi")}); err == nil {
		t.Fatal("opened a missing file")
	}
}

// The file disappears: the source reports it, retries, and delivers frames
// again once the file is back.
func TestReconnectAfterLoss(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "v.avi")
	writeVideo(t, path, 3, func(int) bool { return false })
	var mu sync.Mutex
	var states []State
	r := &Reconnecting{
		Open: func() (Source, error) { return Open(Options{Source: path}) },
		Min:  10 * time.Millisecond, Max: 40 * time.Millisecond,
		OnState: func(s State) { mu.Lock(); states = append(states, s); mu.Unlock() },
	}
	defer r.Close()
	ctx := context.Background()
	for i := 0; i < 3; i++ {
		f, err := r.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
	os.Remove(path)
	go func() {
		time.Sleep(150 * time.Millisecond)
		writeVideo(t, path+".tmp.avi", 3, func(int) bool { return true })
		os.Rename(path+".tmp.avi", path)
	}()
	f, err := r.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	s := r.State()
	if !s.Connected || s.Reconnects < 1 || s.LastError == "" {
		t.Errorf("state %+v", s)
	}
	mu.Lock()
	lost := -1
	for i, st := range states {
		if !st.Connected && lost < 0 {
			lost = i
		}
	}
	if lost < 0 || !states[len(states)-1].Connected {
		t.Errorf("want a lost state, then connected again: %+v", states)
	}
	mu.Unlock()
	// Cancelling ends a Read that waits for a source.
	os.Remove(path)
	cctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	for {
		f, err := r.Read(cctx)
		if err != nil {
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("want deadline, got %v", err)
			}
			break
		}
		f.Close()
	}
}
