// Package review is what the operator reviews of the station's work: the
// last decided items with the frame each was decided on (Recent), their
// corrections, saved as training samples, and the live frame with the
// last decision written on it. The pipeline feeds it (pipeline.Review):
// every frame read, each decided item's frame and crop, and each item's
// event once its flap fired. The web page reads it; the station's health
// and control surface stay the pipeline's.
package review

import (
	"context"
	"fmt"
	"image"
	"image/color"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/sorterd/sorterd/pipeline"
	"github.com/sorterd/sorterd/settings"
	"gocv.io/x/gocv"
)

// Options wire a Review to its station.
type Options struct {
	// Recent are the items kept, which outlive the station (a reload
	// passes the running one's); nil: new ones (DefaultRecent items).
	Recent *Recent
	// SamplesDir receives corrected items as <class>/<id>.jpg ("":
	// Correct answers ErrNoSamples).
	SamplesDir string
	// Labels are the model's classes, the only ones Correct accepts.
	Labels []string
	// State says whether an item is being classified and whether the
	// station is paused, for the live frame's caption; nil: neither.
	State func() (classifying, paused bool)
	// OnCorrect is told of each correction (the station counts it).
	OnCorrect func(class string)
	Log       *slog.Logger
}

// Review is one station's review: the pipeline.Review it is fed through,
// and what the web page asks of it.
type Review struct {
	o      Options
	recent *Recent

	liveMu   sync.Mutex
	latest   gocv.Mat // the last frame read, for the live view
	latestAt time.Time
	liveBox  image.Rectangle // where the item is in latest (empty: none found)
}

var _ pipeline.Review = (*Review)(nil)

