package main

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpioreg"
	"periph.io/x/conn/v3/gpio/gpiotest"
)

// The presence sensor on a fake pin (registered like a real one): one
// value per rising edge, edges closer than the debounce are dropped.
func TestPresenceSensor(t *testing.T) {
	pin := &gpiotest.Pin{N: "BEAM1", EdgesChan: make(chan gpio.Level, 4)}
	if err := gpioreg.Register(pin); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch, err := presenceSensor(ctx, "BEAM1", 100*time.Millisecond, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if pin.P != gpio.PullDown {
		t.Errorf("pull %v, want down", pin.P)
	}
	pin.EdgesChan <- gpio.High
	select {
	case <-ch:
	case <-time.After(2 * time.Second):
		t.Fatal("no item for an edge")
	}
	pin.EdgesChan <- gpio.High // bounce, 0 ms later
	select {
	case <-ch:
		t.Fatal("a bounce counted as an item")
	case <-time.After(300 * time.Millisecond):
	}
	pin.EdgesChan <- gpio.High
	select {
	case <-ch:
	case <-time.After(2 * time.Second):
		t.Fatal("no item for the next edge")
	}
	if _, err := presenceSensor(ctx, "NO_SUCH_PIN", 0, slog.Default()); err == nil {
		t.Error("missing pin accepted")
	}
}
