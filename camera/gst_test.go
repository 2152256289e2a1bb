package camera

import (
	"context"
	"image"
	"image/color"
	"testing"

	"github.com/sorterd/sorterd/internal/testenv"
	"gocv.io/x/gocv"
)

// needGStreamer: videotestsrc comes with gstreamer1.0-plugins-base, which
// make test installs; under CI its absence fails instead of skipping.
func needGStreamer(t *testing.T) {
	t.Helper()
	testenv.NeedGlob(t, "/usr/lib/*/gstreamer-1.0/libgstvideotestsrc.so", "apt-get install gstreamer1.0-plugins-base")
}

// A source with "!" is a GStreamer pipeline, opened by OpenCV's GStreamer
// backend (not stat'ed as a file): videotestsrc stands in for
// libcamerasrc / v4l2src / nvarguscamerasrc, and the pipeline's caps, not
// Options.Width/Height, set the frame size.
func TestGStreamerPipeline(t *testing.T) {
	needGStreamer(t)
	src := "videotestsrc num-buffers=30 pattern=smpte ! video/x-raw,width=320,height=200,framerate=30/1 ! videoconvert ! video/x-raw,format=BGR ! appsink"
	if !IsPipeline(src) || IsPipeline("/dev/video0") || IsPipeline("rtsp://cam/stream") {
		t.Fatal("IsPipeline")
	}
	c, err := Open(Options{Source: src, Width: 640, Height: 480, FPS: 15})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for i := 1; i <= 3; i++ {
		f, err := c.Read(context.Background())
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if f.Mat.Cols() != 320 || f.Mat.Rows() != 200 || f.Mat.Channels() != 3 || f.Seq != uint64(i) {
			t.Errorf("frame %d: %dx%d, %d channels, seq %d", i, f.Mat.Cols(), f.Mat.Rows(), f.Mat.Channels(), f.Seq)
		}
		// SMPTE bars: the leftmost bar is light grey/white, the
		// seventh (rightmost of the top row) blue.
		left, right := f.Mat.GetVecbAt(20, 10), f.Mat.GetVecbAt(20, 310)
		if left[0] < 150 || left[1] < 150 || left[2] < 150 || right[0] < 150 || right[1] > 60 || right[2] > 60 {
			t.Errorf("frame %d is not the SMPTE test pattern: left BGR %v, right BGR %v", i, left, right)
		}
		f.Close()
	}
	if _, err := Open(Options{Source: "nosuchelement ! appsink"}); err == nil {
		t.Error("a pipeline with an unknown element opened")
	}
}

// Each rotation and flip moves a marked corner where the mounting says.
func TestOrientation(t *testing.T) {
	// 40x20 frame, red block at the top-left corner.
	mk := func() gocv.Mat {
		m := gocv.NewMatWithSizeFromScalar(gocv.NewScalar(0, 0, 0, 0), 20, 40, gocv.MatTypeCV8UC3)
		gocv.Rectangle(&m, image.Rect(0, 0, 4, 4), color.RGBA{255, 0, 0, 0}, -1)
		return m
	}
	cases := []struct {
		o          Orientation
		w, h, x, y int // size after, and where the red corner lands
	}{
		{Orientation{0, FlipNone}, 40, 20, 0, 0},
		{Orientation{90, FlipNone}, 20, 40, 19, 0}, // clockwise: top-left goes top-right
		{Orientation{180, FlipNone}, 40, 20, 39, 19},
		{Orientation{270, FlipNone}, 20, 40, 0, 39},
		{Orientation{0, FlipHorizontal}, 40, 20, 39, 0},
		{Orientation{0, FlipVertical}, 40, 20, 0, 19},
		{Orientation{0, FlipBoth}, 40, 20, 39, 19},
		{Orientation{90, FlipHorizontal}, 20, 40, 0, 0},
	}
	for _, c := range cases {
		m := mk()
		c.o.Apply(&m)
		if m.Cols() != c.w || m.Rows() != c.h {
			t.Errorf("%+v: %dx%d, want %dx%d", c.o, m.Cols(), m.Rows(), c.w, c.h)
		} else if px := m.GetVecbAt(c.y, c.x); px[2] != 255 {
			t.Errorf("%+v: (%d,%d) is %v, want the red corner", c.o, c.x, c.y, px)
		}
		m.Close()
	}
	if err := (Orientation{Rotate: 45}).Check(); err == nil {
		t.Error("rotate 45 accepted")
	}
	if err := (Orientation{Flip: "sideways"}).Check(); err == nil {
		t.Error("flip sideways accepted")
	}
}

// Orient applies the orientation to a real source's frames.
func TestOrientedSource(t *testing.T) {
	needGStreamer(t)
	c, err := Open(Options{Source: "videotestsrc num-buffers=5 ! video/x-raw,width=64,height=48 ! videoconvert ! appsink"})
	if err != nil {
		t.Fatal(err)
	}
	src, err := Orient(c, Orientation{Rotate: 90, Flip: FlipNone})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	f, err := src.Read(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if f.Mat.Cols() != 48 || f.Mat.Rows() != 64 {
		t.Errorf("rotated frame %dx%d, want 48x64", f.Mat.Cols(), f.Mat.Rows())
	}
	if same, _ := Orient(c, Orientation{}); same != Source(c) {
		t.Error("identity orientation wrapped the source")
	}
}
