package review

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/sorterd/sorterd/pipeline"
)

// Item is a decided item as the web page lists it.
type Item struct {
	pipeline.Event
	// Corrected is the class an operator gave it ("" if none).
	Corrected string `json:"corrected,omitempty"`
	HasImage  bool   `json:"has_image"`
}

// Errors of the review surface, for callers that map them to codes.
var (
	ErrNoItem    = errors.New("no such item (unknown id, or no longer among the recent items)")
	ErrNoFrame   = errors.New("no camera frame yet")
	ErrNoSamples = errors.New("no samples folder configured")
	ErrLabel     = errors.New("unknown class")
)

// Image kinds.
const (
	ImageFrame = "frame" // the full frame the item was decided on
	ImageThumb = "thumb" // the frame, thumbWidth px wide, with the box drawn
	ImageCrop  = "crop"  // what the model saw (the frame when not cropped)
)

// FramesDir is the folder under the samples folder that keeps corrected
// items' full frames (hidden: train skips it).
const FramesDir = ".frames"

// DefaultRecent is how many items Recent keeps unless told.
const DefaultRecent = 50

// record is one item: its event (once its flap fired) and its encoded
// images (once decided; the encoding runs after the flap, off its path).
type record struct {
	ev        pipeline.Event
	fired     bool
	framed    bool   // its images are encoded (with or without a frame)
	jpeg      []byte // the full frame, as the camera saw it
	crop      []byte // what the model saw (nil: the whole frame)
	thumb     []byte // the frame, small, with the box drawn
	corrected string
}

// Recent are the last decided items with their frames (as JPEG, a few
// tens of KB each, never raw Mats), for the operator to review and
// correct. They have their own lock and outlive a station: a
// configuration reload hands the same Recent to the next station's
// Review, so items decided before it can still be corrected.
type Recent struct {
	mu   sync.Mutex
	max  int
	list []*record // in the order the station decided them, oldest first
	// corrMu: one correction at a time, so file moves stay consistent.
	corrMu sync.Mutex
}

// NewRecent keeps up to n items (n < 1: DefaultRecent).
func NewRecent(n int) *Recent {
	if n < 1 {
		n = DefaultRecent
	}
	return &Recent{max: n}
}

// entry is the item id's record, added (the oldest out) when the station
// first tells of it (l.mu held).
func (l *Recent) entry(id string) *record {
	for _, r := range l.list {
		if r.ev.ID == id {
			return r
		}
	}
	r := &record{ev: pipeline.Event{ID: id}}
	if len(l.list) < l.max {
		l.list = append(l.list, r)
		return r
	}
	copy(l.list, l.list[1:])
	l.list[len(l.list)-1] = r
	return r
}

// fire records an item's event as its flap opened.
func (l *Recent) fire(ev pipeline.Event) {
	l.mu.Lock()
	r := l.entry(ev.ID)
	r.ev, r.fired = ev, true
	l.mu.Unlock()
}

// frame records an item's encoded images; ev is its event as decided.
func (l *Recent) frame(ev pipeline.Event, jpeg, crop, thumb []byte) {
	l.mu.Lock()
	r := l.entry(ev.ID)
	if !r.fired {
		r.ev = ev
	}
	r.jpeg, r.crop, r.thumb, r.framed = jpeg, crop, thumb, true
	l.mu.Unlock()
}

// last is the newest fired event (nil: none yet).
func (l *Recent) last() *pipeline.Event {
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
// listed once its flap fired and its frame is encoded, so a listed
// item's image is there.
func (l *Recent) Items(limit int) []Item {
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
func (l *Recent) find(id string) *record {
	for _, r := range l.list {
		if r.ev.ID == id && r.fired {
			return r
		}
	}
	return nil
}

// state says whether an item is listed and whether its frame is encoded.
func (l *Recent) state(id string) (found, framed bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	r := l.find(id)
	return r != nil, r != nil && r.framed
}

// Image returns an item's frame as JPEG (kind: ImageFrame, ImageThumb or
// ImageCrop).
func (l *Recent) Image(id string, kind string) ([]byte, error) {
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
// <samples>/.frames/<id>.jpg (FramesDir, which train skips). Correcting
// again moves the crop to the new class. The caller checked class
// against the model's labels.
func (l *Recent) Correct(samples, id, class string) (label, path string, err error) {
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
