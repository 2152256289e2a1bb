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
	// a random tray and cropped as the daemon crops; see stationViews).
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
	// head (see fineTune); FT tunes it (zero values: defaults).
	FineTune bool
	FT       FineTuneOptions
	Log      *slog.Logger
	// Progress, if set, is called as each long step starts (features or
	// activations of a view, a fine-tuning epoch) and returns the
	// function that step reports its progress to (nil: none). train
	// itself prints nothing: the caller draws the bars.
	Progress func(step string) func(done, total int)
}

// Report is what a training run measured. Write prints it for a person.
type Report struct {
	Classes     []string   `json:"classes"`
	Seed        int64      `json:"seed"`
	Train       int        `json:"train"`
	Val         int        `json:"val"`
	Test        int        `json:"test"`
	Skipped     []string   `json:"skipped,omitempty"`
	Conflicts   [][]string `json:"conflicts,omitempty"`
	Lambda      float64    `json:"lambda"`
	ValAccuracy float64    `json:"val_accuracy"`
	ValScored   int        `json:"val_scored"` // validation examples: the photos and their station views
	FloatTest   Metrics    `json:"float_test"`
	// StationTest: the float model on the test photos' station views,
	// one crop each, as the station classifies them (nil without them).
	StationTest *Metrics             `json:"station_test,omitempty"`
	TTATest     float64              `json:"tta_test_accuracy"`
	ExportTest  Metrics              `json:"export_test"`
	Threshold   float64              `json:"threshold"`
	BackboneRun int64                `json:"backbone_runs"`
	Seconds     float64              `json:"seconds"`
	Delegate    infer.DelegateReport `json:"delegate"`
	HeadFile    string               `json:"head_file"`
	FineTune    *FineTuneReport      `json:"fine_tune,omitempty"`

	// For Write only (the JSON report stays as it was).
	scanSkipped  int           // Skipped[:scanSkipped] came from the scan, the rest failed to decode
	lambdas      []lambdaScore // every λ tried, in order
	views        int           // views per training image, the original included
	stationViews int
	targetAcc    float64
	out          string // the exported model
}

// lambdaScore is the validation accuracy of the head trained with λ.
type lambdaScore struct {
	lambda, accuracy float64
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
	Smooth            float64 `json:"label_smoothing"`
	// Layers fine-tuned (1: Conv_1; 2: also the projection before it,
	// with its step size and the output range seen in training).
	Layers       int        `json:"layers"`
	ProjLR       float64    `json:"proj_lr,omitempty"`
	ProjRange    [2]float32 `json:"proj_range,omitempty"`
	BackboneRuns int64      `json:"backbone_runs"` // extraction fine-tuning added (views the features did not need)
	Seconds      float64    `json:"seconds"`       // training only
}

// headPath is where train keeps the head file for a model: beside it,
// "garbage.tflite" → "garbage.head.json".
func headPath(model string) string {
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
}

// progress is the progress function for one step, or nil.
func (c *Config) progress(step string) func(done, total int) {
	if c.Progress == nil {
		return nil
	}
	return c.Progress(step)
}

