package train

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/sorterd/sorterd/infer"
)

// Config of a training run.
type Config struct {
	Data    []string // folders with one subfolder per class (classes merged by name)
	Out     string   // exported .tflite
	Base    string   // classifier whose backbone is reused
	Seed    int64    // split seed
	Augment int      // augmented views per training image (besides the original)
	// StationViews: station views per training image (the photo laid on
	// a random tray and cropped as the daemon crops; see StationViews).
	StationViews int
	TestFraction float64 // held out for the final measurement (0: 0.2; NoTest: none)
	// NoTest holds nothing out for a test: every photo outside the
	// validation split trains the model. For the model to ship, once a
	// run with a test split has measured the same settings.
	NoTest      bool
	ValFraction float64 // held out to choose the regularisation
	Size        int     // input size (0: the base model's)
	CacheDir    string  // feature cache
	Lambdas     []float64
	TargetAcc   float64 // accuracy of accepted items the threshold aims for
	Delegate    string
	// FineTune also retrains the convolution before the pooling with the
	// head (see FineTune); FT tunes it (zero values: defaults).
	FineTune bool
	FT       FineTuneOptions
	Log      *slog.Logger
	Out1     io.Writer // human report
	Progress *os.File  // terminal for progress bars (nil: none)
}

// Report is what a training run measured.
type Report struct {
	Classes     []string             `json:"classes"`
	Seed        int64                `json:"seed"`
	Train       int                  `json:"train"`
	Val         int                  `json:"val"`
	Test        int                  `json:"test"`
	Skipped     []string             `json:"skipped,omitempty"`
	Conflicts   [][]string           `json:"conflicts,omitempty"`
	Lambda      float64              `json:"lambda"`
	ValAccuracy float64              `json:"val_accuracy"`
	FloatTest   Metrics              `json:"float_test"`
	TTATest     float64              `json:"tta_test_accuracy"`
	ExportTest  Metrics              `json:"export_test"`
	Threshold   float64              `json:"threshold"`
	BackboneRun int64                `json:"backbone_runs"`
	Seconds     float64              `json:"seconds"`
	Delegate    infer.DelegateReport `json:"delegate"`
	HeadFile    string               `json:"head_file"`
	FineTune    *FineTuneReport      `json:"fine_tune,omitempty"`
}

// FineTuneReport is what fine-tuning measured. With it, Report's
// FloatTest, ExportTest and Threshold are the fine-tuned model's.
type FineTuneReport struct {
	Epochs      []EpochReport `json:"epochs"` // epoch 0: the starting point
	Chosen      int           `json:"chosen_epoch"`
	ValAccuracy float64       `json:"val_accuracy"` // at the chosen epoch
	// The frozen head's figures, for comparison: validation accuracy of
	// the head fine-tuning started from, test accuracy of the head refitted
	// on train + validation.
	FrozenValAccuracy float64 `json:"frozen_val_accuracy"`
	FrozenFloatTest   float64 `json:"frozen_float_test_accuracy"`
	LR                float64 `json:"lr"`
	HeadLR            float64 `json:"head_lr"`
	ConvL2            float64 `json:"conv_l2"`
	// Layers fine-tuned (1: Conv_1; 2: also the projection before it,
	// with its step size and the output range seen in training).
	Layers       int        `json:"layers"`
	ProjLR       float64    `json:"proj_lr,omitempty"`
	ProjRange    [2]float32 `json:"proj_range,omitempty"`
	BackboneRuns int64      `json:"backbone_runs"` // activation extraction
	Seconds      float64    `json:"seconds"`       // training only
}

// HeadPath is where train keeps the head file for a model: beside it,
// "garbage.tflite" → "garbage.head.json".
func HeadPath(model string) string {
	return strings.TrimSuffix(model, filepath.Ext(model)) + ".head.json"
}

func (c *Config) defaults() {
	if c.Augment < 0 {
		c.Augment = 0
	}
	if c.NoTest {
		c.TestFraction = 0
	} else if c.TestFraction <= 0 {
		c.TestFraction = 0.2
	}
	if c.ValFraction <= 0 {
		c.ValFraction = 0.1
	}
	if len(c.Lambdas) == 0 {
		c.Lambdas = []float64{1e-3, 3e-3, 1e-2, 3e-2, 1e-1}
	}
	if c.TargetAcc == 0 {
		c.TargetAcc = 0.95
	}
	if c.CacheDir == "" {
		c.CacheDir = filepath.Join(os.TempDir(), "sorterd-features")
	}
	if c.Log == nil {
		c.Log = slog.Default()
	}
	if c.Out1 == nil {
		c.Out1 = io.Discard
	}
}

