package pipeline

import (
	"errors"
	"fmt"
	"time"
)

// HangLimit is how long one inference may run before the station counts
// as hung: far beyond any board's inference, short of systemd's
// watchdog giving up on the daemon.
const HangLimit = 30 * time.Second

// Health says whether the station progresses: a frame within stall and no
// inference running for longer than HangLimit. The watchdog and /healthz
// ask it.
func (s *Station) Health(now time.Time, stall time.Duration) error {
	last, inferSince := s.Progress()
	if last.IsZero() {
		s.progMu.Lock()
		last = s.started
		s.progMu.Unlock()
		if last.IsZero() {
			return errors.New("station not started")
		}
	}
	if d := now.Sub(last); d > stall {
		return fmt.Errorf("no camera frame for %s", d.Round(time.Millisecond))
	}
	if !inferSince.IsZero() && now.Sub(inferSince) > HangLimit {
		return fmt.Errorf("inference running for %s", now.Sub(inferSince).Round(time.Second))
	}
	return nil
}
