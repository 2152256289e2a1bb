package pipeline

import (
	"sort"
	"sync"
	"time"
)

// Counters are what a station counts: frames, items by bin and action,
// dropped frames, corrections, locate outcomes and inference times. They
// have their own lock and outlive a station: a configuration reload hands
// the same Counters to the new station, so /metrics and the stats topic
// never restart from zero while the daemon runs.
type Counters struct {
	mu          sync.Mutex
	since       time.Time // the first Run's start: uptime and FPS
	frames      int64
	perBin      map[string]int
	perAction   map[string]int
	sorted      map[BinAction]int
	dropped     map[string]int64
	corrections map[string]int
	located     map[string]int64
	hist        Histogram
	latencies   []time.Duration // recent inference times (ring)
	latIdx      int
}

// latencyRing is how many recent inference times the percentiles use.
const latencyRing = 1000

// NewCounters makes empty counters.
func NewCounters() *Counters {
	return &Counters{perBin: map[string]int{}, perAction: map[string]int{}, sorted: map[BinAction]int{},
		dropped: map[string]int64{}, corrections: map[string]int{}, located: map[string]int64{}, hist: newHistogram()}
}

// start marks the first station's start (later ones keep it).
func (c *Counters) start(now time.Time) {
	c.mu.Lock()
	if c.since.IsZero() {
		c.since = now
	}
	c.mu.Unlock()
}

func (c *Counters) frame() {
	c.mu.Lock()
	c.frames++
	c.mu.Unlock()
}

// drop counts a frame read but not looked at, by reason.
func (c *Counters) drop(reason string) {
	c.mu.Lock()
	c.dropped[reason]++
	c.mu.Unlock()
}

// locate counts a locate outcome (no_item, relearned, stuck, abandoned).
func (c *Counters) locate(what string) {
	c.mu.Lock()
	c.located[what]++
	c.mu.Unlock()
}

func (c *Counters) inference(d time.Duration) {
	c.mu.Lock()
	c.hist.observe(d)
	if len(c.latencies) < latencyRing {
		c.latencies = append(c.latencies, d)
	} else {
		c.latencies[c.latIdx] = d
		c.latIdx = (c.latIdx + 1) % latencyRing
	}
	c.mu.Unlock()
}

// fired counts an item whose flap opened.
func (c *Counters) fired(ev Event) {
	c.mu.Lock()
	c.perBin[ev.Bin]++
	c.perAction[ev.Action.String()]++
	c.sorted[BinAction{ev.Bin, ev.Action}]++
	c.mu.Unlock()
}

func (c *Counters) corrected(class string) {
	c.mu.Lock()
	c.corrections[class]++
	c.mu.Unlock()
}

// fill copies the counts into st.
func (c *Counters) fill(st *Stats) {
	c.mu.Lock()
	defer c.mu.Unlock()
	st.Frames = c.frames
	st.ItemsPerBin = copyMap(c.perBin)
	st.Actions = copyMap(c.perAction)
	st.Dropped = copyMap(c.dropped)
	st.Corrections = copyMap(c.corrections)
	st.Locate = copyMap(c.located)
	st.Sorted = copyMap(c.sorted)
	st.Inference = Histogram{Bounds: c.hist.Bounds, Counts: append([]uint64(nil), c.hist.Counts...), Count: c.hist.Count, Sum: c.hist.Sum}
	if !c.since.IsZero() {
		st.UptimeS = time.Since(c.since).Seconds()
		if st.UptimeS > 0 {
			st.FPS = float64(c.frames) / st.UptimeS
		}
	}
	if n := len(c.latencies); n > 0 {
		l := append([]time.Duration(nil), c.latencies...)
		sort.Slice(l, func(i, j int) bool { return l[i] < l[j] })
		st.InferP50MS = float64(l[n/2].Microseconds()) / 1000
		st.InferP99MS = float64(l[min(n-1, n*99/100)].Microseconds()) / 1000
	}
}

func copyMap[K comparable, V any](m map[K]V) map[K]V {
	out := make(map[K]V, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// Stats is a snapshot for MQTT, the web page and metrics.
type Stats struct {
	Station string `json:"station"`
	Paused  bool   `json:"paused"`
	// Frames, FPS, UptimeS and every count below run from the first
	// station's start: a reload keeps them.
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
	// stuck (something lay on the tray for a minute: learned anew),
	// abandoned (an item whose frames stopped: camera lost or stalled).
	Locate map[string]int64 `json:"locate"`
	// LightDrifted: the light or the camera changed beyond what the
	// crop's colour correction can undo since the reference tray was
	// recorded (locate.Correctable): check the lamp, then calibrate.
	LightDrifted bool `json:"light_drifted,omitempty"`
	// Occupied: something has lain on the tray for far longer than an
	// item does (locate.Options.StuckFrames / 3); at StuckFrames the tray
	// is learned anew (Locate["stuck"]).
	Occupied bool `json:"occupied,omitempty"`
	// Sorted counts items by bin and action (what metrics label them by).
	Sorted    map[BinAction]int `json:"-"`
	Inference Histogram         `json:"-"`
}

// BinAction is a bin and what happened there.
type BinAction struct {
	Bin    string
	Action Action
}

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
