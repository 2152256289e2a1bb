package train

import (
	"bytes"
	"context"
	"errors"
	"math"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sorterd/sorterd/infer"
	"github.com/sorterd/sorterd/internal/testenv"
	"github.com/sorterd/sorterd/tfmodel"
)

// The analytic gradient of the fine-tuning loss (cross-entropy with class
// weights through head, standardisation, mean, RELU6 and the convolution,
// plus both L2 terms) matches central finite differences on a tiny
// random problem.
func TestFineTuneGradient(t *testing.T) { testFineTuneGradient(t, 1, 0) }

// The same with label smoothing: the target spreads over every class.
func TestFineTuneGradientSmooth(t *testing.T) { testFineTuneGradient(t, 1, 0.2) }

// The same with two layers: the gradient also flows back through the
// convolution to the linear projection before it.
func TestFineTuneGradient2(t *testing.T) { testFineTuneGradient(t, 2, 0) }

func testFineTuneGradient(t *testing.T, layers int, smooth float64) {
	rng := rand.New(rand.NewSource(1))
	const in, out, k, p, n = 5, 6, 3, 4, 7
	const pin = 4 // the projection's input channels (two layers)
	conv := &convLayer{In: in, Out: out, W: make([]float32, in*out), B: make([]float32, out)}
	for i := range conv.W {
		conv.W[i] = float32(rng.NormFloat64())
	}
	for i := range conv.B {
		conv.B[i] = float32(2 + rng.NormFloat64())
	}
	h := &softmaxHead{Classes: []string{"a", "b", "c"}, Lambda: 0.05, B: make([]float32, k)}
	for c := 0; c < k; c++ {
		w := make([]float32, out)
		for j := range w {
			w[j] = float32(rng.NormFloat64())
		}
		h.W = append(h.W, w)
		h.B[c] = float32(rng.NormFloat64())
	}
	for j := 0; j < out; j++ {
		h.Mean = append(h.Mean, float32(2+rng.Float64()))
		h.Std = append(h.Std, float32(0.5+rng.Float64()))
	}
	var proj *convLayer
	xin := in
	if layers == 2 {
		// Inputs of ±1.3 (scale 0.01 × bytes), weights ~0.3: the
		// projection's output has the spread the convolution expects.
		proj = &convLayer{In: pin, Out: in, W: make([]float32, pin*in), B: make([]float32, in)}
		for i := range proj.W {
			proj.W[i] = float32(0.3 * rng.NormFloat64())
		}
		for i := range proj.B {
			proj.B[i] = float32(0.2 * rng.NormFloat64())
		}
		xin = pin
	}
	xs := make([][]byte, n)
	ys := make([]int, n)
	for e := range xs {
		xs[e] = make([]byte, p*xin)
		rng.Read(xs[e])
		ys[e] = rng.Intn(k)
	}
	ws := sampleWeights(ys, k, true)
	m := &fineTuned{Proj: proj, Conv: conv, Head: h, In: quantParams{Scale: 0.01, ZeroPoint: 3}, P: p}
	s := newFTState(m, 0.3, smooth)
	// Move the weights off their L2 anchor so that term has a gradient.
	for i := range conv.W {
		conv.W[i] += 0.1 * float32(rng.NormFloat64())
	}
	if proj != nil {
		for i := range proj.W {
			proj.W[i] += 0.05 * float32(rng.NormFloat64())
		}
	}
	s.lossGrad(xs, ys, ws)
	mask := func() []bool {
		var m []bool
		for _, v := range s.fw.pre {
			m = append(m, v > 0 && v < 6)
		}
		return m
	}
	same := func(a, b []bool) bool {
		for i := range a {
			if a[i] != b[i] {
				return false
			}
		}
		return true
	}
	m0 := mask()
	grads := make([][]float32, len(s.grads))
	for i, g := range s.grads {
		grads[i] = append([]float32(nil), g...)
	}
	names := []string{"conv W", "conv B", "head W", "head B", "projection W", "projection B"}
	const eps = 1e-2
	checked, skipped := 0, 0
	for gi, par := range s.params {
		for j := range par {
			orig := par[j]
			par[j] = orig + eps
			lp := s.lossGrad(xs, ys, ws)
			mp := mask()
			par[j] = orig - eps
			lm := s.lossGrad(xs, ys, ws)
			mm := mask()
			par[j] = orig
			if !same(m0, mp) || !same(m0, mm) {
				// The step crosses a RELU6 kink: the finite difference
				// is meaningless there.
				skipped++
				continue
			}
			num := (lp - lm) / (2 * eps)
			ana := float64(grads[gi][j])
			if d := math.Abs(num - ana); d > 2e-3+2e-2*math.Abs(ana) {
				t.Errorf("%s[%d]: analytic %.6f, finite difference %.6f", names[gi], j, ana, num)
			}
			checked++
		}
	}
	t.Logf("%d parameters checked, %d skipped at a kink", checked, skipped)
	total := 0
	for _, par := range s.params {
		total += len(par)
	}
	if want := in*out + out + k*out + k + (layers-1)*(pin*in+in); total != want {
		t.Fatalf("%d parameters, want %d", total, want)
	}
	if checked < total*3/4 {
		t.Errorf("checked only %d parameters (%d cross a kink)", checked, skipped)
	}
}

