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
	"sync"
	"sync/atomic"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/sorterd/sorterd/actuator"
	"github.com/sorterd/sorterd/camera"
	"github.com/sorterd/sorterd/infer"
	"github.com/sorterd/sorterd/locate"
	"github.com/sorterd/sorterd/settings"
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

// Options wire a station.
type Options struct {
	Station  string
	ModelSHA string
	Source   camera.Source
	Classify Classifier
	Flaps    map[string]actuator.Flap
	Bins     []Bin

	Trigger settings.TriggerMode
	Every   int // continuous: every Nth frame starts an item
	Frames  int // frames classified per item
	// Tray learns the empty tray from every frame, in every
	// trigger mode: the motion trigger asks it whether an item is there,
	// and Locate == settings.Background asks it where.
	Tray *locate.Tray
	// ReferencePath is where a reference the tray took itself (the
	// empty tray at setup, locate.Reference) is saved, so the next start
	// corrects to the same one; empty: not saved.
	ReferencePath string
	// Locate is what the model sees: the item's box (settings.Background),
	// the fixed ROI (settings.ROI), or the whole frame (settings.Whole).
	Locate settings.Method
	ROI    image.Rectangle
	// Presence delivers one value per item from a sensor (Trigger gpio).
	Presence <-chan time.Time

	// Views, with ViewsPerFrame > 0, are shared out over an item's
	// frames: frame j is classified with the image and ViewsPerFrame
	// views taken in turn from Views, so three frames with two views
	// each see six. 0: each frame uses the classifier's own TTA.
	Views         []infer.View
	ViewsPerFrame int

	Vote      settings.Vote
	Threshold float64 // below it: the reject bin
	Geometry  settings.Geometry
	Cooldown  time.Duration // chute: no item starts this long after a flap
	// ItemGap: an item whose next frame comes later than this after its
	// last (the camera was lost or stalled) is abandoned. 0:
	// DefaultItemGap. The
	// station's own time on the last frame does not count: on a slow
	// board (or under qemu) classifying a frame may take longer.
	ItemGap time.Duration

	OnEvent func(Event)
	Log     *slog.Logger
	// Clock tells the time an item in flight was last heard of, and times
	// a stop's grace: whether its frames stopped (ItemGap, Busy, a stop).
	// nil: the real clock; tests give a fake one to stall without waiting.
	Clock clockwork.Clock

	// Counters outlive the station when given: a reload passes the
	// running station's, so nothing restarts from zero. nil: new ones.
	Counters *Counters
	// Review is told what the operator reviews (package review): every
	// frame, each decided item's frame and crop, and each item's event;
	// nil: nothing.
	Review Review
}

// Review receives what the operator reviews of the station's work, on
// the station's goroutine: it must copy what it keeps of a Mat, and
// return soon.
type Review interface {
	// Frame is every frame read, with the item's box in it (empty: none
	// located), for the live view.
	Frame(m gocv.Mat, at time.Time, box image.Rectangle)
	// Decided is a decided item's event as decided, the frame it was last
	// classified on and the crop of it the model saw (at box); it comes
	// after the item's flap on a chute, before it on a conveyor.
	Decided(ev Event, frame, crop gocv.Mat, box image.Rectangle)
	// Fired is an item's event once its flap opened (also for an item
	// rejected without a frame: a sensor's item the camera could not
	// find).
	Fired(ev Event)
}

