// Package pipeline is the station's one path from frame to flap: frames
// from a camera.Source, a trigger that finds an item, K classified
// frames, one decision, the bin's flap, and an event for the publishers.
// The web page and MQTT commands reach it only through its control
// surface: Pause, Resume, TestFlap and the read-only Stats.
package pipeline

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"image"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sorterd/sorterd/actuator"
	"github.com/sorterd/sorterd/camera"
	"github.com/sorterd/sorterd/infer"
	"github.com/sorterd/sorterd/locate"
	"gocv.io/x/gocv"
)

// Classifier labels a frame (infer.Classifier in the daemon).
type Classifier interface {
	Classify(ctx context.Context, img gocv.Mat, k int) (infer.Result, error)
	Labels() []string
}

// ViewClassifier classifies a frame averaging over the views it is given
// (infer.Classifier); needed for Options.ViewsPerFrame.
type ViewClassifier interface {
	ClassifyViews(ctx context.Context, img gocv.Mat, k int, views []infer.View) (infer.Result, error)
}

// Bin is one output of the station.
type Bin struct {
	Name   string
	Labels []string
	Reject bool
	Delay  time.Duration // conveyor: camera → flap
}

// Trigger modes.
const (
	Continuous = "continuous"
	Motion     = "motion"
	GPIO       = "gpio"
)

// Options wire a station.
type Options struct {
	Station  string
	ModelSHA string
	Source   camera.Source
	Classify Classifier
	Flaps    map[string]actuator.Flap
	Bins     []Bin

	Trigger string // continuous, motion or gpio
	Every   int    // continuous: every Nth frame starts an item
	Frames  int    // frames classified per item
	// Tray learns the empty tray from every frame, in every
	// trigger mode: the motion trigger asks it whether an item is there,
	// and Locate == locate.Background asks it where.
	Tray *locate.Tray
	// Locate is what the model sees: the item's box (locate.Background),
	// the fixed ROI (locate.ROI), or the whole frame (locate.Whole).
	Locate locate.Method
	ROI    image.Rectangle
	// Presence delivers one value per item from a sensor (Trigger gpio).
	Presence <-chan time.Time

	// Views, with ViewsPerFrame > 0, are shared out over an item's
	// frames: frame j is classified with the image and ViewsPerFrame
	// views taken in turn from Views, so three frames with two views
	// each see six. 0: each frame uses the classifier's own TTA.
	Views         []infer.View
	ViewsPerFrame int

	Vote      string  // mean or majority
	Threshold float64 // below it: the reject bin
	Conveyor  bool    // flaps fire after their bin's delay, items overlap
	Cooldown  time.Duration
	// ItemGap: an item whose next frame comes later than this after its
	// last (the camera was lost or stalled) is abandoned. 0: 2 s. The
	// station's own time on the last frame does not count: on a slow
	// board (or under qemu) classifying a frame may take longer.
	ItemGap time.Duration

	OnEvent func(Event)
	Log     *slog.Logger

	// Recent is how many decided items (with their frames) are kept for
	// the web page; 0 means 50.
	Recent int
	// SamplesDir receives corrected items as <class>/<id>.jpg.
	SamplesDir string
}

// Event is one decided item, as published on MQTT.
type Event struct {
	ID        string        `json:"id"`
	TS        string        `json:"ts"`
	Station   string        `json:"station"`
	Label     string        `json:"label"`
	Score     float32       `json:"score"`
	Top       []infer.Score `json:"top"`
	Bin       string        `json:"bin"`
	Action    string        `json:"action"` // sort or reject
	Frames    int           `json:"frames"`
	LatencyMS float64       `json:"latency_ms"` // trigger → flap
	Model     string        `json:"model"`
	// Box is the crop the model saw, in frame pixels (none: the whole
	// frame).
	Box *Box `json:"box,omitempty"`
	// Reason says why an item went to the reject bin without a
	// classification (no_item: a sensor said an item came, the tray
	// showed none).
	Reason string `json:"reason,omitempty"`
}

