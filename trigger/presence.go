package trigger

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpioreg"
	"periph.io/x/conn/v3/gpio/gpioutil"
	"periph.io/x/host/v3"
)

// Options configure a presence sensor.
type Options struct {
	// Pin is the input's name as periph knows it (GPIO17, or a name a
	// test registered in gpioreg).
	Pin string
	// Debounce: the level must hold this long before an edge counts
	// (periph's denoise), and an item this close to the previous one is
	// a bounce, dropped.
	Debounce time.Duration
	// Now is the clock the bounce lockout reads (nil: time.Now).
	Now func() time.Time
	Log *slog.Logger
}

// poll bounds each wait for an edge, so the watcher sees ctx end.
const poll = 500 * time.Millisecond

// Presence watches the pin and sends one time per item (a rising edge)
// until ctx ends. The channel holds one item: an edge while the last is
// still unread (an item being classified) is logged and dropped. Errors
// name trigger.pin, the configuration key they come from.
func Presence(ctx context.Context, o Options) (<-chan time.Time, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	// The one host init of the process for inputs; periph's own is
	// idempotent, so the flaps' later one costs nothing.
	if _, err := host.Init(); err != nil {
		return nil, fmt.Errorf("trigger.pin: GPIO host: %w", err)
	}
	raw := gpioreg.ByName(o.Pin)
	if raw == nil {
		return nil, fmt.Errorf("trigger.pin: no GPIO pin named %q", o.Pin)
	}
	p, err := gpioutil.Debounce(raw, o.Debounce, o.Debounce, gpio.RisingEdge)
	if err != nil {
		return nil, fmt.Errorf("trigger.pin %s: debounce: %w", o.Pin, err)
	}
	// Both edges: the debouncer compares levels, so it must see the
	// falling ones too; only rising ones are items.
	if err := p.In(gpio.PullDown, gpio.BothEdges); err != nil {
		return nil, fmt.Errorf("trigger.pin %s: %w", o.Pin, err)
	}
	ch := make(chan time.Time, 1)
	go watch(ctx, p, o, ch)
	return ch, nil
}

// watch is Presence's goroutine; it ends with ctx.
func watch(ctx context.Context, p gpio.PinIn, o Options, ch chan<- time.Time) {
	var last time.Time
	for ctx.Err() == nil {
		if !p.WaitForEdge(poll) || p.Read() != gpio.High {
			continue
		}
		now := o.Now()
		if !last.IsZero() && now.Sub(last) < o.Debounce {
			continue
		}
		last = now
		select {
		case ch <- now:
		default:
			o.Log.Warn("presence edge while an item is being classified; ignored")
		}
	}
}
