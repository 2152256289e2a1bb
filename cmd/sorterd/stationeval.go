package main

import (
	"context"
	"encoding/json"
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

// defaultScenes are the station benchmark's recordings: trays, item
// widths and camera modes. Green mat, red and concrete are trays that
// training's views never draw and no setting was chosen on; tinted is
// the older recordings' way (the whole photo tinted by the tray).
const defaultScenes = "light:0.5:fixed,light:0.3:fixed,light:0.3-0.7:auto,dark:0.3-0.7:fixed,dark:0.3-0.7:auto," +
	"textured:0.3-0.7:fixed,blue:0.3-0.7:auto,green-mat:0.3-0.7:fixed,green-mat:0.3-0.7:auto," +
	"red:0.3-0.7:fixed,concrete:0.3-0.7:auto,light:0.5:tinted"

// exampleBins are sorterd.example.yaml's bins: the station benchmark's
// without --config.
var exampleBins = []config.Bin{
	{Name: "glass", Labels: []string{"glass"}}, {Name: "metal", Labels: []string{"metal"}},
	{Name: "paper", Labels: []string{"paper", "cardboard"}}, {Name: "plastic", Labels: []string{"plastic"}},
	{Name: "reject", Labels: []string{"trash"}, Reject: true},
}

// scene is one recording of the benchmark.
type scene struct {
	Name   string
	Tray   recording.Tray
	Width  [2]float64
	Camera recording.Camera
}

// parseScenes reads "tray:width[:camera]" items, comma-separated: width
// w or lo-hi, camera fixed (the default), auto or tinted.
func parseScenes(s string) ([]scene, error) {
	var out []scene
	for _, part := range splitList(s) {
		tray, width, ok := strings.Cut(part, ":")
		if !ok {
			return nil, fmt.Errorf("scene %q: want tray:width[:camera], like light:0.5 or dark:0.3-0.7:auto", part)
		}
		t, err := recording.ParseTray(tray)
		if err != nil {
			return nil, fmt.Errorf("scene %q: %w", part, err)
		}
		cam := recording.Fixed
		if w, c, ok := strings.Cut(width, ":"); ok {
			if cam, err = recording.ParseCamera(c); err != nil {
				return nil, fmt.Errorf("scene %q: %w", part, err)
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
			return nil, fmt.Errorf("scene %q: width must be a share of the frame in (0, 1], or lo-hi", part)
		}
		out = append(out, scene{Name: part, Tray: t, Width: [2]float64{a, b}, Camera: cam})
	}
	if len(out) == 0 {
		return nil, errors.New("no scenes")
	}
	return out, nil
}

// stationEvalOptions are eval --station's settings.
type stationEvalOptions struct {
	Model, Data, Config, Split, Keep string
	Scenes                           []scene
	Seed                             int64
	Limit, Hold, Gap                 int
}

// stationReport is eval --station's JSON.
type stationReport struct {
	Model  string             `json:"model"`
	Data   string             `json:"data"`
	Split  string             `json:"split"`
	Photos int                `json:"photos"`
	Scenes []recording.Report `json:"scenes"`
	// BinThresholds are per-bin thresholds for purityTarget right, chosen
	// on these scenes' decisions (bins[].threshold): choose them with
	// --split train, and measure them on the test split.
	BinThresholds map[string]float64 `json:"bin_thresholds"`
}

// purityTarget is the share of a bin's items that must belong in it for
// the per-bin thresholds eval --station suggests.
const purityTarget = 0.97

// stationEval makes a recording per scene from the split's photos and
// plays each through the daemon's own path (pipeline.Configure: background,
// trigger, locate, crop, views, vote, threshold), with dry-run flaps.
func stationEval(ctx context.Context, o stationEvalOptions, stdout, stderr io.Writer, asJSON bool) int {
	cfg := config.Default()
	cfg.Trigger.Mode = settings.Motion
	cfg.Bins = exampleBins
	if o.Config != "" {
		c, err := config.Load(o.Config)
		if err != nil {
			errLine(stderr, err)
			return 2
		}
		cfg = c
	}
	if cfg.Trigger.Mode == settings.GPIO {
		// No presence sensor in a recording: the tray tells.
		cfg.Trigger.Mode = settings.Motion
	}
	// Without --model, the default model, as eval's help says (--config
	// gives the station's settings, not its model).
	o.Model = resolveModel(o.Model)
	cfg.Model.Path = o.Model
	if cfg.Model.TTAPerFrame == config.AutoViews {
		// Each scene times one inference at start, as the daemon does:
		// show what it chose.
		if log, err := newLogger(stderr, "info"); err == nil {
			slog.SetDefault(log)
		}
	}
	photos, err := benchPhotos(o)
	if err != nil {
		errLine(stderr, err)
		return 2
	}
	clf, err := infer.New(infer.Options{Model: cfg.Model.Path, Delegate: cfg.Model.Delegate, Threads: cfg.Model.Threads,
		Fallback: cfg.Model.Fallback, TTA: cfg.Model.TTA, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		errLine(stderr, err)
		return 2
	}
	defer clf.Close()
	dir := o.Keep
	if dir == "" {
		if dir, err = os.MkdirTemp("", "sorterd-station-"); err != nil {
			errLine(stderr, err)
			return 1
		}
		defer os.RemoveAll(dir)
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		errLine(stderr, err)
		return 1
	}
	rep := stationReport{Model: o.Model, Data: o.Data, Split: o.Split, Photos: len(photos)}
	if !asJSON {
		fmt.Fprintf(stdout, "station benchmark: model %s, %d photos (%s split of %s)\n", o.Model, len(photos), o.Split, o.Data)
	}
	for i, sc := range o.Scenes {
		path := filepath.Join(dir, fmt.Sprintf("%02d-%s.avi", i, strings.NewReplacer(":", "-", ".", "").Replace(sc.Name)))
		t0 := time.Now()
		// The recording is what the configured camera would deliver: its
		// frame size (how many pixels the item gets) and frame rate.
		items, err := recording.Write(path, recording.Options{Photos: photos, Tray: sc.Tray, Camera: sc.Camera, ItemWidth: sc.Width,
			Width: cfg.Camera.Width, Height: cfg.Camera.Height, FPS: cfg.Camera.FPS,
			Hold: o.Hold, Gap: o.Gap, Seed: sceneSeed(o.Seed, sc.Name)})
		if err != nil {
			errLine(stderr, err)
			return 1
		}
		made := time.Since(t0)
		r, err := playRecording(ctx, cfg, clf, path, sc.Name, items)
		if err != nil {
			errLine(stderr, fmt.Errorf("scene %s: %w", sc.Name, err))
			return 1
		}
		rep.Scenes = append(rep.Scenes, r)
		if !asJSON {
			r.Write(stdout)
			fmt.Fprintf(stdout, "  (recording made in %s, played in %s)\n", made.Round(time.Second), (time.Since(t0) - made).Round(time.Second))
		}
		if ctx.Err() != nil {
			return 1
		}
	}
	rep.BinThresholds = recording.BinThresholds(rep.Scenes, purityTarget)
	if asJSON {
		_ = json.NewEncoder(stdout).Encode(rep)
		return 0
	}
	writeWorstFirst(stdout, rep.Scenes)
	bins := make([]string, 0, len(rep.BinThresholds))
	for b := range rep.BinThresholds {
		bins = append(bins, b)
	}
	sort.Strings(bins)
	fmt.Fprintf(stdout, "\nper-bin thresholds for %.0f%% right on these scenes (bins[].threshold; choose with --split train):", 100*purityTarget)
	for _, b := range bins {
		fmt.Fprintf(stdout, " %s %.2f", b, rep.BinThresholds[b])
	}
	fmt.Fprintln(stdout)
	return 0
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

// benchPhotos are the split's photos, in an order shuffled by the seed
// (so classes mix along the recording), at most Limit of them.
func benchPhotos(o stationEvalOptions) ([]recording.Photo, error) {
	ds, err := train.Scan(o.Data)
	if err != nil {
		return nil, err
	}
	var idx []int
	switch o.Split {
	case "test":
		// The split train makes with the same seed and fractions: photos
		// a model trained with them has never seen.
		idx = ds.StratifiedSplit(o.Seed, 0.1, 0.2).Test
	case "train":
		// The photos a model trained with the same seed learned from:
		// what settings are chosen on, never the test split.
		idx = ds.StratifiedSplit(o.Seed, 0.1, 0.2).Train
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

// playRecording runs a station on the recording as fast as it decodes,
// in the recording's own time (frame n at n/15 s), and scores its events.
func playRecording(ctx context.Context, cfg config.Config, clf *infer.Classifier, path, name string, items []recording.Item) (recording.Report, error) {
	capt, err := camera.Open(camera.Options{Source: path})
	if err != nil {
		return recording.Report{}, err
	}
	src := &clockedSource{src: capt, period: time.Duration(float64(time.Second) / cfg.Camera.FPS), t0: time.Now()}
	defer src.Close()
	o, err := pipeline.Configure(ctx, cfg, clf, locate.Reference{}, slog.Default())
	if o.Tray != nil {
		defer o.Tray.Close()
	}
	if err != nil {
		return recording.Report{}, err
	}
	quiet := slog.New(slog.DiscardHandler)
	o.Source, o.Log, o.Flaps = src, quiet, dryRunFlaps(o.Bins, quiet)
	router, err := pipeline.NewRouter(o.Bins, 0)
	if err != nil {
		return recording.Report{}, err
	}
	var ds []recording.Decision
	o.OnEvent = func(e pipeline.Event) {
		ds = append(ds, recording.Decision{Frame: src.n - 1, Label: e.Label, Bin: e.Bin, Action: e.Action.String(),
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

// clockedSource stamps frames with the recording's own clock, so cooldowns
// and item timing play as on the station however fast frames decode, and
// counts them.
type clockedSource struct {
	src    camera.Source
	period time.Duration
	t0     time.Time
	n      int
}

func (c *clockedSource) Read(ctx context.Context) (camera.Frame, error) {
	f, err := c.src.Read(ctx)
	if err != nil {
		return f, err
	}
	f.At = c.t0.Add(time.Duration(c.n) * c.period)
	c.n++
	return f, nil
}

func (c *clockedSource) Close() error { return c.src.Close() }

// dryRunFlaps is a dry-run flap per bin: the station benchmark's and the
// tests' stations move no pins.
func dryRunFlaps(bins []pipeline.Bin, log *slog.Logger) map[string]actuator.Flap {
	flaps := map[string]actuator.Flap{}
	for _, b := range bins {
		flaps[b.Name] = actuator.NewDryRun(actuator.Options{Name: b.Name, Log: log})
	}
	return flaps
}