// Box is a rectangle in frame pixels.
type Box struct {
	X int `json:"x"`
	Y int `json:"y"`
	W int `json:"w"`
	H int `json:"h"`
}

func boxOf(r image.Rectangle) *Box {
	if r.Empty() {
		return nil
	}
	return &Box{X: r.Min.X, Y: r.Min.Y, W: r.Dx(), H: r.Dy()}
}

// String is "x,y wxh", as logs show it.
func (b *Box) String() string {
	if b == nil {
		return "none"
	}
	return fmt.Sprintf("%d,%d %dx%d", b.X, b.Y, b.W, b.H)
}

// Rect is the box as an image.Rectangle.
func (b Box) Rect() image.Rectangle { return image.Rect(b.X, b.Y, b.X+b.W, b.Y+b.H) }

// Station runs the pipeline.
type Station struct {
	o       Options
	binOf   map[string]string
	reject  string
	paused  atomic.Bool
	busy    atomic.Bool // an item is being classified (for the live view)
	log     *slog.Logger
	started time.Time

	mu          sync.Mutex
	perBin      map[string]int
	perAction   map[string]int
	frames      int64
	lastFrame   time.Time
	inferStart  time.Time       // non-zero while an inference runs
	latencies   []time.Duration // recent inference times (ring)
	latIdx      int
	hist        Histogram
	dropped     map[string]int64
	sorted      map[BinAction]int
	recent      []*record
	corrections map[string]int
	located     map[string]int64
	flapsWG     sync.WaitGroup // scheduled conveyor actuations
	flapMu      sync.Mutex     // one flap moves at a time (openFlap)

	corrMu    sync.Mutex
	liveMu    sync.Mutex
	latest    gocv.Mat // the last frame read, for the live view
	latestAt  time.Time
	liveBox   image.Rectangle // where the item is in latest (empty: none found)
	itemFrame gocv.Mat        // the frame the item in flight was last classified on (Run's goroutine only)
	itemCrop  gocv.Mat        // the crop of itemFrame the model saw (Run's goroutine only)
	itemBox   image.Rectangle // itemCrop's place in itemFrame (Run's goroutine only)
	views     []infer.View    // frameViews' result, reused frame to frame (Run's goroutine only)
}

// New checks the wiring.
func New(o Options) (*Station, error) {
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.Frames < 1 {
		o.Frames = 1
	}
	if o.Every < 1 {
		o.Every = 1
	}
	if o.Recent < 1 {
		o.Recent = 50
	}
	if o.ItemGap <= 0 {
		o.ItemGap = 2 * time.Second
	}
	s := &Station{o: o, binOf: map[string]string{}, log: o.Log, perBin: map[string]int{}, perAction: map[string]int{},
		dropped: map[string]int64{}, sorted: map[BinAction]int{}, corrections: map[string]int{}, located: map[string]int64{}, hist: newHistogram()}
	for _, b := range o.Bins {
		if _, ok := o.Flaps[b.Name]; !ok {
			return nil, fmt.Errorf("bin %s has no flap", b.Name)
		}
		if b.Reject {
			s.reject = b.Name
		}
		for _, l := range b.Labels {
			s.binOf[l] = b.Name
		}
	}
	if s.reject == "" {
		return nil, errors.New("no reject bin")
	}
	known := map[string]bool{}
	for _, l := range o.Classify.Labels() {
		known[l] = true
		if _, ok := s.binOf[l]; !ok {
			o.Log.Warn("label has no bin; its items go to the reject bin", "label", l, "bin", s.reject)
		}
	}
	for l := range s.binOf {
		if !known[l] {
			return nil, fmt.Errorf("bins name label %q, which the model does not have (it has %v)", l, o.Classify.Labels())
		}
	}
	if o.ViewsPerFrame > 0 {
		if _, ok := o.Classify.(ViewClassifier); !ok {
			return nil, errors.New("views per frame need a classifier that takes views")
		}
		if len(o.Views) == 0 {
			return nil, errors.New("views per frame without views")
		}
	}
	switch o.Trigger {
	case Continuous:
	case Motion:
		if o.Tray == nil {
			return nil, errors.New("motion trigger without a background")
		}
	case GPIO:
		if o.Presence == nil {
			return nil, errors.New("gpio trigger without a sensor")
		}
	default:
		return nil, fmt.Errorf("unknown trigger %q", o.Trigger)
	}
	if o.Locate == locate.Background && o.Tray == nil {
		return nil, errors.New("locate background without a background")
	}
	return s, nil
}

