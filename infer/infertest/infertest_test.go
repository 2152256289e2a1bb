package infertest_test

import (
	"context"
	"image"
	"image/color"
	"testing"

	"github.com/sorterd/sorterd/infer/infertest"
	"gocv.io/x/gocv"
)

var labels = []string{"glass", "metal", "paper"}

func TestScoresByColour(t *testing.T) {
	c, err := infertest.New(infertest.Options{Labels: labels, Rules: []infertest.Rule{
		{Colour: color.RGBA{230, 230, 230, 255}, Scores: infertest.OneHot(labels, "glass", 0.9)},
		{Colour: color.RGBA{40, 90, 200, 255}, Scores: infertest.OneHot(labels, "metal", 0.6)},
	}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		fill  color.RGBA
		label string
		score float32
	}{
		{"white item", color.RGBA{240, 235, 225, 255}, "glass", 0.9},
		{"blue item", color.RGBA{30, 80, 210, 255}, "metal", 0.6},
		{"a colour near no rule: the default", color.RGBA{90, 90, 90, 255}, "glass", 1.0 / 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// A Mat filled with the colour, in gocv's BGR order.
			m := gocv.NewMatWithSizeFromScalar(gocv.NewScalar(float64(tc.fill.B), float64(tc.fill.G), float64(tc.fill.R), 0), 20, 30, gocv.MatTypeCV8UC3)
			defer m.Close()
			r, err := c.Classify(context.Background(), m, 2)
			if err != nil {
				t.Fatal(err)
			}
			if r.Label != tc.label || r.Score.Score != tc.score || len(r.Top) != 2 || len(r.Scores) != len(labels) {
				t.Errorf("got %+v, want %s %.2f with top 2", r, tc.label, tc.score)
			}
		})
	}
	// The item's colour decides, however much tray is around it.
	m := gocv.NewMatWithSizeFromScalar(gocv.NewScalar(60, 60, 60, 0), 100, 100, gocv.MatTypeCV8UC3)
	defer m.Close()
	gocv.Rectangle(&m, image.Rect(40, 40, 60, 60), color.RGBA{40, 90, 200, 0}, -1)
	if r, _ := c.Classify(context.Background(), m, 1); r.Label != "metal" {
		t.Errorf("a small blue item on grey: %s, want metal", r.Label)
	}
	if c.Calls() != 4 {
		t.Errorf("calls %d, want 4", c.Calls())
	}
	empty := gocv.NewMat()
	defer empty.Close()
	if _, err := c.Classify(context.Background(), empty, 1); err == nil {
		t.Error("an empty image classified")
	}
}

func TestNewChecksScores(t *testing.T) {
	for _, tc := range []struct {
		name string
		o    infertest.Options
		ok   bool
	}{
		{"no labels", infertest.Options{}, false},
		{"uniform default", infertest.Options{Labels: labels}, true},
		{"short default", infertest.Options{Labels: labels, Default: []float32{1}}, false},
		{"short rule", infertest.Options{Labels: labels, Rules: []infertest.Rule{{Scores: []float32{1, 0}}}}, false},
	} {
		if _, err := infertest.New(tc.o); (err == nil) != tc.ok {
			t.Errorf("%s: err %v, want ok %v", tc.name, err, tc.ok)
		}
	}
}
