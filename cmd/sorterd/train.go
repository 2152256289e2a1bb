package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/sorterd/sorterd/config"
	"github.com/sorterd/sorterd/infer"
	"github.com/sorterd/sorterd/internal/cli"
	"github.com/sorterd/sorterd/internal/progress"
	"github.com/sorterd/sorterd/stationbench"
	"github.com/sorterd/sorterd/train"
)

func cmdTrain(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := cli.NewFlagSet("sorterd train", "sorterd train --data DIR [--data DIR...] [flags]", stderr)
	c := train.DefaultRecipe()
	trainFlags(fs, &c)
	asJSON := fs.Bool("json", false, "print the report as JSON")
	logLevel := fs.String("log-level", "warn", "debug, info, warn or error")
	force := fs.Bool("force", false, "replace the default model (--out "+defaultModel+" or "+config.DefaultModelPath+") when it exists")
	if pos, err := cli.ParseInterspersed(fs, args); err != nil {
		return cli.FlagExit(err)
	} else if !cli.NoArgs(fs, pos) {
		return 2
	}
	if code := checkTrainFlags(fs, c, *force, stderr); code != 0 {
		return code
	}
	c.NoTest = c.TestFraction == 0
	log, err := newLogger(stderr, *logLevel)
	if err != nil {
		errLine(stderr, err)
		return 2
	}
	c.Log = log
	slog.SetDefault(log)
	if !*asJSON {
		c.Progress = func(step string) func(done, total int) { return progress.Bar(os.Stderr, step) }
	}
	rep, err := train.Run(ctx, c)
	if err != nil {
		errLine(stderr, fmt.Errorf("train: %w", err))
		return 1
	}
	if *asJSON {
		_ = json.NewEncoder(stdout).Encode(rep)
	} else {
		rep.Write(stdout)
	}
	return 0
}

// trainFlags are train's settings, each defaulting to c's (the shipped
// recipe).
func trainFlags(fs *flag.FlagSet, c *train.Config) {
	fs.Var((*cli.List)(&c.Data), "data", "folder with one subfolder of photos per class (required; repeat it to add a station's samples, e.g. --data /var/lib/sorterd/samples)")
	fs.IntVar(&c.StationViews, "station-views", c.StationViews, "station views per training photo: laid on a random tray and cropped as the daemon crops")
	fs.StringVar(&c.Out, "out", defaultModel, "exported model `file`")
	fs.StringVar(&c.Base, "base", defaultBase, "classifier .tflite whose backbone is reused (a uint8 one is rewritten as int8)")
	fs.Int64Var(&c.Seed, "seed", c.Seed, "split seed")
	fs.IntVar(&c.Augment, "augment", c.Augment, "augmented views per training image (flip, rot180, rot90, rot270, vflip, ...)")
	fs.Float64Var(&c.TestFraction, "test-fraction", c.TestFraction, "share of each class held out for the test (0: none, train the model to ship on every photo outside validation)")
	fs.Float64Var(&c.ValFraction, "val-fraction", c.ValFraction, "share of each class held out to choose regularisation")
	fs.IntVar(&c.Size, "size", c.Size, "input size in pixels (0: the base model's; 384 chosen by cross-validation here)")
	fs.StringVar(&c.CacheDir, "cache", defaultCache(), "feature cache `dir`")
	fs.StringVar(&c.Delegate, "delegate", c.Delegate, "delegate for the backbone")
	fs.BoolVar(&c.FineTune, "finetune", c.FineTune, "also fine-tune the last convolution (Conv_1) with the head: slower, more accurate")
	fs.IntVar(&c.FT.Epochs, "finetune-epochs", c.FT.Epochs, "fine-tuning epochs (the best on validation is kept)")
	fs.IntVar(&c.FT.Layers, "finetune-layers", c.FT.Layers, "convolutions fine-tuned: 1 (Conv_1) or 2 (also the projection that feeds it)")
	fs.Float64Var(&c.FT.LR, "finetune-lr", c.FT.LR, "fine-tuning's Adam step size for Conv_1")
	fs.Float64Var(&c.FT.ProjLR, "finetune-proj-lr", c.FT.ProjLR, "step size for the projection with --finetune-layers 2 (0: as --finetune-lr)")
	fs.Float64Var(&c.FT.Smooth, "finetune-smooth", c.FT.Smooth, "fine-tuning's label smoothing: the share of the target spread over all classes (0: none)")
}

