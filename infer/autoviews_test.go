package infer

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/sorterd/sorterd/internal/testenv"
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
		if got := AutoViews(tc.perView, period, 5); got != tc.want {
			t.Errorf("%v per view at 15 fps: %d views, want %d", tc.perView, got, tc.want)
		}
	}
	if got := AutoViews(6*time.Millisecond, time.Second/30, 5); got != 3 {
		t.Errorf("6 ms per view at 30 fps: %d views, want 3 (25 ms: 4 inferences)", got)
	}
}

// A slow board (an injected 40 ms per inference, as a Pi 4 takes at
// 384 px) at 15 frames/s gets the frame alone, says so, and its
// classifier then runs no views even though it was built with five; a fast
// one (6 ms) gets views.
func TestResolveAutoViewsInjected(t *testing.T) {
	b := ViewBudget{FPS: 15, Width: 640, Height: 480, Views: 5}
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	b.Measure = func(context.Context) (time.Duration, error) { return 40 * time.Millisecond, nil }
	n, none, err := (*Classifier)(nil).ResolveAutoViews(context.Background(), b, log)
	if err != nil || n != 0 || !none {
		t.Fatalf("40 ms per view: %d views (frame only %v), %v", n, none, err)
	}
	for _, want := range []string{"views_per_frame=0", "per_view=40ms", "frame_period=66.67ms", "level=WARN"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, logs.String())
		}
	}
	logs.Reset()
	b.Measure = func(context.Context) (time.Duration, error) { return 6 * time.Millisecond, nil }
	if n, none, err = (*Classifier)(nil).ResolveAutoViews(context.Background(), b, log); err != nil || n != 5 || none {
		t.Errorf("6 ms per view: %d views (frame only %v), %v", n, none, err)
	}
	if !strings.Contains(logs.String(), "views_per_frame=5") || strings.Contains(logs.String(), "level=WARN") {
		t.Errorf("log:\n%s", logs.String())
	}
	b.Measure = func(context.Context) (time.Duration, error) { return 0, errors.New("invoke failed") }
	if _, _, err := (*Classifier)(nil).ResolveAutoViews(context.Background(), b, log); err == nil {
		t.Error("a failed timing was not an error")
	}
}

// FrameOnly runs the frame without the classifier's own views.
func TestAutoViewsOnRealModel(t *testing.T) {
	testenv.Slow(t, "runs the real model with views")
	clf, err := New(Options{Model: modelPath(t, ptqModel), TTA: []string{"flip", "rot180", "rot90", "rot270", "vflip"}})
	if err != nil {
		t.Fatal(err)
	}
	defer clf.Close()
	img, err := ReadImageFile(testenv.Photo(t, "glass", 1), ImageLimits{})
	if err != nil {
		t.Fatal(err)
	}
	defer img.Close()
	ctx := context.Background()
	with, err := clf.Classify(ctx, img, 3)
	if err != nil {
		t.Fatal(err)
	}
	alone, err := FrameOnly{clf}.Classify(ctx, img, 3)
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
}

// TimeView times a view of the real model.
func TestTimeView(t *testing.T) {
	testenv.Slow(t, "times the model")
	clf, err := New(Options{Model: modelPath(t, ptqModel)})
	if err != nil {
		t.Fatal(err)
	}
	defer clf.Close()
	d, err := clf.TimeView(context.Background(), 640, 480)
	if err != nil || d <= 0 {
		t.Fatalf("TimeView: %v, %v", d, err)
	}
	t.Logf("one view %v here", d)
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