// Pause stops sorting (frames are still read, so the camera stays
// watched); Resume starts again.
func (s *Station) Pause()  { s.paused.Store(true); s.log.Info("paused") }
func (s *Station) Resume() { s.paused.Store(false); s.log.Info("resumed") }

// Paused reports the state.
func (s *Station) Paused() bool { return s.paused.Load() }

// TestFlap opens one bin's flap, for wiring checks.
func (s *Station) TestFlap(ctx context.Context, bin string) error {
	f, ok := s.o.Flaps[bin]
	if !ok {
		return fmt.Errorf("no bin %q", bin)
	}
	s.log.Info("test flap", "bin", bin)
	return f.Open(ctx)
}

// Progress is when the last frame arrived, and since when an inference
// has been running (zero if none): what the watchdog checks.
func (s *Station) Progress() (lastFrame, inferSince time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastFrame, s.inferStart
}

// Stats is a snapshot for MQTT, the web page and metrics.
type Stats struct {
	Station     string         `json:"station"`
	Paused      bool           `json:"paused"`
	Frames      int64          `json:"frames"`
	FPS         float64        `json:"fps"`
	ItemsPerBin map[string]int `json:"items_per_bin"`
	Actions     map[string]int `json:"actions"`
	InferP50MS  float64        `json:"inference_p50_ms"`
	InferP99MS  float64        `json:"inference_p99_ms"`
	UptimeS     float64        `json:"uptime_s"`
	LastFrame   string         `json:"last_frame,omitempty"`
	// Dropped counts frames read but not looked at, by reason (paused,
	// cooldown, error: the classifier failed on it; empty or too_small:
	// no item located in it).
	Dropped     map[string]int64 `json:"frames_dropped"`
	Corrections map[string]int   `json:"corrections"`
	// Locate counts what locating the item found: no_item (a trigger
	// with no item to classify: given up, or rejected on a gpio
	// trigger), relearned (the whole tray changed and was learned anew),
	// abandoned (an item whose frames stopped: camera lost or stalled).
	Locate map[string]int64 `json:"locate"`
	// Sorted counts items by bin and action (what metrics label them by).
	Sorted    map[BinAction]int `json:"-"`
	Inference Histogram         `json:"-"`
}

// BinAction is a bin and what happened there (sort or reject).
type BinAction struct{ Bin, Action string }

// Histogram is the inference-time distribution in Prometheus' shape:
// cumulative counts per upper bound (seconds).
type Histogram struct {
	Bounds []float64
	Counts []uint64
	Count  uint64
	Sum    float64
}

func newHistogram() Histogram {
	b := []float64{.005, .01, .02, .03, .05, .075, .1, .15, .2, .3, .5, 1, 2, 5}
	return Histogram{Bounds: b, Counts: make([]uint64, len(b))}
}

func (h *Histogram) observe(d time.Duration) {
	v := d.Seconds()
	for i, b := range h.Bounds {
		if v <= b {
			h.Counts[i]++
		}
	}
	h.Count++
	h.Sum += v
}

