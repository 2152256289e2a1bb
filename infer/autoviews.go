package infer

import (
	"context"
	"fmt"
	"image"
	"image/color"
	"log/slog"
	"slices"
	"time"

	"gocv.io/x/gocv"
)

// The automatic views per frame (model.tta_per_frame: auto): one
// inference is timed on this board at start, and each frame gets as many
// of the test-time views as fit the camera's frame period, so that the
// same configuration suits a Pi and a desktop.

// ViewHeadroom is the share of the camera's frame period kept free of
// inference: decoding the frame, locating the item and the pipeline's own
// work run in it too (docs/compute.md), and the timing is a median, so a
// busy board must not fall behind the camera on its slower frames.
const ViewHeadroom = 0.25

// timedViews is how many frames TimeView classifies; the first is a
// warm-up (XNNPACK packs its weights on the first Invoke) and not counted.
const timedViews = 6

// TimeView measures what one view costs on this board: the median time to
// classify a w×h frame (resize, quantize, Invoke, scores) without views.
func (c *Classifier) TimeView(ctx context.Context, w, h int) (time.Duration, error) {
	// A scene, not a flat grey: some delegates skip work on constant input.
	frame := gocv.NewMatWithSizeFromScalar(gocv.NewScalar(90, 110, 100, 0), h, w, gocv.MatTypeCV8UC3)
	defer frame.Close()
	gocv.Circle(&frame, image.Pt(w/2, h/2), h/4, color.RGBA{200, 40, 40, 0}, -1)
	var ds []time.Duration
	for i := 0; i < timedViews; i++ {
		t0 := time.Now()
		if _, err := c.ClassifyViews(ctx, frame, 1, nil); err != nil {
			return 0, fmt.Errorf("timing one view: %w", err)
		}
		if i > 0 {
			ds = append(ds, time.Since(t0))
		}
	}
	slices.Sort(ds)
	return ds[len(ds)/2], nil
}

// AutoViews is how many of have views each frame gets when one view costs
// perView and frames come every period: as many inferences as fit the
// period less ViewHeadroom, the frame itself always (so possibly none of
// the views), never more views than there are.
func AutoViews(perView, period time.Duration, have int) int {
	if perView <= 0 || period <= 0 {
		return 0
	}
	fit := int(time.Duration(float64(period)*(1-ViewHeadroom)) / perView)
	return max(0, min(fit-1, have))
}

// ViewBudget is what the automatic choice of views per frame works from.
type ViewBudget struct {
	// FPS, Width and Height are the camera's frame rate and size (the
	// view is timed on a frame of that size).
	FPS           float64
	Width, Height int
	// Views is how many views there are to share out (model.tta).
	Views int
	// Measure times one view; nil: TimeView on the classifier.
	Measure func(ctx context.Context) (time.Duration, error)
}

// ResolveAutoViews times one view and returns the views per frame for
// this board, logging the choice. No views is returned as 0 with
// frameOnly true (the classifier must then run the frame alone, see
// FrameOnly), since 0 views per frame otherwise means "all views on every
// frame".
func (c *Classifier) ResolveAutoViews(ctx context.Context, b ViewBudget, log *slog.Logger) (perFrame int, frameOnly bool, err error) {
	measure := b.Measure
	if measure == nil {
		measure = func(ctx context.Context) (time.Duration, error) { return c.TimeView(ctx, b.Width, b.Height) }
	}
	if b.FPS <= 0 {
		return 0, false, fmt.Errorf("no frame rate to fit views in (%g frames/s)", b.FPS)
	}
	perView, err := measure(ctx)
	if err != nil {
		return 0, false, err
	}
	period := time.Duration(float64(time.Second) / b.FPS)
	n := AutoViews(perView, period, b.Views)
	log.Info("tta_per_frame auto: views chosen from the time of one inference",
		"per_view", perView.Round(10*time.Microsecond), "frame_period", period.Round(10*time.Microsecond),
		"headroom", ViewHeadroom, "views_per_frame", n, "inferences_per_frame", n+1, "views", b.Views)
	if n == 0 {
		log.Warn("tta_per_frame auto: one inference fills the frame period; frames are classified without extra views",
			"per_view", perView.Round(10*time.Microsecond), "frame_period", period.Round(10*time.Microsecond))
	}
	return n, n == 0, nil
}

// FrameOnly classifies each frame without views, whatever TTA the
// classifier was built with: what automatic views fall back to when one
// inference is all a frame period holds.
type FrameOnly struct{ *Classifier }

// Classify classifies img alone.
func (f FrameOnly) Classify(ctx context.Context, img gocv.Mat, k int) (Result, error) {
	return f.Classifier.ClassifyViews(ctx, img, k, nil)
}
