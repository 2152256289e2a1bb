// Package stationbench measures the station. Scenes (sorterd eval
// --station) lays held-out photos on trays as a camera would see them,
// plays each recording through the daemon's own path (pipeline.Configure:
// background, trigger, locate, crop, views, vote, threshold) with dry-run
// flaps, and scores the decisions; Compute (sorterd bench) times the
// camera path's stages on this machine. The CLI only parses flags and
// prints what these return.
package stationbench

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"math/rand"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/sorterd/sorterd/actuator"
	"github.com/sorterd/sorterd/camera"
	"github.com/sorterd/sorterd/config"
	"github.com/sorterd/sorterd/infer"
	"github.com/sorterd/sorterd/locate"
	"github.com/sorterd/sorterd/pipeline"
	"github.com/sorterd/sorterd/recording"
	"github.com/sorterd/sorterd/settings"
	"github.com/sorterd/sorterd/train"
)

// DefaultScenes are the station benchmark's recordings: trays, item
// widths and camera modes. Green mat, red and concrete are trays that
// training's views never draw and no setting was chosen on; tinted is
// the older recordings' way (the whole photo tinted by the tray).
const DefaultScenes = "light:0.5:fixed,light:0.3:fixed,light:0.3-0.7:auto,dark:0.3-0.7:fixed,dark:0.3-0.7:auto," +
	"textured:0.3-0.7:fixed,blue:0.3-0.7:auto,green-mat:0.3-0.7:fixed,green-mat:0.3-0.7:auto," +
	"red:0.3-0.7:fixed,concrete:0.3-0.7:auto,light:0.5:tinted"

// ExampleBins are sorterd.example.yaml's bins: the station benchmark's
// without a configuration.
var ExampleBins = []config.Bin{
	{Name: "glass", Labels: []string{"glass"}}, {Name: "metal", Labels: []string{"metal"}},
	{Name: "paper", Labels: []string{"paper", "cardboard"}}, {Name: "plastic", Labels: []string{"plastic"}},
	{Name: "reject", Labels: []string{"trash"}, Reject: true},
}

// Scene is one recording of the benchmark.
type Scene struct {
	Name   string
	Tray   recording.Tray
	Width  [2]float64
	Camera recording.Camera
}

// ParseScenes reads "tray:width[:camera]" items, comma-separated: width
// w or lo-hi, camera fixed (the default), auto or tinted.
func ParseScenes(s string) ([]Scene, error) {
	var out []Scene
	for _, part := range strings.Split(s, ",") {
		if part = strings.TrimSpace(part); part == "" {
			continue
		}
		sc, err := parseScene(part)
		if err != nil {
			return nil, fmt.Errorf("scene %q: %w", part, err)
		}
		out = append(out, sc)
	}
	if len(out) == 0 {
		return nil, errors.New("no scenes")
	}
	return out, nil
}

func parseScene(part string) (Scene, error) {
	tray, width, ok := strings.Cut(part, ":")
	if !ok {
		return Scene{}, errors.New("want tray:width[:camera], like light:0.5 or dark:0.3-0.7:auto")
	}
	t, err := recording.ParseTray(tray)
	if err != nil {
		return Scene{}, err
	}
	cam := recording.Fixed
	if w, c, ok := strings.Cut(width, ":"); ok {
		if cam, err = recording.ParseCamera(c); err != nil {
			return Scene{}, err
		}
		width = w
	}
	lo, hi, _ := strings.Cut(width, "-")
	if hi == "" {
		hi = lo
	}
	a, err1 := strconv.ParseFloat(lo, 64)
	b, err2 := strconv.ParseFloat(hi, 64)
	if err1 != nil || err2 != nil || a <= 0 || b > 1 || a > b {
		return Scene{}, errors.New("width must be a share of the frame in (0, 1], or lo-hi")
	}
	return Scene{Name: part, Tray: t, Width: [2]float64{a, b}, Camera: cam}, nil
}