// Stats returns counters since start.
func (s *Station) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := Stats{Station: s.o.Station, Paused: s.paused.Load(), Frames: s.frames,
		ItemsPerBin: map[string]int{}, Actions: map[string]int{}, Dropped: map[string]int64{}, Corrections: map[string]int{},
		Inference: Histogram{Bounds: s.hist.Bounds, Counts: append([]uint64(nil), s.hist.Counts...), Count: s.hist.Count, Sum: s.hist.Sum}}
	st.Sorted = make(map[BinAction]int, len(s.sorted))
	for k, v := range s.sorted {
		st.Sorted[k] = v
	}
	for k, v := range s.dropped {
		st.Dropped[k] = v
	}
	for k, v := range s.corrections {
		st.Corrections[k] = v
	}
	st.Locate = make(map[string]int64, len(s.located))
	for k, v := range s.located {
		st.Locate[k] = v
	}
	for k, v := range s.perBin {
		st.ItemsPerBin[k] = v
	}
	for k, v := range s.perAction {
		st.Actions[k] = v
	}
	if !s.started.IsZero() {
		st.UptimeS = time.Since(s.started).Seconds()
		if st.UptimeS > 0 {
			st.FPS = float64(s.frames) / st.UptimeS
		}
	}
	if !s.lastFrame.IsZero() {
		st.LastFrame = s.lastFrame.UTC().Format(time.RFC3339Nano)
	}
	if n := len(s.latencies); n > 0 {
		l := append([]time.Duration(nil), s.latencies...)
		sort.Slice(l, func(i, j int) bool { return l[i] < l[j] })
		st.InferP50MS = float64(l[n/2].Microseconds()) / 1000
		st.InferP99MS = float64(l[min(n-1, n*99/100)].Microseconds()) / 1000
	}
	return st
}

// item is one item being classified.
type item struct {
	start  time.Time
	last   time.Time // frame time of its last frame
	scores []float32
	votes  map[int]int
	frames int
	misses int // frames of the item in which no item was located
}

// maxMisses is how many frames of an item may show no item before the
// item is given up: a shadow or a hand that came and went, never the tray
// classified as an item.
func (s *Station) maxMisses() int { return 2 * s.o.Frames }

