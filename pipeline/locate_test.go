package pipeline

import (
	"context"
	"image"
	"image/color"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/sorterd/sorterd/actuator"
	"github.com/sorterd/sorterd/camera"
	"github.com/sorterd/sorterd/infer"
	"github.com/sorterd/sorterd/internal/testenv"
	"github.com/sorterd/sorterd/locate"
	"github.com/sorterd/sorterd/recording"
	"github.com/sorterd/sorterd/settings"
	"gocv.io/x/gocv"
)

// trayStation is a station on a video with the real model, dry-run flaps,
// the default locate settings and the given trigger.
func trayStation(t *testing.T, video string, trigger settings.TriggerMode, presence chan time.Time, rv Review) (*Station, func() []Event) {
	return balancedStation(t, video, trigger, presence, rv, settings.BalanceNone, "")
}

// balancedStation is trayStation whose crops are corrected as balance
// says, saving the tray's reference at refPath ("": not saved).
func balancedStation(t *testing.T, video string, trigger settings.TriggerMode, presence chan time.Time, rv Review, balance settings.Balance, refPath string) (*Station, func() []Event) {
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
	bins := []Bin{{Name: "glass", Labels: []string{"glass"}}, {Name: "metal", Labels: []string{"metal"}},
		{Name: "paper", Labels: []string{"paper", "cardboard"}}, {Name: "plastic", Labels: []string{"plastic"}},
		{Name: "reject", Labels: []string{"trash"}, Reject: true}}
	flaps := map[string]actuator.Flap{}
	for _, b := range bins {
		flaps[b.Name] = actuator.NewDryRun(actuator.Options{Name: b.Name})
	}
	tray := locate.New(locate.Options{Margin: settings.DefaultMargin, Balance: balance})
	t.Cleanup(tray.Close)
	var mu sync.Mutex
	var events []Event
	s, err := New(Options{Station: "t", ModelSHA: c.SHA256(), Source: src, Classify: c, Flaps: flaps, Bins: bins,
		Trigger: trigger, Every: 5, Presence: presence, Tray: tray, Frames: 3, Review: rv, ReferencePath: refPath,
		OnEvent: func(e Event) { mu.Lock(); events = append(events, e); mu.Unlock() }})
	if err != nil {
		t.Fatal(err)
	}
	return s, func() []Event { mu.Lock(); defer mu.Unlock(); return append([]Event(nil), events...) }
}

