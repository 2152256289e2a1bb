package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strings"

	"github.com/sorterd/sorterd/config"
	"github.com/sorterd/sorterd/infer"
	"github.com/sorterd/sorterd/internal/cli"
)

// defaultModel is where make model writes the model (and train and export
// their output); defaultBase is the ImageNet classifier whose backbone
// train reuses (the uint8 quantization-aware trained one, which train runs
// as int8: docs/training.md).
const (
	defaultModel = "models/garbage.tflite"
	defaultBase  = "models/mobilenet_v2_1.0_224_quant.tflite"
)

// modelDefaultHelp describes the --model default of the commands that read
// a model.
var modelDefaultHelp = "TFLite model `file` (default: " + defaultModel + " when it exists here, else " + config.DefaultModelPath + ")"

// resolveModel is the model a command reads: the one given, else the
// checkout's models/garbage.tflite when run from a checkout, else the
// installed default (config.DefaultModelPath).
func resolveModel(given string) string {
	if given != "" {
		return given
	}
	if _, err := os.Stat(defaultModel); err == nil {
		return defaultModel
	}
	return config.DefaultModelPath
}

// modelFlags are the classifier flags shared by --once and bench.
type modelFlags struct {
	model, labels, delegate, device, logLevel, tta string
	threads                                        int
	fallback                                       bool
}

// register adds the classifier flags; logLevel is the command's default
// --log-level (serve logs its requests at info, the others only warnings).
func (m *modelFlags) register(fs *flag.FlagSet, logLevel string) {
	fs.StringVar(&m.model, "model", "", modelDefaultHelp)
	fs.StringVar(&m.labels, "labels", "", "labels `file` (default: the labels embedded in the model)")
	fs.StringVar(&m.delegate, "delegate", infer.DelegateXNNPACK, "cpu, xnnpack, edgetpu or gpu")
	fs.StringVar(&m.device, "edgetpu-device", "", "Edge TPU device (usb, pci, usb:0, ...); default: the first found")
	fs.BoolVar(&m.fallback, "fallback", false, "run on built-in CPU kernels if the delegate cannot be created")
	fs.IntVar(&m.threads, "threads", runtime.NumCPU(), "threads per interpreter")
	fs.StringVar(&m.logLevel, "log-level", logLevel, "debug, info, warn or error")
}

// defaultTTA is the test-time augmentation --once, eval and serve use:
// the daemon's views (the five training augments with), all on the one
// photo, chosen by cross-validation of the training recipe
// (docs/training.md, "Test-time augmentation").
var defaultTTA = strings.Join(config.Default().Model.TTA, ",")

func (m *modelFlags) open(stderr io.Writer) (*infer.Classifier, error) {
	log, err := newLogger(stderr, m.logLevel)
	if err != nil {
		return nil, err
	}
	m.model = resolveModel(m.model)
	return infer.New(infer.Options{
		Model: m.model, Labels: m.labels, Delegate: m.delegate, Fallback: m.fallback,
		EdgeTPUDevice: m.device, Threads: m.threads, Logger: log, TTA: cli.SplitList(m.tta),
	})
}

func cmdOnce(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := cli.NewFlagSet("sorterd --once", "sorterd --once IMG [IMG...] [flags]", stderr)
	var mf modelFlags
	mf.register(fs, "warn")
	fs.StringVar(&mf.tta, "tta", defaultTTA, "extra views averaged per image, comma-separated (\"\" for none)")
	top := fs.Int("top", 5, "how many classes to print")
	asJSON := fs.Bool("json", false, "print one JSON object per image")
	maxPixels := fs.Int("max-pixels", 40_000_000, "refuse images with more pixels than this, before decoding")
	maxBytes := fs.Int64("max-bytes", 64<<20, "refuse image files larger than this")
	// --once selects this command (run looks for it anywhere); it is no
	// flag of its own, so -h does not list it.
	args = slices.DeleteFunc(slices.Clone(args), isOnceFlag)
	images, err := cli.ParseInterspersed(fs, args)
	if err != nil {
		return cli.FlagExit(err)
	}
	if len(images) == 0 {
		fmt.Fprintln(stderr, "sorterd: --once needs at least one image")
		return 2
	}
	if *top < 1 {
		// Classify reads k < 1 as its default, which is not what was asked.
		fmt.Fprintf(stderr, "sorterd: --top %d: must be at least 1\n", *top)
		return 2
	}
	c, err := mf.open(stderr)
	if err != nil {
		errLine(stderr, err)
		return 2
	}
	defer c.Close()
	lim := infer.ImageLimits{MaxBytes: *maxBytes, MaxPixels: *maxPixels}
	failed := 0
	for _, path := range images {
		if !classifyOne(ctx, c, path, lim, *top, *asJSON, stdout, stderr) {
			failed++
		}
	}
	if failed > 0 {
		return 1
	}
	return 0
}

// classifyOne classifies one image file and prints the result (a JSON
// line with asJSON); false when it failed.
func classifyOne(ctx context.Context, c *infer.Classifier, path string, lim infer.ImageLimits, top int, asJSON bool, stdout, stderr io.Writer) bool {
	enc := json.NewEncoder(stdout)
	r, decode, err := c.ClassifyFile(ctx, path, lim, top)
	if err != nil {
		errLine(stderr, fmt.Errorf("%s: %w", path, err))
		if asJSON {
			// A reader of the JSON lines sees every image it asked
			// about, the failed ones as {"image", "error"}.
			_ = enc.Encode(struct {
				Image string `json:"image"`
				Error string `json:"error"`
			}{path, err.Error()})
		}
		return false
	}
	rep := c.NewReport(path, r, decode)
	if asJSON {
		_ = enc.Encode(rep)
		return true
	}
	lat := rep.LatencyMS
	fmt.Fprintf(stdout, "%s: %s %.3f  (decode %.1f ms, preprocess %.1f ms, invoke %.1f ms, total %.1f ms)\n",
		path, r.Label, r.Score.Score, lat.Decode, lat.Preprocess, lat.Invoke, lat.Total)
	for _, s := range r.Top[1:] {
		fmt.Fprintf(stdout, "    %-30s %.3f\n", s.Label, s.Score)
	}
	return true
}
