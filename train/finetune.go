package train

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand"
	"time"

	"github.com/sorterd/sorterd/tfmodel"
	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas32"
)

// convLayer is a 1×1 convolution in float: for each pixel p,
// out[p][o] = B[o] + Σ_i W[o·In+i]·x[p][i], followed by RELU6. W is in
// TFLite's OHWI order (for a 1×1 kernel, [Out][In]).
type convLayer struct {
	In, Out int
	W, B    []float32
}

func (c *convLayer) clone() *convLayer {
	return &convLayer{In: c.In, Out: c.Out, W: append([]float32(nil), c.W...), B: append([]float32(nil), c.B...)}
}

// poolConv finds the convolution before the pooling and checks it is one
// fine-tuning can retrain and export again: int8 per-channel weights,
// int32 bias, per-tensor int8 input and output, fused RELU6 (the float
// model applies exactly that).
func poolConv(g *tfmodel.Model) (int, error) {
	ci, err := findPoolConv(g)
	if err != nil {
		return -1, err
	}
	if err := checkQuantConv(g, ci); err != nil {
		return -1, err
	}
	if op := g.Ops[ci]; op.Option(tfmodel.Conv2DActivation, uint64(tfmodel.ActNone)) != uint64(tfmodel.ActRelu6) {
		return -1, fmt.Errorf("%w: CONV_2D %d has no fused RELU6", ErrNoPoolConv, ci)
	}
	return ci, nil
}

// projConv finds the linear 1×1 projection that feeds poolConv's
// convolution (findProjConv) and checks it is quantized like it.
func projConv(g *tfmodel.Model) (int, error) {
	if _, err := poolConv(g); err != nil {
		return -1, err
	}
	pi, err := findProjConv(g)
	if err != nil {
		return -1, err
	}
	if err := checkQuantConv(g, pi); err != nil {
		return -1, err
	}
	return pi, nil
}

// checkQuantConv checks a CONV_2D has int8 per-channel weights, a
// per-channel int32 bias and per-tensor int8 input and output.
func checkQuantConv(g *tfmodel.Model, ci int) error {
	op := g.Ops[ci]
	if len(op.Inputs) < 3 || op.Inputs[2] < 0 {
		return fmt.Errorf("%w: CONV_2D %d has no bias", ErrNoPoolConv, ci)
	}
	in, w, b, out := g.Tensors[op.Inputs[0]], g.Tensors[op.Inputs[1]], g.Tensors[op.Inputs[2]], g.Tensors[op.Outputs[0]]
	o := int(w.Shape[0])
	switch {
	case in.Type != tfmodel.Int8 || len(in.Scale) != 1 || out.Type != tfmodel.Int8 || len(out.Scale) != 1:
		return fmt.Errorf("%w: CONV_2D %d reads %v and writes %v; fine-tuning needs per-tensor int8 activations", ErrNoPoolConv, ci, in.Type, out.Type)
	case w.Type != tfmodel.Int8 || len(w.Scale) != o || w.QuantDim != 0:
		return fmt.Errorf("%w: CONV_2D %d has %v weights with %d scales; fine-tuning needs int8 per-output-channel weights", ErrNoPoolConv, ci, w.Type, len(w.Scale))
	case b.Type != tfmodel.Int32 || len(b.Scale) != o:
		return fmt.Errorf("%w: CONV_2D %d has a %v bias with %d scales, want per-channel int32", ErrNoPoolConv, ci, b.Type, len(b.Scale))
	}
	return nil
}

// baseConv reads the convolution before the pooling from a base model,
// dequantized: the starting point of fine-tuning.
func baseConv(base []byte) (*convLayer, error) {
	return baseLayer(base, poolConv)
}

// baseProj reads the projection before that convolution (MobileNetV2's
// block_16_project, linear) from a base model, dequantized: the starting
// point of fine-tuning two layers.
func baseProj(base []byte) (*convLayer, error) {
	return baseLayer(base, projConv)
}

