package pipeline

import (
	"context"
	"errors"
	"image"
	"image/color"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/sorterd/sorterd/actuator"
	"github.com/sorterd/sorterd/camera"
	"github.com/sorterd/sorterd/camera/cameratest"
	"github.com/sorterd/sorterd/infer/infertest"
	"github.com/sorterd/sorterd/locate"
	"github.com/sorterd/sorterd/settings"
)

// trayFrame is a 320×240 grey tray, with an item of colour c when c is
// not nil.
func trayFrame(c *color.RGBA) image.Image {
	img := image.NewRGBA(image.Rect(0, 0, 320, 240))
	item := image.Rect(100, 70, 220, 170)
	for y := 0; y < 240; y++ {
		for x := 0; x < 320; x++ {
			if c != nil && image.Pt(x, y).In(item) {
				img.Set(x, y, *c)
			} else {
				img.Set(x, y, color.RGBA{90, 90, 90, 255})
			}
		}
	}
	return img
}

// The station's logic from frame to flap with both fakes (frames from
// images, scores by colour): no model, no video file, no ../shared. Each
// item is located, classified on its frames, routed by its label and
// score, and its flap opened once; a doubtful item goes to the reject
// bin. (The real model and camera are tested end to end elsewhere.)
func TestStationWithFakes(t *testing.T) {
	white, blue, green := color.RGBA{235, 235, 235, 255}, color.RGBA{40, 90, 200, 255}, color.RGBA{60, 200, 60, 255}
	labels := []string{"glass", "metal", "paper", "trash"}
	cls, err := infertest.New(infertest.Options{Labels: labels, Rules: []infertest.Rule{
		{Colour: white, Scores: infertest.OneHot(labels, "glass", 0.9)},
		{Colour: blue, Scores: infertest.OneHot(labels, "metal", 0.8)},
		{Colour: green, Scores: infertest.OneHot(labels, "paper", 0.4)}, // below the threshold
	}})
	if err != nil {
		t.Fatal(err)
	}
	var frames []image.Image
	empty := trayFrame(nil)
	for i := 0; i < 5; i++ {
		frames = append(frames, empty)
	}
	for _, c := range []color.RGBA{white, blue, green} {
		item := trayFrame(&c)
		for i := 0; i < 6; i++ {
			frames = append(frames, item)
		}
		for i := 0; i < 6; i++ {
			frames = append(frames, empty)
		}
	}
	src, err := cameratest.New(cameratest.Options{}, frames...)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	bins := []Bin{
		{Name: "glass", Labels: []string{"glass"}},
		{Name: "metal", Labels: []string{"metal"}},
		{Name: "paper", Labels: []string{"paper"}},
		{Name: "reject", Labels: []string{"trash"}, Reject: true},
	}
	log := slog.New(slog.DiscardHandler)
	flaps := map[string]actuator.Flap{}
	dry := map[string]*actuator.DryRun{}
	for _, b := range bins {
		dry[b.Name] = actuator.NewDryRun(actuator.Options{Name: b.Name, Log: log})
		flaps[b.Name] = dry[b.Name]
	}
	tray := locate.New(locate.Options{Margin: settings.DefaultMargin})
	defer tray.Close()
	var mu sync.Mutex
	var events []Event
	s, err := New(Options{Station: "fakes", Source: src, Classify: cls, Flaps: flaps, Bins: bins,
		Trigger: settings.Motion, Tray: tray, Frames: 3, Threshold: 0.5, Log: log,
		OnEvent: func(e Event) { mu.Lock(); events = append(events, e); mu.Unlock() }})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.Run(ctx); err != nil && !errors.Is(err, camera.ErrEnded) {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	type decision struct {
		label, bin string
		action     Action
	}
	want := []decision{{"glass", "glass", Sort}, {"metal", "metal", Sort}, {"paper", "reject", Reject}}
	if len(events) != len(want) {
		t.Fatalf("%d events, want %d: %+v", len(events), len(want), events)
	}
	for i, e := range events {
		if got := (decision{e.Label, e.Bin, e.Action}); got != want[i] || e.Frames != 3 || e.Box == nil {
			t.Errorf("item %d: %+v (frames %d, box %v), want %+v on 3 frames with a box", i, got, e.Frames, e.Box, want[i])
		}
	}
	for bin, n := range map[string]int{"glass": 1, "metal": 1, "paper": 0, "reject": 1} {
		if dry[bin].Opens() != n {
			t.Errorf("flap %s opened %d times, want %d", bin, dry[bin].Opens(), n)
		}
	}
	if cls.Calls() != 9 {
		t.Errorf("%d classifications, want 3 items × 3 frames", cls.Calls())
	}
}
