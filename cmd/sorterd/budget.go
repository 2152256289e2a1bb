package main

import (
	"context"
	"fmt"
	"image"
	"image/color"
	"log/slog"
	"slices"
	"time"

	"github.com/sorterd/sorterd/config"
	"github.com/sorterd/sorterd/infer"
	"gocv.io/x/gocv"
)

// viewHeadroom is the share of the camera's frame period kept free of
// inference when tta_per_frame is auto: decoding the camera frame,
// locating the item and the pipeline's own work run in it too (on this
// machine decode + locate are ~1 ms of a 66.7 ms period, see
// docs/compute.md), and the timing at start is a median: a busy board
// must not fall behind the camera on its slower frames.
const viewHeadroom = 0.25

// timedViews is how many frames timeView classifies; the first is a
// warm-up (XNNPACK packs its weights on the first Invoke) and not counted.
const timedViews = 6

// timeView measures what one view costs on this board: the median time to
// classify a frame of the camera's size (resize, quantize, Invoke, scores).
func timeView(ctx context.Context, clf *infer.Classifier, cam config.Camera) (time.Duration, error) {
	w, h := cam.Width, cam.Height
	if w <= 0 || h <= 0 {
		w, h = 640, 480
	}
	// A scene, not a flat grey: some delegates skip work on constant input.
	frame := gocv.NewMatWithSizeFromScalar(gocv.NewScalar(90, 110, 100, 0), h, w, gocv.MatTypeCV8UC3)
	defer frame.Close()
	gocv.Circle(&frame, image.Pt(w/2, h/2), h/4, color.RGBA{200, 40, 40, 0}, -1)
	var ds []time.Duration
	for i := 0; i < timedViews; i++ {
		t0 := time.Now()
		if _, err := clf.ClassifyViews(ctx, frame, 1, nil); err != nil {
			return 0, fmt.Errorf("timing one view: %w", err)
		}
		if i > 0 {
			ds = append(ds, time.Since(t0))
		}
	}
	slices.Sort(ds)
	return ds[len(ds)/2], nil
}

// autoViews is how many of the model.tta views (out of have) each frame
// gets when one view costs perView and frames come every period: as many
// inferences as fit the period less viewHeadroom, the frame itself always
// (so possibly none of the extra views), never more views than there are.
func autoViews(perView, period time.Duration, have int) int {
	if perView <= 0 || period <= 0 {
		return 0
	}
	fit := int(time.Duration(float64(period)*(1-viewHeadroom)) / perView)
	return max(0, min(fit-1, have))
}

// resolveAutoViews times one view and returns tta_per_frame's value for
// this board, logging the choice. 0 extra views is returned as 0 with
// frameOnly true: tta_per_frame 0 otherwise means "all views on every
// frame".
func resolveAutoViews(ctx context.Context, cfg config.Config, clf *infer.Classifier, log *slog.Logger,
	measure func() (time.Duration, error)) (perFrame int, frameOnly bool, err error) {
	if measure == nil {
		measure = func() (time.Duration, error) { return timeView(ctx, clf, cfg.Camera) }
	}
	perView, err := measure()
	if err != nil {
		return 0, false, err
	}
	fps := cfg.Camera.FPS
	if fps <= 0 {
		fps = config.Default().Camera.FPS
	}
	period := time.Duration(float64(time.Second) / fps)
	n := autoViews(perView, period, len(cfg.Model.TTA))
	log.Info("tta_per_frame auto: views chosen from the time of one inference",
		"per_view", perView.Round(10*time.Microsecond), "frame_period", period.Round(10*time.Microsecond),
		"headroom", viewHeadroom, "views_per_frame", n, "inferences_per_frame", n+1, "views", len(cfg.Model.TTA))
	if n == 0 {
		log.Warn("tta_per_frame auto: one inference fills the frame period; frames are classified without extra views",
			"per_view", perView.Round(10*time.Microsecond), "frame_period", period.Round(10*time.Microsecond))
	}
	return n, n == 0, nil
}

// frameOnly classifies each frame without views, whatever TTA the
// classifier was built with: what tta_per_frame auto falls back to when
// one inference is all a frame period holds.
type frameOnly struct{ *infer.Classifier }

func (f frameOnly) Classify(ctx context.Context, img gocv.Mat, k int) (infer.Result, error) {
	return f.Classifier.ClassifyViews(ctx, img, k, nil)
}