// Event is one decided item, as published on MQTT.
type Event struct {
	ID      string  `json:"id"`
	TS      string  `json:"ts"`
	Station string  `json:"station"`
	Label   string  `json:"label"`
	Score   float32 `json:"score"`
	// BinScore is the summed score of the labels in the item's bin (paper
	// + cardboard for a paper bin): the confidence the threshold compares.
	BinScore  float32       `json:"bin_score"`
	Top       []infer.Score `json:"top"`
	Bin       string        `json:"bin"`
	Action    Action        `json:"action"`
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
	o        Options
	router   *Router
	counters *Counters
	paused   atomic.Bool
	busy     atomic.Bool // an item is being classified (for the live view)
	// heard is when the item in flight last had a frame handled (wall
	// clock, Unix ns): an item not heard of for ItemGap is stalled, and
	// uploads no longer wait for it (Busy).
	heard    atomic.Int64
	log      *slog.Logger
	drifted  atomic.Bool // the light changed beyond what the crop can correct
	occupied atomic.Bool // something has lain on the tray for far longer than an item does
	// changes holds a signal (one stands for any number) when what Stats
	// says changed other than frame by frame: a pause or resume, a
	// decided item, a correction, a locate count, the light's or the
	// tray's state. Changes hands it to the stats publisher.
	changes chan struct{}

	refSaved bool // Run's goroutine only: the tray's reference is on disk

	// progMu guards what the watchdog reads (Progress, Health).
	progMu     sync.Mutex
	started    time.Time
	lastFrame  time.Time
	inferStart time.Time // non-zero while an inference runs

	flapsWG sync.WaitGroup // scheduled conveyor actuations
	flapMu  sync.Mutex     // one flap moves at a time (openFlap)

	// Run's goroutine only.
	itemFrame gocv.Mat        // the frame the item in flight was last classified on
	itemCrop  gocv.Mat        // the crop of itemFrame the model saw
	itemBox   image.Rectangle // itemCrop's place in itemFrame
	crop      gocv.Mat        // the frame's crop being classified
	views     []infer.View    // frameViews' result, reused frame to frame
}

// New checks the wiring.
func New(o Options) (*Station, error) {
	if o.Log == nil {
		o.Log = slog.Default()
	}
	o.Frames, o.Every = max(o.Frames, 1), max(o.Every, 1)
	if o.ItemGap <= 0 {
		o.ItemGap = DefaultItemGap
	}
	if o.Clock == nil {
		o.Clock = clockwork.NewRealClock()
	}
	if o.Counters == nil {
		o.Counters = NewCounters()
	}
	s := &Station{o: o, log: o.Log, counters: o.Counters, changes: make(chan struct{}, 1)}
	for _, b := range o.Bins {
		if _, ok := o.Flaps[b.Name]; !ok {
			return nil, fmt.Errorf("bin %s has no flap", b.Name)
		}
	}
	var err error
	if s.router, err = NewRouter(o.Bins, o.Threshold); err != nil {
		return nil, err
	}
	unbinned, unknown := s.router.Check(o.Classify.Labels())
	for _, l := range unbinned {
		o.Log.Warn("label has no bin; its items go to the reject bin", "label", l, "bin", s.router.RejectBin().Name)
	}
	if len(unknown) > 0 {
		return nil, fmt.Errorf("bins name label %q, which the model does not have (it has %v)", unknown[0], o.Classify.Labels())
	}
	if err := o.checkInputs(); err != nil {
		return nil, err
	}
	return s, nil
}

// checkInputs checks that what the trigger, views and locate method need
// was given.
func (o *Options) checkInputs() error {
	if o.ViewsPerFrame > 0 {
		if _, ok := o.Classify.(ViewClassifier); !ok {
			return errors.New("views per frame need a classifier that takes views")
		}
		if len(o.Views) == 0 {
			return errors.New("views per frame without views")
		}
	}
	switch o.Trigger {
	case settings.Continuous:
	case settings.Motion:
		if o.Tray == nil {
			return errors.New("motion trigger without a background")
		}
	case settings.GPIO:
		if o.Presence == nil {
			return errors.New("gpio trigger without a sensor")
		}
	default:
		return fmt.Errorf("unknown trigger %v", o.Trigger)
	}
	if o.Locate == settings.Background && o.Tray == nil {
		return errors.New("locate background without a background")
	}
	return nil
}

