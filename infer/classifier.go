package infer

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"runtime"
	"runtime/cgo"
	"sort"
	"strings"
	"sync"
	"time"
	"unsafe"

	tflite "github.com/mattn/go-tflite"
	"gocv.io/x/gocv"

	"github.com/sorterd/sorterd/tfmodel"
)

// Options configure a Classifier. The zero value of each field has a
// sensible default.
type Options struct {
	Model  string // path to the .tflite file
	Labels string // labels file; empty: the labels embedded in the model
	// Delegate is cpu, xnnpack (default), edgetpu or gpu.
	Delegate string
	// Fallback allows running on built-in kernels when the delegate cannot
	// be created (library or device missing); it is logged.
	Fallback       bool
	EdgeTPUDevice  string // e.g. "usb", "pci", "usb:0"; empty: the first found
	EdgeTPULibrary string // default libedgetpu.so.1
	// Threads per interpreter (default: number of CPUs).
	Threads int
	// Interpreters in the pool: how many Classify calls run at once
	// (default 1; always 1 with the Edge TPU, which one process owns).
	Interpreters int
	// Input normalisation, real = (pixel - Mean) / Std per RGB channel.
	// Empty: the model's TFLite metadata, else 127.5/127.5 (MobileNet's
	// [-1, 1]). The tensor's own quantization is applied on top.
	Mean, Std []float32
	// Features loads a feature extractor: no labels, any output shape,
	// read with Embed instead of Classify.
	Features bool
	// TTA names extra views (see Views: "flip", "rot180", ...) that
	// Classify also runs, averaging the probabilities: test-time
	// augmentation, one more inference per view.
	TTA    []string
	Logger *slog.Logger
}

// Score is one class and its probability.
type Score struct {
	Label string  `json:"label"`
	Index int     `json:"index"`
	Score float32 `json:"score"`
}

// Timing of one classification, per stage.
type Timing struct {
	Preprocess  time.Duration
	Invoke      time.Duration
	Postprocess time.Duration
}

// Result of classifying one image.
type Result struct {
	Score
	Top    []Score
	Scores []float32 // every class, dequantized, in label order
	Timing Timing
}

// Classifier runs one model on a pool of interpreters. It is safe for
// concurrent use: each interpreter serves one goroutine at a time.
type Classifier struct {
	opts     Options
	info     *tfmodel.Model
	sha256   string
	labels   []string
	model    *tflite.Model
	modelBuf unsafe.Pointer // the C copy of the model's bytes, freed after model
	pool     chan *interp
	all      []*interp
	report   DelegateReport
	inW, inH int
	inType   tfmodel.TensorType
	outType  tfmodel.TensorType
	outQ     tflite.QuantizationParams
	softmax  bool // output needs a softmax (the graph ends in logits)
	outN     int  // output elements
	lut      [3][256]float32
	lutQ     [3][256]byte
	closeMu  sync.Once
	log      *slog.Logger
	tta      []View
}

// interp is one interpreter with everything it owns.
type interp struct {
	it      *tflite.Interpreter
	opts    *tflite.InterpreterOptions
	del     *cDelegate
	rep     *reporter
	handle  cgo.Handle
	in, out *tflite.Tensor
	resized gocv.Mat
	box     gocv.Mat // scratch for resizeInput's first step
	view    gocv.Mat // scratch for TTA views
}

func (p *interp) close() {
	// Interpreter before the delegate it uses, options last.
	if p.it != nil {
		p.it.Delete()
		p.it = nil
	}
	p.del.Delete()
	p.del = nil
	if p.opts != nil {
		p.opts.Delete()
		p.opts = nil
	}
	if p.handle != 0 {
		p.handle.Delete()
		p.handle = 0
	}
	for _, m := range []*gocv.Mat{&p.resized, &p.box, &p.view} {
		if m.Ptr() != nil {
			m.Close()
			*m = gocv.Mat{}
		}
	}
}