// baseLayer reads the layer find picks from a base model, dequantized.
func baseLayer(base []byte, find func(*tfmodel.Model) (int, error)) (*convLayer, error) {
	g, err := baseGraph(base)
	if err != nil {
		return nil, err
	}
	i, err := find(g)
	if err != nil {
		return nil, err
	}
	return dequantConv(g, i)
}

func dequantConv(g *tfmodel.Model, ci int) (*convLayer, error) {
	op := g.Ops[ci]
	w, b := g.Tensors[op.Inputs[1]], g.Tensors[op.Inputs[2]]
	o, i := int(w.Shape[0]), int(w.Shape[3])
	wb, bb := g.Buffers[w.Buffer], g.Buffers[b.Buffer]
	if len(wb) != o*i || len(bb) != 4*o {
		return nil, fmt.Errorf("%w: CONV_2D %d: %d weight bytes and %d bias bytes for %d×%d", ErrNoPoolConv, ci, len(wb), len(bb), o, i)
	}
	c := &convLayer{In: i, Out: o, W: make([]float32, o*i), B: make([]float32, o)}
	for oc := 0; oc < o; oc++ {
		s := float64(w.Scale[oc])
		for k := 0; k < i; k++ {
			c.W[oc*i+k] = float32(s * float64(int64(int8(wb[oc*i+k]))-w.ZeroPoint[oc]))
		}
		q := int32(uint32(bb[4*oc]) | uint32(bb[4*oc+1])<<8 | uint32(bb[4*oc+2])<<16 | uint32(bb[4*oc+3])<<24)
		c.B[oc] = float32(float64(b.Scale[oc]) * float64(q))
	}
	return c, nil
}

// convExport is a fine-tuned convolution as the exported model stores
// it, already quantized, so the head file reproduces the model byte for
// byte and stays small (int8 weights, base64 in JSON).
type convExport struct {
	Weights []byte    `json:"weights"` // int8 [out][in], two's complement
	Scales  []float32 `json:"scales"`  // per output channel, symmetric
	Bias    []int32   `json:"bias"`    // scale: input scale × Scales[c]
	// OutMax and PooledMax set the int8 ranges [0, max] of the
	// convolution's output and of the pooled tensor.
	OutMax    float32 `json:"out_max"`
	PooledMax float32 `json:"pooled_max"`
	// OutMin is the lower end of the output's range for a linear
	// convolution (the projection before Conv_1, whose output range
	// fine-tuning moves): its int8 output is actQuant(OutMin, OutMax).
	OutMin float32 `json:"out_min,omitempty"`
}

// actQuant is the int8 quantization of the activation range [lo, hi]
// widened to hold 0: all 256 levels, 0 exactly representable.
func actQuant(lo, hi float32) quantParams {
	lo, hi = min(lo, 0), max(hi, 0)
	if hi-lo <= 0 {
		hi = 1
	}
	s := (hi - lo) / 255
	zp := int32(clamp(math.Round(-128-float64(lo)/float64(s)), -128, 127))
	return quantParams{Scale: s, ZeroPoint: zp}
}

// quantizeConv quantizes a float convolution for export the way TFLite's
// converter does: int8 symmetric per output channel (scale max|w|/127),
// int32 bias at input scale × weight scale.
func quantizeConv(c *convLayer, in quantParams, outMax, pooledMax float32) *convExport {
	e := &convExport{Weights: make([]byte, len(c.W)), Scales: make([]float32, c.Out), Bias: make([]int32, c.Out),
		OutMax: outMax, PooledMax: pooledMax}
	for o := 0; o < c.Out; o++ {
		row := c.W[o*c.In : (o+1)*c.In]
		var m float64
		for _, v := range row {
			m = math.Max(m, math.Abs(float64(v)))
		}
		s := float32(m / 127)
		if s == 0 {
			s = 1e-8 // an all-zero channel; TFLite wants a positive scale
		}
		e.Scales[o] = s
		for k, v := range row {
			e.Weights[o*c.In+k] = byte(int8(clamp(math.Round(float64(v)/float64(s)), -127, 127)))
		}
		bs := float64(float32(float64(in.Scale) * float64(s)))
		e.Bias[o] = int32(clamp(math.Round(float64(c.B[o])/bs), math.MinInt32, math.MaxInt32))
	}
	return e
}