// Pause stops sorting (frames are still read, so the camera stays
// watched); Resume starts again.
func (s *Station) Pause()  { s.paused.Store(true); s.log.Info("paused"); s.changed() }
func (s *Station) Resume() { s.paused.Store(false); s.log.Info("resumed"); s.changed() }

// Changes receives a value soon after Stats changed other than with each
// frame (pause, resume, an item decided, a correction, a locate count,
// the light or the tray): the stats publisher's cue to publish at once.
// Changes that come while one is pending are one value. One reader only.
func (s *Station) Changes() <-chan struct{} { return s.changes }

// changed signals Changes without ever blocking the caller.
func (s *Station) changed() {
	select {
	case s.changes <- struct{}{}:
	default:
	}
}

// countLocate counts what locating an item found (Stats.Locate).
func (s *Station) countLocate(result string) {
	s.counters.locate(result)
	s.changed()
}

// Paused reports the state.
func (s *Station) Paused() bool { return s.paused.Load() }

// Classifying reports whether an item is being classified (arrived, not
// yet decided), as the live view's caption says it; Busy is what uploads
// wait for.
func (s *Station) Classifying() bool { return s.busy.Load() }

// Corrected counts a correction an operator gave an item (Stats, and a
// signal on Changes).
func (s *Station) Corrected(class string) {
	s.counters.corrected(class)
	s.changed()
}

// TestFlap opens one bin's flap, for wiring checks, as an item's would:
// every other flap is closed first (a held one too), and it waits for a
// flap that is moving, so that test flaps never open a second flap. It
// gives up after TestFlapTimeout, or when ctx ends.
func (s *Station) TestFlap(ctx context.Context, bin string) error {
	if _, ok := s.o.Flaps[bin]; !ok {
		return fmt.Errorf("no bin %q", bin)
	}
	s.log.Info("test flap", "bin", bin)
	ctx, cancel := context.WithTimeout(ctx, TestFlapTimeout)
	defer cancel()
	return s.openFlap(ctx, bin)
}

// TestFlapTimeout bounds a test flap (the web page's button, the MQTT
// test_flap command): a pulse is at most config.MaxPulse, and the flap
// may first wait for an item's.
const TestFlapTimeout = 10 * time.Second

// Progress is when the last frame arrived, and since when an inference
// has been running (zero if none): what the watchdog checks.
func (s *Station) Progress() (lastFrame, inferSince time.Time) {
	s.progMu.Lock()
	defer s.progMu.Unlock()
	return s.lastFrame, s.inferStart
}

// Stats returns the counters (since the daemon started: they survive a
// reload) and the station's state.
func (s *Station) Stats() Stats {
	st := Stats{Station: s.o.Station, Paused: s.paused.Load(), LightDrifted: s.drifted.Load(), Occupied: s.occupied.Load()}
	s.counters.fill(&st)
	if last, _ := s.Progress(); !last.IsZero() {
		st.LastFrame = last.UTC().Format(time.RFC3339Nano)
	}
	return st
}

// item is one item being classified.
type item struct {
	start  time.Time
	last   time.Time // frame time of its last frame
	tally  Tally
	misses int // frames of the item in which no item was located
	moving int // frames skipped because the item had not landed yet
}

// maxMisses is how many frames of an item may show no item before the
// item is given up: a shadow or a hand that came and went, never the tray
// classified as an item.
func (s *Station) maxMisses() int { return 2 * s.o.Frames }

// stopGrace is how long a stop reads on for the item in flight.
const stopGrace = 2 * time.Second

// DefaultItemGap is Options.ItemGap's default: far longer than a
// camera's frame period, short enough that a stalled item is given up
// while it still lies on the tray.
const DefaultItemGap = 2 * time.Second

// run is Run's state between frames (Run's goroutine only).
type run struct {
	cur           *item // the item in flight (nil: none)
	seen          int64 // frames read
	cooldownUntil time.Time
	// Item tracking (motion): waitEmpty while the decided item is still
	// on the tray, which lay in decided.
	waitEmpty bool
	decided   image.Rectangle
	// spent is how long the last frame took to handle: a slow board's
	// inference is no gap in the camera's frames.
	spent time.Duration
}