// Options are a station benchmark's settings.
type Options struct {
	// Model is the model file (the configuration's model settings, but
	// not its path, apply); Data the labelled photos; Config the station
	// configuration ("": the defaults with the motion trigger and
	// ExampleBins); Split the photos used (test, train or all: train's
	// split with Seed); Keep a folder to keep the recordings in ("":
	// a temporary one).
	Model, Data, Config, Split, Keep string
	Scenes                           []Scene
	Seed                             int64
	// Limit: at most this many photos (0: all); Hold and Gap: frames an
	// item lies on the tray, and empty frames between items.
	Limit, Hold, Gap int
	// Text writes the report for a person as it goes (false: nothing is
	// written; the caller encodes the returned Report).
	Text bool
	// Log receives what the station logs at start (tta_per_frame auto's
	// choice); nil: nothing.
	Log *slog.Logger
}

// Report is a station benchmark's result (eval --station --json).
type Report struct {
	Model  string             `json:"model"`
	Data   string             `json:"data"`
	Split  string             `json:"split"`
	Photos int                `json:"photos"`
	Scenes []recording.Report `json:"scenes"`
	// BinThresholds are per-bin thresholds for PurityTarget right, chosen
	// on these scenes' decisions (bins[].threshold): choose them with
	// --split train, and measure them on the test split.
	BinThresholds map[string]float64 `json:"bin_thresholds"`
}

// PurityTarget is the share of a bin's items that must belong in it for
// the per-bin thresholds the benchmark suggests.
const PurityTarget = 0.97

// Bench is a station benchmark ready to run: its configuration, photos
// and classifier.
type Bench struct {
	o      Options
	cfg    config.Config
	photos []recording.Photo
	clf    *infer.Classifier
}

