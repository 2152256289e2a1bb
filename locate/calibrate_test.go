package locate

import (
	"context"
	"errors"
	"image"
	"image/color"
	"image/draw"
	"testing"

	"github.com/sorterd/sorterd/camera/cameratest"
)

// flat is a w×h image of one colour, with an item (a box of another) when
// item is not nil.
func flat(c color.RGBA, item *color.RGBA) image.Image {
	img := image.NewRGBA(image.Rect(0, 0, 160, 120))
	draw.Draw(img, img.Bounds(), &image.Uniform{c}, image.Point{}, draw.Src)
	if item != nil {
		draw.Draw(img, image.Rect(50, 30, 110, 90), &image.Uniform{*item}, image.Point{}, draw.Src)
	}
	return img
}

// An empty, still tray gives its reference; a tray never left empty
// long enough, until the source ends, is ErrTrayBusy.
func TestCalibrateSource(t *testing.T) {
	tray := color.RGBA{70, 80, 90, 255}
	item := color.RGBA{230, 230, 230, 255}
	var calm []image.Image
	for range 200 {
		calm = append(calm, flat(tray, nil))
	}
	src, err := cameratest.New(cameratest.Options{}, calm...)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	ref, err := Calibrate(context.Background(), src, Options{})
	if err != nil {
		t.Fatal(err)
	}
	// The reference is in B, G, R.
	if d := ref.Tray[2] - 70; d < -3 || d > 3 || ref.Tray[0] < 87 || ref.Tray[0] > 93 {
		t.Errorf("reference %v, want the tray's (90, 80, 70) in B, G, R", ref.Tray)
	}
	var busy []image.Image
	for i := range 200 {
		if i%10 < 5 {
			busy = append(busy, flat(tray, &item))
		} else {
			busy = append(busy, flat(tray, nil))
		}
	}
	src2, err := cameratest.New(cameratest.Options{}, busy...)
	if err != nil {
		t.Fatal(err)
	}
	defer src2.Close()
	if _, err := Calibrate(context.Background(), src2, Options{}); !errors.Is(err, ErrTrayBusy) {
		t.Errorf("busy tray: %v, want ErrTrayBusy", err)
	}
}
