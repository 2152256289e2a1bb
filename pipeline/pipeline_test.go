package pipeline

import (
	"context"
	"image/color"
	"path/filepath"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/sorterd/sorterd/actuator"
	"github.com/sorterd/sorterd/camera"
	"github.com/sorterd/sorterd/infer"
	"github.com/sorterd/sorterd/internal/testenv"
	"github.com/sorterd/sorterd/internal/testenv/testvideo"
	"github.com/sorterd/sorterd/locate"
	"github.com/sorterd/sorterd/settings"
	"gocv.io/x/gocv"
	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpiotest"
)

func garbageModel(t *testing.T) string { return testenv.Model(t, "garbage.tflite") }

func itemsVideo(t *testing.T, colours []color.RGBA, hold, gap int) string {
	path := filepath.Join(t.TempDir(), "items.avi")
	testvideo.Items(t, path, colours, hold, gap)
	return path
}

type pulsePin struct {
	gpiotest.Pin
	mu     sync.Mutex
	pulses int
}

func (p *pulsePin) Out(l gpio.Level) error {
	p.mu.Lock()
	if l == gpio.High {
		p.pulses++
	}
	p.mu.Unlock()
	return p.Pin.Out(l)
}

func (p *pulsePin) count() int { p.mu.Lock(); defer p.mu.Unlock(); return p.pulses }

