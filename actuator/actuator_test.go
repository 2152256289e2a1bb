package actuator

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpiotest"
	"periph.io/x/conn/v3/physic"
)

// recPin is periph's test pin with a log of every level written.
type recPin struct {
	gpiotest.Pin
	mu    sync.Mutex
	steps []step
	fail  bool
}

type step struct {
	l  gpio.Level
	at time.Time
}

func (p *recPin) Out(l gpio.Level) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.steps = append(p.steps, step{l, time.Now()})
	if p.fail && l == gpio.High {
		return errors.New("bus error")
	}
	return p.Pin.Out(l)
}

func (p *recPin) log() []step {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]step(nil), p.steps...)
}

func newPin(name string) *recPin { return &recPin{Pin: gpiotest.Pin{N: name, L: gpio.High}} }

func TestPulseOrderAndDuration(t *testing.T) {
	p := newPin("GPIO5")
	f, err := NewGPIO(Options{Name: "glass", Pin: "GPIO5", Pulse: 80 * time.Millisecond}, p)
	if err != nil {
		t.Fatal(err)
	}
	if s := p.log(); len(s) != 1 || s[0].l != gpio.Low {
		t.Fatalf("not closed at start: %v", s)
	}
	if err := f.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	s := p.log()
	if len(s) != 3 || s[1].l != gpio.High || s[2].l != gpio.Low {
		t.Fatalf("levels %v, want low, high, low", s)
	}
	if d := s[2].at.Sub(s[1].at); d < 80*time.Millisecond {
		t.Errorf("pulse lasted %v, want >= 80ms", d)
	}
}

func TestActiveLowAndHold(t *testing.T) {
	p := newPin("GPIO6")
	p.L = gpio.Low
	f, err := NewGPIO(Options{Name: "metal", Pin: "GPIO6", ActiveLow: true, Hold: true}, p)
	if err != nil {
		t.Fatal(err)
	}
	if p.Read() != gpio.High {
		t.Fatal("active-low flap not closed (high) at start")
	}
	if err := f.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	if p.Read() != gpio.Low {
		t.Fatal("active-low flap not open (low) while held")
	}
	if err := f.Close(); err != nil || p.Read() != gpio.High {
		t.Fatal("not closed by Close")
	}
}

// A cancelled context ends the pulse early but still closes the flap.
func TestCancelClosesFlap(t *testing.T) {
	p := newPin("GPIO13")
	f, _ := NewGPIO(Options{Name: "paper", Pulse: time.Hour}, p)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	if err := f.Open(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Open: %v", err)
	}
	if p.Read() != gpio.Low {
		t.Fatal("flap left open after cancel")
	}
}

func TestPinErrorLeavesFlapClosed(t *testing.T) {
	p := newPin("GPIO19")
	f, _ := NewGPIO(Options{Name: "plastic", Pulse: time.Millisecond}, p)
	p.fail = true
	if err := f.Open(context.Background()); err == nil {
		t.Fatal("no error from a failing pin")
	}
	if p.Read() != gpio.Low {
		t.Fatal("flap not closed after a pin error")
	}
}

func TestBankCloseAllAndRegistry(t *testing.T) {
	a, b := newPin("A"), newPin("B")
	fa, _ := NewGPIO(Options{Name: "a", Hold: true}, a)
	fb, _ := NewGPIO(Options{Name: "b", Hold: true}, b)
	bank := Bank{"a": fa, "b": fb}
	fa.Open(context.Background())
	fb.Open(context.Background())
	if err := bank.CloseAll(); err != nil || a.Read() != gpio.Low || b.Read() != gpio.Low {
		t.Fatal("CloseAll left a flap open")
	}
	d, err := New("dry-run", Options{Name: "reject", Pulse: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	d.Open(context.Background())
	if d.(*DryRun).Opens() != 1 {
		t.Error("dry-run did not count the open")
	}
	if _, err := New("relay-board", Options{Name: "x"}); err == nil {
		t.Error("unknown driver accepted")
	}
}

func TestServoAngles(t *testing.T) {
	p := newPin("GPIO12")
	f, err := NewGPIO(Options{Name: "glass", Servo: true, OpenAngle: 90, ClosedAngle: 0, Pulse: 10 * time.Millisecond}, p)
	if err != nil {
		t.Fatal(err)
	}
	closed := gpio.DutyMax / 20 // 1 ms of 20 ms
	if p.D != closed || p.F != 50*physic.Hertz {
		t.Fatalf("closed: duty %v freq %v, want %v at 50 Hz", p.D, p.F, closed)
	}
	f.o.Hold = true
	f.Open(context.Background())
	if want := gpio.DutyMax * 3 / 40; p.D != want {
		t.Errorf("open at 90°: duty %v, want %v (1.5 ms)", p.D, want)
	}
	f.Close()
	if p.D != closed {
		t.Errorf("not back at 0°: %v", p.D)
	}
}
