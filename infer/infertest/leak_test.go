//go:build matprofile

package infertest_test

import (
	"context"
	"testing"

	"github.com/sorterd/sorterd/infer/infertest"
	"gocv.io/x/gocv"
)

// Classify reads the image and allocates no Mat of its own.
func TestClassifyLeaksNoMat(t *testing.T) {
	c, err := infertest.New(infertest.Options{Labels: labels})
	if err != nil {
		t.Fatal(err)
	}
	m := gocv.NewMatWithSize(4, 4, gocv.MatTypeCV8UC3)
	defer m.Close()
	before := gocv.MatProfile.Count()
	for i := 0; i < 3; i++ {
		if _, err := c.Classify(context.Background(), m, 1); err != nil {
			t.Fatal(err)
		}
	}
	if after := gocv.MatProfile.Count(); after != before {
		t.Errorf("Mats: %d before, %d after", before, after)
	}
}
