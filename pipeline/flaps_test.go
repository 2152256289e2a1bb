package pipeline

import (
	"context"
	"image"
	"image/color"
	"sync"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/sorterd/sorterd/actuator"
	"github.com/sorterd/sorterd/camera"
	"github.com/sorterd/sorterd/infer"
	"github.com/sorterd/sorterd/locate"
	"github.com/sorterd/sorterd/settings"
	"gocv.io/x/gocv"
	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpiotest"
)

// scriptedSource plays frames (an empty tray, or an item at a place) at
// given frame times, then ends.
type scriptedSource struct {
	frames []scripted
	i      int
	t0     time.Time
}

type scripted struct {
	at   time.Duration
	item image.Rectangle // empty: the bare tray
}

func (s *scriptedSource) Read(ctx context.Context) (camera.Frame, error) {
	if s.i >= len(s.frames) {
		return camera.Frame{}, camera.ErrEnded
	}
	f := s.frames[s.i]
	s.i++
	m := gocv.NewMatWithSizeFromScalar(gocv.NewScalar(60, 60, 60, 0), 240, 320, gocv.MatTypeCV8UC3)
	if !f.item.Empty() {
		gocv.Rectangle(&m, f.item, color.RGBA{40, 90, 200, 0}, -1)
	}
	return camera.Frame{Mat: m, Seq: uint64(s.i), At: s.t0.Add(f.at)}, nil
}

func (s *scriptedSource) Close() error { return nil }

// script is n frames every period from start, all showing item.
func script(start time.Duration, n int, period time.Duration, item image.Rectangle) []scripted {
	var out []scripted
	for i := range n {
		out = append(out, scripted{at: start + time.Duration(i)*period, item: item})
	}
	return out
}

// turnClassifier says labels[k] for the k-th item (three frames each).
type turnClassifier struct {
	labels []string
	mu     sync.Mutex
	calls  int
}

func (c *turnClassifier) Labels() []string { return []string{"glass", "metal", "trash"} }

func (c *turnClassifier) Classify(ctx context.Context, img gocv.Mat, k int) (infer.Result, error) {
	c.mu.Lock()
	n := c.calls
	c.calls++
	c.mu.Unlock()
	want := c.labels[(n/3)%len(c.labels)]
	scores := make([]float32, 3)
	for i, l := range c.Labels() {
		if l == want {
			scores[i] = 1
		}
	}
	top := infer.TopK(scores, c.Labels(), k)
	return infer.Result{Score: top[0], Top: top, Scores: scores}, nil
}

