package pipeline

import (
	"errors"
	"fmt"
	"image"
	"image/color"
	"os"
	"path/filepath"
	"strings"
	"sync"
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

// RecentItems are the last decided items with their frames, for the
// operator to review and correct. They have their own lock and outlive a
// station: a configuration reload hands the same list to the new station,
// so items decided before it can still be corrected.
type RecentItems struct {
	mu   sync.Mutex
	max  int
	list []*record // oldest first
	// corrMu: one correction at a time, so file moves stay consistent.
	corrMu sync.Mutex
}

// NewRecentItems keeps up to n items (n < 1: 50).
func NewRecentItems(n int) *RecentItems {
	if n < 1 {
		n = 50
	}
	return &RecentItems{max: n}
}

// add puts an item in flight into the list (oldest out).
func (l *RecentItems) add(r *record) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.list) < l.max {
		l.list = append(l.list, r)
		return
	}
	copy(l.list, l.list[1:])
	l.list[len(l.list)-1] = r
}

// fired records the event as its flap opened.
func (l *RecentItems) fired(r *record, ev Event) {
	l.mu.Lock()
	r.ev, r.fired = ev, true
	l.mu.Unlock()
}

// framed records the item's encoded images.
func (l *RecentItems) framed(r *record, jpeg, crop, thumb []byte) {
	l.mu.Lock()
	r.jpeg, r.crop, r.thumb, r.framed = jpeg, crop, thumb, true
	l.mu.Unlock()
}

// last is the newest fired event (nil: none yet).
func (l *RecentItems) last() *Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i := len(l.list) - 1; i >= 0; i-- {
		if l.list[i].fired {
			e := l.list[i].ev
			return &e
		}
	}
	return nil
}

// Items returns up to limit decided items, newest first. An item is
// listed once its flap fired and its frame is encoded (the encoding runs
// after the flap, so it never delays it), so a listed item's image is there.
func (l *RecentItems) Items(limit int) []Item {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []Item
	for i := len(l.list) - 1; i >= 0 && len(out) < limit; i-- {
		r := l.list[i]
		if !r.fired || !r.framed {
			continue
		}
		out = append(out, Item{Event: r.ev, Corrected: r.corrected, HasImage: r.jpeg != nil})
	}
	return out
}

// find is a fired item by id (l.mu held).
func (l *RecentItems) find(id string) *record {
	for _, r := range l.list {
		if r.ev.ID == id && r.fired {
			return r
		}
	}
	return nil
}

// state says whether an item is listed and whether its frame is encoded.
func (l *RecentItems) state(id string) (found, framed bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	r := l.find(id)
	return r != nil, r != nil && r.framed
}

// Image kinds.
const (
	ImageFrame = "frame" // the full frame the item was decided on
	ImageThumb = "thumb" // the frame, 160 px wide, with the box drawn
	ImageCrop  = "crop"  // what the model saw (the frame when not cropped)
)

// Image returns an item's frame as JPEG (kind: ImageFrame, ImageThumb or
// ImageCrop).
func (l *RecentItems) Image(id string, kind string) ([]byte, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	r := l.find(id)
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
// Correcting again moves the crop to the new class. The caller checked
// class against the model's labels.
func (l *RecentItems) Correct(samples, id, class string) (label, path string, err error) {
	l.corrMu.Lock()
	defer l.corrMu.Unlock()
	l.mu.Lock()
	r := l.find(id)
	var jpeg, frame, crop []byte
	var prev string
	if r != nil {
		jpeg, frame, crop, prev, label = r.crop, r.jpeg, r.crop, r.corrected, r.ev.Label
		if jpeg == nil {
			jpeg = r.jpeg // not cropped: the model saw the frame
		}
	}
	l.mu.Unlock()
	if r == nil {
		return "", "", ErrNoItem
	}
	if jpeg == nil {
		return "", "", fmt.Errorf("item %s: its frame was not kept", id)
	}
	path = filepath.Join(samples, class, id+".jpg")
	if err := writeFile(path, jpeg); err != nil {
		return "", "", fmt.Errorf("save sample: %w", err)
	}
	if frame != nil && crop != nil {
		if err := writeFile(filepath.Join(samples, FramesDir, id+".jpg"), frame); err != nil {
			return "", "", fmt.Errorf("save sample's frame: %w", err)
		}
	}
	if prev != "" && prev != class {
		os.Remove(filepath.Join(samples, prev, id+".jpg"))
	}
	l.mu.Lock()
	r.corrected = class
	l.mu.Unlock()
	return label, path, nil
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
	s.recent.framed(r, jpeg, cropJPEG, thumb)
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

// Items returns up to limit decided items, newest first (see
// RecentItems.Items).
func (s *Station) Items(limit int) []Item { return s.recent.Items(limit) }

// Image returns an item's frame as JPEG (see RecentItems.Image).
func (s *Station) Image(id string, kind string) ([]byte, error) { return s.recent.Image(id, kind) }

// Correct records the right class for an item and saves it as a sample
// (see RecentItems.Correct); it returns the sample's path.
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
	label, path, err := s.recent.Correct(s.o.SamplesDir, id, class)
	if err != nil {
		return "", err
	}
	s.counters.corrected(class)
	s.changed()
	s.log.Info("item corrected", "id", id, "label", label, "class", class, "file", path)
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

	text := caption(s.recent.last(), s.busy.Load(), s.paused.Load())
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

// caption is the line written over the live frame. While an item is
// being classified the frame shows that item, not the last decided one, so
// the last decision is then named "previous": a wine glass on the tray
// under "last item: metal" read as the glass called metal.
func caption(last *Event, busy, paused bool) string {
	text := "waiting for an item"
	if last != nil {
		name := "last item"
		if busy {
			name = "previous"
		}
		text = fmt.Sprintf("%s: %s %.2f -> %s", name, last.Label, last.Score, last.Bin)
		if last.Action == Reject {
			text += " (reject)"
		}
	}
	if busy {
		text = "classifying...  " + text
	}
	if paused {
		text = "PAUSED  " + text
	}
	return text
}

// Health says whether the station progresses: a frame within stall and no
// inference running for longer than 30 s. The watchdog and /healthz ask it.
func (s *Station) Health(now time.Time, stall time.Duration) error {
	last, inferSince := s.Progress()
	if last.IsZero() {
		s.progMu.Lock()
		last = s.started
		s.progMu.Unlock()
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
