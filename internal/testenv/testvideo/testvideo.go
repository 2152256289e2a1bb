// Package testvideo writes generated videos of items for tests (OpenCV:
// cgo, hence apart from testenv).
package testvideo

import (
	"image"
	"image/color"
	"os"
	"testing"

	"gocv.io/x/gocv"
)

// Items writes an MJPEG video: the empty tray for gap frames, then
// each item (a coloured box) for hold frames followed by gap empty frames.
func Items(t testing.TB, path string, items []color.RGBA, hold, gap int) {
	tmp := path + ".tmp.avi"
	w, err := gocv.VideoWriterFile(tmp, "MJPG", 20, 320, 240, true)
	if err != nil {
		t.Fatal(err)
	}
	frame := func(c *color.RGBA) {
		m := gocv.NewMatWithSizeFromScalar(gocv.NewScalar(60, 60, 60, 0), 240, 320, gocv.MatTypeCV8UC3)
		if c != nil {
			gocv.Rectangle(&m, image.Rect(80, 50, 240, 190), *c, -1)
		}
		w.Write(m)
		m.Close()
	}
	for i := 0; i < gap; i++ {
		frame(nil)
	}
	for _, c := range items {
		c := c
		for i := 0; i < hold; i++ {
			frame(&c)
		}
		for i := 0; i < gap; i++ {
			frame(nil)
		}
	}
	w.Close()
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}