func holdStation(t *testing.T, src camera.Source, clf Classifier) (*Station, map[string]*gpiotest.Pin, *[]Event) {
	bins := []Bin{{Name: "glass", Labels: []string{"glass"}}, {Name: "metal", Labels: []string{"metal"}},
		{Name: "reject", Labels: []string{"trash"}, Reject: true}}
	pins := map[string]*gpiotest.Pin{}
	flaps := map[string]actuator.Flap{}
	for _, b := range bins {
		p := &gpiotest.Pin{N: b.Name}
		f, err := actuator.NewGPIO(actuator.Options{Name: b.Name, Hold: true}, p)
		if err != nil {
			t.Fatal(err)
		}
		pins[b.Name], flaps[b.Name] = p, f
	}
	tray := locate.New(locate.Options{Margin: settings.DefaultMargin})
	t.Cleanup(tray.Close)
	var events []Event
	s, err := New(Options{Station: "t", Source: src, Classify: clf, Flaps: flaps, Bins: bins, Trigger: settings.Motion, Tray: tray,
		Frames: 3, OnEvent: func(e Event) {
			events = append(events, e)
			// At the moment an item's flap opened, no other is open.
			for name, p := range pins {
				if name != e.Bin && p.Read() == gpio.High {
					t.Errorf("item for %s: flap %s still open", e.Bin, name)
				}
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	return s, pins, &events
}

// Hold flaps: each item's flap stays open until the next item, which
// closes it before its own opens; never two at once.
func TestHoldFlapsOneAtATime(t *testing.T) {
	period := 66 * time.Millisecond
	a, b := image.Rect(20, 40, 140, 200), image.Rect(180, 40, 300, 200)
	var frames []scripted
	frames = append(frames, script(0, 4, period, image.Rectangle{})...)
	frames = append(frames, script(4*period, 6, period, a)...)
	frames = append(frames, script(10*period, 4, period, image.Rectangle{})...)
	frames = append(frames, script(14*period, 6, period, b)...)
	frames = append(frames, script(20*period, 4, period, image.Rectangle{})...)
	s, pins, events := holdStation(t, &scriptedSource{frames: frames, t0: time.Now()}, &turnClassifier{labels: []string{"glass", "metal"}})
	// The pins are checked as each event comes (holdStation's OnEvent);
	// Run closes every flap at its end.
	s.Run(context.Background())
	if len(*events) != 2 || (*events)[0].Bin != "glass" || (*events)[1].Bin != "metal" {
		t.Fatalf("events %+v", *events)
	}
	for name, p := range pins {
		if p.Read() != gpio.Low {
			t.Errorf("flap %s open after the run", name)
		}
	}
}

// The camera stops mid-item (lost, then back 5 s later on an empty
// tray): the item is abandoned, no flap fires, and it is counted.
// wallSource stamps its frames when they are read, as a camera or a video
// file does.
type wallSource struct{ scriptedSource }

func (w *wallSource) Read(ctx context.Context) (camera.Frame, error) {
	f, err := w.scriptedSource.Read(ctx)
	f.At = time.Now()
	return f, err
}

// slowClassifier takes d per frame, like a slow board.
type slowClassifier struct {
	turnClassifier
	d time.Duration
}

func (c *slowClassifier) Classify(ctx context.Context, img gocv.Mat, k int) (infer.Result, error) {
	time.Sleep(c.d)
	return c.turnClassifier.Classify(ctx, img, k)
}

// A frame late only because the station took long over the last one (a
// slow board, qemu) is not a stalled camera: the item is decided.
func TestSlowClassifyIsNoStall(t *testing.T) {
	a := image.Rect(20, 40, 140, 200)
	var frames []scripted
	frames = append(frames, script(0, 4, 0, image.Rectangle{})...)
	frames = append(frames, script(0, 4, 0, a)...) // landing, then 3 frames to classify
	frames = append(frames, script(0, 4, 0, image.Rectangle{})...)
	clf := &slowClassifier{turnClassifier{labels: []string{"glass"}}, 150 * time.Millisecond}
	s, _, events := holdStation(t, &wallSource{scriptedSource{frames: frames}}, clf)
	s.o.ItemGap = 50 * time.Millisecond
	s.Run(context.Background())
	if st := s.Stats(); st.Locate["abandoned"] != 0 {
		t.Errorf("locate stats %v: an item abandoned while the station was classifying", st.Locate)
	}
	if len(*events) != 1 || (*events)[0].Label != "glass" {
		t.Errorf("events %+v: want the item decided as glass", *events)
	}
}

func TestItemAbandonedWhenFramesStop(t *testing.T) {
	period := 66 * time.Millisecond
	a := image.Rect(20, 40, 140, 200)
	var frames []scripted
	frames = append(frames, script(0, 4, period, image.Rectangle{})...)
	frames = append(frames, script(4*period, 2, period, a)...)      // the item's first 2 frames
	frames = append(frames, script(5*time.Second, 3, period, a)...) // back 5 s later
	frames = append(frames, script(5*time.Second+3*period, 4, period, image.Rectangle{})...)
	s, _, events := holdStation(t, &scriptedSource{frames: frames, t0: time.Now()}, &turnClassifier{labels: []string{"glass"}})
	s.Run(context.Background())
	// The 2 frames before the loss are dropped with the item; the item
	// still lying there when the camera is back is decided afresh.
	if st := s.Stats(); st.Locate["abandoned"] != 1 {
		t.Errorf("locate stats %v, want one abandoned item", st.Locate)
	}
	if len(*events) != 1 || (*events)[0].Frames != 3 {
		t.Errorf("events %+v: want one, decided on the 3 frames after the loss", *events)
	}
}

// The tray seen empty while cooling down counts: the next item may land
// where the last one lay before the cooldown ends, and it is a new item
// (it used to be taken for the decided one, still lying there: missed).
func TestEmptyDuringCooldown(t *testing.T) {
	period := 66 * time.Millisecond
	a := image.Rect(20, 40, 140, 200)
	var frames []scripted
	frames = append(frames, script(0, 4, period, image.Rectangle{})...)
	frames = append(frames, script(4*period, 8, period, a)...)                  // decided on its 2nd-4th frames
	frames = append(frames, script(12*period, 6, period, image.Rectangle{})...) // taken away, within the cooldown
	frames = append(frames, script(18*period, 10, period, a)...)                // the next lands there, cooldown still on
	frames = append(frames, script(28*period, 4, period, image.Rectangle{})...)
	s, _, events := holdStation(t, &scriptedSource{frames: frames, t0: time.Now()}, &turnClassifier{labels: []string{"glass", "metal"}})
	s.o.Cooldown = time.Second
	s.Run(context.Background())
	if len(*events) != 2 || (*events)[0].Label != "glass" || (*events)[1].Label != "metal" {
		t.Fatalf("events %+v: want glass, then metal", *events)
	}
}

// gatedSource stops giving frames at frame gateAt until gate is closed
// (a camera between frames), honouring ctx meanwhile.
type gatedSource struct {
	scriptedSource
	gateAt  int
	gate    chan struct{}
	blocked chan struct{}
	once    sync.Once
}

func (g *gatedSource) Read(ctx context.Context) (camera.Frame, error) {
	if g.i == g.gateAt {
		g.once.Do(func() { close(g.blocked) })
		select {
		case <-g.gate:
		case <-ctx.Done():
			return camera.Frame{}, ctx.Err()
		}
	}
	return g.scriptedSource.Read(ctx)
}

// A stop (SIGTERM) while the station waits for an item's next frame does
// not decide the item on what it has so far: it reads on, for a short
// grace, and decides on all the item's frames.
func TestStopWaitsForTheItemsFrames(t *testing.T) {
	period := 66 * time.Millisecond
	a := image.Rect(20, 40, 140, 200)
	var frames []scripted
	frames = append(frames, script(0, 4, period, image.Rectangle{})...)
	frames = append(frames, script(4*period, 6, period, a)...) // landing, then frames to classify
	g := &gatedSource{scriptedSource: scriptedSource{frames: frames, t0: time.Now()}, gateAt: 6,
		gate: make(chan struct{}), blocked: make(chan struct{})}
	s, _, events := holdStation(t, g, &turnClassifier{labels: []string{"glass"}})
	clock := clockwork.NewFakeClock()
	s.o.Clock = clock
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); s.Run(ctx) }()
	<-g.blocked // one frame of the item classified; the camera is between frames
	cancel()
	// The station has taken the stop once its grace (a timer on the
	// clock) runs; the frames come within it.
	if err := clock.BlockUntilContext(ctxTimeout(t, 10*time.Second), 1); err != nil {
		t.Fatal("no grace started after the stop")
	}
	close(g.gate)
	<-done
	if len(*events) != 1 || (*events)[0].Frames != 3 {
		t.Fatalf("events %+v: want one, decided on 3 frames after the stop", *events)
	}
}

// sizeClassifier records the width of every crop it is given.
type sizeClassifier struct {
	turnClassifier
	widths []int
}

func (c *sizeClassifier) Classify(ctx context.Context, img gocv.Mat, k int) (infer.Result, error) {
	c.widths = append(c.widths, img.Cols())
	return c.turnClassifier.Classify(ctx, img, k)
}

// The frame an item lands in (here a smaller blob: half there) is not
// classified: the decision is made on frames of the item lying still.
func TestLandingFrameNotClassified(t *testing.T) {
	period := 66 * time.Millisecond
	landing := image.Rect(60, 100, 100, 150)
	lying := image.Rect(20, 40, 140, 200)
	var frames []scripted
	frames = append(frames, script(0, 4, period, image.Rectangle{})...)
	frames = append(frames, script(4*period, 1, period, landing)...)
	frames = append(frames, script(5*period, 5, period, lying)...)
	frames = append(frames, script(10*period, 4, period, image.Rectangle{})...)
	clf := &sizeClassifier{turnClassifier: turnClassifier{labels: []string{"glass"}}}
	s, _, events := holdStation(t, &scriptedSource{frames: frames, t0: time.Now()}, clf)
	s.Run(context.Background())
	if len(*events) != 1 || len(clf.widths) != 3 {
		t.Fatalf("events %+v, crops %v: want one item decided on 3 crops", *events, clf.widths)
	}
	for i, w := range clf.widths {
		if w != clf.widths[2] {
			t.Fatalf("crop widths %v: crop %d is not the lying item's (the landing frame was classified)", clf.widths, i)
		}
	}
}

// oneOpen watches a bank of fake pins and records every moment a pin is
// driven open while another is open.
type oneOpen struct {
	mu   sync.Mutex
	open map[string]bool
	both []string
}

// watchedPin is a fake pin whose levels oneOpen sees.
type watchedPin struct {
	*gpiotest.Pin
	w *oneOpen
}

func (p watchedPin) Out(l gpio.Level) error {
	p.w.mu.Lock()
	if l == gpio.High {
		for name, o := range p.w.open {
			if o && name != p.Name() {
				p.w.both = append(p.w.both, name+" and "+p.Name())
			}
		}
	}
	p.w.open[p.Name()] = l == gpio.High
	p.w.mu.Unlock()
	return p.Pin.Out(l)
}

// flapStation is a station with glass, metal and reject flaps on watched
// fake pins, pulsing for pulse or holding (pulse 0).
func flapStation(t *testing.T, pulse time.Duration) (*Station, *oneOpen) {
	w := &oneOpen{open: map[string]bool{}}
	bins := []Bin{{Name: "glass", Labels: []string{"glass"}}, {Name: "metal", Labels: []string{"metal"}},
		{Name: "reject", Labels: []string{"trash"}, Reject: true}}
	flaps := map[string]actuator.Flap{}
	for _, b := range bins {
		f, err := actuator.NewGPIO(actuator.Options{Name: b.Name, Hold: pulse == 0, Pulse: pulse}, watchedPin{&gpiotest.Pin{N: b.Name}, w})
		if err != nil {
			t.Fatal(err)
		}
		flaps[b.Name] = f
	}
	tray := locate.New(locate.Options{Margin: settings.DefaultMargin})
	t.Cleanup(tray.Close)
	s, err := New(Options{Station: "t", Source: &scriptedSource{}, Classify: &turnClassifier{labels: []string{"glass"}},
		Flaps: flaps, Bins: bins, Trigger: settings.Motion, Tray: tray, Frames: 3})
	if err != nil {
		t.Fatal(err)
	}
	return s, w
}

// A test flap (web or MQTT) opens the way an item's flap does: the held
// flap is closed first, and a pulsing one is waited for, so that no two
// flaps are ever open. TestFlap used to open its flap directly: in hold
// mode beside the held one, in pulse mode beside a pulsing one.
func TestTestFlapOneAtATime(t *testing.T) {
	t.Run("hold", func(t *testing.T) {
		s, w := flapStation(t, 0)
		ctx := context.Background()
		for _, bin := range []string{"glass", "metal", "reject", "glass"} {
			if err := s.TestFlap(ctx, bin); err != nil {
				t.Fatal(err)
			}
		}
		// An item's flap after the test flaps closes the held one too.
		s.openFlap(ctx, "metal")
		if len(w.both) > 0 || !w.open["metal"] || w.open["glass"] {
			t.Errorf("opened while another was open: %v; open now %v", w.both, w.open)
		}
	})
	t.Run("pulse", func(t *testing.T) {
		s, w := flapStation(t, 100*time.Millisecond)
		var wg sync.WaitGroup
		for _, bin := range []string{"glass", "metal", "reject"} {
			wg.Add(1)
			go func() { defer wg.Done(); s.TestFlap(context.Background(), bin) }()
		}
		wg.Add(1)
		go func() { defer wg.Done(); s.openFlap(context.Background(), "glass") }() // an item's
		wg.Wait()
		if len(w.both) > 0 {
			t.Errorf("opened while another was open: %v", w.both)
		}
	})
}

// A stop (SIGTERM, or a reload) while the camera is stalled in the
// middle of an item fires no flap: the grace runs out without the item's
// frames, so it is abandoned and counted, as it would be had the frames
// come back.
func TestStopAbandonsStalledItem(t *testing.T) {
	period := 66 * time.Millisecond
	a := image.Rect(20, 40, 140, 200)
	var frames []scripted
	frames = append(frames, script(0, 4, period, image.Rectangle{})...)
	frames = append(frames, script(4*period, 6, period, a)...) // landing, then frames to classify
	g := &gatedSource{scriptedSource: scriptedSource{frames: frames, t0: time.Now()}, gateAt: 6,
		gate: make(chan struct{}), blocked: make(chan struct{})}
	s, pins, events := holdStation(t, g, &turnClassifier{labels: []string{"glass"}})
	clock := clockwork.NewFakeClock()
	s.o.Clock = clock
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); s.Run(ctx) }()
	<-g.blocked // one frame of the item classified; the camera stalls for good
	clock.Advance(300 * time.Millisecond)
	cancel()
	// The stop reads on for its grace (a timer on the clock), which runs
	// out without the item's frames.
	if err := clock.BlockUntilContext(ctxTimeout(t, 10*time.Second), 1); err != nil {
		t.Fatal("no grace started after the stop")
	}
	clock.Advance(stopGrace)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return 10 s after the stop")
	}
	if len(*events) != 0 {
		t.Errorf("events %+v: want none for an item whose frames stopped", *events)
	}
	for name, p := range pins {
		if p.Read() == gpio.High {
			t.Errorf("flap %s open after the stop", name)
		}
	}
	if st := s.Stats(); st.Locate["abandoned"] != 1 {
		t.Errorf("locate stats %v, want one abandoned item", st.Locate)
	}
}

