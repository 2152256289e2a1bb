package cameratest_test

import (
	"context"
	"errors"
	"image"
	"image/color"
	"testing"
	"time"

	"github.com/sorterd/sorterd/camera"
	"github.com/sorterd/sorterd/camera/cameratest"
)

func solid(c color.RGBA) image.Image {
	img := image.NewRGBA(image.Rect(0, 0, 8, 6))
	for y := 0; y < 6; y++ {
		for x := 0; x < 8; x++ {
			img.Set(x, y, c)
		}
	}
	return img
}

func TestPlaysInOrder(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, loop := range []bool{false, true} {
		src, err := cameratest.New(cameratest.Options{Loop: loop, Start: start},
			solid(color.RGBA{255, 0, 0, 255}), solid(color.RGBA{0, 0, 255, 255}))
		if err != nil {
			t.Fatal(err)
		}
		var reds []float64
		for i := 0; i < 3; i++ {
			f, err := src.Read(context.Background())
			if !loop && i == 2 {
				if !errors.Is(err, camera.ErrEnded) {
					t.Errorf("after the last frame: %v, want camera.ErrEnded", err)
				}
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			if f.Seq != uint64(i+1) || !f.At.Equal(start.Add(time.Duration(i)*20*time.Millisecond)) {
				t.Errorf("frame %d: seq %d at %v", i, f.Seq, f.At)
			}
			reds = append(reds, f.Mat.Mean().Val3) // BGR: Val3 is red
			f.Close()
		}
		want := []float64{255, 0, 255}[:len(reds)]
		for i := range want {
			if reds[i] != want[i] {
				t.Errorf("loop %v: red channel %v, want %v", loop, reds, want)
			}
		}
		src.Close()
		src.Close()
		if _, err := src.Read(context.Background()); err == nil {
			t.Error("read after close")
		}
	}
}

func TestFilesMissing(t *testing.T) {
	if _, err := cameratest.Files(cameratest.Options{}, "/nonexistent.png"); err == nil {
		t.Error("a missing file played")
	}
}