// Dequantized is the float convolution the exported model computes.
func (e *convExport) Dequantized(in quantParams) *convLayer {
	o := len(e.Scales)
	c := &convLayer{In: len(e.Weights) / o, Out: o, W: make([]float32, len(e.Weights)), B: make([]float32, o)}
	for oc := 0; oc < o; oc++ {
		for k := 0; k < c.In; k++ {
			c.W[oc*c.In+k] = e.Scales[oc] * float32(int8(e.Weights[oc*c.In+k]))
		}
		c.B[oc] = float32(float64(float32(float64(in.Scale)*float64(e.Scales[oc]))) * float64(e.Bias[oc]))
	}
	return c
}

// actSet is a set of cached activations at the convolution's input: one
// int8 tensor (pixels × channels, HWC) per example, and its label.
type actSet struct {
	X [][]byte
	Y []int
}

// FineTuneOptions configure FineTune.
type FineTuneOptions struct {
	Epochs int // passes over the training set (default 5)
	// Layers is how many 1×1 convolutions before the pooling are
	// retrained: 1 (default) Conv_1; 2 also the linear projection that
	// feeds it (FineTune's proj), from activations at its input.
	Layers int
	// ProjLR is Adam's step size for that projection (default: LR).
	ProjLR float64
	Batch  int // examples per step (default 32)
	// LR is Adam's step size for the convolution (default 1e-2, the best
	// of 1e-4..1e-2 on TrashNet's validation split: docs/training.md).
	LR     float64
	HeadLR float64 // Adam step size for the head (default 1e-3)
	// ConvL2 pulls the convolution toward its initial (pre-trained)
	// weights: ConvL2/2·|W−W₀|². The head keeps its λ (softmaxHead.Lambda).
	ConvL2 float64
	// Smooth is label smoothing: the target puts 1−Smooth on the true
	// class and spreads Smooth evenly over all classes. Without it the
	// convolution memorises the training crops: the training loss falls
	// to near zero while validation stalls (docs/station.md).
	Smooth       float64
	ClassWeights bool
	Seed         int64
	// StopAfter > 0 runs the Epochs schedule only that far and returns
	// the model there, without validation (the refit on train +
	// validation once the epoch is chosen).
	StopAfter int
	Log       *slog.Logger
	Progress  func(epoch, done, total int) // may be nil
}

// EpochReport is one epoch of fine-tuning.
type EpochReport struct {
	Epoch       int     `json:"epoch"`
	TrainLoss   float64 `json:"train_loss"`
	ValAccuracy float64 `json:"val_accuracy"`
	Seconds     float64 `json:"seconds"`
}

// fineTuned is the float model fine-tuning trains: convolution, RELU6,
// global mean, then the head.
type fineTuned struct {
	// Proj, if set, is a linear 1×1 convolution before Conv (two layers
	// fine-tuned): it reads the activations and its output is Conv's
	// input.
	Proj *convLayer
	Conv *convLayer
	Head *softmaxHead
	In   quantParams // quantization of the activations it reads
	P    int         // pixels per example
	// ProjQ, if set, rounds Proj's output to that int8 grid as the
	// exported model does (to compare with it; training leaves it nil).
	ProjQ *quantParams
}

func (m *fineTuned) clone() *fineTuned {
	c := *m
	c.Conv, c.Head = m.Conv.clone(), cloneHead(m.Head)
	if m.Proj != nil {
		c.Proj = m.Proj.clone()
	}
	return &c
}