// Run reads frames until ctx ends or the source fails for good. On return
// the item in flight has been decided, scheduled flaps have fired, and
// every flap is closed.
func (s *Station) Run(ctx context.Context) error {
	s.begin()
	defer s.end()
	r := &run{}
	rctx := ctx
	for {
		if ctx.Err() != nil && r.cur == nil {
			return nil
		}
		// The item in flight is finished even when ctx ends: reading
		// continues on a short grace context.
		if ctx.Err() != nil && rctx == ctx {
			var cancel context.CancelFunc
			rctx, cancel = clockwork.WithTimeout(context.Background(), s.o.Clock, stopGrace)
			defer cancel()
		}
		f, err := s.o.Source.Read(rctx)
		if err != nil {
			if ctx.Err() != nil && rctx == ctx && r.cur != nil {
				// Stopped while waiting for the item's next frame: the
				// next pass reads on, on the grace context.
				continue
			}
			if ctx.Err() != nil || rctx.Err() != nil {
				s.atStop(r)
				return nil
			}
			return fmt.Errorf("camera: %w", err)
		}
		s.onFrame(ctx, r, &f)
		f.Close()
	}
}

// atStop ends the item in flight when a stop's grace ran out before its
// last frame. It is decided on the frames it has only while they were
// still arriving (a slow board classifies fewer frames than the grace
// holds); an item whose frames stopped, before the stop or during it, is
// abandoned with no flap, as the loop abandons one when frames return:
// what the camera would show by now may be anything. Silence for
// ItemGap, or half the grace when ItemGap is longer, is a stall.
func (s *Station) atStop(r *run) {
	if r.cur == nil {
		return
	}
	if s.stalled(s.o.Clock.Now(), min(s.o.ItemGap, stopGrace/2)) {
		s.log.Warn("item abandoned at stop: its frames stopped", "silent", s.o.Clock.Since(time.Unix(0, s.heard.Load())).Round(time.Millisecond),
			"frames", r.cur.tally.Frames)
		s.countLocate("abandoned")
		s.drop(r)
		return
	}
	if r.cur.tally.Frames > 0 {
		s.decide(context.Background(), r.cur)
	}
	s.drop(r)
}

// stalled says whether the item in flight has had no frame handled for
// longer than gap.
func (s *Station) stalled(now time.Time, gap time.Duration) bool {
	return now.Sub(time.Unix(0, s.heard.Load())) > gap
}

// begin readies Run's Mats and marks the start.
func (s *Station) begin() {
	now := time.Now()
	s.progMu.Lock()
	s.started = now
	s.progMu.Unlock()
	s.counters.start(now)
	s.itemFrame = gocv.NewMat()
	s.itemCrop = gocv.NewMat()
	s.crop = gocv.NewMat()
}

// end waits for scheduled flaps, closes every flap and frees Run's Mats.
func (s *Station) end() {
	s.flapsWG.Wait()
	if err := actuator.Bank(s.o.Flaps).CloseAll(); err != nil {
		s.log.Error("closing flaps", "err", err)
	}
	s.itemFrame.Close()
	s.itemCrop.Close()
	s.crop.Close()
}