// checkTrainFlags refuses what train cannot do; 0 when all is well, else
// the exit code (the message printed).
func checkTrainFlags(fs *flag.FlagSet, c train.Config, force bool, stderr io.Writer) int {
	if len(c.Data) == 0 {
		fmt.Fprintln(stderr, "sorterd: train needs --data DIR")
		return 2
	}
	if err := keepDefaultModel(c.Out, force); err != nil {
		errLine(stderr, fmt.Errorf("train: %w", err))
		return 2
	}
	if bad := cli.IgnoredFlags(fs, "finetune-epochs", "finetune-layers", "finetune-lr", "finetune-proj-lr", "finetune-smooth"); !c.FineTune && len(bad) > 0 {
		fmt.Fprintf(stderr, "sorterd: train: %s: only with --finetune\n", strings.Join(bad, ", "))
		return 2
	}
	if c.TestFraction < 0 || c.ValFraction <= 0 || c.TestFraction+c.ValFraction >= 1 {
		fmt.Fprintf(stderr, "sorterd: train: --test-fraction %g and --val-fraction %g: need test >= 0, validation > 0 and their sum < 1\n", c.TestFraction, c.ValFraction)
		return 2
	}
	if c.FT.Smooth < 0 || c.FT.Smooth >= 1 {
		fmt.Fprintf(stderr, "sorterd: train: --finetune-smooth %g: need 0 <= smoothing < 1\n", c.FT.Smooth)
		return 2
	}
	return 0
}

// evalFlags are eval's: the photo evaluation's and the station
// benchmark's (--station, straight into its options).
type evalFlags struct {
	o                           stationbench.Options
	delegate, plot, tta, scenes string
	asJSON, station             bool
}

func (e *evalFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&e.o.Model, "model", "", strings.Replace(modelDefaultHelp, "TFLite model `file`", "model `file` to evaluate", 1))
	fs.StringVar(&e.o.Data, "data", "", "labelled folder tree (one subfolder per class; required)")
	fs.StringVar(&e.delegate, "delegate", infer.DelegateXNNPACK, "cpu, xnnpack, edgetpu or gpu")
	fs.BoolVar(&e.asJSON, "json", false, "print one JSON object")
	fs.StringVar(&e.plot, "plot", "", "write the confusion matrix as a PNG `file`")
	fs.StringVar(&e.tta, "tta", defaultTTA, "test-time views to average, comma-separated (\"\" for none)")
	fs.BoolVar(&e.station, "station", false, "station benchmark: lay the photos on trays as a camera sees them, play the recordings through the daemon's path, score the decisions")
	fs.StringVar(&e.scenes, "scenes", stationbench.DefaultScenes, "station: recordings to make, `tray:width[:camera]` (tray light, dark, textured, blue, green-mat, red or concrete; width a share of the frame, or lo-hi; camera fixed, auto or tinted)")
	fs.StringVar(&e.o.Split, "split", "test", "station: photos to use: test (the held-out split train makes with --seed), train (its training photos: for choosing settings) or all")
	fs.Int64Var(&e.o.Seed, "seed", train.DefaultRecipe().Seed, "station: split and recording seed (train's --seed)")
	fs.IntVar(&e.o.Limit, "limit", 0, "station: at most this many photos (0: all)")
	fs.IntVar(&e.o.Hold, "hold", 12, "station: frames each item lies on the tray")
	fs.IntVar(&e.o.Gap, "gap", 8, "station: empty-tray frames between items (-1: back to back)")
	fs.StringVar(&e.o.Config, "config", "", "station: station configuration `file` (camera size and rate of the recordings, trigger, locate, views, bins); default: the defaults with the motion trigger")
	fs.StringVar(&e.o.Keep, "keep", "", "station: keep the recordings in this `dir`")
}

func cmdEval(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := cli.NewFlagSet("sorterd eval", "sorterd eval [--model M] --data DIR [flags]\n       sorterd eval --station [--model M] --data DIR [station flags]", stderr)
	var e evalFlags
	e.register(fs)
	if pos, err := cli.ParseInterspersed(fs, args); err != nil {
		return cli.FlagExit(err)
	} else if !cli.NoArgs(fs, pos) {
		return 2
	}
	if e.o.Data == "" {
		fmt.Fprintln(stderr, "sorterd: eval needs --data DIR")
		return 2
	}
	// The station benchmark takes the model's settings from the station
	// configuration; the photo evaluation has no recordings.
	if bad := cli.IgnoredFlags(fs, "delegate", "tta", "plot"); e.station && len(bad) > 0 {
		fmt.Fprintf(stderr, "sorterd: eval --station: %s: only without --station (the station's model settings come from --config)\n", strings.Join(bad, ", "))
		return 2
	}
	if bad := cli.IgnoredFlags(fs, "scenes", "split", "seed", "limit", "hold", "gap", "config", "keep"); !e.station && len(bad) > 0 {
		fmt.Fprintf(stderr, "sorterd: eval: %s: only with --station\n", strings.Join(bad, ", "))
		return 2
	}
	log, err := newLogger(stderr, "warn")
	if err == nil {
		slog.SetDefault(log)
	}
	if e.station {
		return stationEval(ctx, e, stdout, stderr)
	}
	return photoEval(ctx, e, stdout, stderr)
}