// New is a station's review; Close frees its live frame once the
// station has stopped.
func New(o Options) *Review {
	if o.Recent == nil {
		o.Recent = NewRecent(0)
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.State == nil {
		o.State = func() (bool, bool) { return false, false }
	}
	return &Review{o: o, recent: o.Recent}
}

// JPEG qualities of what is kept.
const (
	frameQuality = 90 // an item's frame and crop: samples for training
	thumbQuality = 80 // thumbnails and the live frame: only looked at
)

// thumbWidth is a thumbnail's width in pixels.
const thumbWidth = 160

// Frame keeps each frame for the live view (copied into a reused Mat),
// with where the item is located in it.
func (v *Review) Frame(m gocv.Mat, at time.Time, box image.Rectangle) {
	v.liveMu.Lock()
	if v.latest.Ptr() == nil {
		v.latest = gocv.NewMat()
	}
	m.CopyTo(&v.latest)
	v.latestAt = at
	v.liveBox = box
	v.liveMu.Unlock()
}

// Decided encodes an item's frame and its crop (what the model saw, at
// box), once it is decided: the station calls it after the item's flap,
// so the encoding never delays one.
func (v *Review) Decided(ev pipeline.Event, frame, crop gocv.Mat, box image.Rectangle) {
	var jpeg, cropJPEG, thumb []byte
	if !frame.Empty() {
		jpeg = v.encode(frame, frameQuality)
		if ev.Box != nil && !crop.Empty() {
			cropJPEG = v.encode(crop, frameQuality)
		}
		small := gocv.NewMat()
		h := frame.Rows() * thumbWidth / max(frame.Cols(), 1)
		gocv.Resize(frame, &small, image.Pt(thumbWidth, max(h, 1)), 0, 0, gocv.InterpolationArea)
		if ev.Box != nil {
			drawBox(&small, box, float64(thumbWidth)/float64(frame.Cols()))
		}
		thumb = v.encode(small, thumbQuality)
		small.Close()
	}
	v.recent.frame(ev, jpeg, cropJPEG, thumb)
}

// Fired records an item's event as its flap opened.
func (v *Review) Fired(ev pipeline.Event) { v.recent.fire(ev) }

func (v *Review) encode(m gocv.Mat, quality int) []byte {
	b, err := gocv.IMEncodeWithParams(gocv.JPEGFileExt, m, []int{gocv.IMWriteJpegQuality, quality})
	if err != nil {
		v.o.Log.Warn("encode item image", "err", err)
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
// Recent.Items).
func (v *Review) Items(limit int) []Item { return v.recent.Items(limit) }

// Image returns an item's frame as JPEG (see Recent.Image).
func (v *Review) Image(id string, kind string) ([]byte, error) { return v.recent.Image(id, kind) }

// imagePoll is how often WaitImage looks for an item's encoded image.
const imagePoll = 10 * time.Millisecond

// WaitImage returns an item's image (kind as for Image) once it is
// encoded: the event is published when the flap opens, and the frame is
// encoded just after, off the flap's path. It waits until ctx ends.
func (v *Review) WaitImage(ctx context.Context, id, kind string) ([]byte, error) {
	t := time.NewTicker(imagePoll)
	defer t.Stop()
	for {
		found, framed := v.recent.state(id)
		if framed || !found {
			return v.Image(id, kind)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-t.C:
		}
	}
}

// Correct records the right class for an item and saves it as a sample
// (see Recent.Correct); it returns the sample's path.
func (v *Review) Correct(id, class string) (string, error) {
	if v.o.SamplesDir == "" {
		return "", ErrNoSamples
	}
	known := false
	for _, l := range v.o.Labels {
		known = known || l == class
	}
	// Labels come from the model file: one that could leave the samples
	// folder is refused even if the model has it.
	if !known || class == "" || class == "." || class == ".." || strings.ContainsAny(class, `/\`) {
		return "", fmt.Errorf("%w %q (the model has %v)", ErrLabel, class, v.o.Labels)
	}
	label, path, err := v.recent.Correct(v.o.SamplesDir, id, class)
	if err != nil {
		return "", err
	}
	if v.o.OnCorrect != nil {
		v.o.OnCorrect(class)
	}
	v.o.Log.Info("item corrected", "id", id, "label", label, "class", class, "file", path)
	return path, nil
}

// Snapshot is the latest camera frame as JPEG, with the last decision
// written on it.
func (v *Review) Snapshot() ([]byte, time.Time, error) {
	v.liveMu.Lock()
	if v.latest.Ptr() == nil || v.latest.Empty() {
		v.liveMu.Unlock()
		return nil, time.Time{}, ErrNoFrame
	}
	m := v.latest.Clone()
	at, box := v.latestAt, v.liveBox
	v.liveMu.Unlock()
	defer m.Close()
	if !box.Empty() {
		drawBox(&m, box, 1)
	}
	classifying, paused := v.o.State()
	text := caption(v.recent.last(), classifying, paused)
	// The caption's bar and text are sized for the default frame's width
	// and scaled with the frame, never below half.
	scale := float64(m.Cols()) / settings.DefaultFrameWidth
	bar := int(28 * max(scale, 0.5))
	gocv.Rectangle(&m, image.Rect(0, 0, m.Cols(), bar), color.RGBA{0, 0, 0, 0}, -1)
	gocv.PutText(&m, text, image.Pt(6, bar*3/4), gocv.FontHersheySimplex, 0.6*max(scale, 0.5), color.RGBA{255, 255, 255, 0}, 1)
	b, err := gocv.IMEncodeWithParams(gocv.JPEGFileExt, m, []int{gocv.IMWriteJpegQuality, thumbQuality})
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
func caption(last *pipeline.Event, busy, paused bool) string {
	text := "waiting for an item"
	if last != nil {
		name := "last item"
		if busy {
			name = "previous"
		}
		text = fmt.Sprintf("%s: %s %.2f -> %s", name, last.Label, last.Score, last.Bin)
		if last.Action == pipeline.Reject {
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

// Close frees the live frame; Snapshot then answers ErrNoFrame. Call it
// once the station stopped feeding the review.
func (v *Review) Close() {
	v.liveMu.Lock()
	if v.latest.Ptr() != nil {
		v.latest.Close()
		v.latest = gocv.Mat{}
	}
	v.liveMu.Unlock()
}
