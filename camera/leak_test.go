//go:build matprofile

package camera

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"gocv.io/x/gocv"
)

func TestCaptureLeaksNoMat(t *testing.T) {
	path := filepath.Join(t.TempDir(), "v.avi")
	writeVideo(t, path, 6, func(i int) bool { return i > 2 })
	before := gocv.MatProfile.Count()
	c, err := Open(Options{Source: path})
	if err != nil {
		t.Fatal(err)
	}
	for {
		f, err := c.Read(context.Background())
		if errors.Is(err, ErrEnded) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		f.Close()
		f.Close() // a second Close is harmless
	}
	c.Close()
	if after := gocv.MatProfile.Count(); after != before {
		t.Errorf("Mats: %d before, %d after", before, after)
	}
}
