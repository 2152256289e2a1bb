// Package actuator drives the flaps that open the station's bins: GPIO
// outputs through periph.io, or a dry-run flap that only logs, for bench
// stations. Every flap starts closed and closes on any error path.
package actuator

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpioreg"
	"periph.io/x/conn/v3/physic"
	"periph.io/x/host/v3"
)

// Flap opens one bin.
type Flap interface {
	// Open opens the flap: in pulse mode for the pulse length, then it
	// closes again (also when ctx ends early); in hold mode it stays open
	// until Close.
	Open(ctx context.Context) error
	// Close puts the flap in its safe, closed state.
	Close() error
	Name() string
}

// Options describe one flap.
type Options struct {
	Name      string
	Pin       string // periph pin name, e.g. GPIO5
	ActiveLow bool   // the driver opens the flap on a low level
	Hold      bool   // hold open until Close instead of pulsing
	Pulse     time.Duration
	// Servo drives a hobby servo by PWM (50 Hz, 1–2 ms pulses) between
	// ClosedAngle and OpenAngle (degrees, 0–180) instead of a level.
	Servo                  bool
	OpenAngle, ClosedAngle float64
	Log                    *slog.Logger
}

// Driver makes flaps; drivers are registered by name.
type Driver func(o Options) (Flap, error)

var (
	regMu   sync.Mutex
	drivers = map[string]Driver{}
)

// Register adds a driver ("periph" and "dry-run" are built in).
func Register(name string, d Driver) {
	regMu.Lock()
	defer regMu.Unlock()
	drivers[name] = d
}

// Drivers lists the registered driver names.
func Drivers() []string {
	regMu.Lock()
	defer regMu.Unlock()
	var out []string
	for n := range drivers {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// New makes a flap with the named driver.
func New(driver string, o Options) (Flap, error) {
	regMu.Lock()
	d, ok := drivers[driver]
	regMu.Unlock()
	if !ok {
		return nil, fmt.Errorf("flap %s: unknown gpio driver %q (have %v)", o.Name, driver, Drivers())
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	return d(o)
}

func init() {
	Register("dry-run", func(o Options) (Flap, error) { return NewDryRun(o), nil })
	Register("periph", newPeriph)
}

var hostInit = sync.OnceValue(func() error {
	_, err := host.Init()
	return err
})

func newPeriph(o Options) (Flap, error) {
	if err := hostInit(); err != nil {
		return nil, fmt.Errorf("flap %s: GPIO host: %w", o.Name, err)
	}
	p := gpioreg.ByName(o.Pin)
	if p == nil {
		return nil, fmt.Errorf("flap %s: no GPIO pin named %q on this board", o.Name, o.Pin)
	}
	return NewGPIO(o, p)
}

// GPIOFlap drives a flap through one GPIO output.
type GPIOFlap struct {
	o   Options
	pin gpio.PinOut
	mu  sync.Mutex // one movement at a time
}

var _ Flap = (*GPIOFlap)(nil)

// NewGPIO drives a flap on pin and closes it at once.
func NewGPIO(o Options, pin gpio.PinOut) (*GPIOFlap, error) {
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if !o.Hold && o.Pulse <= 0 {
		return nil, fmt.Errorf("flap %s: pulse must be > 0", o.Name)
	}
	f := &GPIOFlap{o: o, pin: pin}
	if err := f.Close(); err != nil {
		return nil, err
	}
	return f, nil
}

// set moves the flap: a level, or a servo angle through PWM.
func (f *GPIOFlap) set(open bool) error {
	if !f.o.Servo {
		return f.pin.Out(gpio.Level(open != f.o.ActiveLow))
	}
	angle := f.o.ClosedAngle
	if open {
		angle = f.o.OpenAngle
	}
	return f.pin.PWM(servoDuty(angle), 50*physic.Hertz)
}

// servoDuty maps 0–180° to a 1–2 ms pulse in a 20 ms period.
func servoDuty(angle float64) gpio.Duty {
	angle = max(0, min(180, angle))
	ms := 1 + angle/180
	return gpio.Duty(float64(gpio.DutyMax) * ms / 20)
}

// Name of the bin.
func (f *GPIOFlap) Name() string { return f.o.Name }

// Open opens the flap (see Flap).
func (f *GPIOFlap) Open(ctx context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.set(true); err != nil {
		_ = f.set(false)
		return fmt.Errorf("flap %s: open %s: %w", f.o.Name, f.o.Pin, err)
	}
	if f.o.Hold {
		return nil
	}
	t := time.NewTimer(f.o.Pulse)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
	if err := f.set(false); err != nil {
		return fmt.Errorf("flap %s: close %s: %w", f.o.Name, f.o.Pin, err)
	}
	return ctx.Err()
}

// Close puts the flap in its closed state.
func (f *GPIOFlap) Close() error {
	if err := f.set(false); err != nil {
		return fmt.Errorf("flap %s: close %s: %w", f.o.Name, f.o.Pin, err)
	}
	return nil
}

// DryRun only logs what a flap would do.
type DryRun struct {
	o Options
	// Opens counts Open calls (for tests and bench stations).
	mu    sync.Mutex
	opens int
}

var _ Flap = (*DryRun)(nil)

// NewDryRun makes a flap that only logs.
func NewDryRun(o Options) *DryRun {
	if o.Log == nil {
		o.Log = slog.Default()
	}
	return &DryRun{o: o}
}

// Name of the bin.
func (d *DryRun) Name() string { return d.o.Name }

// Open logs the movement (and waits the pulse, like a real flap).
func (d *DryRun) Open(ctx context.Context) error {
	d.mu.Lock()
	d.opens++
	d.mu.Unlock()
	d.o.Log.Info("flap open (dry run)", "bin", d.o.Name, "pulse", d.o.Pulse, "hold", d.o.Hold)
	if d.o.Hold || d.o.Pulse <= 0 {
		return nil
	}
	select {
	case <-time.After(d.o.Pulse):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close logs the safe state.
func (d *DryRun) Close() error {
	d.o.Log.Debug("flap closed (dry run)", "bin", d.o.Name)
	return nil
}

// Opens is how many times the flap was opened.
func (d *DryRun) Opens() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.opens
}

// Bank is the station's flaps by bin name.
type Bank map[string]Flap

// CloseAll puts every flap in its safe state and returns the first error;
// it tries every flap even when one fails.
func (b Bank) CloseAll() error {
	var first error
	names := make([]string, 0, len(b))
	for n := range b {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if err := b[n].Close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}