// onFrame is one frame's way: the tray learns it, the live view keeps it,
// and it starts, feeds or ends the item. The caller closes f.
func (s *Station) onFrame(ctx context.Context, r *run, f *camera.Frame) {
	t0 := s.o.Clock.Now()
	defer func() {
		done := s.o.Clock.Now()
		r.spent = done.Sub(t0)
		if r.cur != nil {
			s.heard.Store(done.UnixNano())
		}
	}()
	r.seen++
	s.counters.frame()
	s.progMu.Lock()
	s.lastFrame = f.At
	s.progMu.Unlock()
	ob := s.observe(f)
	r.track(ob)
	if paused := s.paused.Load(); paused || f.At.Before(r.cooldownUntil) {
		s.counters.drop(map[bool]string{true: "paused", false: "cooldown"}[paused])
		s.drop(r)
		return
	}
	if r.cur != nil && f.At.Sub(r.cur.last)-r.spent > s.o.ItemGap {
		// The camera stopped mid-item (lost, stalled, reconnected):
		// what it shows now may be anything. Abandoned, no flap.
		s.log.Warn("item abandoned: its frames stopped", "gap", f.At.Sub(r.cur.last).Round(time.Millisecond), "frames", r.cur.tally.Frames)
		s.countLocate("abandoned")
		s.drop(r)
	}
	if r.cur == nil {
		if !s.arrived(r, ob) {
			return
		}
		r.cur = &item{start: f.At}
		s.heard.Store(t0.UnixNano())
		s.busy.Store(true)
	}
	s.onItemFrame(ctx, r, f, ob)
}

// onItemFrame is a frame of the item in flight: located, classified
// once the item has landed, and decided on its last frame.
func (s *Station) onItemFrame(ctx context.Context, r *run, f *camera.Frame, ob locate.Observation) {
	r.cur.last = f.At
	region, ok := s.region(ob, f.Mat)
	if !ok {
		s.onMiss(ctx, r, ob)
		return
	}
	if s.o.Locate == settings.Background && !ob.Settled && r.cur.moving < s.maxMisses() {
		// Still landing (the frame it drops in shows it half there) or
		// moving: the next frame shows it better.
		r.cur.moving++
		return
	}
	if err := s.classify(ctx, r.cur, f.Mat, region, ob); err != nil {
		s.log.Error("classify", "err", err)
		s.counters.drop("error")
		s.drop(r)
		return
	}
	if r.cur.tally.Frames < s.o.Frames {
		return
	}
	s.decide(ctx, r.cur)
	s.left(r, ob)
	if s.o.Geometry == settings.Chute && s.o.Cooldown > 0 {
		// Frame time, so that a recording played faster than real
		// time cools down as the station would.
		r.cooldownUntil = f.At.Add(s.o.Cooldown)
	}
}

// observe shows the frame to the tray (which learns the empty tray from
// every frame, in every trigger mode) and keeps it for the live view.
func (s *Station) observe(f *camera.Frame) locate.Observation {
	var ob locate.Observation
	if s.o.Tray != nil {
		ob = s.o.Tray.Observe(f.Mat)
		switch {
		case ob.Stuck:
			s.log.Warn("something lay on the tray for far longer than an item does: learned the tray anew (an item left on it, or the tray was learned with one)")
			s.countLocate("stuck")
		case ob.Relearned:
			s.log.Info("the whole tray changed for long: learned it anew (light or camera moved?)")
			s.countLocate("relearned")
		}
		if s.occupied.Swap(ob.Occupied) != ob.Occupied {
			s.changed()
		}
		if ob.Light != ([3]float32{}) && s.drifted.Swap(ob.Drifted) != ob.Drifted {
			s.changed()
			if ob.Drifted {
				s.log.Warn("the light or the camera changed beyond what can be corrected since setup: check the lamp and the camera, then run sorterd calibrate",
					"light_bgr", ob.Light, "correctable", locate.Correctable)
			} else {
				s.log.Info("the light is back within what can be corrected", "light_bgr", ob.Light)
			}
		}
		s.saveReference()
	}
	if s.o.Review != nil {
		s.o.Review.Frame(f.Mat, f.At, ob.Box)
	}
	return ob
}

