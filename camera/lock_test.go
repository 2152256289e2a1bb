package camera

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"gocv.io/x/gocv"
)

// fakeDriver is a V4L2 driver as OpenCV's backend sees it: a control it
// lacks reads -1 and ignores writes; refuse lists the values it will not
// take for a control (it keeps the old one, as a driver that returns
// EINVAL does).
type fakeDriver struct {
	ctrl   map[gocv.VideoCaptureProperties]float64
	refuse map[gocv.VideoCaptureProperties]float64
	sets   []gocv.VideoCaptureProperties
}

func (d *fakeDriver) Get(p gocv.VideoCaptureProperties) float64 {
	if v, ok := d.ctrl[p]; ok {
		return v
	}
	return noControl
}

func (d *fakeDriver) Set(p gocv.VideoCaptureProperties, v float64) {
	d.sets = append(d.sets, p)
	if _, ok := d.ctrl[p]; !ok {
		return
	}
	if r, ok := d.refuse[p]; ok && r == v {
		return
	}
	d.ctrl[p] = v
}

// uvcCamera is a webcam whose automatic loops have settled on 15.6 ms and
// 4600 K.
func uvcCamera() *fakeDriver {
	return &fakeDriver{ctrl: map[gocv.VideoCaptureProperties]float64{
		gocv.VideoCaptureAutoExposure: 3, gocv.VideoCaptureExposure: 156,
		gocv.VideoCaptureAutoWB: 1, gocv.VideoCaptureWBTemperature: 4600,
	}}
}

// A driver that takes everything ends manual at the values the automatic
// loops had reached; one that refuses, or lacks a control, is reported as
// not locked with the reason, and the other setting is still locked.
func TestLockControls(t *testing.T) {
	d := uvcCamera()
	l := lockControls(d)
	if !l.Full() || l.Exposure.Value != 156 || l.WhiteBalance.Value != 4600 {
		t.Errorf("a willing driver: %+v", l)
	}
	if d.ctrl[gocv.VideoCaptureAutoExposure] != 1 || d.ctrl[gocv.VideoCaptureAutoWB] != 0 {
		t.Errorf("automatic modes left at exposure %g, white balance %g", d.ctrl[gocv.VideoCaptureAutoExposure], d.ctrl[gocv.VideoCaptureAutoWB])
	}
	// The mode goes to manual before the value is written back: a value
	// written in automatic mode is ignored by many drivers.
	if i, j := indexOf(d.sets, gocv.VideoCaptureAutoExposure), indexOf(d.sets, gocv.VideoCaptureExposure); i < 0 || j < i {
		t.Errorf("set order %v: auto exposure must come before exposure", d.sets)
	}
	if s := l.String(); s != "exposure locked at 156 (15.6 ms); white balance locked at 4600 K" {
		t.Errorf("String() = %q", s)
	}

	d = uvcCamera()
	d.refuse = map[gocv.VideoCaptureProperties]float64{gocv.VideoCaptureAutoExposure: v4l2ExposureManual}
	l = lockControls(d)
	if l.Exposure.Locked || !strings.Contains(l.Exposure.Note, "kept its automatic mode (it reads 3") || !l.WhiteBalance.Locked || l.Full() {
		t.Errorf("a driver refusing manual exposure: %+v", l)
	}

	d = uvcCamera()
	delete(d.ctrl, gocv.VideoCaptureAutoWB)
	delete(d.ctrl, gocv.VideoCaptureWBTemperature)
	l = lockControls(d)
	if !l.Exposure.Locked || l.WhiteBalance.Locked || !strings.Contains(l.String(), "white balance not locked: the driver has no automatic white balance control") {
		t.Errorf("a driver without white balance controls: %+v, %s", l, l)
	}
}

func indexOf(ps []gocv.VideoCaptureProperties, p gocv.VideoCaptureProperties) int {
	for i, q := range ps {
		if q == p {
			return i
		}
	}
	return -1
}

// A video file asked to lock is reported as not supported and loses no
// frame to settling: all five come, numbered from 1.
func TestLockFileNotSupported(t *testing.T) {
	path := filepath.Join(t.TempDir(), "v.avi")
	writeVideo(t, path, 5, func(int) bool { return false })
	c, err := Open(Options{Source: path, Lock: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	l := c.Lock()
	if l.Supported || l.Full() || !strings.HasPrefix(l.Reason, "not supported by this source (a video file") || !strings.Contains(l.Reason, "docs/camera.md") {
		t.Errorf("file lock: %+v", l)
	}
	if l.String() != l.Reason {
		t.Errorf("String() = %q, want the reason", l.String())
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
		n++
		if f.Seq != uint64(n) {
			t.Errorf("frame %d has seq %d", n, f.Seq)
		}
		f.Close()
	}
	if n != 5 {
		t.Errorf("read %d frames, want 5", n)
	}
	var logs bytes.Buffer
	slog.New(slog.NewTextHandler(&logs, nil)).Info("camera", "lock", l)
	if !strings.Contains(logs.String(), "lock.supported=false") || !strings.Contains(logs.String(), `lock.reason="not supported by this source`) {
		t.Errorf("logged as %s", logs.String())
	}
	if c, err := Open(Options{Source: path}); err != nil {
		t.Fatal(err)
	} else if l := c.Lock(); l != (Lock{}) {
		c.Close()
		t.Errorf("a lock without Options.Lock: %+v", l)
	} else {
		c.Close()
	}
}

// A GStreamer pipeline asked to lock says to lock it in the pipeline, and
// still delivers its frames.
func TestLockPipelineNotSupported(t *testing.T) {
	needGStreamer(t)
	c, err := Open(Options{Source: "videotestsrc num-buffers=3 ! video/x-raw,width=64,height=48 ! videoconvert ! video/x-raw,format=BGR ! appsink", Lock: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if l := c.Lock(); l.Supported || l.Reason != "not supported by this source (a GStreamer pipeline): lock it in the pipeline (see docs/camera.md)" {
		t.Errorf("pipeline lock: %+v", l)
	}
	for i := 1; i <= 3; i++ {
		f, err := c.Read(context.Background())
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if f.Seq != uint64(i) || f.Mat.Cols() != 64 {
			t.Errorf("frame %d: seq %d, %d wide", i, f.Seq, f.Mat.Cols())
		}
		f.Close()
	}
}

// The other sources' reasons name what they are.
func TestUnsupportedReasons(t *testing.T) {
	for _, tc := range []struct {
		source  string
		backend int
		want    string
	}{
		{"rtsp://cam/stream", int(gocv.VideoCaptureFFmpeg), "(a network stream, read through FFmpeg): lock it on the camera that sends it"},
		{"/dev/video2", int(gocv.VideoCaptureGstreamer), "(a device opened through GStreamer, not V4L2): lock it with v4l2-ctl"},
		{"clip.avi", 4242, "(a video file, read through backend 4242)"},
	} {
		if l := unsupported(tc.source, tc.backend); l.Supported || !strings.Contains(l.Reason, tc.want) {
			t.Errorf("%s: %q, want %q", tc.source, l.Reason, tc.want)
		}
	}
}
