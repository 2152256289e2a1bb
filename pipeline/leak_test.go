//go:build matprofile

package pipeline

import (
	"context"
	"image"
	"image/color"
	"testing"
	"time"

	"gocv.io/x/gocv"
)

// Every frame's Mat (and every Mat made while classifying and handing
// the review its frames) is closed: a whole run leaves the Mat count
// where it was. (review's leak test adds the live snapshots.)
func TestRunLeaksNoMat(t *testing.T) {
	video := itemsVideo(t, []color.RGBA{{230, 230, 230, 0}, {40, 90, 200, 0}}, 8, 8)
	s, _, events, mu := station(t, video, false, 0)
	rv := &countingReview{}
	s.o.Review = rv
	before := gocv.MatProfile.Count()
	s.Run(context.Background())
	if rv.frames == 0 || rv.decided != 2 {
		t.Errorf("the review saw %d frames and %d items", rv.frames, rv.decided)
	}
	if after := gocv.MatProfile.Count(); after != before {
		t.Errorf("Mats: %d before the run, %d after", before, after)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(*events) != 2 {
		t.Errorf("%d events", len(*events))
	}
}

// countingReview counts what the station hands a review (Run's goroutine
// only).
type countingReview struct{ frames, decided int }

func (r *countingReview) Frame(gocv.Mat, time.Time, image.Rectangle)         { r.frames++ }
func (r *countingReview) Decided(Event, gocv.Mat, gocv.Mat, image.Rectangle) { r.decided++ }
func (r *countingReview) Fired(Event)                                        {}
