//go:build matprofile

package review

import (
	"testing"

	"gocv.io/x/gocv"
)

// A station's run with its review, live snapshots served meanwhile, and
// the review closed after: the Mat count is where it was.
func TestReviewLeaksNoMat(t *testing.T) {
	before := gocv.MatProfile.Count()
	rv, _ := reviewed(t, Options{}, 2, func(rv *Review) { rv.Snapshot() })
	rv.Close()
	if after := gocv.MatProfile.Count(); after != before {
		t.Errorf("Mats: %d before the run, %d after", before, after)
	}
}
