package pipeline

import (
	"context"
	"time"
)

// WaitImage returns an item's image (kind as for Image) once it is
// encoded: the event is published when the flap opens, and the frame is
// encoded just after, off the flap's path. It waits until ctx ends.
func (s *Station) WaitImage(ctx context.Context, id, kind string) ([]byte, error) {
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for {
		found, framed := s.recent.state(id)
		if framed || !found {
			return s.Image(id, kind)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-t.C:
		}
	}
}
