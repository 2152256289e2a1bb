package main

import (
	"context"
	"image"
	"image/color"
	"image/jpeg"
	"log/slog"
	"math/rand"
	"os"
	"path/filepath"
	"testing"

	"github.com/sorterd/sorterd/camera"
	"github.com/sorterd/sorterd/config"
	"github.com/sorterd/sorterd/infer"
	"github.com/sorterd/sorterd/internal/testenv"
	"github.com/sorterd/sorterd/locate"
	"github.com/sorterd/sorterd/pipeline"
	"github.com/sorterd/sorterd/recording"
	"github.com/sorterd/sorterd/review"
	"github.com/sorterd/sorterd/settings"
	"github.com/sorterd/sorterd/stationbench"
)

// sortRecording plays a recording through a station with the daemon's
// options (motion trigger, default locate) on model, and returns its
// review (corrections saved in samples) with its events.
func sortRecording(t *testing.T, model, video, samples string) (*review.Review, []pipeline.Event) {
	t.Helper()
	cfg := config.Default()
	cfg.Trigger.Mode = settings.Motion
	cfg.Bins = []config.Bin{{Name: "blue", Labels: []string{"blue"}}, {Name: "green", Labels: []string{"green"}},
		{Name: "red", Labels: []string{"red"}}, {Name: "reject", Reject: true}}
	cfg.Decision.Threshold = 0.01
	cfg.Model.TTAPerFrame = 0
	clf, err := infer.New(infer.Options{Model: model, Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { clf.Close() })
	o, err := pipeline.Configure(context.Background(), cfg, clf, locate.Reference{}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(o.Tray.Close)
	capt, err := camera.Open(camera.Options{Source: video})
	if err != nil {
		t.Fatal(err)
	}
	// Played in the recording's own time, as the station benchmark does.
	src := stationbench.NewClocked(capt, 15)
	t.Cleanup(func() { src.Close() })
	quiet := slog.New(slog.DiscardHandler)
	rv := review.New(review.Options{SamplesDir: samples, Labels: clf.Labels(), Log: quiet})
	t.Cleanup(rv.Close)
	o.Source, o.Log, o.Review, o.Flaps = src, quiet, rv, stationbench.DryRunFlaps(o.Bins, quiet)
	var evs []pipeline.Event
	o.OnEvent = func(e pipeline.Event) { evs = append(evs, e) }
	st, err := pipeline.New(o)
	if err != nil {
		t.Fatal(err)
	}
	st.Run(context.Background())
	return rv, evs
}

// The station's retraining loop: an item the model gets wrong is
// corrected on the page (the crop the decision used is saved), the model
// is retrained on the base data plus the station's samples (--data
// twice), and the same item, played again, is now right.
func TestCorrectRetrainRoundTrip(t *testing.T) {
	testenv.Slow(t, "trains twice")
	base := model(t)
	data := colourData(t, 15)
	tmp := t.TempDir()
	first := filepath.Join(tmp, "first.tflite")
	cache := filepath.Join(tmp, "cache")
	train := func(out string, more ...string) {
		args := []string{"train", "--data", data, "--out", out, "--base", base, "--size", "0", "--augment", "1",
			"--station-views", "1", "--cache", cache, "--test-fraction", "0", "--val-fraction", "0.2"}
		for _, m := range more {
			args = append(args, "--data", m)
		}
		if code, _, errs := runCLI(t, args...); code != 0 {
			t.Fatalf("train: exit %d: %s", code, errs)
		}
	}
	train(first)
	// The odd item: a yellow thing on a white backdrop (as TrashNet's
	// photos are), which no class is. The station's samples are five of
	// them, laid at different places on the tray.
	item := filepath.Join(tmp, "yellow.jpg")
	rng := rand.New(rand.NewSource(5))
	img := image.NewRGBA(image.Rect(0, 0, 96, 72))
	for y := range 72 {
		for x := range 96 {
			c := color.RGBA{uint8(220 + rng.Intn(20)), uint8(220 + rng.Intn(20)), uint8(220 + rng.Intn(20)), 255}
			if dx, dy := x-48, y-36; dx*dx+dy*dy < 26*26 {
				c = color.RGBA{uint8(180 + rng.Intn(60)), uint8(170 + rng.Intn(60)), uint8(rng.Intn(60)), 255}
			}
			img.Set(x, y, c)
		}
	}
	f, _ := os.Create(item)
	jpeg.Encode(f, img, nil)
	f.Close()
	video := filepath.Join(tmp, "tray.avi")
	var photos []recording.Photo
	for range 5 {
		photos = append(photos, recording.Photo{Path: item})
	}
	if _, err := recording.Write(video, recording.Options{Photos: photos, Tray: recording.Dark, Seed: 9}); err != nil {
		t.Fatal(err)
	}
	samples := filepath.Join(tmp, "samples")
	st, evs := sortRecording(t, first, video, samples)
	if len(evs) != 5 {
		t.Fatalf("%d events for 5 items", len(evs))
	}
	// The operator says it is a class the model never said for it.
	said := map[string]bool{}
	for _, e := range evs {
		said[e.Label] = true
	}
	target := ""
	for _, c := range []string{"blue", "green", "red"} {
		if !said[c] && target == "" {
			target = c
		}
	}
	if target == "" {
		t.Fatalf("the first model calls the five items every class: %+v", evs)
	}
	for _, e := range evs {
		if _, err := st.Correct(e.ID, target); err != nil {
			t.Fatal(err)
		}
	}
	second := filepath.Join(tmp, "second.tflite")
	train(second, samples)
	_, evs = sortRecording(t, second, video, "")
	right := 0
	for _, e := range evs {
		if e.Label == target {
			right++
		}
	}
	if len(evs) != 5 || right < 4 {
		t.Fatalf("after retraining on the corrections, %d of %d items are %s: %+v", right, len(evs), target, evs)
	}
}
