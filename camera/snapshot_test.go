package camera_test

import (
	"context"
	"image"
	"image/color"
	"image/draw"
	"path/filepath"
	"testing"

	"github.com/sorterd/sorterd/camera"
	"github.com/sorterd/sorterd/camera/cameratest"
	"gocv.io/x/gocv"
)

// Snapshot keeps the frame after the skipped ones, or the last of a
// source that ends first, and refuses a name it cannot write.
func TestSnapshot(t *testing.T) {
	frame := func(c color.RGBA) image.Image {
		img := image.NewRGBA(image.Rect(0, 0, 64, 48))
		draw.Draw(img, img.Bounds(), &image.Uniform{c}, image.Point{}, draw.Src)
		return img
	}
	dark, light := frame(color.RGBA{20, 20, 20, 255}), frame(color.RGBA{220, 220, 220, 255})
	for _, tc := range []struct {
		skip   int
		frames []image.Image
		light  bool
	}{
		{0, []image.Image{dark, light}, false},
		{1, []image.Image{dark, light}, true},
		{5, []image.Image{dark, light}, true}, // ended: the last frame
	} {
		src, err := cameratest.New(cameratest.Options{}, tc.frames...)
		if err != nil {
			t.Fatal(err)
		}
		out := filepath.Join(t.TempDir(), "aim.png")
		if err := camera.Snapshot(context.Background(), src, tc.skip, out); err != nil {
			t.Fatalf("skip %d: %v", tc.skip, err)
		}
		src.Close()
		m := gocv.IMRead(out, gocv.IMReadColor)
		if got := m.Mean().Val1 > 128; got != tc.light || m.Cols() != 64 {
			t.Errorf("skip %d: a %dx%d frame of mean %v", tc.skip, m.Cols(), m.Rows(), m.Mean())
		}
		m.Close()
	}
	src, _ := cameratest.New(cameratest.Options{}, dark)
	defer src.Close()
	if err := camera.Snapshot(context.Background(), src, 0, filepath.Join(t.TempDir(), "no", "dir", "x.jpg")); err == nil {
		t.Error("an unwritable name was accepted")
	}
}
