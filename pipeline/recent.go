package pipeline

import (
	"errors"
	"fmt"
	"image"
	"image/color"
	"os"
	"path/filepath"
	"strings"
	"time"

	"gocv.io/x/gocv"
)

// What the station keeps for the operator: the last decided items with
// the frame each was decided on (as JPEG, a few tens of KB each, never
// raw Mats), the latest camera frame, and the corrections given.

// Item is a decided item as the web page lists it.
type Item struct {
	Event
	// Corrected is the class an operator gave it ("" if none).
	Corrected string `json:"corrected,omitempty"`
	HasImage  bool   `json:"has_image"`
}

// Errors of the correction surface, for callers that map them to codes.
var (
	ErrNoItem    = errors.New("no such item (unknown id, or no longer among the recent items)")
	ErrNoFrame   = errors.New("no camera frame yet")
	ErrNoSamples = errors.New("no samples folder configured")
	ErrLabel     = errors.New("unknown class")
)

type record struct {
	ev        Event
	fired     bool
	framed    bool // attachFrame is done (with or without an image)
	jpeg      []byte
	thumb     []byte
	corrected string
}

const thumbWidth = 160

// remember adds an item in flight to the ring (oldest out).
func (s *Station) remember(r *record) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.recent) < s.o.Recent {
		s.recent = append(s.recent, r)
		return
	}
	copy(s.recent, s.recent[1:])
	s.recent[len(s.recent)-1] = r
}

// attachFrame encodes the item's frame once it is decided, off the path
// to the flap.
func (s *Station) attachFrame(r *record, m gocv.Mat) {
	jpeg, thumb := s.encodeFrame(m)
	s.mu.Lock()
	r.jpeg, r.thumb, r.framed = jpeg, thumb, true
	s.mu.Unlock()
}

func (s *Station) encodeFrame(m gocv.Mat) (jpeg, thumb []byte) {
	if m.Empty() {
		return nil, nil
	}
	full, err := gocv.IMEncodeWithParams(gocv.JPEGFileExt, m, []int{gocv.IMWriteJpegQuality, 90})
	if err != nil {
		s.log.Warn("encode item frame", "err", err)
		return nil, nil
	}
	jpeg = append([]byte(nil), full.GetBytes()...)
	full.Close()
	small := gocv.NewMat()
	defer small.Close()
	h := m.Rows() * thumbWidth / max(m.Cols(), 1)
	gocv.Resize(m, &small, image.Pt(thumbWidth, max(h, 1)), 0, 0, gocv.InterpolationArea)
	if t, err := gocv.IMEncodeWithParams(gocv.JPEGFileExt, small, []int{gocv.IMWriteJpegQuality, 80}); err == nil {
		thumb = append([]byte(nil), t.GetBytes()...)
		t.Close()
	}
	return jpeg, thumb
}

// Items returns up to limit decided items, newest first. An item is
// listed once its flap fired and its frame is encoded (the encoding runs
// after the flap, so it never delays it), so a listed item's image is there.
func (s *Station) Items(limit int) []Item {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Item
	for i := len(s.recent) - 1; i >= 0 && len(out) < limit; i-- {
		r := s.recent[i]
		if !r.fired || !r.framed {
			continue
		}
		out = append(out, Item{Event: r.ev, Corrected: r.corrected, HasImage: r.jpeg != nil})
	}
	return out
}

func (s *Station) find(id string) *record {
	for _, r := range s.recent {
		if r.ev.ID == id && r.fired {
			return r
		}
	}
	return nil
}

// Image returns an item's frame as JPEG (thumb: 160 px wide).
func (s *Station) Image(id string, thumb bool) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.find(id)
	if r == nil {
		return nil, ErrNoItem
	}
	b := r.jpeg
	if thumb {
		b = r.thumb
	}
	if b == nil {
		return nil, fmt.Errorf("item %s: frame not kept", id)
	}
	return b, nil
}