// New loads, checks and prepares a model. Every problem comes back as an
// error that names the file and the cause.
func New(o Options) (*Classifier, error) {
	if o.Delegate == "" {
		o.Delegate = DelegateXNNPACK
	}
	if err := validDelegate(o.Delegate); err != nil {
		return nil, err
	}
	if o.Threads <= 0 {
		o.Threads = runtime.NumCPU()
	}
	if o.Interpreters <= 0 {
		o.Interpreters = 1
	}
	if o.Delegate == DelegateEdgeTPU {
		o.Interpreters = 1
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	tta, err := ViewsByName(o.TTA)
	if err != nil {
		return nil, fmt.Errorf("tta: %w", err)
	}
	c := &Classifier{opts: o, log: o.Logger, tta: tta}
	if err := c.load(); err != nil {
		c.Close()
		return nil, fmt.Errorf("load model %s: %w", o.Model, err)
	}
	return c, nil
}

func (c *Classifier) load() error {
	o := &c.opts
	data, err := os.ReadFile(o.Model)
	if err != nil {
		return err
	}
	sum := sha256.Sum256(data)
	c.sha256 = hex.EncodeToString(sum[:])
	if c.info, err = tfmodel.Parse(data); err != nil {
		return err
	}
	if err := c.checkGraph(); err != nil {
		return err
	}
	if !o.Features {
		if err := c.loadLabels(); err != nil {
			return err
		}
	}
	// From the bytes already read (and hashed, and checked), not from the
	// file again: what runs is what was checked, and nothing is mmapped.
	c.model, c.modelBuf = newModelFromMemory(data)
	if c.model == nil {
		return fmt.Errorf("%w: TFLite could not read the flatbuffer", tfmodel.ErrCorrupt)
	}
	c.pool = make(chan *interp, o.Interpreters)
	for i := 0; i < o.Interpreters; i++ {
		p, rep, err := c.newInterp()
		if err != nil {
			return err
		}
		if i == 0 {
			c.report = rep
			if err := c.checkTensors(p); err != nil {
				p.close()
				return err
			}
			c.logReport()
		}
		c.all = append(c.all, p)
		c.pool <- p
	}
	c.buildLUTWith(c.all[0].in.QuantizationParams())
	return nil
}

// checkGraph refuses, before TFLite sees it, a model sorterd cannot run.
func (c *Classifier) checkGraph() error {
	m := c.info
	if len(m.Inputs) != 1 || len(m.Outputs) != 1 {
		return fmt.Errorf("%w: want 1 input and 1 output, model has %d and %d", ErrModelUnsupported, len(m.Inputs), len(m.Outputs))
	}
	for _, op := range m.CustomOps() {
		if op == edgeTPUCustom {
			if c.opts.Delegate != DelegateEdgeTPU {
				return fmt.Errorf("%w: it was compiled for the Coral Edge TPU (custom op %s) and cannot run on %s; use --delegate edgetpu on a station with a Coral, or the CPU model it was compiled from", ErrNeedsEdgeTPU, edgeTPUCustom, c.opts.Delegate)
			}
			continue
		}
		return fmt.Errorf("%w: custom op %q is not available in this TFLite runtime", ErrModelUnsupported, op)
	}
	return nil
}

// ModelLabels reads a model file and its labels (a labels file, or those
// embedded in the model) and checks them against each other as New does,
// without building an interpreter: for checking a model whose delegate
// (an Edge TPU in use) cannot take another one.
func ModelLabels(model, labels string) ([]string, error) {
	data, err := os.ReadFile(model)
	if err != nil {
		return nil, fmt.Errorf("load model %s: %w", model, err)
	}
	c := &Classifier{opts: Options{Model: model, Labels: labels, Delegate: DelegateEdgeTPU}}
	if c.info, err = tfmodel.Parse(data); err != nil {
		return nil, fmt.Errorf("load model %s: %w", model, err)
	}
	if err := c.checkGraph(); err != nil {
		return nil, fmt.Errorf("load model %s: %w", model, err)
	}
	if err := c.loadLabels(); err != nil {
		return nil, fmt.Errorf("load model %s: %w", model, err)
	}
	return c.labels, nil
}

func (c *Classifier) loadLabels() error {
	out := c.info.Tensors[c.info.Outputs[0]]
	n := 1
	for _, d := range out.Shape {
		n *= int(d)
	}
	if c.opts.Labels != "" {
		b, err := os.ReadFile(c.opts.Labels)
		if err != nil {
			return fmt.Errorf("%w: %v", ErrLabels, err)
		}
		c.labels = tfmodel.ParseLabels(b)
		if len(c.labels) == 0 {
			return fmt.Errorf("%w: %s is empty", ErrLabels, c.opts.Labels)
		}
	} else {
		labels, _, ok := c.info.EmbeddedLabels()
		if !ok || len(labels) == 0 {
			return fmt.Errorf("%w: the model embeds no label file; give one with --labels", ErrLabels)
		}
		c.labels = labels
	}
	if len(c.labels) != n {
		src := c.opts.Labels
		if src == "" {
			src = "the model's embedded label file"
		}
		return fmt.Errorf("%w: %s has %d labels, the model's output has %d classes", ErrLabels, src, len(c.labels), n)
	}
	return nil
}

// newInterp builds one interpreter with its own delegate. A delegate that
// cannot be created is an error unless Fallback allows built-in kernels; a
// delegate that is created but fails to prepare the graph leaves the model
// on built-in kernels, as TFLite itself would, and the report says so.
func (c *Classifier) newInterp() (*interp, DelegateReport, error) {
	o := &c.opts
	report := DelegateReport{Requested: o.Delegate, Active: DelegateCPU, Coverage: "none"}
	del, err := newDelegate(o, c.info)
	switch {
	case err != nil && !o.Fallback:
		return nil, report, fmt.Errorf("%w (allow running on the CPU instead with --fallback / model.fallback: true)", err)
	case err != nil:
		report.Coverage, report.Reason = "unavailable", err.Error()
		c.log.Warn("delegate unavailable, falling back to built-in kernels", "delegate", o.Delegate, "err", err)
	}
	if err != nil && c.needsEdgeTPU() {
		return nil, report, fmt.Errorf("%w, and this model runs only on the Edge TPU: %v", ErrNeedsEdgeTPU, err)
	}
	p, drep, err := c.build(del)
	if del == nil || (err != nil && !drep.restored) {
		return p, report, err
	}
	if p != nil {
		return p, drep, nil
	}
	// The delegate rejected the graph and TFLite undid it: run without.
	p, _, err = c.build(nil)
	return p, drep, err
}

func (c *Classifier) needsEdgeTPU() bool {
	for _, op := range c.info.CustomOps() {
		if op == edgeTPUCustom {
			return true
		}
	}
	return false
}

// build creates an interpreter (with del, if not nil, which it then owns)
// and allocates its tensors. With a delegate it also returns the census of
// what the delegate took. On failure everything is freed.
func (c *Classifier) build(del *cDelegate) (_ *interp, rep DelegateReport, _ error) {
	p := &interp{rep: &reporter{}, del: del}
	p.handle = cgo.NewHandle(p.rep)
	p.opts = tflite.NewInterpreterOptions()
	if p.opts == nil {
		p.close()
		return nil, rep, fmt.Errorf("TfLiteInterpreterOptionsCreate failed")
	}
	p.opts.SetNumThread(c.opts.Threads)
	setReporter(p.opts, p.handle)
	setDelegateFallback(p.opts, true)
	if del != nil {
		p.opts.AddDelegate(del)
	}
	fail := func(what string) (*interp, DelegateReport, error) {
		msgs := p.rep.take()
		if del != nil {
			rep = census(c.opts.Delegate, del, msgs)
		}
		p.close()
		return nil, rep, fmt.Errorf("%s: %w", what, interpreterError(msgs))
	}
	p.it = tflite.NewInterpreter(c.model, p.opts)
	if p.it == nil {
		return fail("create interpreter")
	}
	if st := p.it.AllocateTensors(); st != tflite.OK {
		return fail("allocate tensors")
	}
	if del != nil {
		rep = census(c.opts.Delegate, del, p.rep.take())
	}
	p.in = p.it.GetInputTensor(0)
	p.out = p.it.GetOutputTensor(0)
	p.resized = gocv.NewMat()
	p.box = gocv.NewMat()
	p.view = gocv.NewMat()
	return p, rep, nil
}

func interpreterError(msgs []string) error {
	text := strings.Join(msgs, "; ")
	for _, m := range msgs {
		// "Didn't find op for builtin opcode 'X' version 'N'"
		if strings.Contains(m, "find op for") || strings.Contains(m, "Encountered unresolved custom op") {
			return fmt.Errorf("%w: %s", ErrModelUnsupported, text)
		}
	}
	if text == "" {
		text = "TFLite gave no reason"
	}
	return fmt.Errorf("%w: TFLite refused the model: %s", ErrModelUnsupported, text)
}

func (c *Classifier) logReport() {
	r := c.report
	attrs := []any{"model", c.opts.Model, "delegate", r.Requested, "active", r.Active, "coverage", r.Coverage,
		"nodes", r.Nodes, "delegated_nodes", r.DelegatedNodes, "kernels", r.Kernels}
	switch r.Coverage {
	case "full", "none":
		c.log.Debug("model ready", attrs...)
	case "partial":
		c.log.Info("delegate took part of the graph", append(attrs, "rest", r.Reason)...)
	default:
		c.log.Warn("delegate did not take the whole graph", append(attrs, "reason", r.Reason)...)
	}
}

// checkTensors validates the live input/output tensors: an image
// classifier takes [1,H,W,3] and gives [1,N] (or [1,1,1,N]).
func (c *Classifier) checkTensors(p *interp) error {
	in, out := p.in, p.out
	shape := in.Shape()
	if len(shape) != 4 || shape[0] != 1 || shape[3] != 3 || shape[1] < 8 || shape[2] < 8 {
		return fmt.Errorf("%w: input tensor %q has shape %v, want [1 H W 3]", ErrModelUnsupported, in.Name(), shape)
	}
	c.inH, c.inW = shape[1], shape[2]
	c.inType = fromTFLiteType(in.Type())
	switch c.inType {
	case tfmodel.UInt8, tfmodel.Int8, tfmodel.Float32:
	default:
		return fmt.Errorf("%w: input tensor %q is %v, want uint8, int8 or float32", ErrModelUnsupported, in.Name(), in.Type())
	}
	oshape := out.Shape()
	n := 1
	for i, d := range oshape {
		if i < len(oshape)-1 && d != 1 && !c.opts.Features {
			return fmt.Errorf("%w: output tensor %q has shape %v, want [1 N]", ErrModelUnsupported, out.Name(), oshape)
		}
		n *= d
	}
	if n < 2 {
		return fmt.Errorf("%w: output tensor %q has %d classes", ErrModelUnsupported, out.Name(), n)
	}
	c.outType = fromTFLiteType(out.Type())
	switch c.outType {
	case tfmodel.UInt8, tfmodel.Int8, tfmodel.Float32:
	default:
		return fmt.Errorf("%w: output tensor %q is %v, want uint8, int8 or float32", ErrModelUnsupported, out.Name(), out.Type())
	}
	c.outQ = out.QuantizationParams()
	c.outN = n
	c.softmax = !c.opts.Features && !endsInSoftmax(c.info)
	return nil
}

func fromTFLiteType(t tflite.TensorType) tfmodel.TensorType {
	switch t {
	case tflite.Float32:
		return tfmodel.Float32
	case tflite.UInt8:
		return tfmodel.UInt8
	case tflite.Int8:
		return tfmodel.Int8
	case tflite.Int32:
		return tfmodel.Int32
	case tflite.Int64:
		return tfmodel.Int64
	}
	return tfmodel.TensorType(-1)
}

// buildLUTWith maps each 8-bit pixel value to the input tensor's value,
// per channel: normalisation then the tensor's own quantization q, so
// uint8, int8 and float models are all fed from their parameters.
func (c *Classifier) buildLUTWith(q tflite.QuantizationParams) {
	mean, std := c.opts.Mean, c.opts.Std
	if len(mean) == 0 {
		mean = c.info.Mean
	}
	if len(std) == 0 {
		std = c.info.Std
	}
	pick := func(v []float32, ch int, def float32) float32 {
		switch {
		case len(v) == 0:
			return def
		case len(v) > ch:
			return v[ch]
		default:
			return v[0]
		}
	}
	for ch := 0; ch < 3; ch++ {
		m, s := pick(mean, ch, 127.5), pick(std, ch, 127.5)
		if s == 0 {
			s = 1
		}
		for px := 0; px < 256; px++ {
			real := (float32(px) - m) / s
			c.lut[ch][px] = real
			c.lutQ[ch][px] = quantize(real, q, c.inType)
		}
	}
}

// quantize maps a real value to the tensor's storage: q = real/scale + zp,
// rounded and clamped to the type's range. A scale of 0 marks an 8-bit
// input without quantization parameters: the value is stored as is.
func quantize(real float32, q tflite.QuantizationParams, t tfmodel.TensorType) byte {
	if q.Scale == 0 {
		v := math.Round(float64(real))
		return clampByte(v, t)
	}
	v := math.Round(float64(real)/q.Scale) + float64(q.ZeroPoint)
	return clampByte(v, t)
}

func clampByte(v float64, t tfmodel.TensorType) byte {
	if t == tfmodel.Int8 {
		v = math.Max(-128, math.Min(127, v))
		return byte(int8(v))
	}
	return byte(math.Max(0, math.Min(255, v)))
}

// InputSize is the model's input width and height.
func (c *Classifier) InputSize() (w, h int) { return c.inW, c.inH }

// Labels are the class names in output order.
func (c *Classifier) Labels() []string { return c.labels }

// SHA256 is the model file's hash (hex).
func (c *Classifier) SHA256() string { return c.sha256 }

// ModelPath is the model file given in Options.
func (c *Classifier) ModelPath() string { return c.opts.Model }

// Delegate reports what runs the graph.
func (c *Classifier) Delegate() DelegateReport { return c.report }

// Info is the parsed model.
func (c *Classifier) Info() *tfmodel.Model { return c.info }

// Threads is the number of threads per interpreter.
func (c *Classifier) Threads() int { return c.opts.Threads }

// ErrClosed is returned by Classify after Close.
var ErrClosed = errors.New("classifier is closed")

func (c *Classifier) acquire(ctx context.Context) (*interp, error) {
	select {
	case p, ok := <-c.pool:
		if !ok || p == nil {
			return nil, ErrClosed
		}
		return p, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Embed runs a feature-extractor model (Options.Features) on one BGR image
// and returns its output, dequantized, in the tensor's own layout.
func (c *Classifier) Embed(ctx context.Context, img gocv.Mat) ([]float32, error) {
	p, err := c.acquire(ctx)
	if err != nil {
		return nil, err
	}
	defer func() { c.pool <- p }()
	if err := c.preprocess(p, img); err != nil {
		return nil, err
	}
	if st := p.it.Invoke(); st != tflite.OK {
		return nil, fmt.Errorf("invoke: %s", strings.Join(p.rep.take(), "; "))
	}
	return c.dequantize(p), nil
}

// OutputShape is the shape of the model's output tensor.
func (c *Classifier) OutputShape() []int32 {
	return c.info.Tensors[c.info.Outputs[0]].Shape
}

// Classify labels one BGR image (a camera frame or a decoded file) and
// returns the top k classes (k <= 0: 5).
func (c *Classifier) Classify(ctx context.Context, img gocv.Mat, k int) (Result, error) {
	return c.classify(ctx, img, k, c.tta)
}

// ClassifyViews is Classify averaging over the given views (besides the
// image) instead of the classifier's own TTA: the station's frames of one
// item take turns at the views, so an item gets many views for the cost
// of a few per frame.
func (c *Classifier) ClassifyViews(ctx context.Context, img gocv.Mat, k int, views []View) (Result, error) {
	return c.classify(ctx, img, k, views)
}

func (c *Classifier) classify(ctx context.Context, img gocv.Mat, k int, views []View) (Result, error) {
	p, err := c.acquire(ctx)
	if err != nil {
		return Result{}, err
	}
	defer func() { c.pool <- p }()
	if c.opts.Features {
		return Result{}, fmt.Errorf("classify: %s is loaded as a feature extractor", c.opts.Model)
	}
	var r Result
	run := func(m gocv.Mat) error {
		t0 := time.Now()
		if err := c.preprocess(p, m); err != nil {
			return err
		}
		t1 := time.Now()
		if st := p.it.Invoke(); st != tflite.OK {
			return fmt.Errorf("invoke: %s", strings.Join(p.rep.take(), "; "))
		}
		t2 := time.Now()
		s := c.scores(p)
		if r.Scores == nil {
			r.Scores = s
		} else {
			for i, v := range s {
				r.Scores[i] += v
			}
		}
		r.Timing.Preprocess += t1.Sub(t0)
		r.Timing.Invoke += t2.Sub(t1)
		r.Timing.Postprocess += time.Since(t2)
		return nil
	}
	if err := run(img); err != nil {
		return r, err
	}
	for _, v := range views {
		t0 := time.Now()
		v.Apply(img, &p.view)
		r.Timing.Preprocess += time.Since(t0)
		if err := run(p.view); err != nil {
			return r, err
		}
	}
	if n := float32(1 + len(views)); n > 1 {
		for i := range r.Scores {
			r.Scores[i] /= n
		}
	}
	t := time.Now()
	r.Top = TopK(r.Scores, c.labels, k)
	r.Score = r.Top[0]
	r.Timing.Postprocess += time.Since(t)
	return r, nil
}

// TTA names the test-time views Classify averages over (besides the image).
func (c *Classifier) TTA() []string {
	var out []string
	for _, v := range c.tta {
		out = append(out, v.Name)
	}
	return out
}

// preprocess fills the input tensor from a BGR (or gray/BGRA) Mat: resize
// the whole frame to the model's size, swap to RGB and quantize through
// the LUT, writing straight into the tensor.
func (c *Classifier) preprocess(p *interp, img gocv.Mat) error {
	if img.Empty() {
		return fmt.Errorf("%w: empty frame", ErrImageCorrupt)
	}
	src := img
	if img.Type() != gocv.MatTypeCV8UC3 {
		var code gocv.ColorConversionCode
		switch img.Type() {
		case gocv.MatTypeCV8UC1:
			code = gocv.ColorGrayToBGR
		case gocv.MatTypeCV8UC4:
			code = gocv.ColorBGRAToBGR
		default:
			return fmt.Errorf("%w: frame type %v, want 8-bit BGR", ErrImageCorrupt, img.Type())
		}
		conv := gocv.NewMat()
		defer conv.Close()
		gocv.CvtColor(img, &conv, code)
		src = conv
	}
	resizeInput(src, &p.box, &p.resized, c.inW, c.inH)
	px, err := p.resized.DataPtrUint8()
	if err != nil {
		return fmt.Errorf("resized frame: %w", err)
	}
	n := 3 * c.inW * c.inH
	if len(px) < n {
		return fmt.Errorf("resized frame: %d bytes, want %d", len(px), n)
	}
	switch c.inType {
	case tfmodel.Float32:
		lutBGRToRGB(p.in.Float32s()[:n], px, &c.lut)
	case tfmodel.Int8:
		lutBGRToRGB(unsafeBytes(p.in)[:n], px, &c.lutQ)
	default:
		lutBGRToRGB(p.in.UInt8s()[:n], px, &c.lutQ)
	}
	return nil
}

// dequantize copies the output tensor as float32.
func (c *Classifier) dequantize(p *interp) []float32 {
	s := make([]float32, c.outN)
	switch c.outType {
	case tfmodel.Float32:
		copy(s, p.out.Float32s())
	case tfmodel.UInt8:
		q := p.out.UInt8s()
		for i := range s {
			s[i] = float32(c.outQ.Scale * float64(int(q[i])-c.outQ.ZeroPoint))
		}
	case tfmodel.Int8:
		q := p.out.Int8s()
		for i := range s {
			s[i] = float32(c.outQ.Scale * float64(int(q[i])-c.outQ.ZeroPoint))
		}
	}
	return s
}

func (c *Classifier) scores(p *interp) []float32 {
	s := c.dequantize(p)
	if c.softmax {
		Softmax(s)
	} else if c.outType != tfmodel.Float32 {
		// A softmax quantized to 1/256 steps rounds the many tiny classes
		// to zero and loses their mass (the ImageNet models' scores sum to
		// 0.7–0.95); renormalise so scores read as probabilities.
		var sum float32
		for _, v := range s {
			sum += v
		}
		if sum > 0 {
			for i := range s {
				s[i] /= sum
			}
		}
	}
	return s
}

// Softmax normalises logits in place.
func Softmax(s []float32) {
	max := float32(math.Inf(-1))
	for _, v := range s {
		if v > max {
			max = v
		}
	}
	var sum float64
	for i, v := range s {
		e := math.Exp(float64(v - max))
		s[i] = float32(e)
		sum += e
	}
	for i := range s {
		s[i] = float32(float64(s[i]) / sum)
	}
}

// TopK returns the k best classes, best first; ties keep label order.
func TopK(scores []float32, labels []string, k int) []Score {
	if k <= 0 {
		k = 5
	}
	if k > len(scores) {
		k = len(scores)
	}
	idx := make([]int, len(scores))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return scores[idx[a]] > scores[idx[b]] })
	out := make([]Score, k)
	for i := 0; i < k; i++ {
		j := idx[i]
		out[i] = Score{Label: labels[j], Index: j, Score: scores[j]}
	}
	return out
}

// Close frees every interpreter, delegate and the model, after waiting for
// Classify calls in flight. It is safe to call more than once.
func (c *Classifier) Close() error {
	c.closeMu.Do(func() {
		for range c.all {
			<-c.pool
		}
		for _, p := range c.all {
			p.close()
		}
		c.all = nil
		if c.pool != nil {
			close(c.pool)
		}
		if c.model != nil {
			c.model.Delete()
			c.model = nil
		}
		freeModelBuf(c.modelBuf)
		c.modelBuf = nil
	})
	return nil
}

// RawInvoke runs the interpreter on whatever its input tensor holds and
// times only TFLite's Invoke: the floor under Classify, for benchmarks.
func (c *Classifier) RawInvoke(ctx context.Context) (time.Duration, error) {
	p, err := c.acquire(ctx)
	if err != nil {
		return 0, err
	}
	defer func() { c.pool <- p }()
	t0 := time.Now()
	if st := p.it.Invoke(); st != tflite.OK {
		return 0, fmt.Errorf("invoke: %s", strings.Join(p.rep.take(), "; "))
	}
	return time.Since(t0), nil
}