// Open reads what a run needs: the configuration (a gpio trigger becomes
// motion: a recording has no presence sensor), the split's photos and the
// model. Its errors are the caller's to fix.
func Open(o Options) (*Bench, error) {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	cfg := config.Default()
	cfg.Trigger.Mode = settings.Motion
	cfg.Bins = ExampleBins
	if o.Config != "" {
		c, err := config.Load(o.Config)
		if err != nil {
			return nil, err
		}
		cfg = c
	}
	if cfg.Trigger.Mode == settings.GPIO {
		// No presence sensor in a recording: the tray tells.
		cfg.Trigger.Mode = settings.Motion
	}
	cfg.Model.Path = o.Model
	photos, err := splitPhotos(o)
	if err != nil {
		return nil, err
	}
	clf, err := infer.New(infer.Options{Model: cfg.Model.Path, Delegate: cfg.Model.Delegate, Threads: cfg.Model.Threads,
		Fallback: cfg.Model.Fallback, TTA: cfg.Model.TTA, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return nil, err
	}
	return &Bench{o: o, cfg: cfg, photos: photos, clf: clf}, nil
}

// Close frees the classifier.
func (b *Bench) Close() { b.clf.Close() }

// Run makes a recording per scene from the photos and plays each through
// the daemon's own path, writing the report for a person as it goes when
// Options.Text. It returns early, with what it has, when ctx ends.
func (b *Bench) Run(ctx context.Context, w io.Writer) (Report, error) {
	o := b.o
	dir := o.Keep
	if dir == "" {
		var err error
		if dir, err = os.MkdirTemp("", "sorterd-station-"); err != nil {
			return Report{}, err
		}
		defer os.RemoveAll(dir)
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		return Report{}, err
	}
	rep := Report{Model: o.Model, Data: o.Data, Split: o.Split, Photos: len(b.photos)}
	if o.Text {
		fmt.Fprintf(w, "station benchmark: model %s, %d photos (%s split of %s)\n", o.Model, len(b.photos), o.Split, o.Data)
	}
	for i, sc := range o.Scenes {
		r, err := b.scene(ctx, w, dir, i, sc)
		if err != nil {
			return rep, err
		}
		rep.Scenes = append(rep.Scenes, r)
		if ctx.Err() != nil {
			return rep, ctx.Err()
		}
	}
	rep.BinThresholds = recording.BinThresholds(rep.Scenes, PurityTarget)
	if o.Text {
		writeSummary(w, rep)
	}
	return rep, nil
}

// scene makes scene i's recording in dir and plays it.
func (b *Bench) scene(ctx context.Context, w io.Writer, dir string, i int, sc Scene) (recording.Report, error) {
	path := filepath.Join(dir, fmt.Sprintf("%02d-%s.avi", i, strings.NewReplacer(":", "-", ".", "").Replace(sc.Name)))
	t0 := time.Now()
	// The recording is what the configured camera would deliver: its
	// frame size (how many pixels the item gets) and frame rate.
	cam := b.cfg.Camera
	items, err := recording.Write(path, recording.Options{Photos: b.photos, Tray: sc.Tray, Camera: sc.Camera, ItemWidth: sc.Width,
		Width: cam.Width, Height: cam.Height, FPS: cam.FPS, Hold: b.o.Hold, Gap: b.o.Gap, Seed: sceneSeed(b.o.Seed, sc.Name)})
	if err != nil {
		return recording.Report{}, err
	}
	made := time.Since(t0)
	r, err := b.play(ctx, path, sc.Name, items)
	if err != nil {
		return recording.Report{}, fmt.Errorf("scene %s: %w", sc.Name, err)
	}
	if b.o.Text {
		r.Write(w)
		fmt.Fprintf(w, "  (recording made in %s, played in %s)\n", made.Round(time.Second), (time.Since(t0) - made).Round(time.Second))
	}
	return r, nil
}

// writeSummary ends the report for a person: the scenes worst first and
// the per-bin thresholds.
func writeSummary(w io.Writer, rep Report) {
	writeWorstFirst(w, rep.Scenes)
	bins := make([]string, 0, len(rep.BinThresholds))
	for b := range rep.BinThresholds {
		bins = append(bins, b)
	}
	sort.Strings(bins)
	fmt.Fprintf(w, "\nper-bin thresholds for %.0f%% right on these scenes (bins[].threshold; choose with --split train):", 100*PurityTarget)
	for _, b := range bins {
		fmt.Fprintf(w, " %s %.2f", b, rep.BinThresholds[b])
	}
	fmt.Fprintln(w)
}

// writeWorstFirst is the scenes in one table, the worst item accuracy
// first: the headline is the worst scene.
func writeWorstFirst(w io.Writer, scenes []recording.Report) {
	if len(scenes) == 0 {
		return
	}
	s := append([]recording.Report(nil), scenes...)
	sort.SliceStable(s, func(i, j int) bool { return s[i].Accuracy < s[j].Accuracy })
	fmt.Fprintf(w, "\nall scenes, worst first:\n| scene | items | missed / extra | item accuracy | sorted | right bin of sorted |\n|---|---|---|---|---|---|\n")
	for _, r := range s {
		fmt.Fprintf(w, "| %s | %d | %d / %d | %.1f%% | %.1f%% | %.1f%% |\n", r.Name, r.Items, r.Missed, r.Extra, 100*r.Accuracy, 100*r.Sorted, 100*r.SortedRight)
	}
}

// sceneSeed is a scene's recording seed: the seed and the scene's name,
// so that a scene run alone (--scenes dark:0.3-0.7) makes the same
// recording, and the same figures, as in the whole set.
func sceneSeed(seed int64, name string) int64 {
	h := fnv.New64a()
	h.Write([]byte(name))
	return seed ^ int64(h.Sum64()&(1<<62-1))
}

// splitPhotos are the split's photos, in an order shuffled by the seed
// (so classes mix along the recording), at most Limit of them. The split
// is the one train makes with the same seed and train.DefaultRecipe's
// fractions.
func splitPhotos(o Options) ([]recording.Photo, error) {
	ds, err := train.Scan(o.Data)
	if err != nil {
		return nil, err
	}
	recipe := train.DefaultRecipe()
	var idx []int
	switch o.Split {
	case "test":
		// Photos a model trained with the same seed has never seen.
		idx = ds.StratifiedSplit(o.Seed, recipe.ValFraction, recipe.TestFraction).Test
	case "train":
		// The photos a model trained with the same seed learned from:
		// what settings are chosen on, never the test split.
		idx = ds.StratifiedSplit(o.Seed, recipe.ValFraction, recipe.TestFraction).Train
	case "all":
		for i := range ds.Items {
			idx = append(idx, i)
		}
	default:
		return nil, fmt.Errorf("--split %q: want test, train or all", o.Split)
	}
	var photos []recording.Photo
	for _, i := range idx {
		it := ds.Items[i]
		photos = append(photos, recording.Photo{Path: it.Path, Class: ds.Classes[it.Class]})
	}
	rng := rand.New(rand.NewSource(o.Seed))
	rng.Shuffle(len(photos), func(i, j int) { photos[i], photos[j] = photos[j], photos[i] })
	if o.Limit > 0 && o.Limit < len(photos) {
		photos = photos[:o.Limit]
	}
	if len(photos) == 0 {
		return nil, fmt.Errorf("no photos in the %s split of %s", o.Split, o.Data)
	}
	return photos, nil
}

// play runs a station on the recording as fast as it decodes, in the
// recording's own time (frame n at n/fps s), and scores its events.
func (b *Bench) play(ctx context.Context, path, name string, items []recording.Item) (recording.Report, error) {
	capt, err := camera.Open(camera.Options{Source: path})
	if err != nil {
		return recording.Report{}, err
	}
	src := NewClocked(capt, b.cfg.Camera.FPS)
	defer src.Close()
	o, err := pipeline.Configure(ctx, b.cfg, b.clf, locate.Reference{}, b.o.Log)
	if o.Tray != nil {
		defer o.Tray.Close()
	}
	if err != nil {
		return recording.Report{}, err
	}
	quiet := slog.New(slog.DiscardHandler)
	o.Source, o.Log, o.Flaps = src, quiet, DryRunFlaps(o.Bins, quiet)
	router, err := pipeline.NewRouter(o.Bins, 0)
	if err != nil {
		return recording.Report{}, err
	}
	var ds []recording.Decision
	o.OnEvent = func(e pipeline.Event) {
		ds = append(ds, recording.Decision{Frame: src.Frames() - 1, Label: e.Label, Bin: e.Bin, Action: e.Action.String(),
			Score: float64(e.BinScore), Binned: router.Collects(e.Label)})
	}
	st, err := pipeline.New(o)
	if err != nil {
		return recording.Report{}, err
	}
	if err := st.Run(ctx); err != nil && !errors.Is(err, camera.ErrEnded) {
		return recording.Report{}, err
	}
	// Where each photo's true class belongs: its bin at any score.
	binOf := func(class string) string { return router.BinOf(class).Name }
	return recording.Score(name, items, ds, 3, binOf), nil
}

// Clocked stamps frames with a recording's own clock (frame n at n
// periods after the start), so cooldowns and item timing play as on the
// station however fast frames decode, and counts them.
type Clocked struct {
	src    camera.Source
	period time.Duration
	t0     time.Time
	n      int
}

// NewClocked plays src at fps frames per second of its own time.
func NewClocked(src camera.Source, fps float64) *Clocked {
	return &Clocked{src: src, period: time.Duration(float64(time.Second) / fps), t0: time.Now()}
}

// Read reads the next frame, stamped.
func (c *Clocked) Read(ctx context.Context) (camera.Frame, error) {
	f, err := c.src.Read(ctx)
	if err != nil {
		return f, err
	}
	f.At = c.t0.Add(time.Duration(c.n) * c.period)
	c.n++
	return f, nil
}

// Frames is how many frames were read.
func (c *Clocked) Frames() int { return c.n }

// Close closes the source.
func (c *Clocked) Close() error { return c.src.Close() }

// DryRunFlaps is a dry-run flap per bin: the station benchmark's and the
// tests' stations move no pins.
func DryRunFlaps(bins []pipeline.Bin, log *slog.Logger) map[string]actuator.Flap {
	flaps := map[string]actuator.Flap{}
	for _, b := range bins {
		flaps[b.Name] = actuator.NewDryRun(actuator.Options{Name: b.Name, Log: log})
	}
	return flaps
}
