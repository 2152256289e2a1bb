// Package camera provides frames: a Source interface, a gocv
// implementation for V4L2 devices, video files and network streams (which
// can lock a V4L2 camera's exposure and white balance, lock.go), and a
// Reconnecting wrapper that survives an unplugged or stalled camera.
package camera

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"gocv.io/x/gocv"
)

// Frame is one BGR image; the receiver owns Mat and must Close it.
type Frame struct {
	Mat gocv.Mat
	Seq uint64
	At  time.Time
}

// Close frees the frame's Mat.
func (f *Frame) Close() {
	if f.Mat.Ptr() != nil {
		f.Mat.Close()
		f.Mat = gocv.Mat{}
	}
}

// Source yields frames until it fails.
type Source interface {
	Read(ctx context.Context) (Frame, error)
	Close() error
}

// ErrEnded is returned when a video file reaches its end (without Loop).
var ErrEnded = errors.New("video ended")

// Options configure a gocv source.
type Options struct {
	// Source: a V4L2 index ("0"), a device path, a video file, an
	// rtsp:// / http(s):// URL, or a GStreamer pipeline ending in appsink
	// (any source containing "!"; see IsPipeline).
	Source        string
	Width, Height int
	FPS           float64
	Loop          bool // restart a video file at its end
	// Lock: once the automatic loops have run Settle frames (0:
	// DefaultSettle), switch automatic exposure and white balance off at
	// the values they reached (lock.go). Only a V4L2 device can be locked
	// this way: a device path is then opened with OpenCV's V4L2 backend,
	// and any other source is left alone and reported (Capture.Lock).
	Lock   bool
	Settle int
}

// Capture reads frames with OpenCV's VideoCapture.
type Capture struct {
	o     Options
	vc    *gocv.VideoCapture
	seq   uint64
	file  bool
	delay time.Duration
	last  time.Time
	lock  Lock
}

var _ Source = (*Capture)(nil)

// Open opens the source; it fails if no frame can be read from it.
func Open(o Options) (*Capture, error) {
	c := &Capture{o: o}
	var err error
	pipeline := IsPipeline(o.Source)
	if pipeline {
		// The pipeline's caps set size and rate: nothing to Set.
		c.vc, err = gocv.OpenVideoCaptureWithAPI(o.Source, gocv.VideoCaptureGstreamer)
	} else if idx, e := strconv.Atoi(o.Source); e == nil {
		c.vc, err = gocv.OpenVideoCaptureWithAPI(idx, gocv.VideoCaptureV4L2)
	} else {
		device := strings.HasPrefix(o.Source, "/dev/")
		c.file = !strings.Contains(o.Source, "://") && !device
		if c.file || device {
			// Say plainly that the file or device is missing, before
			// OpenCV tries every backend on it.
			if _, err := os.Stat(o.Source); err != nil {
				return nil, fmt.Errorf("open camera: %w", err)
			}
		}
		if device && o.Lock {
			// Any backend may take a device path; only V4L2's reaches
			// its controls.
			c.vc, err = gocv.OpenVideoCaptureWithAPI(o.Source, gocv.VideoCaptureV4L2)
		} else {
			c.vc, err = gocv.OpenVideoCapture(o.Source)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("open camera %s: %w", o.Source, err)
	}
	if !c.vc.IsOpened() {
		c.vc.Close()
		return nil, fmt.Errorf("open camera %s: cannot open", o.Source)
	}
	if !c.file && !pipeline {
		if o.Width > 0 {
			c.vc.Set(gocv.VideoCaptureFrameWidth, float64(o.Width))
			c.vc.Set(gocv.VideoCaptureFrameHeight, float64(o.Height))
		}
		if o.FPS > 0 {
			c.vc.Set(gocv.VideoCaptureFPS, o.FPS)
		}
	} else if o.FPS > 0 {
		// A file plays at the configured rate, like a camera would.
		c.delay = time.Duration(float64(time.Second) / o.FPS)
	}
	if o.Lock {
		c.lockExposure()
	}
	return c, nil
}

// lockExposure locks a V4L2 device's exposure and white balance once its
// first frames have settled them (Options.Lock); any other source is only
// reported, so its frames all still come.
func (c *Capture) lockExposure() {
	backend := int(c.vc.Get(gocv.VideoCaptureBackend))
	if backend != int(gocv.VideoCaptureV4L2) {
		c.lock = unsupported(c.o.Source, backend)
		return
	}
	settle := c.o.Settle
	if settle <= 0 {
		settle = DefaultSettle
	}
	// Grabbed, not decoded: only the driver's loops need these frames.
	c.vc.Grab(settle)
	c.lock = lockControls(c.vc)
	c.lock.Settled = settle
}

// Lock is what Open did about Options.Lock: the zero Lock without it.
func (c *Capture) Lock() Lock { return c.lock }

// IsPipeline tells a GStreamer pipeline ("libcamerasrc ! ... ! appsink")
// from a device, file or URL: only a pipeline contains "!".
func IsPipeline(source string) bool { return strings.Contains(source, "!") }

// Read returns the next frame.
func (c *Capture) Read(ctx context.Context) (Frame, error) {
	if err := ctx.Err(); err != nil {
		return Frame{}, err
	}
	if c.delay > 0 && !c.last.IsZero() {
		if wait := c.delay - time.Since(c.last); wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return Frame{}, ctx.Err()
			}
		}
	}
	m := gocv.NewMat()
	for tries := 0; ; tries++ {
		if c.vc.Read(&m) && !m.Empty() {
			break
		}
		if c.file && c.o.Loop && tries == 0 {
			c.vc.Set(gocv.VideoCapturePosFrames, 0)
			continue
		}
		m.Close()
		if c.file {
			return Frame{}, ErrEnded
		}
		return Frame{}, fmt.Errorf("camera %s: no frame", c.o.Source)
	}
	c.last = time.Now()
	c.seq++
	return Frame{Mat: m, Seq: c.seq, At: c.last}, nil
}

