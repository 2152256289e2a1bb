package main

import (
	"encoding/json"
	"fmt"
	"image"
	"math"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/sorterd/sorterd/internal/testenv"
	"github.com/sorterd/sorterd/internal/testenv/livecam"
	"github.com/sorterd/sorterd/recording"
)

// The fault tests' camera is live (internal/testenv/livecam): a station
// recording served as an MJPEG stream at 15 frames a second of wall
// clock, whether or not the daemon reads it. A daemon whose loop stalls
// (a disk write that holds it, a blocked handler) falls behind the world:
// its items are decided late or, once the stream's buffers are full, not
// at all. These helpers match each event to the item the camera showed,
// so a test can say when the world showed it (trigger → flap as the world
// sees it, not from the frame the daemon happened to read) and which
// items the station missed.

// liveFPS is the live camera's rate, the default camera's.
const liveFPS = 15

// live is a station's live camera and the items of its recording.
type live struct {
	cam   *livecam.Camera
	items []recording.Item
}

// liveTray writes dir/live.avi: four items on the light tray, each 35% of
// the frame's width and lying
// for 8 frames, 14 empty frames between them (7.3 s a loop at 15 fps); no
// light drift, so the loop joins without a jump in brightness. Their
// places differ enough for an event's crop to name its item.
func liveTray(t testing.TB, dir string) (string, []recording.Item) {
	t.Helper()
	video := filepath.Join(dir, "live.avi")
	photos := []recording.Photo{
		{Path: testenv.Photo(t, "glass", 12), Class: "glass"},
		{Path: testenv.Photo(t, "metal", 5), Class: "metal"},
		{Path: testenv.Photo(t, "plastic", 5), Class: "plastic"},
		{Path: testenv.Photo(t, "cardboard", 3), Class: "cardboard"},
	}
	items, err := recording.Write(video, recording.Options{Photos: photos, Camera: recording.Tinted,
		Hold: 8, Gap: 14, Light: -1, FPS: liveFPS, ItemWidth: [2]float64{0.35, 0.35}, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	for i := range items {
		for j := range i {
			if d := dist(centre(items[i].Box), centre(items[j].Box)); d < minItemDistance {
				t.Fatalf("liveTray: items %d and %d lie %.0f px apart (boxes %v, %v): an event could not name its item; change the seed",
					i, j, d, items[i].Box, items[j].Box)
			}
		}
	}
	return video, items
}

// minItemDistance is how far apart (px, centre to centre) the items of
// liveTray lie: an event's crop is centred on its item within a few
// pixels (the shadow, the margin), so the nearest item is its own.
const minItemDistance = 80

func centre(r image.Rectangle) image.Point { return r.Min.Add(r.Max).Div(2) }

func dist(a, b image.Point) float64 { return math.Hypot(float64(a.X-b.X), float64(a.Y-b.Y)) }

// startLive serves a fresh liveTray recording in dir as a live camera.
func startLive(t testing.TB, dir string) *live {
	t.Helper()
	video, items := liveTray(t, dir)
	return &live{cam: livecam.Start(t, video, liveFPS), items: items}
}

// decision is one event matched to the showing of the item it decided.
type decision struct {
	ID    string
	TS    time.Time // the flap opened
	Item  int       // which item of the recording
	Loop  int       // in which loop of the recording
	Onset time.Time // when the camera showed it (its first frame)
	// World is trigger → flap as the world sees it: from the item's
	// first frame on the camera to the flap. LatencyMS is the daemon's
	// own figure, from the item's first frame it read.
	World     time.Duration
	LatencyMS float64
}

// showing names one item lying on the tray once: item Item of the
// recording, in loop Loop.
type showing struct{ Item, Loop int }

func (d decision) showing() showing { return showing{d.Item, d.Loop} }

// event is the part of an event these helpers read.
type event struct {
	ID        string  `json:"id"`
	TS        string  `json:"ts"`
	LatencyMS float64 `json:"latency_ms"`
	Box       *struct {
		X, Y, W, H int
	} `json:"box"`
}

// decisions matches events (JSON payloads) to the items the camera
// showed: the item is the one whose place is nearest the event's crop,
// and its showing the last one before the flap. Duplicates (the same id
// twice, as QoS 1 may deliver it) are matched once.
func (l *live) decisions(t testing.TB, events []string) []decision {
	t.Helper()
	var ds []decision
	seen := map[string]bool{}
	for _, e := range events {
		var ev event
		if err := json.Unmarshal([]byte(e), &ev); err != nil || ev.Box == nil || ev.ID == "" {
			t.Fatalf("event without id or box: %s (%v)", e, err)
		}
		if seen[ev.ID] {
			continue
		}
		seen[ev.ID] = true
		ts, err := time.Parse(time.RFC3339Nano, ev.TS)
		if err != nil {
			t.Fatalf("event %s: ts %q: %v", ev.ID, ev.TS, err)
		}
		c := image.Pt(ev.Box.X+ev.Box.W/2, ev.Box.Y+ev.Box.H/2)
		best, bd := -1, math.Inf(1)
		for i, it := range l.items {
			if d := dist(c, centre(it.Box)); d < bd {
				best, bd = i, d
			}
		}
		d := decision{ID: ev.ID, TS: ts, Item: best, LatencyMS: ev.LatencyMS}
		d.Loop = l.cam.Loop(ts)
		if l.cam.Onset(d.Loop, l.items[best].First).After(ts) {
			d.Loop--
		}
		if d.Loop < 0 {
			t.Fatalf("event %s at %v: decided before the camera showed item %d", ev.ID, ts, best)
		}
		d.Onset = l.cam.Onset(d.Loop, l.items[best].First)
		d.World = ts.Sub(d.Onset)
		ds = append(ds, d)
	}
	return ds
}

// shown are the showings that lie wholly inside w (first frame to last,
// plus after, the time the station may take to decide), and away from
// the camera's own stalls (with the camera's stall_timeout either side:
// the daemon reconnects then).
func (l *live) shown(w livecam.Window, after time.Duration) []showing {
	var out []showing
	for loop := l.cam.Loop(w.From); ; loop++ {
		if l.cam.Onset(loop, 0).After(w.To) {
			return out
		}
		for i, it := range l.items {
			from, to := l.cam.Onset(loop, it.First), l.cam.Onset(loop, it.Last+1).Add(after)
			if from.Before(w.From) || to.After(w.To) {
				continue
			}
			clear := true
			for _, s := range l.cam.Stalls() {
				if from.Before(s.To.Add(stallTimeout)) && to.After(s.From.Add(-stallTimeout)) {
					clear = false
				}
			}
			if clear {
				out = append(out, showing{i, loop})
			}
		}
	}
}

// stallTimeout is camera.stall_timeout in stationConfig (daemonConfig's
// default).
const stallTimeout = 2 * time.Second

// decideWithin is how long after an item's last frame the station may
// take to decide it: three frames and six inferences take well under a
// second here; the rest is for two cores shared with other jobs.
const decideWithin = 3 * time.Second

// checkNoneMissed asserts that every item the camera showed within w was
// decided once, no item twice, and no event names an item the camera did
// not show then: decided = shown.
func (l *live) checkNoneMissed(t testing.TB, what string, events []string, w livecam.Window) {
	t.Helper()
	ds := l.decisions(t, events)
	got := map[showing][]decision{}
	for _, d := range ds {
		got[d.showing()] = append(got[d.showing()], d)
	}
	shown := l.shown(w, decideWithin)
	var missed []string
	for _, s := range shown {
		if len(got[s]) == 0 {
			missed = append(missed, fmt.Sprintf("item %d (%s) shown at %s", s.Item, l.items[s.Item].Class,
				l.cam.Onset(s.Loop, l.items[s.Item].First).Format("15:04:05.000")))
		}
	}
	var twice []string
	for s, list := range got {
		if len(list) > 1 {
			twice = append(twice, fmt.Sprintf("item %d shown at %s decided %d times", s.Item,
				l.cam.Onset(s.Loop, l.items[s.Item].First).Format("15:04:05.000"), len(list)))
		}
	}
	sort.Strings(twice)
	t.Logf("%s: %d items shown in %s – %s, %d missed, %d decided twice", what, len(shown),
		w.From.Format("15:04:05.000"), w.To.Format("15:04:05.000"), len(missed), len(twice))
	if len(shown) == 0 {
		t.Errorf("%s: no item shown in the window %v – %v", what, w.From, w.To)
	}
	if len(missed) > 0 || len(twice) > 0 {
		t.Errorf("%s: decided ≠ shown: missed %d of %d items the camera showed:\n  %s\ntwice:\n  %s\ndecisions:\n%s",
			what, len(missed), len(shown), strings.Join(missed, "\n  "), strings.Join(twice, "\n  "), describe(l, ds))
	}
}

// describe lists decisions, for a failure's message.
func describe(l *live, ds []decision) string {
	var b strings.Builder
	for _, d := range ds {
		fmt.Fprintf(&b, "  %s item %d (%s) shown %s, flap %s: world %v, daemon %.0f ms\n", d.ID, d.Item, l.items[d.Item].Class,
			d.Onset.Format("15:04:05.000"), d.TS.Format("15:04:05.000"), d.World.Round(time.Millisecond), d.LatencyMS)
	}
	return b.String()
}

// worldMS are the decisions' trigger → flap latencies as the world sees
// them, in ms.
func worldMS(ds []decision) []float64 {
	var ms []float64
	for _, d := range ds {
		ms = append(ms, float64(d.World.Microseconds())/1000)
	}
	return ms
}

// waitShown waits until the camera has shown n items since from, each
// with decideWithin to be decided.
func (l *live) waitShown(t testing.TB, from time.Time, n int) {
	t.Helper()
	testenv.Eventually(t, fmt.Sprintf("%d items shown", n), time.Duration(n+1)*l.cam.Period()+decideWithin, func() bool {
		return len(l.shown(livecam.Window{From: from, To: time.Now()}, decideWithin)) >= n
	})
}
