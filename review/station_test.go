package review

import (
	"context"
	"errors"
	"image/color"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"

	"github.com/sorterd/sorterd/actuator"
	"github.com/sorterd/sorterd/camera"
	"github.com/sorterd/sorterd/infer"
	"github.com/sorterd/sorterd/internal/testenv/testvideo"
	"github.com/sorterd/sorterd/locate"
	"github.com/sorterd/sorterd/pipeline"
	"github.com/sorterd/sorterd/settings"
	"gocv.io/x/gocv"
)

// sure calls everything glass, surely: the review's tests need decided
// items, not a model.
type sure struct{}

func (sure) Labels() []string { return []string{"glass", "metal"} }
func (sure) Classify(ctx context.Context, img gocv.Mat, k int) (infer.Result, error) {
	return infer.Result{Score: infer.Score{Label: "glass", Index: 0, Score: 0.9}, Scores: []float32{0.9, 0.1}}, nil
}

// reviewed runs a station with a review on a video of coloured boxes on a
// tray (the motion trigger, dry-run flaps) until the video ends, calling
// during (if set) from another goroutine while it runs; it returns the
// review and the events.
func reviewed(t *testing.T, o Options, boxes int, during func(*Review)) (*Review, []pipeline.Event) {
	t.Helper()
	video := filepath.Join(t.TempDir(), "items.avi")
	colours := []color.RGBA{{230, 230, 230, 0}, {40, 90, 200, 0}, {200, 60, 40, 0}}[:boxes]
	testvideo.Items(t, video, colours, 8, 8)
	src, err := camera.Open(camera.Options{Source: video})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	tray := locate.New(locate.Options{Margin: settings.DefaultMargin})
	defer tray.Close()
	bins := []pipeline.Bin{{Name: "glass", Labels: []string{"glass"}}, {Name: "rest", Labels: []string{"metal"}, Reject: true}}
	quiet := slog.New(slog.DiscardHandler)
	flaps := map[string]actuator.Flap{}
	for _, b := range bins {
		flaps[b.Name] = actuator.NewDryRun(actuator.Options{Name: b.Name, Log: quiet})
	}
	o.Labels, o.Log = sure{}.Labels(), quiet
	rv := New(o)
	var events []pipeline.Event
	s, err := pipeline.New(pipeline.Options{Station: "review", Source: src, Classify: sure{}, Flaps: flaps, Bins: bins,
		Trigger: settings.Motion, Tray: tray, Frames: 2, Log: quiet, Review: rv,
		OnEvent: func(e pipeline.Event) { events = append(events, e) }})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	ctx, stop := context.WithCancel(context.Background())
	if during != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				during(rv)
			}
		}()
	}
	if err := s.Run(context.Background()); err != nil && !errors.Is(err, camera.ErrEnded) {
		t.Fatal(err)
	}
	stop()
	wg.Wait()
	return rv, events
}

// Fed by a running station, the review lists each decided item with its
// images, and a correction keeps what the model saw (the crop, as the
// event's box) with the full frame beside it; the station is told.
func TestReviewOfAStation(t *testing.T) {
	samples := t.TempDir()
	var corrected []string
	rv, events := reviewed(t, Options{SamplesDir: samples, OnCorrect: func(c string) { corrected = append(corrected, c) }}, 2, nil)
	defer rv.Close()
	if len(events) != 2 {
		t.Fatalf("%d events, want 2", len(events))
	}
	items := rv.Items(10)
	if len(items) != 2 || items[0].ID != events[1].ID || !items[0].HasImage {
		t.Fatalf("items %+v, want the two events, newest first, with images", items)
	}
	id := events[0].ID
	for _, kind := range []string{ImageFrame, ImageThumb, ImageCrop} {
		if b, err := rv.Image(id, kind); err != nil || len(b) == 0 {
			t.Errorf("image %s: %d bytes, %v", kind, len(b), err)
		}
	}
	if b, err := rv.WaitImage(context.Background(), id, ImageCrop); err != nil || len(b) == 0 {
		t.Errorf("WaitImage: %d bytes, %v", len(b), err)
	}
	path, err := rv.Correct(id, "metal")
	if err != nil {
		t.Fatal(err)
	}
	crop := gocv.IMRead(path, gocv.IMReadColor)
	defer crop.Close()
	if b := events[0].Box; crop.Cols() != b.W || crop.Rows() != b.H {
		t.Errorf("saved sample is %dx%d, the crop was %dx%d", crop.Cols(), crop.Rows(), b.W, b.H)
	}
	frame := gocv.IMRead(filepath.Join(samples, FramesDir, id+".jpg"), gocv.IMReadColor)
	defer frame.Close()
	if frame.Cols() != 320 || frame.Rows() != 240 {
		t.Errorf("saved frame is %dx%d, want the video's 320x240", frame.Cols(), frame.Rows())
	}
	if len(corrected) != 1 || corrected[0] != "metal" || rv.Items(10)[1].Corrected != "metal" {
		t.Errorf("station told %v; items %+v", corrected, rv.Items(10))
	}
	for _, class := range []string{"paper", "..", "a/b", ""} {
		if _, err := rv.Correct(id, class); !errors.Is(err, ErrLabel) {
			t.Errorf("class %q: %v, want ErrLabel", class, err)
		}
	}
	if _, err := rv.Correct("nope", "metal"); !errors.Is(err, ErrNoItem) {
		t.Errorf("unknown item: %v", err)
	}
	if _, err := New(Options{}).Correct(id, "metal"); !errors.Is(err, ErrNoSamples) {
		t.Errorf("no samples folder: %v", err)
	}
}

// The live frame is there while the station runs, captioned, and gone
// once the review is closed.
func TestLiveSnapshot(t *testing.T) {
	var mu sync.Mutex
	n := 0
	rv, _ := reviewed(t, Options{}, 1, func(rv *Review) {
		if b, _, err := rv.Snapshot(); err == nil && len(b) > 0 {
			mu.Lock()
			n++
			mu.Unlock()
		}
	})
	if b, at, err := rv.Snapshot(); err != nil || len(b) == 0 || at.IsZero() {
		t.Errorf("the last frame: %d bytes at %v, %v", len(b), at, err)
	}
	rv.Close()
	if _, _, err := rv.Snapshot(); !errors.Is(err, ErrNoFrame) {
		t.Errorf("after Close: %v, want ErrNoFrame", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if n == 0 {
		t.Error("no live snapshot while running")
	}
}