// saveReference writes the tray's reference to ReferencePath once it has
// settled, unless it is the one the tray was given.
func (s *Station) saveReference() {
	if s.refSaved || s.o.ReferencePath == "" {
		return
	}
	ref, ok := s.o.Tray.Reference()
	if !ok {
		return
	}
	s.refSaved = true
	if ref == s.o.Tray.Options().Reference {
		return
	}
	if err := locate.SaveReference(s.o.ReferencePath, ref); err != nil {
		s.log.Error("cannot save the tray's reference; it is taken anew at the next start", "err", err)
		return
	}
	s.log.Info("recorded the empty tray as the colour reference", "path", s.o.ReferencePath, "tray_bgr", ref.Tray)
}

// LightDrifted reports whether the light or the camera has changed beyond
// what the crop's colour correction can undo since the reference.
func (s *Station) LightDrifted() bool { return s.drifted.Load() }

// Busy reports whether an item is in flight (arrived, not yet decided):
// uploads wait for it, so that they never slow the station's path. An
// item whose frames stopped (the camera stalled mid-item) is no longer
// busy once it has had no frame for ItemGap, unless an inference for it
// is running: it is abandoned when frames return, and uploads should not
// wait out the whole outage.
func (s *Station) Busy() bool {
	if !s.busy.Load() {
		return false
	}
	if _, inferSince := s.Progress(); !inferSince.IsZero() {
		return true
	}
	return !s.stalled(s.o.Clock.Now(), s.o.ItemGap)
}

// drop forgets the item in flight, undecided.
func (s *Station) drop(r *run) {
	r.cur = nil
	s.busy.Store(false)
}

// arrived says whether an item starts on this frame, by the trigger.
// Item tracking lives here, in track and in left.
func (s *Station) arrived(r *run, ob locate.Observation) bool {
	switch s.o.Trigger {
	case settings.Continuous:
		if r.seen%int64(s.o.Every) != 0 {
			return false
		}
		if s.o.Locate == settings.Background && ob.Outcome != locate.Found {
			// Nothing on the tray: the bare tray is never an item.
			s.counters.drop(ob.Outcome.String())
			return false
		}
		return true
	case settings.Motion:
		return ob.Present && !r.waitEmpty
	case settings.GPIO:
		select {
		case <-s.o.Presence:
			return true
		default:
		}
	}
	return false
}

// track ends the wait for the decided item (motion), on every frame, also
// while cooling down or paused (the next item may land as the cooldown
// ends, where the last one lay): the tray seen empty, or what lies there
// now somewhere else (a second item placed as the first was taken).
func (r *run) track(ob locate.Observation) {
	if r.waitEmpty {
		r.waitEmpty = ob.Present && !(ob.Outcome == locate.Found && within(ob.Blob, r.decided) < 0.3)
	}
}

// left ends the item in flight once it is decided or given up: on the
// motion trigger, the next starts once the tray is empty again (or shows
// a new item elsewhere).
func (s *Station) left(r *run, ob locate.Observation) {
	s.drop(r)
	r.waitEmpty = s.o.Trigger == settings.Motion
	r.decided = ob.Blob
}

// onMiss handles a frame of the item in which no item was located: after
// maxMisses of them the item is decided on what was seen (gpio) or given
// up.
func (s *Station) onMiss(ctx context.Context, r *run, ob locate.Observation) {
	s.counters.drop(ob.Outcome.String())
	if r.cur.misses++; r.cur.misses < s.maxMisses() {
		return
	}
	if r.cur.tally.Frames > 0 && s.o.Trigger == settings.GPIO {
		// The sensor saw an item, which left the camera's view
		// before its last frames: decide on what was seen.
		s.decide(ctx, r.cur)
	} else {
		s.giveUp(ctx, r.cur, ob)
	}
	s.left(r, ob)
}

