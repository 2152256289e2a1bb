// Package cameratest is a fake camera.Source for pure-logic tests: it
// plays frames given as images or image files, in order, optionally
// looping, stamping each with a sequence number and a time that advances
// by a fixed step (no sleeping: a test runs as fast as its consumer).
//
// Tests of capture, reconnection and decoding use the real camera
// package on real files and devices; this fake is for the logic that
// consumes frames.
package cameratest

import (
	"context"
	"fmt"
	"image"
	"sync"
	"time"

	"github.com/sorterd/sorterd/camera"
	"gocv.io/x/gocv"
)

// Options configure a Source.
type Options struct {
	Loop bool
	// Step is the time between frames' At (default 20 ms: 50 fps).
	Step time.Duration
	// Start is the first frame's At (default: time.Now() at New).
	Start time.Time
}

// Source plays its frames; it owns their Mats until Close.
type Source struct {
	o      Options
	mu     sync.Mutex
	frames []gocv.Mat
	next   int
	seq    uint64
	closed bool
}

// New plays images (each is copied into a BGR Mat).
func New(o Options, images ...image.Image) (*Source, error) {
	s := newSource(o)
	for i, img := range images {
		m, err := gocv.ImageToMatRGB(img)
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("cameratest: image %d: %w", i, err)
		}
		s.frames = append(s.frames, m)
	}
	return s, nil
}

// Files plays image files (read with OpenCV).
func Files(o Options, paths ...string) (*Source, error) {
	s := newSource(o)
	for _, p := range paths {
		m := gocv.IMRead(p, gocv.IMReadColor)
		if m.Empty() {
			m.Close()
			s.Close()
			return nil, fmt.Errorf("cameratest: cannot read %s", p)
		}
		s.frames = append(s.frames, m)
	}
	return s, nil
}

func newSource(o Options) *Source {
	if o.Step <= 0 {
		o.Step = 20 * time.Millisecond
	}
	if o.Start.IsZero() {
		o.Start = time.Now()
	}
	return &Source{o: o}
}

// Read returns a copy of the next frame (the caller closes it), or
// camera.ErrEnded after the last one when not looping.
func (s *Source) Read(ctx context.Context) (camera.Frame, error) {
	if err := ctx.Err(); err != nil {
		return camera.Frame{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return camera.Frame{}, fmt.Errorf("cameratest: source closed")
	}
	if s.next >= len(s.frames) {
		if !s.o.Loop || len(s.frames) == 0 {
			return camera.Frame{}, camera.ErrEnded
		}
		s.next = 0
	}
	m := s.frames[s.next].Clone()
	s.next++
	at := s.o.Start.Add(time.Duration(s.seq) * s.o.Step)
	s.seq++
	return camera.Frame{Mat: m, Seq: s.seq, At: at}, nil
}

// Close frees the frames; Read fails after it. Closing twice is allowed.
func (s *Source) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	for _, m := range s.frames {
		m.Close()
	}
	s.frames = nil
	return nil
}