// Run trains a head on the data folder and exports the model.
func Run(ctx context.Context, c Config) (*Report, error) {
	c.defaults()
	start := time.Now()
	var base []byte
	var ftConv, ftProj *ConvLayer
	if c.FineTune {
		// Refuse a base fine-tuning cannot use before hours of extraction.
		var err error
		if base, err = os.ReadFile(c.Base); err != nil {
			return nil, fmt.Errorf("base model: %w", err)
		}
		if ftConv, ftProj, err = c.baseLayers(base); err != nil {
			return nil, err
		}
	}
	ds, err := Scan(c.Data...)
	if err != nil {
		return nil, err
	}
	if len(ds.Classes) < 2 {
		return nil, fmt.Errorf("%w (%s) in %s: a classifier needs at least two", ErrOneClass, ds.Classes[0], strings.Join(c.Data, ", "))
	}
	sp := ds.StratifiedSplit(c.Seed, c.ValFraction, c.TestFraction)
	rep := &Report{Classes: ds.Classes, Seed: c.Seed, Skipped: ds.Skipped, Conflicts: ds.Conflicts}
	w := c.Out1
	for _, s := range ds.Skipped {
		fmt.Fprintf(w, "skipped %s\n", s)
	}
	for _, cf := range ds.Conflicts {
		fmt.Fprintf(w, "identical image in two classes, left out: %v\n", cf)
	}
	ex, err := NewExtractor(ExtractorOptions{Base: c.Base, CacheDir: c.CacheDir, Delegate: c.Delegate, Size: c.Size, Logger: c.Log})
	if err != nil {
		return nil, err
	}
	defer ex.Close()
	rep.Delegate = ex.Delegate()
	augs := append(AugmentSet(c.Augment), StationViews(c.StationViews)...)
	feats := make([][][]float32, len(augs))
	bad := map[int]bool{}
	for a, aug := range augs {
		// Augmented views are only needed for training images.
		idx := sp.Train
		if a == 0 {
			idx = allIndices(len(ds.Items))
		}
		items := make([]Item, len(idx))
		for i, j := range idx {
			items[i] = ds.Items[j]
		}
		var prog func(int, int)
		if c.Progress != nil {
			prog = Progress(c.Progress, "features "+aug.Name)
		}
		f, fails, err := ex.Features(ctx, items, aug, prog)
		if err != nil {
			return nil, err
		}
		feats[a] = make([][]float32, len(ds.Items))
		for i, j := range idx {
			feats[a][j] = f[i]
		}
		for _, fl := range fails {
			if a == 0 {
				fmt.Fprintf(w, "skipped %s: %v\n", fl.Path, fl.Err)
				rep.Skipped = append(rep.Skipped, fmt.Sprintf("%s: %v", fl.Path, fl.Err))
			}
		}
	}
	for i := range ds.Items {
		if feats[0][i] == nil {
			bad[i] = true
		}
	}
	sp = sp.without(bad)
	rep.Train, rep.Val, rep.Test = len(sp.Train), len(sp.Val), len(sp.Test)
	hasTest := rep.Test > 0
	fmt.Fprintf(w, "classes %v\nsplit (seed %d): train %d, validation %d, test %d; %d augmented view(s) per training image\n",
		ds.Classes, c.Seed, rep.Train, rep.Val, rep.Test, len(augs)-1)
	if rep.Train == 0 || rep.Val == 0 || (!hasTest && !c.NoTest) {
		return nil, fmt.Errorf("data folder %s is too small to split (train %d, validation %d, test %d)", strings.Join(c.Data, ", "), rep.Train, rep.Val, rep.Test)
	}

	rows := func(idx []int, allAugs bool) ([][]float32, []int) {
		var x [][]float32
		var y []int
		n := 1
		if allAugs {
			n = len(augs)
		}
		for a := 0; a < n; a++ {
			for _, i := range idx {
				x = append(x, feats[a][i])
				y = append(y, ds.Items[i].Class)
			}
		}
		return x, y
	}
	xtr, ytr := rows(sp.Train, true)
	bestAcc := -1.0
	var bestHead *Head
	for _, lam := range c.Lambdas {
		h, err := TrainHead(xtr, ytr, ds.Classes, HeadOptions{Lambda: lam, ClassWeights: true})
		if err != nil {
			return nil, err
		}
		m := evaluate(h, feats[:1], sp.Val, ds)
		fmt.Fprintf(w, "lambda %-8g validation accuracy %.2f%%\n", lam, 100*m.Accuracy)
		if m.Accuracy > bestAcc+1e-9 {
			bestAcc, rep.Lambda, bestHead = m.Accuracy, lam, h
		}
	}
	rep.ValAccuracy = bestAcc
	truth, pred, conf := predict(bestHead, feats[:1], sp.Val, ds)
	rep.Threshold = SuggestThreshold(truth, pred, conf, c.TargetAcc)

	// Final head on train + validation with the chosen λ.
	xall, yall := rows(append(append([]int{}, sp.Train...), sp.Val...), true)
	// Validation images have no augmented views: use their original only.
	xall, yall = dropNil(xall, yall)
	head, err := TrainHead(xall, yall, ds.Classes, HeadOptions{Lambda: rep.Lambda, ClassWeights: true})
	if err != nil {
		return nil, err
	}
	rep.FloatTest = evaluate(head, feats[:1], sp.Test, ds)
	if base == nil {
		if base, err = os.ReadFile(c.Base); err != nil {
			return nil, err
		}
	}
	var conv, proj *ConvExport
	lo, hi := logitRange(head, xall)
	if c.FineTune {
		// The frozen head on the training split (the one λ was chosen
		// with) starts the run the validation split picks the epoch in;
		// the one refitted on train + validation starts the final run.
		ft, err := c.fineTune(ctx, ftConv, ftProj, ds, sp, augs, bestHead, head, rep)
		if err != nil {
			return nil, err
		}
		head, conv, proj = ft.Head, ft.conv, ft.proj
		lo, hi = ft.logitMin, ft.logitMax
	} else if tv := AugmentSet(c.Augment); len(tv) > 1 && hasTest {
		rep.TTATest = tta(ctx, ex, head, ds, sp.Test, tv)
	}
	eo := ExportOptions{
		Size: c.Size, Threshold: rep.Threshold, LogitMin: lo, LogitMax: hi, Conv: conv, Proj: proj,
		Info: map[string]any{"seed": c.Seed, "lambda": rep.Lambda, "augment": len(AugmentSet(c.Augment)) - 1, "station_views": c.StationViews,
			"train_images": rep.Train + rep.Val, "base": filepath.Base(c.Base),
			"trained": time.Now().UTC().Format(time.RFC3339)},
	}
	if hasTest {
		eo.Info["float_test_accuracy"] = rep.FloatTest.Accuracy
	}
	if f := rep.FineTune; f != nil {
		eo.Info["fine_tune_epoch"] = f.Chosen
		eo.Info["fine_tune_val_accuracy"] = f.ValAccuracy
		eo.Info["fine_tune_layers"] = f.Layers
	}
	model, err := Export(base, head, eo)
	if err != nil {
		return nil, err
	}
	baseSum := sha256.Sum256(base)
	hf := &HeadFile{Base: filepath.Base(c.Base), BaseSHA256: hex.EncodeToString(baseSum[:]), Export: eo, Head: head}
	if err := os.MkdirAll(filepath.Dir(c.Out), 0o755); err != nil {
		return nil, err
	}
	if err := writeFileAtomic(c.Out, model); err != nil {
		return nil, err
	}
	rep.HeadFile = HeadPath(c.Out)
	if err := WriteHeadFile(rep.HeadFile, hf); err != nil {
		return nil, err
	}
	if hasTest {
		testItems := make([]Item, len(sp.Test))
		for i, j := range sp.Test {
			testItems[i] = ds.Items[j]
		}
		rep.ExportTest, err = EvalModel(ctx, infer.Options{Model: c.Out, Delegate: c.Delegate}, ds.Classes, testItems)
		if err != nil {
			return nil, fmt.Errorf("evaluate exported model: %w", err)
		}
	}
	rep.BackboneRun = ex.Calls.Load()
	if rep.FineTune != nil {
		rep.BackboneRun += rep.FineTune.BackboneRuns
	}
	rep.Seconds = time.Since(start).Seconds()
	kind := "float head"
	if f := rep.FineTune; f != nil {
		// The threshold is the fine-tuned model's: say so after its section.
		fmt.Fprintf(w, "chosen lambda %g (validation %.2f%%)\n", rep.Lambda, 100*rep.ValAccuracy)
		f.write(w)
		fmt.Fprintf(w, "suggested reject threshold %.2f (validation accuracy of accepted >= %.0f%%)\n", rep.Threshold, 100*c.TargetAcc)
		kind = "float fine-tuned model"
		if hasTest {
			fmt.Fprintf(w, "test accuracy of the frozen head (float, refitted on train + validation): %.2f%%\n", 100*f.FrozenFloatTest)
		}
	} else {
		fmt.Fprintf(w, "chosen lambda %g (validation %.2f%%); suggested reject threshold %.2f (validation accuracy of accepted >= %.0f%%)\n",
			rep.Lambda, 100*rep.ValAccuracy, rep.Threshold, 100*c.TargetAcc)
	}
	if !hasTest {
		fmt.Fprintf(w, "no test split: trained on all %d photos (train + validation); the settings' accuracy on unseen photos comes from a run with a test split\n", rep.Train+rep.Val)
	} else {
		fmt.Fprintf(w, "test accuracy: %s %.2f%%, exported model %.2f%%", kind, 100*rep.FloatTest.Accuracy, 100*rep.ExportTest.Accuracy)
		if rep.TTATest > 0 {
			fmt.Fprintf(w, ", float head with %d-view test-time augmentation %.2f%%", len(augs), 100*rep.TTATest)
		}
		fmt.Fprintf(w, "\n\nexported model on the test split:\n")
		rep.ExportTest.Write(w)
	}
	fmt.Fprintf(w, "\nwrote %s and %s; %d backbone runs, %.1f s\n", c.Out, rep.HeadFile, rep.BackboneRun, rep.Seconds)
	if d := math.Abs(rep.ExportTest.Accuracy - rep.FloatTest.Accuracy); d > 0.01 && hasTest {
		c.Log.Warn("exported model differs from the float model by more than 1 point", "float", rep.FloatTest.Accuracy, "exported", rep.ExportTest.Accuracy)
	}
	return rep, nil
}