func station(t *testing.T, video string, conveyor bool, delay time.Duration) (*Station, map[string]*pulsePin, *[]Event, *sync.Mutex) {
	c, err := infer.New(infer.Options{Model: garbageModel(t), Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	src, err := camera.Open(camera.Options{Source: video})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { src.Close() })
	bins := []Bin{
		{Name: "glass", Labels: []string{"glass"}, Delay: delay},
		{Name: "metal", Labels: []string{"metal"}, Delay: delay},
		{Name: "paper", Labels: []string{"paper", "cardboard"}, Delay: delay},
		{Name: "plastic", Labels: []string{"plastic"}, Delay: delay},
		{Name: "reject", Labels: []string{"trash"}, Reject: true, Delay: delay},
	}
	pins := map[string]*pulsePin{}
	flaps := map[string]actuator.Flap{}
	for _, b := range bins {
		p := &pulsePin{Pin: gpiotest.Pin{N: b.Name}}
		f, err := actuator.NewGPIO(actuator.Options{Name: b.Name, Pulse: 20 * time.Millisecond}, p)
		if err != nil {
			t.Fatal(err)
		}
		pins[b.Name], flaps[b.Name] = p, f
	}
	var mu sync.Mutex
	var events []Event
	motion := locate.New(locate.Options{Area: 0.05, Delta: 25})
	t.Cleanup(motion.Close)
	s, err := New(Options{Station: "t", ModelSHA: c.SHA256(), Source: src, Classify: c, Flaps: flaps, Bins: bins,
		Trigger: settings.Motion, Tray: motion, Frames: 3, Geometry: map[bool]settings.Geometry{false: settings.Chute, true: settings.Conveyor}[conveyor],
		OnEvent: func(e Event) { mu.Lock(); events = append(events, e); mu.Unlock() }})
	if err != nil {
		t.Fatal(err)
	}
	return s, pins, &events, &mu
}

// Three items pass the camera: exactly three events, each flap pulsed as
// often as events name its bin, all flaps closed at the end.
func TestOneEventPerItem(t *testing.T) {
	video := itemsVideo(t, []color.RGBA{{230, 230, 230, 0}, {40, 90, 200, 0}, {200, 160, 60, 0}}, 8, 8)
	s, pins, events, mu := station(t, video, false, 0)
	// Each item is a change of the stats, signalled by the time its event
	// goes out (the stats publisher sends them at once).
	signalled, inner := 0, s.o.OnEvent
	s.o.OnEvent = func(e Event) {
		select {
		case <-s.Changes():
			signalled++
		default:
		}
		inner(e)
	}
	if err := s.Run(context.Background()); err == nil {
		t.Log("run ended")
	}
	mu.Lock()
	defer mu.Unlock()
	if len(*events) != 3 {
		t.Fatalf("%d events, want 3: %+v", len(*events), *events)
	}
	if signalled != 3 {
		t.Errorf("%d of 3 items signalled a change of the stats", signalled)
	}
	perBin := map[string]int{}
	for _, e := range *events {
		perBin[e.Bin]++
		if e.Frames != 3 || e.ID == "" || len(e.Top) != 3 || e.Model == "" || e.LatencyMS <= 0 {
			t.Errorf("event %+v", e)
		}
	}
	for name, p := range pins {
		if p.count() != perBin[name] {
			t.Errorf("flap %s pulsed %d times, events name it %d times", name, p.count(), perBin[name])
		}
		if p.Read() != gpio.Low {
			t.Errorf("flap %s left open", name)
		}
	}
	st := s.Stats()
	if st.Frames != 8+3*16 || st.InferP50MS <= 0 {
		t.Errorf("stats %+v", st)
	}
}

// On a conveyor the flap fires after the bin's delay; items overlap, and
// the end of the run waits for every scheduled flap.
func TestConveyorDelays(t *testing.T) {
	video := itemsVideo(t, []color.RGBA{{230, 230, 230, 0}, {40, 90, 200, 0}}, 5, 4)
	s, pins, events, mu := station(t, video, true, 400*time.Millisecond)
	t0 := time.Now()
	s.Run(context.Background())
	mu.Lock()
	defer mu.Unlock()
	if len(*events) != 2 {
		t.Fatalf("%d events", len(*events))
	}
	for _, e := range *events {
		if e.LatencyMS < 400 {
			t.Errorf("flap fired %.0f ms after the trigger, before the 400 ms delay", e.LatencyMS)
		}
	}
	n := 0
	for _, p := range pins {
		n += p.count()
	}
	if n != 2 || time.Since(t0) < 400*time.Millisecond {
		t.Errorf("%d pulses", n)
	}
}

func TestPauseAndBadWiring(t *testing.T) {
	video := itemsVideo(t, []color.RGBA{{230, 230, 230, 0}}, 8, 8)
	s, _, events, mu := station(t, video, false, 0)
	s.Pause()
	select {
	case <-s.Changes():
	default:
		t.Error("a pause did not signal a change of the stats")
	}
	s.Run(context.Background())
	mu.Lock()
	if len(*events) != 0 {
		t.Errorf("paused station sorted %d items", len(*events))
	}
	mu.Unlock()
	if err := s.TestFlap(context.Background(), "nope"); err == nil {
		t.Error("test of an unknown bin accepted")
	}
	c, _ := infer.New(infer.Options{Model: garbageModel(t)})
	defer c.Close()
	_, err := New(Options{Classify: c, Trigger: settings.Continuous, Bins: []Bin{{Name: "x", Labels: []string{"unobtainium"}, Reject: true}},
		Flaps: map[string]actuator.Flap{"x": actuator.NewDryRun(actuator.Options{Name: "x"})}})
	if err == nil {
		t.Error("a bin naming a label the model lacks was accepted")
	}
}

// recordingClassifier is the real classifier, noting which views each
// frame was classified with and what it said.
type recordingClassifier struct {
	*infer.Classifier
	mu     sync.Mutex
	views  [][]string
	scores [][]float32
}

func (r *recordingClassifier) ClassifyViews(ctx context.Context, img gocv.Mat, k int, views []infer.View) (infer.Result, error) {
	res, err := r.Classifier.ClassifyViews(ctx, img, k, views)
	var names []string
	for _, v := range views {
		names = append(names, v.Name)
	}
	r.mu.Lock()
	r.views = append(r.views, names)
	r.scores = append(r.scores, append([]float32(nil), res.Scores...))
	r.mu.Unlock()
	return res, err
}

// With views per frame, an item's three frames take turns at five views,
// two each, and the decision is the mean of what the frames said.
func TestViewsSharedOverFrames(t *testing.T) {
	c, err := infer.New(infer.Options{Model: garbageModel(t), Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	rc := &recordingClassifier{Classifier: c}
	views, err := infer.ViewsByName([]string{"flip", "rot180", "rot90", "rot270", "vflip"})
	if err != nil {
		t.Fatal(err)
	}
	src, err := camera.Open(camera.Options{Source: itemsVideo(t, []color.RGBA{{40, 90, 200, 0}}, 8, 8)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { src.Close() })
	flaps := map[string]actuator.Flap{}
	bins := []Bin{{Name: "paper", Labels: []string{"paper", "cardboard"}}, {Name: "reject", Reject: true}}
	for _, b := range bins {
		flaps[b.Name] = actuator.NewDryRun(actuator.Options{Name: b.Name})
	}
	motion := locate.New(locate.Options{Area: 0.05, Delta: 25})
	t.Cleanup(motion.Close)
	var events []Event
	s, err := New(Options{Station: "t", Source: src, Classify: rc, Flaps: flaps, Bins: bins, Trigger: settings.Motion, Tray: motion,
		Frames: 3, Views: views, ViewsPerFrame: 2, OnEvent: func(e Event) { events = append(events, e) }})
	if err != nil {
		t.Fatal(err)
	}
	s.Run(context.Background())
	if len(events) != 1 {
		t.Fatalf("%d events, want 1", len(events))
	}
	want := [][]string{{"flip", "rot180"}, {"rot90", "rot270"}, {"vflip", "flip"}}
	if !reflect.DeepEqual(rc.views, want) {
		t.Fatalf("frames classified with views %v, want %v", rc.views, want)
	}
	labels := c.Labels()
	e := events[0]
	var mean float32
	for _, sc := range rc.scores {
		mean += sc[indexOf(labels, e.Label)] / 3
	}
	if d := mean - e.Score; d > 1e-5 || d < -1e-5 {
		t.Errorf("event score %v, mean of the frames' %v", e.Score, mean)
	}
	// The bin's score: the label's mean plus its bin-mates' (paper and
	// cardboard share the paper bin here; other labels have none).
	mates := []string{e.Label}
	if e.Label == "paper" || e.Label == "cardboard" {
		mates = []string{"paper", "cardboard"}
	}
	binMean := float32(0)
	for _, sc := range rc.scores {
		for _, l := range mates {
			binMean += sc[indexOf(labels, l)] / 3
		}
	}
	if d := binMean - e.BinScore; d > 1e-5 || d < -1e-5 || e.BinScore < e.Score {
		t.Errorf("event %s: bin score %v, want %v (score %v)", e.Label, e.BinScore, binMean, e.Score)
	}
	if _, err := New(Options{Station: "t", Source: src, Classify: struct{ Classifier }{c}, Flaps: flaps, Bins: bins,
		Trigger: settings.Motion, Tray: motion, Frames: 3, Views: views, ViewsPerFrame: 2}); err == nil {
		t.Error("views per frame accepted a classifier that takes no views")
	}
}

func indexOf(s []string, v string) int {
	for i, x := range s {
		if x == v {
			return i
		}
	}
	return -1
}