// Photos lying on a light tray: one event per item, with the item's box,
// and the label of the item (these photos are ones the shipped model
// knows; laid the older, tinted way, which the shipped model was trained
// on: this test is the path's plumbing, the station benchmark measures the
// imaging).
func TestItemsOnTrayLabelled(t *testing.T) {
	photos := []recording.Photo{
		{Path: testenv.Photo(t, "glass", 12), Class: "glass"},
		{Path: testenv.Photo(t, "metal", 5), Class: "metal"},
		{Path: testenv.Photo(t, "plastic", 5), Class: "plastic"},
	}
	video := filepath.Join(t.TempDir(), "tray.avi")
	items, err := recording.Write(video, recording.Options{Photos: photos, Camera: recording.Tinted, ItemWidth: [2]float64{0.4, 0.6}, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	rv := newItemFrames(t)
	s, events := trayStation(t, video, settings.Motion, nil, rv)
	s.Run(context.Background())
	evs := events()
	if len(evs) != len(items) {
		t.Fatalf("%d events for %d items: %+v", len(evs), len(items), evs)
	}
	for i, e := range evs {
		it := items[i]
		if e.Label != it.Class {
			t.Errorf("item %d (%s): labelled %s %.2f", i, it.Path, e.Label, e.Score)
		}
		if e.Box == nil {
			t.Fatalf("item %d: no box in the event", i)
		}
		// The photo's own backdrop takes the tray's colour, so the box
		// is the object's, inside the photo's place, with the margin.
		c := e.Box.Rect()
		if in := c.Intersect(it.Box); in.Dx()*in.Dy() < it.Box.Dx()*it.Box.Dy()/4 {
			t.Errorf("item %d: box %v hardly covers the item at %v", i, c, it.Box)
		}
	}
	// The review is given what the model saw, and the frame it is from
	// (review's tests: what a correction saves of them).
	frame, crop := rv.get(t, evs[0].ID)
	if b := evs[0].Box; crop.Cols() != b.W || crop.Rows() != b.H {
		t.Errorf("the review's crop is %dx%d, the crop was %dx%d", crop.Cols(), crop.Rows(), b.W, b.H)
	}
	if frame.Cols() != 640 || frame.Rows() != 480 {
		t.Errorf("the review's frame is %dx%d, want 640x480", frame.Cols(), frame.Rows())
	}
	if n := rv.fired(); n != len(evs) {
		t.Errorf("the review was told of %d fired items, want %d", n, len(evs))
	}
}

// On a dark tray, in the light of setup, the model sees the item in its
// own colours on the dark tray (the tray is not taken for grey): the
// crop the decision used (what the review keeps) shows the tray as dark
// as the frame does. The reference the tray took is saved for the next
// start.
func TestDarkTrayCropKeepsColours(t *testing.T) {
	photos := []recording.Photo{{Path: testenv.Photo(t, "glass", 12), Class: "glass"}}
	video := filepath.Join(t.TempDir(), "dark.avi")
	if _, err := recording.Write(video, recording.Options{Photos: photos, Tray: recording.Dark, Gap: 40, Seed: 3}); err != nil {
		t.Fatal(err)
	}
	rv := newItemFrames(t)
	ref := filepath.Join(t.TempDir(), locate.ReferenceFile)
	s, events := balancedStation(t, video, settings.Motion, nil, rv, settings.BalanceReference, ref)
	s.Run(context.Background())
	evs := events()
	if len(evs) != 1 {
		t.Fatalf("events %+v, want one", evs)
	}
	frame, crop := rv.get(t, evs[0].ID)
	corner := func(m gocv.Mat) gocv.Scalar {
		r := m.Region(image.Rect(2, 2, 12, 12))
		defer r.Close()
		return r.Mean()
	}
	// The recording's dark tray is (52, 56, 60) in B, G, R under a lamp
	// of its own colour; in the crop it stays dark.
	if c := corner(frame); c.Val1 > 80 || c.Val3 > 85 {
		t.Errorf("frame's corner %v: want the dark tray", c)
	}
	if c := corner(crop); c.Val1 > 90 || c.Val2 > 90 || c.Val3 > 90 {
		t.Errorf("crop's corner %v: want the tray as dark as the frame shows it, not made grey", c)
	}
	r, err := locate.LoadReference(ref)
	if err != nil {
		t.Fatalf("reference not saved: %v", err)
	}
	if r.Tray[0] > 90 || r.Tray[2] > 90 {
		t.Errorf("reference %v: want the dark tray", r.Tray)
	}
}

// A sensor says an item came, the tray shows none: the item goes to the
// reject bin with the reason, and nothing is classified.
func TestGPIONoItemRejected(t *testing.T) {
	video := itemsVideo(t, nil, 0, 30)
	presence := make(chan time.Time, 1)
	s, events := trayStation(t, video, settings.GPIO, presence, nil)
	// The tray is learned from the first frame; the sensor fires after.
	go func() {
		for s.Stats().Frames < 3 {
			time.Sleep(time.Millisecond)
		}
		presence <- time.Now()
	}()
	src := s.o.Source
	s.o.Source = &slowSource{Source: src, d: 5 * time.Millisecond}
	s.Run(context.Background())
	evs := events()
	if len(evs) != 1 || evs[0].Action != Reject || evs[0].Bin != "reject" || evs[0].Reason != "no_item" || evs[0].Label != "" {
		t.Fatalf("events %+v, want one reject with reason no_item", evs)
	}
	st := s.Stats()
	if st.Locate["no_item"] != 1 || st.InferP50MS != 0 {
		t.Errorf("stats: locate %v, inference p50 %v (want no_item 1, nothing classified)", st.Locate, st.InferP50MS)
	}
}

// slowSource paces a video so that a test's goroutine can act between
// frames.
type slowSource struct {
	camera.Source
	d time.Duration
}

func (s *slowSource) Read(ctx context.Context) (camera.Frame, error) {
	time.Sleep(s.d)
	return s.Source.Read(ctx)
}

// The continuous trigger never classifies the bare tray, and says so.
func TestContinuousSkipsEmptyTray(t *testing.T) {
	video := itemsVideo(t, []color.RGBA{{40, 90, 200, 0}}, 10, 20)
	s, events := trayStation(t, video, settings.Continuous, nil, nil)
	s.Run(context.Background())
	if n := len(events()); n < 1 {
		t.Fatalf("%d events, want the item sorted", n)
	}
	for _, e := range events() {
		if e.Box == nil {
			t.Errorf("event without a box: %+v", e)
		}
	}
	if st := s.Stats(); st.Dropped["empty"] == 0 {
		t.Errorf("dropped %v: want empty-tray frames counted", st.Dropped)
	}
}

// Two items back to back, the second laid down as the first is taken,
// elsewhere on the tray: two decisions.
func TestBackToBack(t *testing.T) {
	path := filepath.Join(t.TempDir(), "b2b.avi")
	w, err := gocv.VideoWriterFile(path, "MJPG", 15, 320, 240, true)
	if err != nil {
		t.Fatal(err)
	}
	frame := func(r image.Rectangle, c color.RGBA) {
		m := gocv.NewMatWithSizeFromScalar(gocv.NewScalar(60, 60, 60, 0), 240, 320, gocv.MatTypeCV8UC3)
		if !r.Empty() {
			gocv.Rectangle(&m, r, c, -1)
		}
		w.Write(m)
		m.Close()
	}
	for range 5 {
		frame(image.Rectangle{}, color.RGBA{})
	}
	for range 8 {
		frame(image.Rect(20, 40, 130, 200), color.RGBA{230, 230, 230, 0})
	}
	for range 8 {
		frame(image.Rect(180, 40, 300, 200), color.RGBA{40, 90, 200, 0})
	}
	for range 5 {
		frame(image.Rectangle{}, color.RGBA{})
	}
	w.Close()
	s, events := trayStation(t, path, settings.Motion, nil, nil)
	s.Run(context.Background())
	if n := len(events()); n != 2 {
		t.Fatalf("%d events for two items back to back", n)
	}
}

// A light that changes far beyond what the crop's colours can be
// corrected for (a second lamp doubling it) is said in the stats, for
// /healthz; the station still sorts.
func TestLightDriftedSaid(t *testing.T) {
	testenv.Slow(t, "plays a long recording with the real model")
	photos := []recording.Photo{{Path: testenv.Photo(t, "metal", 10), Class: "metal"}, {Path: testenv.Photo(t, "paper", 10), Class: "paper"}}
	video := filepath.Join(t.TempDir(), "step.avi")
	if _, err := recording.Write(video, recording.Options{Photos: photos, Tray: recording.Dark, Gap: 35, Light: -1, Step: 1, Seed: 2}); err != nil {
		t.Fatal(err)
	}
	s, events := balancedStation(t, video, settings.Motion, nil, nil, settings.BalanceReference, "")
	s.Run(context.Background())
	if !s.Stats().LightDrifted {
		t.Error("light doubled: not said")
	}
	if n := len(events()); n != 2 {
		t.Errorf("%d events, want 2: the station still sorts", n)
	}
}

// itemFrames is a Review that keeps a copy of each decided item's frame
// and crop, and counts the rest.
type itemFrames struct {
	mu     sync.Mutex
	frames map[string][2]gocv.Mat
	seen   int // live frames
	fires  int
}

func newItemFrames(t *testing.T) *itemFrames {
	r := &itemFrames{frames: map[string][2]gocv.Mat{}}
	t.Cleanup(func() {
		for _, m := range r.frames {
			m[0].Close()
			m[1].Close()
		}
	})
	return r
}

func (r *itemFrames) Frame(gocv.Mat, time.Time, image.Rectangle) {
	r.mu.Lock()
	r.seen++
	r.mu.Unlock()
}
func (r *itemFrames) Fired(Event) { r.mu.Lock(); r.fires++; r.mu.Unlock() }

func (r *itemFrames) Decided(ev Event, frame, crop gocv.Mat, box image.Rectangle) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.frames[ev.ID] = [2]gocv.Mat{frame.Clone(), crop.Clone()}
}

func (r *itemFrames) get(t *testing.T, id string) (frame, crop gocv.Mat) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	m, ok := r.frames[id]
	if !ok {
		t.Fatalf("no frame for item %s", id)
	}
	return m[0], m[1]
}

func (r *itemFrames) fired() int { r.mu.Lock(); defer r.mu.Unlock(); return r.fires }