func allIndices(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	return out
}

func (s Split) without(bad map[int]bool) Split {
	f := func(v []int) []int {
		var out []int
		for _, i := range v {
			if !bad[i] {
				out = append(out, i)
			}
		}
		return out
	}
	return Split{Train: f(s.Train), Val: f(s.Val), Test: f(s.Test)}
}

func dropNil(x [][]float32, y []int) ([][]float32, []int) {
	var ox [][]float32
	var oy []int
	for i := range x {
		if x[i] != nil {
			ox = append(ox, x[i])
			oy = append(oy, y[i])
		}
	}
	return ox, oy
}

func predict(h *Head, feats [][][]float32, idx []int, ds *Dataset) (truth, pred []int, conf []float64) {
	for _, i := range idx {
		p := make([]float32, len(h.B))
		n := 0
		for _, f := range feats {
			if f[i] == nil {
				continue
			}
			n++
			for c, v := range h.Probs(f[i]) {
				p[c] += v
			}
		}
		best := argmax(p)
		truth = append(truth, ds.Items[i].Class)
		pred = append(pred, best)
		conf = append(conf, float64(p[best])/float64(max(n, 1)))
	}
	return
}

func evaluate(h *Head, feats [][][]float32, idx []int, ds *Dataset) Metrics {
	t, p, c := predict(h, feats, idx, ds)
	return Score(ds.Classes, t, p, c)
}