// Run reads frames until ctx ends or the source fails for good. On return
// the item in flight has been decided, scheduled flaps have fired, and
// every flap is closed.
func (s *Station) Run(ctx context.Context) error {
	s.mu.Lock()
	s.started = time.Now()
	s.mu.Unlock()
	s.itemFrame = gocv.NewMat()
	s.itemCrop = gocv.NewMat()
	defer func() {
		s.flapsWG.Wait()
		if err := actuator.Bank(s.o.Flaps).CloseAll(); err != nil {
			s.log.Error("closing flaps", "err", err)
		}
		s.itemFrame.Close()
		s.itemCrop.Close()
		s.liveMu.Lock()
		if s.latest.Ptr() != nil {
			s.latest.Close()
			s.latest = gocv.Mat{}
		}
		s.liveMu.Unlock()
	}()
	var cur *item
	var seen int64
	var cooldownUntil time.Time
	waitEmpty := false // motion: the decided item is still on the tray
	var decided image.Rectangle
	rctx := ctx
	var readDone time.Time // when the last Read returned (wall clock)
	for {
		if ctx.Err() != nil && cur == nil {
			return nil
		}
		// The item in flight is finished even when ctx ends: reading
		// continues on a short grace context.
		if ctx.Err() != nil && rctx == ctx {
			var cancel context.CancelFunc
			rctx, cancel = context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
		}
		asked := time.Now()
		// The station's own work since the last frame (classifying it):
		// a frame late by that much was not held up by the camera.
		var own time.Duration
		if !readDone.IsZero() {
			own = asked.Sub(readDone)
		}
		f, err := s.o.Source.Read(rctx)
		readDone = time.Now()
		if err != nil {
			if ctx.Err() != nil && rctx == ctx && cur != nil {
				// Stopped while waiting for the item's next frame: the
				// next pass reads on, on the grace context.
				continue
			}
			if ctx.Err() != nil || rctx.Err() != nil {
				if cur != nil && cur.frames > 0 {
					s.decide(context.Background(), cur)
				}
				return nil
			}
			return fmt.Errorf("camera: %w", err)
		}
		seen++
		s.mu.Lock()
		s.frames++
		s.lastFrame = f.At
		s.mu.Unlock()
		var ob locate.Observation
		if s.o.Tray != nil {
			ob = s.o.Tray.Observe(f.Mat)
			if ob.Relearned {
				s.log.Info("the whole tray changed for long: learned it anew (light or camera moved?)")
				s.count("relearned")
			}
		}
		s.keepLatest(f.Mat, f.At, ob.Box)
		if paused := s.paused.Load(); paused || f.At.Before(cooldownUntil) {
			s.drop(map[bool]string{true: "paused", false: "cooldown"}[paused])
			cur = nil
			s.busy.Store(false)
			f.Close()
			continue
		}
		if cur != nil && f.At.Sub(cur.last)-own > s.o.ItemGap {
			// The camera stopped mid-item (lost, stalled, reconnected):
			// what it shows now may be anything. Abandoned, no flap.
			s.log.Warn("item abandoned: its frames stopped", "gap", f.At.Sub(cur.last).Round(time.Millisecond), "frames", cur.frames)
			s.count("abandoned")
			cur = nil
			s.busy.Store(false)
		}
		if cur == nil {
			start := false
			switch s.o.Trigger {
			case Continuous:
				start = seen%int64(s.o.Every) == 0
				if start && s.o.Locate == locate.Background && ob.Outcome != locate.Found {
					// Nothing on the tray: the bare tray is never an item.
					s.drop(ob.Outcome.String())
					start = false
				}
			case Motion:
				if waitEmpty {
					// The decided item still lies there, unless what is
					// there now is somewhere else: a second item
					// placed as the first was taken.
					waitEmpty = ob.Present && !(ob.Outcome == locate.Found && within(ob.Blob, decided) < 0.3)
					start = !waitEmpty && ob.Present
				} else {
					start = ob.Present
				}
			case GPIO:
				select {
				case <-s.o.Presence:
					start = true
				default:
				}
			}
			if !start {
				f.Close()
				continue
			}
			cur = &item{start: f.At, last: f.At, votes: map[int]int{}}
			s.busy.Store(true)
		}
		cur.last = f.At
		region, ok := s.region(ob, f.Mat)
		if !ok {
			f.Close()
			s.drop(ob.Outcome.String())
			if cur.misses++; cur.misses < s.maxMisses() {
				continue
			}
			if cur.frames > 0 && s.o.Trigger == GPIO {
				// The sensor saw an item, which left the camera's view
				// before its last frames: decide on what was seen.
				s.decide(ctx, cur)
			} else {
				s.giveUp(ctx, cur, ob)
			}
			cur = nil
			s.busy.Store(false)
			waitEmpty = s.o.Trigger == Motion
			decided = ob.Blob
			continue
		}
		err = s.classify(ctx, cur, f.Mat, region)
		f.Close()
		if err != nil {
			s.log.Error("classify", "err", err)
			s.drop("error")
			cur = nil
			s.busy.Store(false)
			continue
		}
		if cur.frames < s.o.Frames {
			continue
		}
		s.decide(ctx, cur)
		cur = nil
		s.busy.Store(false)
		waitEmpty = s.o.Trigger == Motion
		decided = ob.Blob
		if !s.o.Conveyor && s.o.Cooldown > 0 {
			// Frame time, so that a recording played faster than real
			// time cools down as the station would.
			cooldownUntil = f.At.Add(s.o.Cooldown)
		}
	}
}

// region is the part of frame the model sees: the located item's box, the
// ROI, or the whole frame; false when locating found no item in it.
func (s *Station) region(ob locate.Observation, frame gocv.Mat) (image.Rectangle, bool) {
	switch s.o.Locate {
	case locate.Background:
		return ob.Box, ob.Outcome == locate.Found
	default:
		return locate.Region(s.o.Locate, s.o.ROI, frame.Cols(), frame.Rows()), true
	}
}