// Run trains a head on the data folder and exports the model, in stages:
// features of every view → the regularisation λ chosen on the validation
// split → the head refitted on train + validation → fine-tuning (if
// asked) → export (model and head file) → evaluation of the exported
// model on the test split. It prints nothing; the Report says what each
// stage measured.
func Run(ctx context.Context, c Config) (*Report, error) {
	c.defaults()
	start := time.Now()
	r, err := newRun(c)
	if err != nil {
		return nil, err
	}
	// Fine-tuning reads the activations at the convolution's input; the
	// frozen head's features follow from them by that convolution (run
	// here, in float), so the backbone runs once per view, not twice.
	ex, err := newExtractor(extractorOptions{Base: c.Base, CacheDir: c.CacheDir, Delegate: c.Delegate, Size: c.Size, Logger: c.Log,
		ConvInput: c.FineTune, Layers: c.FT.Layers})
	if err != nil {
		return nil, err
	}
	defer ex.Close()
	r.rep.Delegate = ex.Delegate()
	if err := r.features(ctx, ex); err != nil {
		return nil, err
	}
	chosen, err := r.chooseLambda()
	if err != nil {
		return nil, err
	}
	final, err := r.finalHead()
	if err != nil {
		return nil, err
	}
	t := trained{head: final.head, logitMin: final.logitMin, logitMax: final.logitMax}
	if c.FineTune {
		// The frozen head on the training split (the one λ was chosen
		// with) starts the run the validation split picks the epoch in;
		// the one refitted on train + validation starts the final run.
		if t, err = r.tune(ctx, ex, chosen, final.head); err != nil {
			return nil, err
		}
	} else if tv := augmentSet(c.Augment); len(tv) > 1 && r.rep.Test > 0 {
		r.rep.TTATest = tta(ctx, ex, final.head, r.ds, r.sp.Test, tv)
	}
	if err := r.export(t); err != nil {
		return nil, err
	}
	if err := r.evaluate(ctx); err != nil {
		return nil, err
	}
	r.rep.BackboneRun = ex.Calls.Load()
	r.rep.Seconds = time.Since(start).Seconds()
	if d := math.Abs(r.rep.ExportTest.Accuracy - r.rep.FloatTest.Accuracy); d > 0.01 && r.rep.Test > 0 {
		c.Log.Warn("exported model differs from the float model by more than 1 point", "float", r.rep.FloatTest.Accuracy, "exported", r.rep.ExportTest.Accuracy)
	}
	return r.rep, nil
}

// run is one training run between its stages.
type run struct {
	c    Config
	rep  *Report
	ds   *Dataset
	sp   Split
	augs []view
	// feats[view][item] is an item's feature vector in that view (nil:
	// not extracted, or the photo failed to decode).
	feats [][][]float32
	base  []byte
	// The layers fine-tuning starts from (nil without fine-tuning).
	ftConv, ftProj *convLayer
}

// trained is what the training stages hand to the export: the head, the
// fine-tuned layers (nil if frozen) and the logit range seen in training.
type trained struct {
	head               *softmaxHead
	conv, proj         *convExport
	logitMin, logitMax float32
}