// tta measures the float head averaging its probabilities over every
// augmented view of each test image (computed and cached on demand).
func tta(ctx context.Context, ex *Extractor, h *Head, ds *Dataset, idx []int, augs []Augment) float64 {
	items := make([]Item, len(idx))
	for i, j := range idx {
		items[i] = ds.Items[j]
	}
	views := make([][][]float32, 0, len(augs))
	for _, a := range augs {
		f, _, err := ex.Features(ctx, items, a, nil)
		if err != nil {
			return 0
		}
		views = append(views, f)
	}
	ok := 0
	for i := range items {
		p := make([]float32, len(h.B))
		for _, v := range views {
			if v[i] == nil {
				continue
			}
			for c, q := range h.Probs(v[i]) {
				p[c] += q
			}
		}
		if argmax(p) == items[i].Class {
			ok++
		}
	}
	return float64(ok) / float64(len(items))
}

func logitRange(h *Head, x [][]float32) (lo, hi float32) {
	lo, hi = float32(math.Inf(1)), float32(math.Inf(-1))
	for _, r := range x {
		for _, v := range h.Logits(r) {
			lo, hi = min(lo, v), max(hi, v)
		}
	}
	return lo, hi
}

// EvalModel classifies every item with a .tflite model through the infer
// package (the path the daemon uses) and scores it. The model's labels
// are matched to the data's class names; a class the model does not know
// counts as an error for every image of it, and the model's labels the
// data lacks are appended to the metrics' classes (support 0), so the data
// may hold any subset of them, even one class.
func EvalModel(ctx context.Context, o infer.Options, classes []string, items []Item) (Metrics, error) {
	o.Fallback = true
	c, err := infer.New(o)
	if err != nil {
		return Metrics{}, err
	}
	defer c.Close()
	labels := c.Labels()
	classes = classes[:len(classes):len(classes)] // appending below must not write into the caller's slice
	toData := make([]int, len(labels))
	for i, l := range labels {
		toData[i] = slices.Index(classes, l)
		if toData[i] < 0 {
			toData[i] = len(classes)
			classes = append(classes, l)
		}
	}
	var truth, pred []int
	var conf []float64
	for _, it := range items {
		img, err := infer.ReadImageFile(it.Path, infer.ImageLimits{})
		if err != nil {
			continue
		}
		r, err := c.Classify(ctx, img, 1)
		img.Close()
		if err != nil {
			return Metrics{}, err
		}
		truth = append(truth, it.Class)
		pred = append(pred, toData[r.Index])
		conf = append(conf, float64(r.Score.Score))
	}
	return Score(classes, truth, pred, conf), nil
}