// Close releases the device.
func (c *Capture) Close() error {
	if c.vc != nil {
		err := c.vc.Close()
		c.vc = nil
		return err
	}
	return nil
}

// State of a reconnecting source, for logs, metrics and MQTT.
type State struct {
	Connected  bool
	Reconnects int
	LastError  string
	Since      time.Time
}

// Reconnecting keeps a source alive: when opening or reading fails, it
// closes the source, waits (doubling from Min up to Max) and opens it
// again, reporting each change through OnState. Read blocks until a frame
// comes or ctx ends; it never gives up on its own.
type Reconnecting struct {
	Open     func() (Source, error)
	Min, Max time.Duration
	Log      *slog.Logger
	OnState  func(State)

	mu      sync.Mutex
	src     Source
	state   State
	pending *call // an open or read a cancelled Read left running (cancel.go)
}

var _ Source = (*Reconnecting)(nil)

func (r *Reconnecting) setState(connected bool, err error) {
	r.mu.Lock()
	changed := r.state.Connected != connected || (err != nil && r.state.LastError != err.Error())
	lost := r.state.Connected && !connected // a loss, not a new error message while down
	if r.state.Connected != connected {
		r.state.Since = time.Now()
	}
	r.state.Connected = connected
	if err != nil {
		r.state.LastError = err.Error()
	}
	if lost {
		r.state.Reconnects++
	}
	s := r.state
	r.mu.Unlock()
	if changed && r.OnState != nil {
		r.OnState(s)
	}
}

// State is the current state.
func (r *Reconnecting) State() State {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.state
}

// Read returns the next frame, reopening the source as often as needed.
func (r *Reconnecting) Read(ctx context.Context) (Frame, error) {
	if r.Log == nil {
		r.Log = slog.Default()
	}
	wait := r.Min
	for {
		if err := ctx.Err(); err != nil {
			return Frame{}, err
		}
		if r.src == nil {
			src, err := r.open(ctx)
			if err != nil && ctx.Err() != nil {
				return Frame{}, ctx.Err()
			}
			if err != nil {
				r.Log.Warn("camera unavailable", "err", err, "retry_in", wait)
				r.setState(false, err)
				if !sleep(ctx, wait) {
					return Frame{}, ctx.Err()
				}
				wait = min(wait*2, r.Max)
				continue
			}
			r.src = src
		}
		f, err := r.read(ctx)
		if err == nil {
			if !r.State().Connected {
				r.Log.Info("camera connected")
			}
			r.setState(true, nil)
			wait = r.Min
			return f, nil
		}
		if ctx.Err() != nil {
			return Frame{}, ctx.Err()
		}
		r.Log.Warn("camera lost", "err", err, "retry_in", wait)
		r.src.Close()
		r.src = nil
		r.setState(false, err)
		if !sleep(ctx, wait) {
			return Frame{}, ctx.Err()
		}
		wait = min(wait*2, r.Max)
	}
}

// Close closes the current source. An open or read still running inside
// OpenCV is not waited for: its goroutine closes what it returns.
func (r *Reconnecting) Close() error {
	r.mu.Lock()
	p := r.pending
	r.pending = nil
	r.mu.Unlock()
	if p != nil {
		abandon(p)
		if p.read && p.src == r.src {
			r.src = nil // closed by abandon, after its read
		}
	}
	if r.src != nil {
		err := r.src.Close()
		r.src = nil
		return err
	}
	return nil
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