// newRun reads the data folders and splits them. With fine-tuning it
// first reads the layers to fine-tune: a base fine-tuning cannot use is
// refused before hours of extraction.
func newRun(c Config) (*run, error) {
	r := &run{c: c}
	if c.FineTune {
		var err error
		if r.base, err = os.ReadFile(c.Base); err != nil {
			return nil, fmt.Errorf("base model: %w", err)
		}
		if r.ftConv, r.ftProj, err = c.baseLayers(r.base); err != nil {
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
	r.ds = ds
	r.sp = ds.StratifiedSplit(c.Seed, c.ValFraction, c.TestFraction)
	r.augs = append(augmentSet(c.Augment), stationViews(c.StationViews)...)
	r.rep = &Report{Classes: ds.Classes, Seed: c.Seed, Skipped: ds.Skipped, Conflicts: ds.Conflicts,
		scanSkipped: len(ds.Skipped), views: len(r.augs), stationViews: c.StationViews, targetAcc: c.TargetAcc, out: c.Out}
	return r, nil
}

// features extracts every view's features (originals of every photo,
// augmented views of the training photos only), leaves photos that fail
// to decode out of the split, and checks the split is big enough.
func (r *run) features(ctx context.Context, ex *extractor) error {
	r.feats = make([][][]float32, len(r.augs))
	for a, aug := range r.augs {
		idx := r.sp.Train
		if a == 0 || r.isStation(a) {
			idx = allIndices(len(r.ds.Items))
		}
		items := make([]Item, len(idx))
		for i, j := range idx {
			items[i] = r.ds.Items[j]
		}
		f, fails, err := r.viewFeatures(ctx, ex, items, aug)
		if err != nil {
			return err
		}
		r.feats[a] = make([][]float32, len(r.ds.Items))
		for i, j := range idx {
			r.feats[a][j] = f[i]
		}
		if a == 0 {
			for _, fl := range fails {
				r.rep.Skipped = append(r.rep.Skipped, fmt.Sprintf("%s: %v", fl.Path, fl.Err))
			}
		}
	}
	bad := map[int]bool{}
	for i := range r.ds.Items {
		if r.feats[0][i] == nil {
			bad[i] = true
		}
	}
	r.sp = r.sp.without(bad)
	rep := r.rep
	rep.Train, rep.Val, rep.Test = len(r.sp.Train), len(r.sp.Val), len(r.sp.Test)
	if rep.Train == 0 || rep.Val == 0 || (rep.Test == 0 && !r.c.NoTest) {
		return fmt.Errorf("data folder %s is too small to split (train %d, validation %d, test %d)", strings.Join(r.c.Data, ", "), rep.Train, rep.Val, rep.Test)
	}
	return nil
}

// viewFeatures is ex.Features, or with an activation extractor
// (fine-tuning) the base model's pooled features computed from the
// activations: the base convolution (and projection), RELU6 and the mean.
func (r *run) viewFeatures(ctx context.Context, ex *extractor, items []Item, aug view) ([][]float32, []failure, error) {
	progress := r.c.progress("features " + aug.Name)
	if !ex.act {
		return ex.Features(ctx, items, aug, progress)
	}
	x, fails, err := ex.Activations(ctx, items, aug, progress)
	if err != nil {
		return nil, nil, err
	}
	first := r.ftConv
	if r.ftProj != nil {
		first = r.ftProj
	}
	m := &fineTuned{Proj: r.ftProj, Conv: r.ftConv, In: ex.Quant()}
	out := make([][]float32, len(x))
	var some [][]byte
	var at []int
	for i, v := range x {
		if v != nil {
			some, at = append(some, v), append(at, i)
			m.P = len(v) / first.In
		}
	}
	for k, f := range m.Pooled(some) {
		out[at[k]] = f
	}
	return out, fails, nil
}

// rows gathers the feature rows and classes of the items idx: their
// originals, and with allViews every augmented view too (nil rows for
// items without one).
func (r *run) rows(idx []int, allViews bool) ([][]float32, []int) {
	var x [][]float32
	var y []int
	n := 1
	if allViews {
		n = len(r.augs)
	}
	for a := 0; a < n; a++ {
		for _, i := range idx {
			x = append(x, r.feats[a][i])
			y = append(y, r.ds.Items[i].Class)
		}
	}
	return x, y
}

// chooseLambda trains a head on the training split for every λ and keeps
// the one most accurate on the validation split; its predictions there
// suggest the reject threshold.
func (r *run) chooseLambda() (*softmaxHead, error) {
	xtr, ytr := r.rows(r.sp.Train, true)
	xv, yv := r.heldRows(r.sp.Val, true)
	bestAcc := -1.0
	var best *softmaxHead
	for _, lam := range r.c.Lambdas {
		h, err := trainHead(xtr, ytr, r.ds.Classes, headOptions{Lambda: lam, ClassWeights: true})
		if err != nil {
			return nil, err
		}
		m := scoreRows(h, xv, yv, r.ds.Classes)
		r.rep.lambdas = append(r.rep.lambdas, lambdaScore{lam, m.Accuracy})
		if m.Accuracy > bestAcc+1e-9 {
			bestAcc, r.rep.Lambda, best = m.Accuracy, lam, h
		}
	}
	r.rep.ValAccuracy, r.rep.ValScored = bestAcc, len(xv)
	truth, pred, conf := predictRows(best, xv, yv)
	r.rep.Threshold = suggestThreshold(truth, pred, conf, r.c.TargetAcc)
	return best, nil
}

// isStation reports whether the view r.augs[a] is a station view. Those
// are made for every photo, not only the training ones: the validation
// photos' station views choose λ, the fine-tuning epoch and the reject
// threshold with the photos themselves, since the station classifies
// crops of items on a tray, and the test photos' measure the model as
// the station sees them (Report.StationTest).
func (r *run) isStation(a int) bool { return a >= len(r.augs)-r.c.StationViews }

// heldRows returns one feature row per held-out photo of idx (the
// validation or test split) and per station view of it: the photos first
// (with photos=true), then their station views.
func (r *run) heldRows(idx []int, photos bool) ([][]float32, []int) {
	var x [][]float32
	var y []int
	for a := range r.augs {
		if (a == 0 && !photos) || (a > 0 && !r.isStation(a)) {
			continue
		}
		for _, i := range idx {
			if f := r.feats[a][i]; f != nil {
				x = append(x, f)
				y = append(y, r.ds.Items[i].Class)
			}
		}
	}
	return x, y
}

// trayViews are the station views, the last of r.augs (see isStation).
func (r *run) trayViews() []view { return r.augs[len(r.augs)-r.c.StationViews:] }

// finalHead refits the head on train + validation with the chosen λ and
// measures it on the test split.
func (r *run) finalHead() (trained, error) {
	xall, yall := r.rows(append(append([]int{}, r.sp.Train...), r.sp.Val...), true)
	// Validation photos have no augmented views, only station views.
	xall, yall = dropNil(xall, yall)
	head, err := trainHead(xall, yall, r.ds.Classes, headOptions{Lambda: r.rep.Lambda, ClassWeights: true})
	if err != nil {
		return trained{}, err
	}
	r.rep.FloatTest = evaluate(head, r.feats[:1], r.sp.Test, r.ds)
	if xs, ys := r.heldRows(r.sp.Test, false); len(xs) > 0 {
		m := scoreRows(head, xs, ys, r.ds.Classes)
		r.rep.StationTest = &m
	}
	lo, hi := logitRange(head, xall)
	return trained{head: head, logitMin: lo, logitMax: hi}, nil
}

// export writes the model and, beside it, the head file that rebuilds it
// from the base (`sorterd export`).
func (r *run) export(t trained) error {
	c, rep := &r.c, r.rep
	if r.base == nil {
		var err error
		if r.base, err = os.ReadFile(c.Base); err != nil {
			return err
		}
	}
	eo := exportOptions{
		Size: c.Size, Threshold: rep.Threshold, LogitMin: t.logitMin, LogitMax: t.logitMax, Conv: t.conv, Proj: t.proj,
		Info: map[string]any{"seed": c.Seed, "lambda": rep.Lambda, "augment": len(augmentSet(c.Augment)) - 1, "station_views": c.StationViews,
			"train_images": rep.Train + rep.Val, "base": filepath.Base(c.Base),
			"trained": time.Now().UTC().Format(time.RFC3339)},
	}
	if rep.Test > 0 {
		eo.Info["float_test_accuracy"] = rep.FloatTest.Accuracy
	}
	if f := rep.FineTune; f != nil {
		eo.Info["fine_tune_epoch"] = f.Chosen
		eo.Info["fine_tune_val_accuracy"] = f.ValAccuracy
		eo.Info["fine_tune_layers"] = f.Layers
	}
	model, err := exportModel(r.base, t.head, eo)
	if err != nil {
		return err
	}
	baseSum := sha256.Sum256(r.base)
	hf := &headFile{Base: filepath.Base(c.Base), BaseSHA256: hex.EncodeToString(baseSum[:]), Export: eo, Head: t.head}
	if err := os.MkdirAll(filepath.Dir(c.Out), 0o755); err != nil {
		return err
	}
	if err := writeFileAtomic(c.Out, model); err != nil {
		return err
	}
	rep.HeadFile = headPath(c.Out)
	return writeHeadFile(rep.HeadFile, hf)
}

// evaluate runs the exported model on the test split through infer, the
// daemon's path.
func (r *run) evaluate(ctx context.Context) error {
	if r.rep.Test == 0 {
		return nil
	}
	items := make([]Item, len(r.sp.Test))
	for i, j := range r.sp.Test {
		items[i] = r.ds.Items[j]
	}
	var err error
	r.rep.ExportTest, err = EvalModel(ctx, infer.Options{Model: r.c.Out, Delegate: r.c.Delegate}, r.ds.Classes, items)
	if err != nil {
		return fmt.Errorf("evaluate exported model: %w", err)
	}
	return nil
}

// Write prints the report of a run for a person: what was left out, the
// split, the λ search, fine-tuning, the threshold and the test figures.
func (rep *Report) Write(w io.Writer) {
	for i, s := range rep.Skipped {
		if i == rep.scanSkipped {
			rep.writeConflicts(w)
		}
		fmt.Fprintf(w, "skipped %s\n", s)
	}
	if rep.scanSkipped >= len(rep.Skipped) {
		rep.writeConflicts(w)
	}
	fmt.Fprintf(w, "classes %v\nsplit (seed %d): train %d, validation %d, test %d; %d augmented view(s) per training image\n",
		rep.Classes, rep.Seed, rep.Train, rep.Val, rep.Test, rep.views-1)
	if rep.stationViews > 0 {
		fmt.Fprintf(w, "validation scores each photo and its %d station view(s), one by one (λ, epoch and threshold are chosen for the station's crops too)\n", rep.stationViews)
	}
	for _, l := range rep.lambdas {
		fmt.Fprintf(w, "lambda %-8g validation accuracy %.2f%%\n", l.lambda, 100*l.accuracy)
	}
	kind := "float head"
	if f := rep.FineTune; f != nil {
		// The threshold is the fine-tuned model's: say so after its section.
		fmt.Fprintf(w, "chosen lambda %g (validation %.2f%%)\n", rep.Lambda, 100*rep.ValAccuracy)
		f.write(w)
		fmt.Fprintf(w, "suggested reject threshold %.2f (validation accuracy of accepted >= %.0f%%)\n", rep.Threshold, 100*rep.targetAcc)
		kind = "float fine-tuned model"
		if rep.Test > 0 {
			fmt.Fprintf(w, "test accuracy of the frozen head (float, refitted on train + validation): %.2f%%\n", 100*f.FrozenFloatTest)
		}
	} else {
		fmt.Fprintf(w, "chosen lambda %g (validation %.2f%%); suggested reject threshold %.2f (validation accuracy of accepted >= %.0f%%)\n",
			rep.Lambda, 100*rep.ValAccuracy, rep.Threshold, 100*rep.targetAcc)
	}
	if rep.Test == 0 {
		fmt.Fprintf(w, "no test split: trained on all %d photos (train + validation); the settings' accuracy on unseen photos comes from a run with a test split\n", rep.Train+rep.Val)
	} else {
		fmt.Fprintf(w, "test accuracy: %s %.2f%%, exported model %.2f%%", kind, 100*rep.FloatTest.Accuracy, 100*rep.ExportTest.Accuracy)
		if rep.TTATest > 0 {
			fmt.Fprintf(w, ", float head with %d-view test-time augmentation %.2f%%", rep.views, 100*rep.TTATest)
		}
		if st := rep.StationTest; st != nil {
			fmt.Fprintf(w, "\ntest photos' station views (%d crops, one view each): %s %.2f%%", st.N, kind, 100*st.Accuracy)
		}
		fmt.Fprintf(w, "\n\nexported model on the test split:\n")
		rep.ExportTest.Write(w)
	}
	fmt.Fprintf(w, "\nwrote %s and %s; %d backbone runs, %.1f s\n", rep.out, rep.HeadFile, rep.BackboneRun, rep.Seconds)
}

func (rep *Report) writeConflicts(w io.Writer) {
	for _, cf := range rep.Conflicts {
		fmt.Fprintf(w, "identical image in two classes, left out: %v\n", cf)
	}
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

func predict(h *softmaxHead, feats [][][]float32, idx []int, ds *Dataset) (truth, pred []int, conf []float64) {
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

// predictRows classifies each feature row on its own.
func predictRows(h *softmaxHead, x [][]float32, y []int) (truth, pred []int, conf []float64) {
	for i, f := range x {
		p := h.Probs(f)
		best := argmax(p)
		truth = append(truth, y[i])
		pred = append(pred, best)
		conf = append(conf, float64(p[best]))
	}
	return
}

func scoreRows(h *softmaxHead, x [][]float32, y []int, classes []string) Metrics {
	t, p, c := predictRows(h, x, y)
	return score(classes, t, p, c)
}

func evaluate(h *softmaxHead, feats [][][]float32, idx []int, ds *Dataset) Metrics {
	t, p, c := predict(h, feats, idx, ds)
	return score(ds.Classes, t, p, c)
}

// tta measures the float head averaging its probabilities over every
// augmented view of each test image (computed and cached on demand).
func tta(ctx context.Context, ex *extractor, h *softmaxHead, ds *Dataset, idx []int, augs []view) float64 {
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

func logitRange(h *softmaxHead, x [][]float32) (lo, hi float32) {
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
	return score(classes, truth, pred, conf), nil
}
