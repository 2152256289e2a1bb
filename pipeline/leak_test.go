//go:build matprofile

package pipeline

import (
	"context"
	"image/color"
	"testing"

	"gocv.io/x/gocv"
)

// Every frame's Mat (and every Mat made while classifying) is closed:
// a whole run leaves the Mat count where it was.
func TestRunLeaksNoMat(t *testing.T) {
	video := itemsVideo(t, []color.RGBA{{230, 230, 230, 0}, {40, 90, 200, 0}}, 8, 8)
	s, _, events, mu := station(t, video, false, 0)
	before := gocv.MatProfile.Count()
	s.Run(context.Background())
	if after := gocv.MatProfile.Count(); after != before {
		t.Errorf("Mats: %d before the run, %d after", before, after)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(*events) != 2 {
		t.Errorf("%d events", len(*events))
	}
}