// giveUp ends an item whose frames stopped showing one. A sensor said an
// item came and none was seen (gpio): it goes to the reject bin, with the
// reason. On the tray's word alone (motion, continuous), what came and
// went by itself was no item (a hand, a shadow): nothing fires. Items do
// not leave a chute's tray before their flap opens.
func (s *Station) giveUp(ctx context.Context, it *item, ob locate.Observation) {
	reason := "no_item"
	if ob.Outcome == locate.Small {
		reason = "too_small"
	}
	s.count("no_item")
	if s.o.Trigger != GPIO {
		s.log.Info("no item located; nothing sorted", "reason", reason, "frames", it.frames, "changed", ob.Changed)
		return
	}
	s.log.Warn("the sensor saw an item the camera cannot find; rejecting it", "reason", reason, "changed", ob.Changed)
	ev := Event{ID: newID(), Station: s.o.Station, Bin: s.reject, Action: "reject", Reason: reason,
		Model: prefix(s.o.ModelSHA, 12)}
	s.fire(ctx, it, &record{ev: ev}, 0)
}

// within is the share of a that lies inside b: a decided item half taken
// away lies within its old place, a new item laid elsewhere does not.
func within(a, b image.Rectangle) float64 {
	in := a.Intersect(b)
	if in.Empty() || a.Empty() {
		return 0
	}
	return float64(in.Dx()*in.Dy()) / float64(a.Dx()*a.Dy())
}

func (s *Station) classify(ctx context.Context, it *item, frame gocv.Mat, box image.Rectangle) error {
	m := frame.Region(box)
	defer m.Close()
	t0 := time.Now()
	s.mu.Lock()
	s.inferStart = t0
	s.mu.Unlock()
	var r infer.Result
	var err error
	if s.o.ViewsPerFrame > 0 {
		r, err = s.o.Classify.(ViewClassifier).ClassifyViews(context.WithoutCancel(ctx), m, 3, s.frameViews(it.frames))
	} else {
		r, err = s.o.Classify.Classify(context.WithoutCancel(ctx), m, 3)
	}
	d := time.Since(t0)
	s.mu.Lock()
	s.inferStart = time.Time{}
	s.hist.observe(d)
	if len(s.latencies) < 1000 {
		s.latencies = append(s.latencies, d)
	} else {
		s.latencies[s.latIdx] = d
		s.latIdx = (s.latIdx + 1) % 1000
	}
	s.mu.Unlock()
	if err != nil {
		return err
	}
	if it.scores == nil {
		it.scores = make([]float32, len(r.Scores))
	}
	for i, v := range r.Scores {
		it.scores[i] += v
	}
	it.votes[r.Index]++
	it.frames++
	frame.CopyTo(&s.itemFrame)
	m.CopyTo(&s.itemCrop)
	s.itemBox = box
	return nil
}

// frameViews are the views frame j of an item is classified with: the
// next ViewsPerFrame of Views, wrapping around.
func (s *Station) frameViews(j int) []infer.View {
	n := len(s.o.Views)
	per := min(s.o.ViewsPerFrame, n)
	s.views = s.views[:0]
	for i := range per {
		s.views = append(s.views, s.o.Views[(j*per+i)%n])
	}
	return s.views
}

func (s *Station) drop(reason string) {
	s.mu.Lock()
	s.dropped[reason]++
	s.mu.Unlock()
}

// count adds one to a locate counter (no_item, relearned).
func (s *Station) count(what string) {
	s.mu.Lock()
	s.located[what]++
	s.mu.Unlock()
}

