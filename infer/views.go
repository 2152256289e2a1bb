package infer

import (
	"fmt"
	"image"
	"strings"

	"gocv.io/x/gocv"
)

// View is a label-preserving transform of a photo: training augments with
// views, and Classify can average over views at test time (TTA). Both use
// this one list, so training and serving see the same transforms.
type View struct {
	Name  string
	Apply func(src gocv.Mat, dst *gocv.Mat)
}

// Views by name. TrashNet photos are not consistently upright (about a
// quarter are rotated 180°), so flips and quarter turns are all fair.
var Views = []View{
	{"flip", func(s gocv.Mat, d *gocv.Mat) { gocv.Flip(s, d, 1) }},
	{"rot180", func(s gocv.Mat, d *gocv.Mat) { gocv.Rotate(s, d, gocv.Rotate180Clockwise) }},
	{"rot90", func(s gocv.Mat, d *gocv.Mat) { gocv.Rotate(s, d, gocv.Rotate90Clockwise) }},
	{"rot270", func(s gocv.Mat, d *gocv.Mat) { gocv.Rotate(s, d, gocv.Rotate90CounterClockwise) }},
	{"vflip", func(s gocv.Mat, d *gocv.Mat) { gocv.Flip(s, d, 0) }},
	{"transpose", func(s gocv.Mat, d *gocv.Mat) { gocv.Transpose(s, d) }},
	{"crop85", func(s gocv.Mat, d *gocv.Mat) {
		w, h := s.Cols()*85/100, s.Rows()*85/100
		x, y := (s.Cols()-w)/2, (s.Rows()-h)/2
		r := s.Region(image.Rect(x, y, x+w, y+h))
		r.CopyTo(d)
		r.Close()
	}},
	{"bright", func(s gocv.Mat, d *gocv.Mat) { s.ConvertToWithParams(d, gocv.MatTypeCV8UC3, 1.15, 12) }},
	{"dark", func(s gocv.Mat, d *gocv.Mat) { s.ConvertToWithParams(d, gocv.MatTypeCV8UC3, 0.85, -12) }},
}

// ViewsByName resolves a list of view names.
func ViewsByName(names []string) ([]View, error) {
	var out []View
	for _, n := range names {
		n = strings.TrimSpace(n)
		if n == "" {
			continue
		}
		found := false
		for _, v := range Views {
			if v.Name == n {
				out = append(out, v)
				found = true
			}
		}
		if !found {
			var all []string
			for _, v := range Views {
				all = append(all, v.Name)
			}
			return nil, fmt.Errorf("unknown view %q (have %s)", n, strings.Join(all, ", "))
		}
	}
	return out, nil
}