func (o *FineTuneOptions) defaults() {
	if o.Epochs <= 0 {
		o.Epochs = 5
	}
	if o.Batch <= 0 {
		o.Batch = 32
	}
	if o.LR <= 0 {
		o.LR = 1e-2
	}
	if o.HeadLR <= 0 {
		o.HeadLR = 1e-3
	}
	if o.ProjLR <= 0 {
		o.ProjLR = o.LR
	}
	if o.Layers <= 0 {
		o.Layers = 1
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
}

// fineTuneInput is what fineTune starts from: the training and
// validation activations, their quantization, the pre-trained layers
// (Proj nil: one layer) and the head fitted on the frozen features.
type fineTuneInput struct {
	Train, Val actSet
	In         quantParams
	Proj, Conv *convLayer
	Head       *softmaxHead
}

// fineTuneResult is the model of the chosen epoch, and every epoch's
// figures (epoch 0: the starting point).
type fineTuneResult struct {
	Model  *fineTuned
	Epochs []EpochReport
	Chosen int
}

// fineTune trains the convolution before the pooling together with the
// head, starting from the pre-trained convolution and a head fitted on
// the frozen features (its standardisation is kept fixed), by Adam on
// mini-batches with class weights. With Proj (two layers), the
// activations are the input of that linear projection, whose output
// feeds the convolution, and it is trained too (step size o.ProjLR);
// with Proj nil they are the convolution's input. After every epoch it
// measures the validation accuracy and returns the model of the best
// epoch (epoch 0, the starting point, is measured too but not a
// candidate). Deterministic for a seed: the batch order is seeded and the
// BLAS sums in a fixed order.
func fineTune(ctx context.Context, in fineTuneInput, o FineTuneOptions) (fineTuneResult, error) {
	o.defaults()
	m, err := in.start(o)
	if err != nil {
		return fineTuneResult{}, err
	}
	tr, val := in.Train, in.Val
	st := newFTState(m, o.ConvL2, o.Smooth)
	sched := schedule{steps: o.Epochs * ((len(tr.X) + o.Batch - 1) / o.Batch)}
	sw := sampleWeights(tr.Y, len(in.Head.B), o.ClassWeights)
	rng := rand.New(rand.NewSource(o.Seed))
	last := o.Epochs
	if o.StopAfter > 0 {
		last = min(o.StopAfter, o.Epochs)
	}
	best := m.accuracy(val)
	o.Log.Info("fine-tune start", "val_accuracy", best, "train", len(tr.X), "val", len(val.X), "layers", 1+btoi(in.Proj != nil))
	res := fineTuneResult{Model: m, Epochs: []EpochReport{{Epoch: 0, ValAccuracy: best}}}
	best = -1 // epoch 0 is the reference, not a candidate
	for ep := 1; ep <= last; ep++ {
		start := time.Now()
		loss, err := st.epoch(ctx, ep, tr, sw, rng.Perm(len(tr.X)), &sched, &o)
		if err != nil {
			return fineTuneResult{}, err
		}
		acc := m.accuracy(val)
		r := EpochReport{Epoch: ep, TrainLoss: loss, ValAccuracy: acc, Seconds: time.Since(start).Seconds()}
		res.Epochs = append(res.Epochs, r)
		o.Log.Info("fine-tune epoch", "epoch", ep, "train_loss", r.TrainLoss, "val_accuracy", acc, "seconds", r.Seconds)
		if acc > best+1e-9 || o.StopAfter > 0 {
			best, res.Chosen = acc, ep
			res.Model = m.clone()
		}
	}
	return res, nil
}

// start checks the input's shapes and returns the model fine-tuning
// starts from (copies of the layers and the head).
func (in *fineTuneInput) start(o FineTuneOptions) (*fineTuned, error) {
	tr, conv, proj := in.Train, in.Conv, in.Proj
	if len(tr.X) == 0 || (len(in.Val.X) == 0 && o.StopAfter <= 0) {
		return nil, errors.New("fine-tune: no training or validation examples")
	}
	if len(in.Head.Mean) != conv.Out {
		return nil, fmt.Errorf("fine-tune: the head reads %d features, the convolution gives %d", len(in.Head.Mean), conv.Out)
	}
	first := conv
	if proj != nil {
		if proj.Out != conv.In {
			return nil, fmt.Errorf("fine-tune: the projection gives %d channels, the convolution reads %d", proj.Out, conv.In)
		}
		first = proj
	}
	if len(tr.X[0])%first.In != 0 {
		return nil, fmt.Errorf("fine-tune: activations of %d values are not pixels × %d channels", len(tr.X[0]), first.In)
	}
	m := &fineTuned{Conv: conv.clone(), Head: cloneHead(in.Head), In: in.In, P: len(tr.X[0]) / first.In}
	if proj != nil {
		m.Proj = proj.clone()
	}
	return m, nil
}

// schedule is the cosine decay of the step sizes over all steps: large
// steps early, settling by the last epoch.
type schedule struct{ step, steps int }

func (s *schedule) next() float64 {
	f := 0.5 * (1 + math.Cos(math.Pi*float64(s.step)/float64(s.steps)))
	s.step++
	return f
}

// epoch runs one pass over the training set in the order perm, one Adam
// step per mini-batch, and returns the mean training loss.
func (st *ftState) epoch(ctx context.Context, ep int, tr actSet, sw []float32, perm []int, sched *schedule, o *FineTuneOptions) (float64, error) {
	var lossSum float64
	for b := 0; b < len(perm); b += o.Batch {
		// An epoch takes about a minute: Ctrl-C or a SIGTERM must not wait for it.
		if err := ctx.Err(); err != nil {
			return 0, fmt.Errorf("fine-tune: epoch %d: %w", ep, err)
		}
		idx := perm[b:min(b+o.Batch, len(perm))]
		xs := make([][]byte, len(idx))
		ys := make([]int, len(idx))
		ws := make([]float32, len(idx))
		for k, i := range idx {
			xs[k], ys[k], ws[k] = tr.X[i], tr.Y[i], sw[i]
		}
		loss := st.lossGrad(xs, ys, ws)
		lossSum += loss * float64(len(idx))
		f := sched.next()
		st.adam(o.LR*f, o.HeadLR*f, o.ProjLR*f)
		if o.Progress != nil {
			o.Progress(ep, min(b+o.Batch, len(perm)), len(perm))
		}
	}
	return lossSum / float64(len(perm)), nil
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func cloneHead(h *softmaxHead) *softmaxHead {
	c := *h
	c.W = make([][]float32, len(h.W))
	for i, r := range h.W {
		c.W[i] = append([]float32(nil), r...)
	}
	c.B = append([]float32(nil), h.B...)
	return &c
}

// sampleWeights weights examples inversely to their class's frequency (as
// trainHead does), or 1 each.
func sampleWeights(y []int, k int, classWeights bool) []float32 {
	counts := make([]int, k)
	for _, c := range y {
		counts[c]++
	}
	w := make([]float32, len(y))
	for i, c := range y {
		w[i] = 1
		if classWeights {
			w[i] = float32(float64(len(y)) / (float64(k) * float64(max(counts[c], 1))))
		}
	}
	return w
}

// lut maps an int8 activation byte to its float value.
func (m *fineTuned) lut() *[256]float32 {
	var t [256]float32
	for b := 0; b < 256; b++ {
		t[b] = m.In.Scale * float32(int32(int8(b))-m.In.ZeroPoint)
	}
	return &t
}

// evalBatch bounds the memory of inference: 64 examples × P pixels × 1280.
const evalBatch = 64

// Pooled computes the pooled features (mean of RELU6 of the convolution)
// of examples, as the exported model does before its head.
func (m *fineTuned) Pooled(xs [][]byte) [][]float32 {
	out := make([][]float32, len(xs))
	var fw forwardBuf
	lut := m.lut()
	for b := 0; b < len(xs); b += evalBatch {
		part := xs[b:min(b+evalBatch, len(xs))]
		f := fw.forward(m, lut, part)
		for k := range part {
			out[b+k] = append([]float32(nil), f[k*m.Conv.Out:(k+1)*m.Conv.Out]...)
		}
	}
	return out
}

// ProjRange is the range of the projection's output (Conv's input) over
// examples: what its int8 quantization must cover in the exported model.
func (m *fineTuned) ProjRange(xs [][]byte) (lo, hi float32) {
	if m.Proj == nil {
		return 0, 0
	}
	var fw forwardBuf
	lut := m.lut()
	lo, hi = float32(math.Inf(1)), float32(math.Inf(-1))
	for b := 0; b < len(xs); b += evalBatch {
		fw.forward(m, lut, xs[b:min(b+evalBatch, len(xs))])
		for _, v := range fw.y {
			lo, hi = min(lo, v), max(hi, v)
		}
	}
	return lo, hi
}

// Predict returns the predicted class of each example.
func (m *fineTuned) Predict(xs [][]byte) []int {
	var p []int
	for _, f := range m.Pooled(xs) {
		p = append(p, argmax(m.Head.Logits(f)))
	}
	return p
}

func (m *fineTuned) accuracy(s actSet) float64 {
	ok := 0
	for i, p := range m.Predict(s.X) {
		if p == s.Y[i] {
			ok++
		}
	}
	if len(s.X) == 0 {
		return 0
	}
	return float64(ok) / float64(len(s.X))
}

// forwardBuf holds the buffers of a batched forward pass.
type forwardBuf struct {
	x, y, pre, pooled []float32
}

func grow(b []float32, n int) []float32 {
	if cap(b) < n {
		return make([]float32, n)
	}
	return b[:n]
}

// conv1x1 sets out (rows × c.Out) to x·Wᵀ + B for x (rows × c.In): one
// matrix product.
func conv1x1(c *convLayer, rows int, x, out []float32) {
	for r := 0; r < rows; r++ {
		copy(out[r*c.Out:(r+1)*c.Out], c.B)
	}
	blas32.Implementation().Sgemm(blas.NoTrans, blas.Trans, rows, c.Out, c.In, 1, x, c.In, c.W, c.In, 1, out, c.Out)
}

// forward runs the convolution(s) over a batch as matrix products,
// (n·P × In)·(In × Out), leaving the projection's output in fw.y (two
// layers) and the pre-activations in fw.pre, and returns the pooled
// features (n × Out).
func (fw *forwardBuf) forward(m *fineTuned, lut *[256]float32, xs [][]byte) []float32 {
	c, p := m.Conv, m.P
	in := c.In
	if m.Proj != nil {
		in = m.Proj.In
	}
	n := len(xs)
	rows := n * p
	fw.x = grow(fw.x, rows*in)
	for k, x := range xs {
		d := fw.x[k*p*in : (k+1)*p*in]
		for i, b := range x {
			d[i] = lut[b]
		}
	}
	cin := fw.x
	if m.Proj != nil {
		fw.y = grow(fw.y, rows*c.In)
		conv1x1(m.Proj, rows, fw.x, fw.y)
		if q := m.ProjQ; q != nil {
			s, z := float64(q.Scale), float64(q.ZeroPoint)
			for i, v := range fw.y {
				fw.y[i] = float32(s * (clamp(math.Round(float64(v)/s)+z, -128, 127) - z))
			}
		}
		cin = fw.y
	}
	fw.pre = grow(fw.pre, rows*c.Out)
	conv1x1(c, rows, cin, fw.pre)
	fw.pooled = grow(fw.pooled, n*c.Out)
	inv := 1 / float32(p)
	for k := 0; k < n; k++ {
		f := fw.pooled[k*c.Out : (k+1)*c.Out]
		clear(f)
		for q := 0; q < p; q++ {
			row := fw.pre[(k*p+q)*c.Out : (k*p+q+1)*c.Out]
			for o, v := range row {
				f[o] += min(max(v, 0), 6)
			}
		}
		for o := range f {
			f[o] *= inv
		}
	}
	return fw.pooled
}

// ftState is a model being trained: its gradients and Adam moments.
type ftState struct {
	m      *fineTuned
	w0     []float32 // initial convolution weights (the L2 anchor)
	pw0    []float32 // initial projection weights (two layers)
	convL2 float32
	smooth float64 // label smoothing (FineTuneOptions.Smooth)
	fw     forwardBuf
	lut    *[256]float32
	dpre   []float32
	dy     []float32 // gradient at the projection's output (two layers)
	// Parameters, gradients and Adam moments of conv W, conv B, head W
	// (flat, K×D), head B, and with two layers projection W, projection B.
	params [][]float32
	grads  [][]float32
	m1, m2 [][]float32
	hw     []float32 // head W, flat; copied into softmaxHead.W after each step
	t      int
}

func newFTState(m *fineTuned, convL2, smooth float64) *ftState {
	s := &ftState{m: m, w0: append([]float32(nil), m.Conv.W...), convL2: float32(convL2), smooth: smooth, lut: m.lut()}
	k, d := len(m.Head.B), len(m.Head.Mean)
	s.hw = make([]float32, k*d)
	for c, r := range m.Head.W {
		copy(s.hw[c*d:], r)
	}
	s.params = [][]float32{m.Conv.W, m.Conv.B, s.hw, m.Head.B}
	if m.Proj != nil {
		s.pw0 = append([]float32(nil), m.Proj.W...)
		s.params = append(s.params, m.Proj.W, m.Proj.B)
	}
	for _, p := range s.params {
		s.grads = append(s.grads, make([]float32, len(p)))
		s.m1 = append(s.m1, make([]float32, len(p)))
		s.m2 = append(s.m2, make([]float32, len(p)))
	}
	return s
}

// lossGrad computes the batch's loss, Σ w·CE / n + λ/2|W_head|² +
// convL2/2(|W−W₀|² + |W_proj−W_proj₀|²), and its gradient into s.grads.
func (s *ftState) lossGrad(xs [][]byte, ys []int, ws []float32) float64 {
	f := s.fw.forward(s.m, s.lut, xs)
	for i := range s.grads {
		clear(s.grads[i])
	}
	loss, df := s.headGrad(f, ys, ws)
	s.convGrad(df, len(xs))
	return s.penalties(loss)
}

// headGrad is the mean weighted cross-entropy (against the smoothed
// target with s.smooth) of the head on the pooled
// features f (n × d), with the head's gradients, and the gradient at
// every pixel of the pooled features' input (df, n × d: the mean spreads
// it evenly over P pixels).
func (s *ftState) headGrad(f []float32, ys []int, ws []float32) (float64, []float32) {
	h := s.m.Head
	n, p := len(ys), s.m.P
	k, d := len(h.B), s.m.Conv.Out
	gHW, gHB := s.grads[2], s.grads[3]
	df := make([]float32, n*d) // dLoss/dpooled
	z := make([]float32, d)
	logits := make([]float64, k)
	var loss float64
	for e := 0; e < n; e++ {
		fe := f[e*d : (e+1)*d]
		for j := range z {
			z[j] = (fe[j] - h.Mean[j]) / h.Std[j]
		}
		mx := math.Inf(-1)
		for cl := 0; cl < k; cl++ {
			var sum float32
			w := s.hw[cl*d : (cl+1)*d]
			for j, v := range z {
				sum += w[j] * v
			}
			logits[cl] = float64(sum + h.B[cl])
			mx = math.Max(mx, logits[cl])
		}
		var tot float64
		for cl := range logits {
			logits[cl] = math.Exp(logits[cl] - mx)
			tot += logits[cl]
		}
		dfe := df[e*d : (e+1)*d]
		for cl := 0; cl < k; cl++ {
			target := s.smooth / float64(k)
			if cl == ys[e] {
				target += 1 - s.smooth
			}
			p := logits[cl] / tot
			if target > 0 {
				loss -= float64(ws[e]) * target * math.Log(math.Max(p, 1e-300))
			}
			g := p - target
			gc := float32(g) * ws[e] / float32(n)
			gHB[cl] += gc
			w := s.hw[cl*d : (cl+1)*d]
			gw := gHW[cl*d : (cl+1)*d]
			for j, v := range z {
				gw[j] += gc * v
				dfe[j] += gc * w[j]
			}
		}
		for j := range dfe {
			dfe[j] /= h.Std[j] * float32(p)
		}
	}
	return loss / float64(n), df
}

// convGrad carries df back through the mean and RELU6 to the
// convolution's weights and bias and, with two layers, through the
// convolution to the projection's.
func (s *ftState) convGrad(df []float32, n int) {
	m := s.m
	c, p, d := m.Conv, m.P, m.Conv.Out
	gW, gB := s.grads[0], s.grads[1]
	// The gradient flows only where the activation was not clipped.
	rows := n * p
	s.dpre = grow(s.dpre, rows*d)
	for r := 0; r < rows; r++ {
		pre := s.fw.pre[r*d : (r+1)*d]
		dp := s.dpre[r*d : (r+1)*d]
		dfe := df[(r/p)*d : (r/p+1)*d]
		for o, v := range pre {
			if v > 0 && v < 6 {
				dp[o] = dfe[o]
				gB[o] += dfe[o]
			} else {
				dp[o] = 0
			}
		}
	}
	// dW = dpreᵀ·x: (Out × n·P)·(n·P × In), x the convolution's input.
	cin := s.fw.x
	if m.Proj != nil {
		cin = s.fw.y
	}
	impl := blas32.Implementation()
	impl.Sgemm(blas.Trans, blas.NoTrans, d, c.In, rows, 1, s.dpre, d, cin, c.In, 0, gW, c.In)
	pr := m.Proj
	if pr == nil {
		return
	}
	// Back through the convolution to its input, the projection's
	// (linear) output: dy = dpre·W (n·P × In); then dW_proj = dyᵀ·x.
	gPW, gPB := s.grads[4], s.grads[5]
	s.dy = grow(s.dy, rows*c.In)
	impl.Sgemm(blas.NoTrans, blas.NoTrans, rows, c.In, d, 1, s.dpre, d, c.W, c.In, 0, s.dy, c.In)
	for r := 0; r < rows; r++ {
		for o, v := range s.dy[r*c.In : (r+1)*c.In] {
			gPB[o] += v
		}
	}
	impl.Sgemm(blas.Trans, blas.NoTrans, pr.Out, pr.In, rows, 1, s.dy, pr.Out, s.fw.x, pr.In, 0, gPW, pr.In)
}

// penalties adds the head's L2 (λ/2·|W|²) and the pull of the
// convolutions toward their pre-trained weights to loss and the
// gradients.
func (s *ftState) penalties(loss float64) float64 {
	m := s.m
	gW, gHW := s.grads[0], s.grads[2]
	lam := float32(m.Head.Lambda)
	for i, v := range s.hw {
		loss += 0.5 * float64(lam) * float64(v) * float64(v)
		gHW[i] += lam * v
	}
	if s.convL2 > 0 {
		anchor := func(w, w0, g []float32) {
			for i, v := range w {
				dv := v - w0[i]
				loss += 0.5 * float64(s.convL2) * float64(dv) * float64(dv)
				g[i] += s.convL2 * dv
			}
		}
		anchor(m.Conv.W, s.w0, gW)
		if m.Proj != nil {
			anchor(m.Proj.W, s.pw0, s.grads[4])
		}
	}
	return loss
}

// adam takes one Adam step (β₁ 0.9, β₂ 0.999) with step sizes for the
// convolution, the head and the projection, then mirrors the flat head
// weights into softmaxHead.W.
func (s *ftState) adam(convLR, headLR, projLR float64) {
	const b1, b2, eps = 0.9, 0.999, 1e-8
	s.t++
	c1 := 1 - math.Pow(b1, float64(s.t))
	c2 := 1 - math.Pow(b2, float64(s.t))
	for i, p := range s.params {
		lr := convLR
		switch {
		case i >= 4:
			lr = projLR
		case i >= 2:
			lr = headLR
		}
		a := float32(lr * math.Sqrt(c2) / c1)
		g, m1, m2 := s.grads[i], s.m1[i], s.m2[i]
		for j := range p {
			m1[j] = b1*m1[j] + (1-b1)*g[j]
			m2[j] = b2*m2[j] + (1-b2)*g[j]*g[j]
			p[j] -= a * m1[j] / (float32(math.Sqrt(float64(m2[j]))) + eps)
		}
	}
	d := len(s.m.Head.Mean)
	for c := range s.m.Head.W {
		copy(s.m.Head.W[c], s.hw[c*d:(c+1)*d])
	}
}
