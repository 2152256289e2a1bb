// Package webtest is a fake of the station the web server serves and of
// its review (web.Station, web.Review), for the handlers' tests: recent
// items and their images, corrections, pause, flap tests, the live frame
// and health are held in memory, with no camera, model or disk. It
// answers with the review's errors (review.ErrNoItem, ErrLabel,
// ErrNoSamples, ErrNoFrame), so the handlers' status codes are tested as
// they are met in service.
//
// web's end-to-end tests run a real pipeline.Station and review.Review
// instead.
package webtest

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/sorterd/sorterd/pipeline"
	"github.com/sorterd/sorterd/review"
)

// Options configure a Station.
type Options struct {
	// Labels are the classes Correct accepts (the model's labels).
	Labels []string
	// SamplesDir is where Correct says a sample went; "" makes Correct
	// answer review.ErrNoSamples, as a station without one does.
	SamplesDir string
	// Bins are the bins TestFlap opens; another is an error.
	Bins []string
}

type entry struct {
	item               review.Item
	frame, crop, thumb []byte
}

// Station is a fake web.Station and web.Review. The zero value is not usable: use New.
type Station struct {
	o           Options
	mu          sync.Mutex
	items       []entry // oldest first
	paused      bool
	flapped     []string
	frame       []byte
	frameAt     time.Time
	stats       pipeline.Stats
	corrections map[string]int
}

// New returns a station with no item, no frame yet and healthy stats.
func New(o Options) *Station {
	return &Station{o: o, corrections: map[string]int{}}
}

// Add decides an item: it is listed (newest first) with its images. A
// nil crop stands for an uncropped item (the crop is the frame).
func (s *Station) Add(ev pipeline.Event, frame, crop, thumb []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.items = append(s.items, entry{item: review.Item{Event: ev, HasImage: frame != nil}, frame: frame, crop: crop, thumb: thumb})
}

// SetFrame sets the live frame (a JPEG) and when the camera gave it:
// Snapshot returns it and Health measures the stall from it.
func (s *Station) SetFrame(jpeg []byte, at time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.frame, s.frameAt = jpeg, at
}

// SetStats sets what Stats returns (Paused and Corrections are the
// fake's own).
func (s *Station) SetStats(st pipeline.Stats) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stats = st
}

// Flapped lists the bins TestFlap opened, in order.
func (s *Station) Flapped() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.flapped)
}

// Pause stops sorting.
func (s *Station) Pause() { s.mu.Lock(); s.paused = true; s.mu.Unlock() }

// Resume sorts again.
func (s *Station) Resume() { s.mu.Lock(); s.paused = false; s.mu.Unlock() }

// TestFlap opens bin's flap (records it).
func (s *Station) TestFlap(ctx context.Context, bin string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if !slices.Contains(s.o.Bins, bin) {
		return fmt.Errorf("no bin %q", bin)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.flapped = append(s.flapped, bin)
	return nil
}

// Stats returns the stats set by SetStats with the fake's pause state and
// corrections.
func (s *Station) Stats() pipeline.Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	st.Paused = s.paused
	st.Corrections = map[string]int{}
	for k, v := range s.corrections {
		st.Corrections[k] = v
	}
	return st
}

// Items returns up to limit items, newest first.
func (s *Station) Items(limit int) []review.Item {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []review.Item
	for i := len(s.items) - 1; i >= 0 && len(out) < limit; i-- {
		out = append(out, s.items[i].item)
	}
	return out
}

func (s *Station) find(id string) *entry {
	for i := range s.items {
		if s.items[i].item.ID == id {
			return &s.items[i]
		}
	}
	return nil
}

// Image returns an item's frame, thumbnail or crop.
func (s *Station) Image(id, kind string) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.find(id)
	if e == nil {
		return nil, review.ErrNoItem
	}
	b := e.frame
	switch kind {
	case review.ImageThumb:
		b = e.thumb
	case review.ImageCrop:
		if e.crop != nil {
			b = e.crop
		}
	}
	if b == nil {
		return nil, fmt.Errorf("item %s: frame not kept", id)
	}
	return b, nil
}

// Correct records class for the item and returns where the real station
// would save its sample (<SamplesDir>/<class>/<id>.jpg); nothing is
// written.
func (s *Station) Correct(id, class string) (string, error) {
	if s.o.SamplesDir == "" {
		return "", review.ErrNoSamples
	}
	if !slices.Contains(s.o.Labels, class) || class == "." || class == ".." || strings.ContainsAny(class, `/\`) {
		return "", fmt.Errorf("%w %q (the model has %v)", review.ErrLabel, class, s.o.Labels)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.find(id)
	if e == nil {
		return "", review.ErrNoItem
	}
	if prev := e.item.Corrected; prev != "" {
		s.corrections[prev]--
	}
	e.item.Corrected = class
	s.corrections[class]++
	return filepath.Join(s.o.SamplesDir, class, id+".jpg"), nil
}

// Snapshot returns the live frame set by SetFrame.
func (s *Station) Snapshot() ([]byte, time.Time, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.frame == nil {
		return nil, time.Time{}, review.ErrNoFrame
	}
	return s.frame, s.frameAt, nil
}

// Health fails when the last frame is older than stall (or none came),
// with the real station's wording.
func (s *Station) Health(now time.Time, stall time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.frameAt.IsZero() {
		return fmt.Errorf("station not started")
	}
	if d := now.Sub(s.frameAt); d > stall {
		return fmt.Errorf("no camera frame for %s", d.Round(time.Millisecond))
	}
	return nil
}