// Correct records the right class for an item and saves its frame as
// <samples>/<class>/<id>.jpg, the folder tree `sorterd train --data`
// reads. Correcting again moves the file to the new class.
func (s *Station) Correct(id, class string) (string, error) {
	if s.o.SamplesDir == "" {
		return "", ErrNoSamples
	}
	known := false
	for _, l := range s.o.Classify.Labels() {
		known = known || l == class
	}
	// Labels come from the model file: one that could leave the samples
	// folder is refused even if the model has it.
	if !known || class == "" || class == "." || class == ".." || strings.ContainsAny(class, `/\`) {
		return "", fmt.Errorf("%w %q (the model has %v)", ErrLabel, class, s.o.Classify.Labels())
	}
	s.corrMu.Lock() // one correction at a time: file moves stay consistent
	defer s.corrMu.Unlock()
	s.mu.Lock()
	r := s.find(id)
	var jpeg []byte
	var prev string
	if r != nil {
		jpeg, prev = r.jpeg, r.corrected
	}
	s.mu.Unlock()
	if r == nil {
		return "", ErrNoItem
	}
	if jpeg == nil {
		return "", fmt.Errorf("item %s: its frame was not kept", id)
	}
	dir := filepath.Join(s.o.SamplesDir, class)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("save sample: %w", err)
	}
	path := filepath.Join(dir, id+".jpg")
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, jpeg, 0o644); err != nil {
		return "", fmt.Errorf("save sample: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return "", fmt.Errorf("save sample: %w", err)
	}
	if prev != "" && prev != class {
		os.Remove(filepath.Join(s.o.SamplesDir, prev, id+".jpg"))
	}
	s.mu.Lock()
	r.corrected = class
	s.corrections[class]++
	s.mu.Unlock()
	s.log.Info("item corrected", "id", id, "label", r.ev.Label, "class", class, "file", path)
	return path, nil
}

// keepLatest copies the frame for the live view (into a reused Mat).
func (s *Station) keepLatest(m gocv.Mat, at time.Time) {
	s.liveMu.Lock()
	if s.latest.Ptr() == nil {
		s.latest = gocv.NewMat()
	}
	m.CopyTo(&s.latest)
	s.latestAt = at
	s.liveMu.Unlock()
}

// Snapshot is the latest camera frame as JPEG, with the last decision
// written on it.
func (s *Station) Snapshot() ([]byte, time.Time, error) {
	s.liveMu.Lock()
	if s.latest.Ptr() == nil || s.latest.Empty() {
		s.liveMu.Unlock()
		return nil, time.Time{}, ErrNoFrame
	}
	m := s.latest.Clone()
	at := s.latestAt
	s.liveMu.Unlock()
	defer m.Close()

	s.mu.Lock()
	var last *Event
	for i := len(s.recent) - 1; i >= 0; i-- {
		if s.recent[i].fired {
			e := s.recent[i].ev
			last = &e
			break
		}
	}
	paused := s.paused.Load()
	s.mu.Unlock()
	text := "waiting for an item"
	if last != nil {
		text = fmt.Sprintf("%s %.2f -> %s", last.Label, last.Score, last.Bin)
		if last.Action == "reject" {
			text += " (reject)"
		}
	}
	if s.busy.Load() {
		text = "classifying...  last: " + text
	}
	if paused {
		text = "PAUSED  " + text
	}
	scale := float64(m.Cols()) / 640
	bar := int(28 * max(scale, 0.5))
	gocv.Rectangle(&m, image.Rect(0, 0, m.Cols(), bar), color.RGBA{0, 0, 0, 0}, -1)
	gocv.PutText(&m, text, image.Pt(6, bar*3/4), gocv.FontHersheySimplex, 0.6*max(scale, 0.5), color.RGBA{255, 255, 255, 0}, 1)
	b, err := gocv.IMEncodeWithParams(gocv.JPEGFileExt, m, []int{gocv.IMWriteJpegQuality, 80})
	if err != nil {
		return nil, at, fmt.Errorf("encode frame: %w", err)
	}
	defer b.Close()
	return append([]byte(nil), b.GetBytes()...), at, nil
}

// Health says whether the station progresses: a frame within stall and no
// inference running for longer than 30 s. The watchdog and /healthz ask it.
func (s *Station) Health(now time.Time, stall time.Duration) error {
	last, inferSince := s.Progress()
	if last.IsZero() {
		s.mu.Lock()
		last = s.started
		s.mu.Unlock()
		if last.IsZero() {
			return errors.New("station not started")
		}
	}
	if d := now.Sub(last); d > stall {
		return fmt.Errorf("no camera frame for %s", d.Round(time.Millisecond))
	}
	if !inferSince.IsZero() && now.Sub(inferSince) > 30*time.Second {
		return fmt.Errorf("inference running for %s", now.Sub(inferSince).Round(time.Second))
	}
	return nil
}