// Uploads wait while the station has an item in flight (Busy), but not
// for the whole of a camera stall in the middle of one: once the item has
// had no frame for ItemGap the station is no longer busy.
func TestStalledItemNotBusy(t *testing.T) {
	period := 66 * time.Millisecond
	a := image.Rect(20, 40, 140, 200)
	var frames []scripted
	frames = append(frames, script(0, 4, period, image.Rectangle{})...)
	frames = append(frames, script(4*period, 6, period, a)...)
	g := &gatedSource{scriptedSource: scriptedSource{frames: frames, t0: time.Now()}, gateAt: 6,
		gate: make(chan struct{}), blocked: make(chan struct{})}
	s, _, _ := holdStation(t, g, &turnClassifier{labels: []string{"glass"}})
	s.o.ItemGap = 300 * time.Millisecond
	clock := clockwork.NewFakeClock()
	s.o.Clock = clock
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); s.Run(ctx) }()
	defer func() {
		cancel()
		// The stop's grace runs on the fake clock.
		clock.BlockUntilContext(ctxTimeout(t, 10*time.Second), 1)
		clock.Advance(stopGrace)
		<-done
	}()
	<-g.blocked // one frame of the item classified; the camera stalls
	if !s.Busy() {
		t.Error("not busy with an item in flight whose frames are due")
	}
	clock.Advance(299 * time.Millisecond)
	if !s.Busy() {
		t.Error("not busy before ItemGap has passed")
	}
	clock.Advance(2 * time.Millisecond)
	if s.Busy() {
		t.Fatal("still busy past ItemGap (300 ms) into a camera stall mid-item")
	}
}

// ctxTimeout is a context that ends after d (real time), or with the test.
func ctxTimeout(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}