// ftFixture is a fine-tuned model on synthetic photos at 96 px, with the
// activations it was trained on.
type ftFixture struct {
	base  []byte
	items []Item
	acts  [][]byte
	q     quantParams
	m     *fineTuned
	ds    *Dataset
}

func newFTFixture(t *testing.T, layers int) *ftFixture {
	t.Helper()
	basePath := baseModel(t, ptq)
	base, err := os.ReadFile(basePath)
	if err != nil {
		t.Fatal(err)
	}
	ds, err := Scan(synthData(t, 12))
	if err != nil {
		t.Fatal(err)
	}
	cache := t.TempDir()
	const size = 96
	fx, err := newExtractor(extractorOptions{Base: basePath, CacheDir: cache, Size: size})
	if err != nil {
		t.Fatal(err)
	}
	defer fx.Close()
	feats, _, err := fx.Features(context.Background(), ds.Items, augments[0], nil)
	if err != nil {
		t.Fatal(err)
	}
	ax, err := newExtractor(extractorOptions{Base: basePath, CacheDir: cache, Size: size, ConvInput: true, Layers: layers})
	if err != nil {
		t.Fatal(err)
	}
	defer ax.Close()
	channels := map[int]int32{1: 320, 2: 960}[layers]
	if s := ax.Shape(); len(s) != 4 || s[1] != 3 || s[2] != 3 || s[3] != channels {
		t.Fatalf("activation shape %v at %d px", s, size)
	}
	acts, _, err := ax.Activations(context.Background(), ds.Items, augments[0], nil)
	if err != nil {
		t.Fatal(err)
	}
	var y []int
	for _, it := range ds.Items {
		y = append(y, it.Class)
	}
	h, err := trainHead(feats, y, ds.Classes, headOptions{Lambda: 1e-2, ClassWeights: true})
	if err != nil {
		t.Fatal(err)
	}
	conv, err := baseConv(base)
	if err != nil {
		t.Fatal(err)
	}
	var proj *convLayer
	if layers == 2 {
		if proj, err = baseProj(base); err != nil {
			t.Fatal(err)
		}
	}
	// The float model with the base's convolution reproduces the
	// backbone's own pooled features up to its int8 rounding: two steps
	// of the pooled tensor (0.019 here) and one of the convolution's
	// output (6/255).
	// The base's pooled tensor saturates at its calibrated maximum.
	g, err := tfmodel.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	pt, _, err := pooledFeature(g)
	if err != nil {
		t.Fatal(err)
	}
	ps := g.Tensors[pt].Scale[0]
	top := ps * float32(127-g.Tensors[pt].ZeroPoint[0])
	start := &fineTuned{Proj: proj, Conv: conv, Head: h, In: ax.Quant(), P: 9}
	tol := 2*float64(ps) + 6.0/255
	if proj != nil {
		// The projection's output rounded to the base's int8 grid, as
		// the backbone does; TFLite's fixed-point rescaling may round a
		// value one step the other way, which Conv_1 carries on.
		ci, _ := findPoolConv(g)
		ct := g.Tensors[g.Ops[ci].Inputs[0]]
		start.ProjQ = &quantParams{Scale: ct.Scale[0], ZeroPoint: int32(ct.ZeroPoint[0])}
		tol += 6.0 / 255
	}
	for i, f := range start.Pooled(acts) {
		for j := range f {
			if d := math.Abs(float64(min(f[j], top) - feats[i][j])); d > tol {
				t.Fatalf("image %d feature %d: float conv %.4f, backbone %.4f", i, j, f[j], feats[i][j])
			}
		}
	}
	set := actSet{X: acts, Y: y}
	res, err := fineTune(context.Background(), fineTuneInput{Train: set, Val: set, In: ax.Quant(), Proj: proj, Conv: conv, Head: h},
		FineTuneOptions{Epochs: 2, Batch: 8, LR: 3e-4, ClassWeights: true, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	m, epochs, chosen := res.Model, res.Epochs, res.Chosen
	if len(epochs) != 3 || chosen < 1 {
		t.Fatalf("epochs %+v, chosen %d", epochs, chosen)
	}
	return &ftFixture{base: base, items: ds.Items, acts: acts, q: ax.Quant(), m: m, ds: ds}
}

// The exported fine-tuned model: its pooled features match the float
// model's within the int8 steps of the convolution's output and the
// pooled tensor, and its predictions match image by image.
func TestFineTuneExport(t *testing.T) { testFineTuneExport(t, 1) }

// The same with two layers: the projection's weights, bias and output
// range (Conv_1's input quantization, recomputed) are exported too.
func TestFineTuneExport2(t *testing.T) { testFineTuneExport(t, 2) }

func testFineTuneExport(t *testing.T, layers int) {
	testenv.Slow(t, "fine-tunes and exports")
	f := newFTFixture(t, layers)
	pooled := f.m.Pooled(f.acts)
	var pmax float32
	for _, p := range pooled {
		for _, v := range p {
			pmax = max(pmax, v)
		}
	}
	convIn := f.q
	var qp *convExport
	var projQ *quantParams
	if f.m.Proj != nil {
		plo, phi := f.m.ProjRange(f.acts)
		qp = quantizeConv(f.m.Proj, f.q, phi, 0)
		qp.OutMin = plo
		convIn = actQuant(plo, phi)
		projQ = &convIn
		t.Logf("projection output range [%.3f, %.3f]: int8 scale %.4f, zero point %d", plo, phi, convIn.Scale, convIn.ZeroPoint)
	}
	qc := quantizeConv(f.m.Conv, convIn, 6, min(6, 1.05*pmax))
	lo, hi := logitRange(f.m.Head, pooled)
	model, err := exportModel(f.base, f.m.Head, exportOptions{Size: 96, LogitMin: lo, LogitMax: hi, Conv: qc, Proj: qp})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "ft.tflite")
	if err := os.WriteFile(path, model, 0o644); err != nil {
		t.Fatal(err)
	}
	// Features of the exported model: its backbone cut at the pooled tensor.
	ex, err := newExtractor(extractorOptions{Base: path, CacheDir: dir, Size: 96})
	if err != nil {
		t.Fatal(err)
	}
	defer ex.Close()
	got, _, err := ex.Features(context.Background(), f.items, augments[0], nil)
	if err != nil {
		t.Fatal(err)
	}
	// Against the same convolution with the int8 weights the model
	// stores: per value, two steps of the pooled tensor and one of the
	// convolution's output (the activations' rounding).
	dqm := &fineTuned{Conv: qc.Dequantized(convIn), Head: f.m.Head, In: f.q, P: f.m.P, ProjQ: projQ}
	tol := 2*float64(qc.PooledMax/255) + float64(qc.OutMax/255)
	if qp != nil {
		// With the projection's output on its int8 grid; a value that
		// TFLite's fixed-point rescaling rounds one step the other way
		// moves Conv_1's output by up to one more of its steps.
		dqm.Proj = qp.Dequantized(f.q)
		tol += float64(qc.OutMax / 255)
	}
	dq := dqm.Pooled(f.acts)
	var worst, sq, sqW float64
	for i := range got {
		for j := range got[i] {
			worst = math.Max(worst, math.Abs(float64(got[i][j]-dq[i][j])))
			d := float64(got[i][j] - pooled[i][j])
			sq += d * d
			w := float64(dq[i][j] - pooled[i][j])
			sqW += w * w
		}
	}
	vals := float64(len(got) * len(got[0]))
	rms, rmsW := math.Sqrt(sq/vals), math.Sqrt(sqW/vals)
	t.Logf("exported vs int8-weight float: largest difference %.4f (tolerance %.4f); exported vs float: rms %.4f, of which the weights' rounding %.4f",
		worst, tol, rms, rmsW)
	if worst > tol {
		t.Errorf("exported model's pooled features differ from its float counterpart's by up to %.4f", worst)
	}
	// Against the float model: the weights' rounding adds noise of about
	// half a weight step times the inputs' norm; the activations' rounding
	// must not add much to it.
	if rms > rmsW+float64(qc.PooledMax/255) {
		t.Errorf("exported model's pooled features differ from the float model's by %.4f rms (weights' rounding alone: %.4f)", rms, rmsW)
	}
	c, err := infer.New(infer.Options{Model: path})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// XNNPACK takes as many nodes as of the model with the base's
	// convolution(s).
	frozen, err := exportModel(f.base, f.m.Head, exportOptions{Size: 96, LogitMin: lo, LogitMax: hi})
	if err != nil {
		t.Fatal(err)
	}
	fpath := filepath.Join(dir, "frozen.tflite")
	if err := os.WriteFile(fpath, frozen, 0o644); err != nil {
		t.Fatal(err)
	}
	fc, err := infer.New(infer.Options{Model: fpath})
	if err != nil {
		t.Fatal(err)
	}
	fd := fc.Delegate()
	fc.Close()
	if d := c.Delegate(); d.DelegatedNodes == 0 || d.DelegatedNodes != fd.DelegatedNodes || d.Nodes != fd.Nodes {
		t.Errorf("XNNPACK took %d of %d nodes, of the frozen model %d of %d", d.DelegatedNodes, d.Nodes, fd.DelegatedNodes, fd.Nodes)
	} else {
		t.Logf("XNNPACK took %d of %d nodes, as of the frozen model", d.DelegatedNodes, d.Nodes)
	}
	want := f.m.Predict(f.acts)
	agree, okExp, okFloat := 0, 0, 0
	for i, it := range f.items {
		img, err := infer.ReadImageFile(it.Path, infer.ImageLimits{})
		if err != nil {
			t.Fatal(err)
		}
		r, err := c.Classify(context.Background(), img, 1)
		img.Close()
		if err != nil {
			t.Fatal(err)
		}
		if r.Index == want[i] {
			agree++
		}
		if r.Index == it.Class {
			okExp++
		}
		if want[i] == it.Class {
			okFloat++
		}
	}
	n := len(f.items)
	if float64(agree) < 0.95*float64(n) {
		t.Errorf("exported model agrees with the float fine-tuned model on %d of %d images", agree, n)
	}
	if d := math.Abs(float64(okExp-okFloat)) / float64(n); d > 0.01 {
		t.Errorf("accuracy: exported %d/%d, float %d/%d", okExp, n, okFloat, n)
	}
}

// sorterd train --finetune end to end: the report has the fine-tuning
// section, the exported model matches the float model, the head file
// reassembles the same bytes, and a second run reads every feature and
// activation from the cache.
func TestTrainFineTuneSynthetic(t *testing.T) { testTrainFineTuneSynthetic(t, 1) }

// The same fine-tuning two layers (--finetune-layers 2): Conv_1 and the
// projection before it.
func TestTrainFineTuneSynthetic2(t *testing.T) { testTrainFineTuneSynthetic(t, 2) }

func testTrainFineTuneSynthetic(t *testing.T, layers int) {
	testenv.Slow(t, "fine-tunes")
	base := baseModel(t, ptq)
	data := synthData(t, 16)
	out := filepath.Join(t.TempDir(), "garbage.tflite")
	cache := t.TempDir()
	var log bytes.Buffer
	cfg := Config{Data: []string{data}, Out: out, Base: base, Seed: 3, Augment: 1, Size: 96, CacheDir: cache,
		Lambdas: []float64{1e-2}, FineTune: true, FT: FineTuneOptions{Epochs: 2, Batch: 8, Layers: layers}}
	rep, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	rep.Write(&log)
	t.Log(log.String())
	f := rep.FineTune
	if f == nil || len(f.Epochs) != 3 || f.Chosen < 1 || f.ValAccuracy != f.Epochs[f.Chosen].ValAccuracy || f.Layers != layers {
		t.Fatalf("fine-tune report %+v", f)
	}
	if !strings.Contains(log.String(), "chosen epoch") {
		t.Error("fine-tuning not in the human report")
	}
	if d := rep.ExportTest.Accuracy - rep.FloatTest.Accuracy; d < -0.01 || d > 0.01 {
		t.Errorf("exported %.3f vs float fine-tuned %.3f", rep.ExportTest.Accuracy, rep.FloatTest.Accuracy)
	}
	model, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	again, err := Assemble(rep.HeadFile, base)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(model, again) {
		t.Error("the head file does not reassemble the exported model")
	}
	// Conv_1's int8 weights (~0.55 MB in base64), and with two layers the
	// projection's (~0.4 MB).
	if st, err := os.Stat(rep.HeadFile); err != nil || st.Size() > int64(layers)<<20 {
		t.Errorf("head file: %v, %d bytes", err, st.Size())
	}
	first := rep.BackboneRun
	// The features came from the activations: fine-tuning ran no view
	// through the backbone again.
	if first == 0 || f.BackboneRuns != 0 {
		t.Errorf("backbone runs: %d in all, %d more for fine-tuning, want 0", first, f.BackboneRuns)
	}
	rep2, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if rep2.BackboneRun != 0 {
		t.Errorf("second run called the backbone %d times (first: %d)", rep2.BackboneRun, first)
	}
	if rep2.FineTune.Chosen != f.Chosen || rep2.FloatTest.Accuracy != rep.FloatTest.Accuracy {
		t.Errorf("same seed, different result: epoch %d vs %d, test %.4f vs %.4f",
			rep2.FineTune.Chosen, f.Chosen, rep2.FloatTest.Accuracy, rep.FloatTest.Accuracy)
	}

	// NoTest (the run that makes the model to ship): the test photos
	// train too, the same validation split chooses, a model comes out.
	log.Reset()
	cfg.NoTest = true
	cfg.Out = filepath.Join(t.TempDir(), "ship.tflite")
	rep3, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	rep3.Write(&log)
	if rep3.Test != 0 || rep3.Train+rep3.Val != rep.Train+rep.Val+rep.Test || rep3.ExportTest.N != 0 {
		t.Errorf("no-test split: train %d val %d test %d (with a test: %d/%d/%d), export test n %d",
			rep3.Train, rep3.Val, rep3.Test, rep.Train, rep.Val, rep.Test, rep3.ExportTest.N)
	}
	if !strings.Contains(log.String(), "no test split") || strings.Contains(log.String(), "test accuracy") {
		t.Errorf("no-test report:\n%s", log.String())
	}
	c, err := infer.New(infer.Options{Model: cfg.Out})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if m := c.Info().Sorterd; m == nil || m.Info["float_test_accuracy"] != nil || m.Info["train_images"] != float64(rep3.Train+rep3.Val) {
		t.Errorf("training facts of the no-test model: %+v", m)
	}
}

// A base whose pooling does not read a 1×1 convolution, or whose
// convolution is not int8 per-channel, is refused with ErrNoPoolConv
// before any image is read; a uint8 base is not refused.
func TestFineTuneBadBase(t *testing.T) {
	raw, err := os.ReadFile(baseModel(t, ptq))
	if err != nil {
		t.Fatal(err)
	}
	g, err := tfmodel.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	ci, err := findPoolConv(g)
	if err != nil {
		t.Fatal(err)
	}
	_, pool, _ := pooledFeature(g)
	// Let the pooling read what the convolution reads (the previous
	// block's 1×1 projection, which has no RELU6), then what that reads
	// (a depthwise convolution): neither is a convolution to fine-tune.
	proj := g.Producer(g.Ops[ci].Inputs[0])
	dir := t.TempDir()
	for name, src := range map[string]int32{"no-relu6": g.Ops[ci].Inputs[0], "depthwise": g.Ops[proj].Inputs[0]} {
		g2, _ := tfmodel.Parse(raw)
		g2.Ops[pool].Inputs = append([]int32{src}, g2.Ops[pool].Inputs[1:]...)
		path := filepath.Join(dir, name+".tflite")
		if err := os.WriteFile(path, mustWrite(t, g2), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := Run(context.Background(), Config{Data: []string{t.TempDir()}, Out: filepath.Join(dir, "x.tflite"), Base: path, CacheDir: dir, FineTune: true})
		if !errors.Is(err, ErrNoPoolConv) {
			t.Errorf("%s: %v", name, err)
		} else {
			t.Logf("%s: %v", name, err)
		}
	}
	// Two layers: Conv_1 must read a linear 1×1 projection that only it
	// reads. Let it read the depthwise convolution before the projection
	// instead, or give the projection a fused RELU6.
	for name, edit := range map[string]func(g *tfmodel.Model){
		"conv reads depthwise": func(g *tfmodel.Model) { g.Ops[ci].Inputs[0] = g.Ops[proj].Inputs[0] },
		"projection relu6": func(g *tfmodel.Model) {
			g.Ops[proj].SetOption(tfmodel.Conv2DActivation, uint64(tfmodel.ActRelu6))
		},
	} {
		g2, _ := tfmodel.Parse(raw)
		edit(g2)
		if _, err := findProjConv(g2); !errors.Is(err, ErrNoPoolConv) {
			t.Errorf("%s: findProjConv: %v", name, err)
		}
		path := filepath.Join(dir, strings.ReplaceAll(name, " ", "-")+".tflite")
		if err := os.WriteFile(path, mustWrite(t, g2), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := Run(context.Background(), Config{Data: []string{t.TempDir()}, Out: filepath.Join(dir, "x.tflite"), Base: path, CacheDir: dir,
			FineTune: true, FT: FineTuneOptions{Layers: 2}})
		if !errors.Is(err, ErrNoPoolConv) {
			t.Errorf("%s: %v", name, err)
		} else {
			t.Logf("%s: %v", name, err)
		}
	}
	if _, err := baseProj(raw); err != nil {
		t.Errorf("the base's projection: %v", err)
	}
	u8raw, err := os.ReadFile(baseModel(t, u8))
	if err != nil {
		t.Fatal(err)
	}
	// A uint8 base is fine-tuned as its int8 rewrite (baseGraph).
	if c, err := baseConv(u8raw); err != nil || c.In != 320 || c.Out != 1280 {
		t.Errorf("uint8 base: %v", err)
	}
	if _, shape, q, err := convInputModel(u8raw, 0); err != nil || len(shape) != 4 || shape[3] != 320 || q.Scale <= 0 {
		t.Errorf("uint8 base, activation model: %v %v %+v", err, shape, q)
	}
}

// A cancelled context stops fine-tuning before its next mini-batch, with
// the context's error, so Ctrl-C or a SIGTERM need not wait for an epoch.
func TestFineTuneStopsOnCancel(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	const in, out, p, n = 4, 5, 3, 64
	conv := &convLayer{In: in, Out: out, W: make([]float32, in*out), B: make([]float32, out)}
	for i := range conv.W {
		conv.W[i] = float32(rng.NormFloat64())
	}
	h := &softmaxHead{Classes: []string{"a", "b"}, Lambda: 0.01, B: make([]float32, 2)}
	for c := 0; c < 2; c++ {
		h.W = append(h.W, make([]float32, out))
	}
	for j := 0; j < out; j++ {
		h.Mean, h.Std = append(h.Mean, 0), append(h.Std, 1)
	}
	var set actSet
	for e := 0; e < n; e++ {
		x := make([]byte, p*in)
		rng.Read(x)
		set.X, set.Y = append(set.X, x), append(set.Y, e%2)
	}
	q := quantParams{Scale: 0.02, ZeroPoint: -128}
	o := FineTuneOptions{Epochs: 3, Batch: 8, Seed: 1}
	start := fineTuneInput{Train: set, Val: set, In: q, Conv: conv, Head: h}
	if _, err := fineTune(context.Background(), start, o); err != nil {
		t.Fatalf("without a context: %v", err)
	}
	batches := 0
	ctx, cancel := context.WithCancel(context.Background())
	o.Progress = func(ep, done, total int) {
		if batches++; batches == 2 {
			cancel()
		}
	}
	res, err := fineTune(ctx, start, o)
	if !errors.Is(err, context.Canceled) || res.Model != nil {
		t.Fatalf("cancelled run: model %v, err %v", res.Model, err)
	}
	if batches != 2 {
		t.Errorf("%d mini-batches ran after the cancel at the 2nd", batches-2)
	}
}
