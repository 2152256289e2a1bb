package trigger

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpioreg"
	"periph.io/x/conn/v3/gpio/gpiotest"
)

// clock hands out the given times in turn, one per item edge.
type clock struct {
	mu sync.Mutex
	at []time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := c.at[0]
	if len(c.at) > 1 {
		c.at = c.at[1:]
	}
	return t
}

// The presence sensor on a fake pin (registered like a real one): one
// value per rising edge, falling edges are none, and a rising edge closer
// than the debounce to the last item is a bounce.
func TestPresence(t *testing.T) {
	pin := &gpiotest.Pin{N: "BEAM1", EdgesChan: make(chan gpio.Level, 4)}
	if err := gpioreg.Register(pin); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c := &clock{at: []time.Time{t0, t0.Add(30 * time.Millisecond), t0.Add(time.Second)}}
	ch, err := Presence(ctx, Options{Pin: "BEAM1", Debounce: 100 * time.Millisecond, Now: c.now,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if pin.P != gpio.PullDown {
		t.Errorf("pull %v, want down", pin.P)
	}
	item := func(want time.Time) {
		t.Helper()
		select {
		case at := <-ch:
			if !at.Equal(want) {
				t.Errorf("item at %v, want %v", at, want)
			}
		case <-time.After(2 * time.Second):
			t.Fatal("no item for a rising edge")
		}
	}
	none := func(what string) {
		t.Helper()
		select {
		case <-ch:
			t.Fatal(what + " counted as an item")
		case <-time.After(400 * time.Millisecond):
		}
	}
	pin.EdgesChan <- gpio.High
	item(t0)
	pin.EdgesChan <- gpio.Low
	none("a falling edge")
	pin.EdgesChan <- gpio.High // 30 ms after the item by the clock
	none("a bounce")
	pin.EdgesChan <- gpio.Low
	pin.EdgesChan <- gpio.High
	item(t0.Add(time.Second))
	if _, err := Presence(ctx, Options{Pin: "NO_SUCH_PIN"}); err == nil {
		t.Error("missing pin accepted")
	}
}