// region is the part of frame the model sees: the located item's box, the
// ROI, or the whole frame; false when locating found no item in it.
func (s *Station) region(ob locate.Observation, frame gocv.Mat) (image.Rectangle, bool) {
	switch s.o.Locate {
	case settings.Background:
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
	s.countLocate("no_item")
	if s.o.Trigger != settings.GPIO {
		s.log.Info("no item located; nothing sorted", "reason", reason, "frames", it.tally.Frames, "changed", ob.Changed)
		return
	}
	s.log.Warn("the sensor saw an item the camera cannot find; rejecting it", "reason", reason, "changed", ob.Changed)
	ev := Event{ID: newID(), Station: s.o.Station, Bin: s.router.RejectBin().Name, Action: Reject, Reason: reason,
		Model: prefix(s.o.ModelSHA, 12)}
	s.fire(ctx, it, ev, 0)
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

// classify classifies box of frame, located as ob: the tray's crop
// (balanced, when it balances) for a located item; otherwise a view into
// the frame (the ROI or the whole frame: no copy).
func (s *Station) classify(ctx context.Context, it *item, frame gocv.Mat, box image.Rectangle, ob locate.Observation) error {
	var m gocv.Mat
	if s.o.Locate == settings.Background {
		s.o.Tray.Crop(frame, ob, &s.crop)
		m = s.crop
	} else {
		m = frame.Region(box)
		defer m.Close()
	}
	t0 := time.Now()
	s.progMu.Lock()
	s.inferStart = t0
	s.progMu.Unlock()
	var r infer.Result
	var err error
	if s.o.ViewsPerFrame > 0 {
		r, err = s.o.Classify.(ViewClassifier).ClassifyViews(context.WithoutCancel(ctx), m, 3, s.frameViews(it.tally.Frames))
	} else {
		r, err = s.o.Classify.Classify(context.WithoutCancel(ctx), m, 3)
	}
	s.progMu.Lock()
	s.inferStart = time.Time{}
	s.progMu.Unlock()
	s.counters.inference(time.Since(t0))
	if err != nil {
		return err
	}
	it.tally.Add(r.Scores, r.Index)
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

// decide votes over the item's frames, picks the bin and fires its flap
// (at once on a chute, after the bin's delay on a conveyor).
func (s *Station) decide(ctx context.Context, it *item) {
	labels := s.o.Classify.Labels()
	best, mean := Decide(s.o.Vote, it.tally)
	bin, action, binScore := s.router.RouteScores(labels[best], labels, mean)
	ev := Event{
		ID: newID(), Station: s.o.Station, Label: labels[best], Score: mean[best], BinScore: binScore,
		Top: infer.TopK(mean, labels, 3), Bin: bin.Name, Action: action, Frames: it.tally.Frames,
		Model: prefix(s.o.ModelSHA, 12),
	}
	if s.o.Locate != settings.Whole {
		ev.Box = boxOf(s.itemBox)
	}
	delay := time.Duration(0)
	if s.o.Geometry == settings.Conveyor {
		delay = bin.Delay - time.Since(it.start)
	}
	s.fire(ctx, it, ev, delay)
	if s.o.Review != nil {
		s.o.Review.Decided(ev, s.itemFrame, s.itemCrop, s.itemBox)
	}
}

// fire opens ev's bin's flap after delay (at once when delay ≤ 0), then
// counts and publishes the event.
func (s *Station) fire(ctx context.Context, it *item, ev Event, delay time.Duration) {
	open := func() {
		opened := time.Now()
		ev.TS = opened.UTC().Format(time.RFC3339Nano)
		ev.LatencyMS = float64(opened.Sub(it.start).Microseconds()) / 1000
		// An item's flap moves even when the station is stopping.
		if err := s.openFlap(context.WithoutCancel(ctx), ev.Bin); err != nil {
			s.log.Error("flap", "bin", ev.Bin, "err", err)
		}
		s.counters.fired(ev)
		if s.o.Review != nil {
			s.o.Review.Fired(ev)
		}
		s.changed()
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
// flap stays open until the next item (or test flap), and at most one
// flap is open at any time, on a chute and on a conveyor (whose timers
// may fire together: the second waits for the first's pulse), test flaps
// included. A pulse ends early when ctx does.
func (s *Station) openFlap(ctx context.Context, bin string) error {
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
	return s.o.Flaps[bin].Open(ctx)
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
