package actuator_test

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/sorterd/sorterd/actuator"
	"periph.io/x/conn/v3/gpio/gpiotest"
)

// A flap held open on a GPIO output (here periph's fake pin): Open drives
// the pin high until Close; NewGPIO closes it first, so a flap starts in
// its safe state whatever the pin was left in.
func ExampleNewGPIO() {
	pin := &gpiotest.Pin{N: "GPIO5", L: true}
	f, err := actuator.NewGPIO(actuator.Options{Name: "glass", Pin: "GPIO5", Hold: true, Log: slog.New(slog.DiscardHandler)}, pin)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("made:", pin.Read())
	f.Open(context.Background())
	fmt.Println("open:", pin.Read())
	f.Close()
	fmt.Println("closed:", pin.Read())
	// Output:
	// made: Low
	// open: High
	// closed: Low
}

// New makes flaps by driver name: "dry-run" only logs and counts, for a
// station without hardware.
func ExampleNew() {
	f, err := actuator.New("dry-run", actuator.Options{Name: "metal", Pulse: time.Millisecond, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer f.Close()
	f.Open(context.Background())
	f.Open(context.Background())
	fmt.Println(f.Name(), "opened", f.(*actuator.DryRun).Opens(), "times")
	_, err = actuator.New("relay-board", actuator.Options{Name: "metal"})
	fmt.Println(err != nil)
	// Output:
	// metal opened 2 times
	// true
}
