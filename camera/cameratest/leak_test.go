//go:build matprofile

package cameratest_test

import (
	"context"
	"image/color"
	"testing"

	"github.com/sorterd/sorterd/camera/cameratest"
	"gocv.io/x/gocv"
)

// The fake owns its Mats until Close and hands out copies: a test that
// closes its frames and the source leaks none.
func TestFakeLeaksNoMat(t *testing.T) {
	before := gocv.MatProfile.Count()
	src, err := cameratest.New(cameratest.Options{Loop: true}, solid(color.RGBA{1, 2, 3, 255}), solid(color.RGBA{4, 5, 6, 255}))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5; i++ {
		f, err := src.Read(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
	src.Close()
	if after := gocv.MatProfile.Count(); after != before {
		t.Errorf("Mats: %d before, %d after", before, after)
	}
}