// decide votes over the item's frames, picks the bin and fires its flap
// (at once on a chute, after the bin's delay on a conveyor).
func (s *Station) decide(ctx context.Context, it *item) {
	labels := s.o.Classify.Labels()
	mean := make([]float32, len(it.scores))
	for i, v := range it.scores {
		mean[i] = v / float32(it.frames)
	}
	best := 0
	if s.o.Vote == "majority" {
		for idx, n := range it.votes {
			if n > it.votes[best] || (n == it.votes[best] && mean[idx] > mean[best]) {
				best = idx
			}
		}
	} else {
		for i := range mean {
			if mean[i] > mean[best] {
				best = i
			}
		}
	}
	label := labels[best]
	// A label the reject bin collects on purpose (trash) is a "sort";
	// a label without a bin, or a score under the threshold, a "reject".
	bin, ok := s.binOf[label]
	action := "sort"
	if !ok || float64(mean[best]) < s.o.Threshold {
		bin, action = s.reject, "reject"
	}
	ev := Event{
		ID: newID(), Station: s.o.Station, Label: label, Score: mean[best],
		Top: infer.TopK(mean, labels, 3), Bin: bin, Action: action, Frames: it.frames,
		Model: prefix(s.o.ModelSHA, 12),
	}
	if s.o.Locate != locate.Whole {
		ev.Box = boxOf(s.itemBox)
	}
	rec := &record{ev: ev}
	delay := time.Duration(0)
	if s.o.Conveyor {
		for _, b := range s.o.Bins {
			if b.Name == bin {
				delay = b.Delay - time.Since(it.start)
			}
		}
	}
	s.fire(ctx, it, rec, delay)
	s.attachFrame(rec, s.itemFrame, s.itemCrop, s.itemBox)
}

// fire remembers rec and opens its bin's flap after delay (at once when
// delay ≤ 0), then counts and publishes the event.
func (s *Station) fire(ctx context.Context, it *item, rec *record, delay time.Duration) {
	s.remember(rec)
	ev := rec.ev
	open := func() {
		opened := time.Now()
		ev.TS = opened.UTC().Format(time.RFC3339Nano)
		ev.LatencyMS = float64(opened.Sub(it.start).Microseconds()) / 1000
		s.openFlap(ctx, ev.Bin)
		s.mu.Lock()
		s.perBin[ev.Bin]++
		s.perAction[ev.Action]++
		s.sorted[BinAction{ev.Bin, ev.Action}]++
		rec.ev, rec.fired = ev, true
		s.mu.Unlock()
		s.log.Info("item", "id", ev.ID, "label", ev.Label, "score", ev.Score, "bin", ev.Bin, "action", ev.Action,
			"box", ev.Box.String(), "reason", ev.Reason, "latency_ms", ev.LatencyMS)
		if s.o.OnEvent != nil {
			s.o.OnEvent(ev)
		}
	}
	if delay <= 0 {
		open()
		return
	}
	// Conveyor: the item travels on; this one fires on its own schedule
	// (a shutdown waits for it rather than dropping it).
	s.flapsWG.Add(1)
	time.AfterFunc(delay, func() {
		defer s.flapsWG.Done()
		open()
	})
}

// openFlap opens bin's flap with every other flap closed first: a hold
// flap stays open until the next item, and at most one flap is open at any
// time, on a chute and on a conveyor (whose timers may fire together: the
// second waits for the first's pulse).
func (s *Station) openFlap(ctx context.Context, bin string) {
	s.flapMu.Lock()
	defer s.flapMu.Unlock()
	for name, f := range s.o.Flaps {
		if name == bin {
			continue
		}
		if err := f.Close(); err != nil {
			s.log.Error("flap", "bin", name, "err", err)
		}
	}
	if err := s.o.Flaps[bin].Open(context.WithoutCancel(ctx)); err != nil {
		s.log.Error("flap", "bin", bin, "err", err)
	}
}

func newID() string {
	var b [8]byte
	rand.Read(b[:])
	return time.Now().UTC().Format("20060102T150405") + "-" + hex.EncodeToString(b[:4])
}

func prefix(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
