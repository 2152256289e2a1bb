package publish

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// Station is the control surface MQTT commands reach
// (*pipeline.Station).
type Station interface {
	Pause()
	Resume()
	TestFlap(ctx context.Context, bin string) error
}

// Control carries out commands (Options.OnCommand: Control.Do) on the
// station's control surface. The publisher is built before the station
// (whose events it carries), so the station is set once built (Set); a
// command before that is refused. reload is signalled by the reload
// command (a signal already pending stands for it).
type Control struct {
	mu      sync.Mutex
	station Station
	reload  chan<- struct{}
}

// NewControl is a Control with no station yet.
func NewControl(reload chan<- struct{}) *Control { return &Control{reload: reload} }

// Set gives the commands their station.
func (c *Control) Set(s Station) {
	c.mu.Lock()
	c.station = s
	c.mu.Unlock()
}

// Do carries out one command.
func (c *Control) Do(ctx context.Context, cmd Command) error {
	c.mu.Lock()
	s := c.station
	c.mu.Unlock()
	if s == nil {
		return errors.New("station is starting")
	}
	switch cmd.Cmd {
	case "pause":
		s.Pause()
	case "resume":
		s.Resume()
	case "test_flap":
		if cmd.Bin == "" {
			return errors.New(`test_flap needs "bin"`)
		}
		return s.TestFlap(ctx, cmd.Bin) // bounded by the station
	case "reload":
		select {
		case c.reload <- struct{}{}:
		default:
		}
	default:
		return fmt.Errorf("unknown command %q (pause, resume, test_flap, reload)", cmd.Cmd)
	}
	return nil
}
