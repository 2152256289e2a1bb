package locate

import (
	"image"
	"testing"
)

func TestWiden(t *testing.T) {
	frame := image.Rect(0, 0, 640, 480)
	for _, tc := range []struct {
		name   string
		box    image.Rectangle
		margin float64
		want   image.Rectangle
	}{
		{"no margin", image.Rect(100, 100, 200, 150), 0, image.Rect(100, 100, 200, 150)},
		{"15% of the longer side on each side", image.Rect(100, 100, 200, 150), 0.15, image.Rect(85, 85, 215, 165)},
		{"keeps the box's shape", image.Rect(100, 100, 140, 300), 0.1, image.Rect(80, 80, 160, 320)},
		{"cut at the frame's edge", image.Rect(0, 400, 100, 480), 0.2, image.Rect(0, 380, 120, 480)},
		{"rounds the margin", image.Rect(10, 10, 13, 13), 0.5, image.Rect(8, 8, 15, 15)},
	} {
		if got := Widen(tc.box, tc.margin, frame); got != tc.want {
			t.Errorf("%s: Widen(%v, %v) = %v, want %v", tc.name, tc.box, tc.margin, got, tc.want)
		}
	}
}

func TestClipROI(t *testing.T) {
	for _, tc := range []struct {
		name string
		roi  image.Rectangle
		want image.Rectangle
	}{
		{"empty is the whole frame", image.Rectangle{}, image.Rect(0, 0, 640, 480)},
		{"inside stays", image.Rect(10, 20, 300, 400), image.Rect(10, 20, 300, 400)},
		{"beyond the frame is cut", image.Rect(-10, 100, 700, 500), image.Rect(0, 100, 640, 480)},
		{"outside the frame is empty", image.Rect(700, 500, 800, 600), image.Rectangle{}},
	} {
		if got := clipROI(tc.roi, 640, 480); !got.Eq(tc.want) {
			t.Errorf("%s: clipROI(%v) = %v, want %v", tc.name, tc.roi, got, tc.want)
		}
	}
}
