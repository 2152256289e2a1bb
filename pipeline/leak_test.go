//go:build matprofile

package pipeline

import (
	"context"
	"image/color"
	"testing"
	"time"

	"gocv.io/x/gocv"
)

// Every frame's Mat (and every Mat made while classifying, keeping the
// live frame and encoding items' frames, or serving live snapshots while
// it runs) is closed: a whole run leaves the Mat count where it was.
func TestRunLeaksNoMat(t *testing.T) {
	video := itemsVideo(t, []color.RGBA{{230, 230, 230, 0}, {40, 90, 200, 0}}, 8, 8)
	s, _, events, mu := station(t, video, false, 0)
	before := gocv.MatProfile.Count()
	stop := make(chan struct{})
	done := make(chan int)
	go func() {
		n := 0
		for {
			select {
			case <-stop:
				done <- n
				return
			default:
			}
			if _, _, err := s.Snapshot(); err == nil {
				n++
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	s.Run(context.Background())
	close(stop)
	if n := <-done; n == 0 {
		t.Error("no live snapshot while running")
	}
	if _, _, err := s.Snapshot(); err == nil {
		t.Error("a snapshot after the run ended")
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
