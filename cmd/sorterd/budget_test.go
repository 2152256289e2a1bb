package main

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sorterd/sorterd/config"
	"github.com/sorterd/sorterd/infer"
	"github.com/sorterd/sorterd/internal/testenv"
	"github.com/sorterd/sorterd/locate"
	"github.com/sorterd/sorterd/settings"
)

// The views that fit: 15 frames/s is a 66.7 ms period, 50 ms of it for
// inference after the headroom.
func TestAutoViews(t *testing.T) {
	period := time.Second / 15
	for _, tc := range []struct {
		perView time.Duration
		want    int
	}{
		{2 * time.Millisecond, 5},   // 25 fit: capped at the 5 views there are
		{9 * time.Millisecond, 4},   // 5 fit: the frame and 4 views
		{12 * time.Millisecond, 3},  // 4 fit
		{20 * time.Millisecond, 1},  // 2 fit
		{26 * time.Millisecond, 0},  // 1 fits: the frame alone
		{120 * time.Millisecond, 0}, // not even the frame: still the frame alone
		{0, 0},
	} {
		if got := autoViews(tc.perView, period, 5); got != tc.want {
			t.Errorf("%v per view at 15 fps: %d views, want %d", tc.perView, got, tc.want)
		}
	}
	if got := autoViews(6*time.Millisecond, time.Second/30, 5); got != 3 {
		t.Errorf("6 ms per view at 30 fps: %d views, want 3 (25 ms: 4 inferences)", got)
	}
}

// A slow board (an injected 40 ms per inference, as a Pi 4 takes at
// 384 px) at 15 frames/s gets the frame alone, says so, and its
// classifier then runs no views even though it was built with five; a fast
// one (6 ms) gets views.
func TestResolveAutoViewsInjected(t *testing.T) {
	cfg := config.Default()
	cfg.Model.TTAPerFrame = config.AutoViews
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	slow := func() (time.Duration, error) { return 40 * time.Millisecond, nil }
	n, none, err := resolveAutoViews(context.Background(), cfg, nil, log, slow)
	if err != nil || n != 0 || !none {
		t.Fatalf("40 ms per view: %d views (frame only %v), %v", n, none, err)
	}
	for _, want := range []string{"views_per_frame=0", "per_view=40ms", "frame_period=66.67ms", "level=WARN"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, logs.String())
		}
	}
	logs.Reset()
	fast := func() (time.Duration, error) { return 6 * time.Millisecond, nil }
	if n, none, err = resolveAutoViews(context.Background(), cfg, nil, log, fast); err != nil || n != 5 || none {
		t.Errorf("6 ms per view: %d views (frame only %v), %v", n, none, err)
	}
	if !strings.Contains(logs.String(), "views_per_frame=5") || strings.Contains(logs.String(), "level=WARN") {
		t.Errorf("log:\n%s", logs.String())
	}
	broken := func() (time.Duration, error) { return 0, errors.New("invoke failed") }
	if _, _, err := resolveAutoViews(context.Background(), cfg, nil, log, broken); err == nil {
		t.Error("a failed timing was not an error")
	}
}

// frameOnly runs the frame without the classifier's own views, and
// stationOptions with auto times the real model and wires what it chose.
func TestAutoViewsOnRealModel(t *testing.T) {
	clf, err := infer.New(infer.Options{Model: model(t), TTA: []string{"flip", "rot180", "rot90", "rot270", "vflip"}})
	if err != nil {
		t.Fatal(err)
	}
	defer clf.Close()
	img, err := infer.ReadImageFile(photo(t), infer.ImageLimits{})
	if err != nil {
		t.Fatal(err)
	}
	defer img.Close()
	ctx := context.Background()
	with, err := clf.Classify(ctx, img, 3)
	if err != nil {
		t.Fatal(err)
	}
	alone, err := frameOnly{clf}.Classify(ctx, img, 3)
	if err != nil {
		t.Fatal(err)
	}
	plain, err := clf.ClassifyViews(ctx, img, 3, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !equalScores(alone.Scores, plain.Scores) || equalScores(alone.Scores, with.Scores) {
		t.Errorf("frame only %v; no views %v; five views %v", alone.Top, plain.Top, with.Top)
	}

	d, err := timeView(ctx, clf, config.Default().Camera)
	if err != nil || d <= 0 {
		t.Fatalf("timeView: %v, %v", d, err)
	}
	cfg := config.Default()
	cfg.Trigger.Mode = settings.Motion
	cfg.Bins = exampleBins
	cfg.Model.TTAPerFrame = config.AutoViews
	o, err := stationOptions(cfg, clf, locate.Reference{})
	if o.Tray != nil {
		defer o.Tray.Close()
	}
	if err != nil {
		t.Fatal(err)
	}
	_, isFrameOnly := o.Classify.(frameOnly)
	switch {
	case o.ViewsPerFrame < 0 || o.ViewsPerFrame > 5:
		t.Errorf("auto chose %d views per frame", o.ViewsPerFrame)
	case o.ViewsPerFrame == 0 && !isFrameOnly, o.ViewsPerFrame > 0 && (isFrameOnly || len(o.Views) != 5):
		t.Errorf("auto: %d views per frame, frame only %v, views %d", o.ViewsPerFrame, isFrameOnly, len(o.Views))
	}
	t.Logf("one view %v here: auto chose %d views per frame", d, o.ViewsPerFrame)
}

func equalScores(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// The small model ships as a head file, as the default does: `sorterd
// export` (make model-small) assembles a 224-px model with the six
// classes, trained with the test split held out, that classifies a photo
// with a third of the default's work.
func TestSmallModelHead(t *testing.T) {
	base := testenv.Need(t, filepath.Join(testenv.Root(), "models", "mobilenet_v2_1.0_224_quant.tflite"))
	out := filepath.Join(t.TempDir(), "garbage-224.tflite")
	code, _, errs := runCLI(t, "export", "--head", filepath.Join(testenv.Root(), "heads", "garbage-224.head.json"), "--base", base, "--out", out)
	if code != 0 {
		t.Fatalf("export: exit %d: %s", code, errs)
	}
	clf, err := infer.New(infer.Options{Model: out})
	if err != nil {
		t.Fatal(err)
	}
	defer clf.Close()
	if w, h := clf.InputSize(); w != 224 || h != 224 {
		t.Errorf("input %d×%d", w, h)
	}
	if got := strings.Join(clf.Labels(), ","); got != "cardboard,glass,metal,paper,plastic,trash" {
		t.Errorf("labels %s", got)
	}
	if macs := clf.Info().MACs(); macs > 300e6 {
		t.Errorf("%d MACs per view", macs)
	}
	// Trained without the 404 test photos: its accuracy figures are a measurement.
	if m := clf.Info().Sorterd; m == nil || m.Info["train_images"] != float64(1616) {
		t.Errorf("metadata %+v: want 1616 training photos (test split held out)", m)
	}
	img, err := infer.ReadImageFile(photo(t), infer.ImageLimits{})
	if err != nil {
		t.Fatal(err)
	}
	defer img.Close()
	r, err := clf.Classify(context.Background(), img, 1)
	if err != nil || r.Label != "glass" {
		t.Errorf("glass1.jpg: %q (%.2f), %v", r.Label, r.Score.Score, err)
	}
}
