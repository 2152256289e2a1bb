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
	framed    bool   // attachFrame is done (with or without an image)
	jpeg      []byte // the full frame, as the camera saw it
	crop      []byte // what the model saw (nil: the whole frame)
	thumb     []byte // the frame, small, with the box drawn
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

// attachFrame encodes the item's frame and crop once it is decided, off
// the path to the flap.
func (s *Station) attachFrame(r *record, frame, crop gocv.Mat, box image.Rectangle) {
	var jpeg, cropJPEG, thumb []byte
	if !frame.Empty() {
		jpeg = s.encode(frame, 90)
		if r.ev.Box != nil && !crop.Empty() {
			cropJPEG = s.encode(crop, 90)
		}
		small := gocv.NewMat()
		h := frame.Rows() * thumbWidth / max(frame.Cols(), 1)
		gocv.Resize(frame, &small, image.Pt(thumbWidth, max(h, 1)), 0, 0, gocv.InterpolationArea)
		if r.ev.Box != nil {
			drawBox(&small, box, float64(thumbWidth)/float64(frame.Cols()))
		}
		thumb = s.encode(small, 80)
		small.Close()
	}
	s.mu.Lock()
	r.jpeg, r.crop, r.thumb, r.framed = jpeg, cropJPEG, thumb, true
	s.mu.Unlock()
}

func (s *Station) encode(m gocv.Mat, quality int) []byte {
	b, err := gocv.IMEncodeWithParams(gocv.JPEGFileExt, m, []int{gocv.IMWriteJpegQuality, quality})
	if err != nil {
		s.log.Warn("encode item image", "err", err)
		return nil
	}
	defer b.Close()
	return append([]byte(nil), b.GetBytes()...)
}

// boxColour is the item's box on the live view and thumbnails.
var boxColour = color.RGBA{40, 220, 60, 0}

// drawBox draws box (frame pixels) on m, scaled to m's size.
func drawBox(m *gocv.Mat, box image.Rectangle, scale float64) {
	r := image.Rect(int(float64(box.Min.X)*scale), int(float64(box.Min.Y)*scale),
		int(float64(box.Max.X)*scale), int(float64(box.Max.Y)*scale))
	gocv.Rectangle(m, r, boxColour, max(1, int(2*scale+0.5)))
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

// Image kinds.
const (
	ImageFrame = "frame" // the full frame the item was decided on
	ImageThumb = "thumb" // the frame, 160 px wide, with the box drawn
	ImageCrop  = "crop"  // what the model saw (the frame when not cropped)
)

// Image returns an item's frame as JPEG (kind: ImageFrame, ImageThumb or
// ImageCrop).
func (s *Station) Image(id string, kind string) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.find(id)
	if r == nil {
		return nil, ErrNoItem
	}
	var b []byte
	switch kind {
	case ImageThumb:
		b = r.thumb
	case ImageCrop:
		b = r.crop
		if b == nil {
			b = r.jpeg
		}
	default:
		b = r.jpeg
	}
	if b == nil {
		return nil, fmt.Errorf("item %s: frame not kept", id)
	}
	return b, nil
}

// Correct records the right class for an item and saves what the model
// saw (the crop) as <samples>/<class>/<id>.jpg, the folder tree `sorterd
// train --data` reads, and the full frame beside it as
// <samples>/.frames/<id>.jpg (a hidden folder, which train skips).
// Correcting again moves the crop to the new class.
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
	var jpeg, frame []byte
	var prev string
	if r != nil {
		jpeg, frame, prev = r.crop, r.jpeg, r.corrected
		if jpeg == nil {
			jpeg = r.jpeg // not cropped: the model saw the frame
		}
	}
	s.mu.Unlock()
	if r == nil {
		return "", ErrNoItem
	}
	if jpeg == nil {
		return "", fmt.Errorf("item %s: its frame was not kept", id)
	}
	path := filepath.Join(s.o.SamplesDir, class, id+".jpg")
	if err := writeFile(path, jpeg); err != nil {
		return "", fmt.Errorf("save sample: %w", err)
	}
	if frame != nil && r.crop != nil {
		if err := writeFile(filepath.Join(s.o.SamplesDir, FramesDir, id+".jpg"), frame); err != nil {
			return "", fmt.Errorf("save sample's frame: %w", err)
		}
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

// FramesDir is the folder under the samples folder that keeps corrected
// items' full frames.
const FramesDir = ".frames"

// writeFile writes data to path through a temporary file.
func writeFile(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}

// keepLatest copies the frame for the live view (into a reused Mat), with
// where the item is located in it.
func (s *Station) keepLatest(m gocv.Mat, at time.Time, box image.Rectangle) {
	s.liveMu.Lock()
	if s.latest.Ptr() == nil {
		s.latest = gocv.NewMat()
	}
	m.CopyTo(&s.latest)
	s.latestAt = at
	s.liveBox = box
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
	at, box := s.latestAt, s.liveBox
	s.liveMu.Unlock()
	defer m.Close()
	if !box.Empty() {
		drawBox(&m, box, 1)
	}

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
		text = fmt.Sprintf("last item: %s %.2f -> %s", last.Label, last.Score, last.Bin)
		if last.Action == Reject {
			text += " (reject)"
		}
	}
	if s.busy.Load() {
		text = "classifying...  " + text
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