// photoEval is eval without --station: the model on labelled photos.
func photoEval(ctx context.Context, e evalFlags, stdout, stderr io.Writer) int {
	ds, err := train.Scan(e.o.Data)
	if err != nil {
		errLine(stderr, err)
		return 2
	}
	m, err := train.EvalModel(ctx, infer.Options{Model: resolveModel(e.o.Model), Delegate: e.delegate, TTA: cli.SplitList(e.tta)}, ds.Classes, ds.Items)
	if err != nil {
		errLine(stderr, err)
		return 2
	}
	if e.plot != "" {
		if err := m.PlotConfusion(e.plot); err != nil {
			errLine(stderr, err)
			return 1
		}
	}
	if e.asJSON {
		_ = json.NewEncoder(stdout).Encode(m)
		return 0
	}
	fmt.Fprintf(stdout, "model %s on %s\n", e.o.Model, e.o.Data)
	m.Write(stdout)
	return 0
}

// stationEval is eval --station (stationbench): without --model, the
// default model, as eval's help says (--config gives the station's
// settings, not its model).
func stationEval(ctx context.Context, e evalFlags, stdout, stderr io.Writer) int {
	o := e.o
	var err error
	if o.Scenes, err = stationbench.ParseScenes(e.scenes); err != nil {
		errLine(stderr, fmt.Errorf("--scenes: %w", err))
		return 2
	}
	o.Model, o.Text = resolveModel(o.Model), !e.asJSON
	// Each scene times one inference at start when tta_per_frame is auto,
	// as the daemon does: show what it chose.
	o.Log, _ = newLogger(stderr, "info")
	b, err := stationbench.Open(o)
	if err != nil {
		errLine(stderr, err)
		return 2
	}
	defer b.Close()
	rep, err := b.Run(ctx, stdout)
	if err != nil {
		if ctx.Err() == nil {
			errLine(stderr, err)
		}
		return 1
	}
	if e.asJSON {
		_ = json.NewEncoder(stdout).Encode(rep)
	}
	return 0
}

func defaultCache() string {
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "sorterd", "features")
	}
	return filepath.Join(os.TempDir(), "sorterd-features")
}

// cmdExport assembles a model from a head file (as written by train) and
// the base model it was trained on: how `make model` builds
// models/garbage.tflite without the data set.
func cmdExport(args []string, stdout, stderr io.Writer) int {
	fs := cli.NewFlagSet("sorterd export", "sorterd export [--head H] [--base B] [--out MODEL]", stderr)
	head := fs.String("head", "heads/garbage.head.json", "head `file` written by sorterd train")
	base := fs.String("base", defaultBase, "base model the head was trained on")
	out := fs.String("out", defaultModel, "model `file` to write")
	force := fs.Bool("force", false, "replace the default model (--out "+defaultModel+" or "+config.DefaultModelPath+") when it exists")
	if pos, err := cli.ParseInterspersed(fs, args); err != nil {
		return cli.FlagExit(err)
	} else if !cli.NoArgs(fs, pos) {
		return 2
	}
	if err := keepDefaultModel(*out, *force); err != nil {
		errLine(stderr, fmt.Errorf("export: %w", err))
		return 2
	}
	model, err := train.Assemble(*head, *base)
	if err != nil {
		errLine(stderr, fmt.Errorf("export: %w", err))
		return 1
	}
	if err := os.MkdirAll(filepath.Dir(*out), 0o755); err != nil {
		errLine(stderr, err)
		return 1
	}
	if err := os.WriteFile(*out+".part", model, 0o644); err != nil {
		errLine(stderr, err)
		return 1
	}
	if err := os.Rename(*out+".part", *out); err != nil {
		errLine(stderr, err)
		return 1
	}
	fmt.Fprintf(stdout, "wrote %s (%d bytes) from %s + %s\n", *out, len(model), *head, *base)
	return 0
}

// keepDefaultModel refuses, unless force, to write out over an existing
// default model: models/garbage.tflite here or the installed one, which
// the daemon, --once and serve load when given no --model. A bare
// "sorterd export" or "sorterd train" would otherwise replace it without a
// word. Any other file, or a default model not yet made, is written.
func keepDefaultModel(out string, force bool) error {
	if force {
		return nil
	}
	st, err := os.Stat(out)
	if err != nil {
		return nil
	}
	for _, d := range []string{defaultModel, config.DefaultModelPath} {
		if ds, err := os.Stat(d); err == nil && os.SameFile(st, ds) {
			return fmt.Errorf("%s exists and is the default model: pass --force to replace it, or --out another file", out)
		}
	}
	return nil
}
