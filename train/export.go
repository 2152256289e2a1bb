package train

import (
	"encoding/json"
	"fmt"
	"math"

	"github.com/sorterd/sorterd/tfmodel"
)

// exportOptions describe the model exportModel writes.
type exportOptions struct {
	Size      int     `json:"size,omitempty"`      // input size (0: the base model's)
	Threshold float64 `json:"threshold,omitempty"` // suggested reject threshold, recorded in the model
	// LogitMin/LogitMax bound the logits seen on training data; they set
	// the quantization of the logits tensor.
	LogitMin float32        `json:"logit_min"`
	LogitMax float32        `json:"logit_max"`
	Info     map[string]any `json:"info,omitempty"` // training facts recorded with the model
	// Conv, if set, replaces the convolution before the pooling
	// (fine-tuning): its weights, bias and the quantization of its output
	// and of the pooled tensor.
	Conv *convExport `json:"conv,omitempty"`
	// Proj, with Conv, replaces the linear projection that feeds it (two
	// layers fine-tuned): its weights, bias and output range (OutMin,
	// OutMax), which is Conv's input quantization.
	Proj *convExport `json:"proj,omitempty"`
}

// exportModel writes one self-contained quantized classifier: the base model's
// backbone up to the pooled tensor, then a quantized FULLY_CONNECTED (the
// head, with the feature standardisation folded in) and SOFTMAX, plus
// sorterd metadata (labels, threshold, normalisation). Every op is a
// TFLite builtin that XNNPACK and the Edge TPU compiler accept.
func exportModel(base []byte, h *softmaxHead, o exportOptions) ([]byte, error) {
	g, mean, std, err := exportBackbone(base, o)
	if err != nil {
		return nil, err
	}
	feat := g.Tensors[g.Outputs[0]]
	if len(feat.Scale) != 1 || (feat.Type != tfmodel.Int8 && feat.Type != tfmodel.UInt8) {
		return nil, fmt.Errorf("export: feature tensor %q is %v with %d scales; want per-tensor int8 or uint8", feat.Name, feat.Type, len(feat.Scale))
	}
	if d := int(feat.Shape[len(feat.Shape)-1]); d != len(h.Mean) {
		return nil, fmt.Errorf("export: head expects %d features, the backbone gives %d", len(h.Mean), d)
	}
	appendHead(g, h, o)
	g.Description = "sorterd garbage classifier"
	meta := tfmodel.SorterdMeta{Labels: h.Classes, Threshold: o.Threshold, Mean: mean, Std: std, Info: o.Info}
	mb, err := json.Marshal(meta)
	if err != nil {
		return nil, err
	}
	g.AddMetadata(tfmodel.SorterdMetadataName, mb)
	return g.Write()
}

// exportBackbone is the base model with the fine-tuned layers of o put
// in, cut at the pooled tensor and resized; and the input normalisation
// the base declares, which the cut drops with its metadata.
func exportBackbone(base []byte, o exportOptions) (g *tfmodel.Model, mean, std []float32, err error) {
	g, err = baseGraph(base)
	if err != nil {
		return nil, nil, nil, err
	}
	mean, std = g.Mean, g.Std
	ft, _, err := pooledFeature(g)
	if err != nil {
		return nil, nil, nil, err
	}
	if o.Proj != nil {
		if o.Conv == nil {
			return nil, nil, nil, fmt.Errorf("export: a fine-tuned projection without its convolution")
		}
		// First: the convolution's bias scale follows its new input scale.
		if err := replaceProj(g, o.Proj); err != nil {
			return nil, nil, nil, err
		}
	}
	if o.Conv != nil {
		if err := replaceConv(g, ft, o.Conv); err != nil {
			return nil, nil, nil, err
		}
	}
	g = g.CutAt(ft)
	if o.Size > 0 {
		if err := g.SetInputSize(int32(o.Size), int32(o.Size)); err != nil {
			return nil, nil, nil, err
		}
	}
	return g, mean, std, nil
}

// quantHead is the head quantized for the pooled features' type: weights
// (per-tensor, symmetric for int8, asymmetric for uint8) and the int32
// bias at the features' scale × the weights' scale.
type quantHead struct {
	w      []byte
	wScale float64
	wZero  int64
	b      []byte
	bScale float64
}

// quantizeHead folds the standardisation into the head (W' = W/σ,
// b' = b - W'·μ) and quantizes it for features of scale sf.
func quantizeHead(h *softmaxHead, sf float64, signed bool) quantHead {
	k, d := len(h.B), len(h.Mean)
	w := make([]float64, k*d)
	b := make([]float64, k)
	var wmax, wmin float64
	for c := 0; c < k; c++ {
		b[c] = float64(h.B[c])
		for j := 0; j < d; j++ {
			v := float64(h.W[c][j]) / float64(h.Std[j])
			w[c*d+j] = v
			b[c] -= v * float64(h.Mean[j])
			wmax, wmin = math.Max(wmax, v), math.Min(wmin, v)
		}
	}
	var q quantHead
	q.w = make([]byte, k*d)
	if signed { // symmetric int8, zero point 0
		q.wScale = math.Max(math.Abs(wmax), math.Abs(wmin)) / 127
		for i, v := range w {
			q.w[i] = byte(int8(clamp(math.Round(v/q.wScale), -127, 127)))
		}
	} else { // asymmetric uint8
		q.wScale = (wmax - wmin) / 255
		q.wZero = int64(clamp(math.Round(-wmin/q.wScale), 0, 255))
		for i, v := range w {
			q.w[i] = byte(clamp(math.Round(v/q.wScale)+float64(q.wZero), 0, 255))
		}
	}
	q.bScale = sf * q.wScale
	q.b = make([]byte, 4*k)
	for c := 0; c < k; c++ {
		v := int32(clamp(math.Round(b[c]/q.bScale), math.MinInt32, math.MaxInt32))
		q.b[4*c], q.b[4*c+1], q.b[4*c+2], q.b[4*c+3] = byte(v), byte(v>>8), byte(v>>16), byte(v>>24)
	}
	return q
}

// logitQuant is the logits' quantization: the training range with a
// margin, always holding 0.
func logitQuant(o exportOptions, signed bool) (scale float64, zero int64) {
	lo, hi := float64(o.LogitMin), float64(o.LogitMax)
	if hi <= lo {
		lo, hi = -20, 20
	}
	margin := 0.1 * (hi - lo)
	lo, hi = math.Min(lo-margin, 0), math.Max(hi+margin, 0)
	scale = (hi - lo) / 255
	if signed {
		return scale, int64(clamp(math.Round(-128-lo/scale), -128, 127))
	}
	return scale, int64(clamp(math.Round(-lo/scale), 0, 255))
}

// appendHead appends the quantized head to the backbone g, whose output
// is the pooled features: FULLY_CONNECTED to the logits, then SOFTMAX to
// the model's new output, "scores".
func appendHead(g *tfmodel.Model, h *softmaxHead, o exportOptions) {
	f := g.Outputs[0]
	feat := g.Tensors[f]
	k, d := len(h.B), len(h.Mean)
	signed := feat.Type == tfmodel.Int8
	q := quantizeHead(h, float64(feat.Scale[0]), signed)
	ls, lzp := logitQuant(o, signed)
	wt := g.AddTensor(tfmodel.Tensor{Name: "sorterd/head/weights", Shape: []int32{int32(k), int32(d)}, Type: feat.Type,
		Scale: []float32{float32(q.wScale)}, ZeroPoint: []int64{q.wZero}}, q.w)
	bt := g.AddTensor(tfmodel.Tensor{Name: "sorterd/head/bias", Shape: []int32{int32(k)}, Type: tfmodel.Int32,
		Scale: []float32{float32(q.bScale)}, ZeroPoint: []int64{0}}, q.b)
	lt := g.AddTensor(tfmodel.Tensor{Name: "sorterd/head/logits", Shape: []int32{1, int32(k)}, Type: feat.Type,
		Scale: []float32{float32(ls)}, ZeroPoint: []int64{lzp}}, nil)
	szp := int64(0)
	if signed {
		szp = -128 // TFLite's int8 softmax output: scale 1/256, zero point -128
	}
	st := g.AddTensor(tfmodel.Tensor{Name: "scores", Shape: []int32{1, int32(k)}, Type: feat.Type,
		Scale: []float32{1.0 / 256}, ZeroPoint: []int64{szp}}, nil)
	fcVer, smVer := int32(1), int32(1) // uint8 kernels; int8 needs FULLY_CONNECTED 4, SOFTMAX 2
	if signed {
		fcVer, smVer = 4, 2
	}
	fc := tfmodel.Op{Opcode: g.AddOpCode(tfmodel.OpFullyConnected, fcVer), Inputs: []int32{f, wt, bt}, Outputs: []int32{lt},
		OptionsType: tfmodel.OptFullyConnected, Options: tfmodel.NewOptions(tfmodel.OptFullyConnected)}
	sm := tfmodel.Op{Opcode: g.AddOpCode(tfmodel.OpSoftmax, smVer), Inputs: []int32{lt}, Outputs: []int32{st},
		OptionsType: tfmodel.OptSoftmax, Options: tfmodel.NewOptions(tfmodel.OptSoftmax)}
	sm.SetOption(tfmodel.SoftmaxBeta, uint64(math.Float32bits(1)))
	g.Ops = append(g.Ops, fc, sm)
	g.Outputs = []int32{st}
}

// replaceProj writes a fine-tuned projection (the linear 1×1 CONV_2D
// feeding the convolution before the pooling) into the graph: new weight
// and bias buffers with their per-channel scales, and the int8
// quantization of its output, actQuant(OutMin, OutMax), which is that
// convolution's input. The op stays the same CONV_2D.
func replaceProj(g *tfmodel.Model, c *convExport) error {
	pi, err := projConv(g)
	if err != nil {
		return fmt.Errorf("export: %w", err)
	}
	op := g.Ops[pi]
	if c.OutMax <= c.OutMin || c.OutMin > 0 || c.OutMax < 0 {
		return fmt.Errorf("export: fine-tuned projection has output range [%g, %g]", c.OutMin, c.OutMax)
	}
	if err := setConvWeights(g, op, c); err != nil {
		return err
	}
	q := actQuant(c.OutMin, c.OutMax)
	out := &g.Tensors[op.Outputs[0]]
	out.Scale, out.ZeroPoint, out.Min, out.Max = []float32{q.Scale}, []int64{int64(q.ZeroPoint)}, nil, nil
	return nil
}

// setConvWeights gives a CONV_2D new int8 per-channel weights and an
// int32 bias at its input's scale × the weight scales, in new buffers
// (the base's bytes stay untouched).
func setConvWeights(g *tfmodel.Model, op tfmodel.Op, c *convExport) error {
	in := g.Tensors[op.Inputs[0]]
	w, b := &g.Tensors[op.Inputs[1]], &g.Tensors[op.Inputs[2]]
	o, i := int(w.Shape[0]), int(w.Shape[3])
	if len(c.Scales) != o || len(c.Bias) != o || len(c.Weights) != o*i {
		return fmt.Errorf("export: fine-tuned convolution has %d weights, %d scales, %d biases; the base's is %d×%d",
			len(c.Weights), len(c.Scales), len(c.Bias), o, i)
	}
	zeros := make([]int64, o)
	bq := make([]byte, 4*o)
	bs := make([]float32, o)
	for k, v := range c.Bias {
		bq[4*k], bq[4*k+1], bq[4*k+2], bq[4*k+3] = byte(v), byte(v>>8), byte(v>>16), byte(v>>24)
		bs[k] = float32(float64(in.Scale[0]) * float64(c.Scales[k]))
	}
	w.Buffer, w.Scale, w.ZeroPoint, w.QuantDim, w.Min, w.Max = uint32(len(g.Buffers)), append([]float32(nil), c.Scales...), zeros, 0, nil, nil
	g.Buffers = append(g.Buffers, append([]byte(nil), c.Weights...))
	b.Buffer, b.Scale, b.ZeroPoint, b.QuantDim, b.Min, b.Max = uint32(len(g.Buffers)), bs, zeros, 0, nil, nil
	g.Buffers = append(g.Buffers, bq)
	return nil
}

// replaceConv writes a fine-tuned convolution into the graph in place of
// the one before the pooling: new weight and bias buffers with their
// per-channel scales, and the int8 ranges of its output and of the
// pooled tensor (ft), which the head's quantization then follows. The
// ops stay the same CONV_2D and MEAN/AVERAGE_POOL_2D.
func replaceConv(g *tfmodel.Model, ft int32, c *convExport) error {
	ci, err := poolConv(g)
	if err != nil {
		return fmt.Errorf("export: %w", err)
	}
	op := g.Ops[ci]
	if c.OutMax <= 0 || c.PooledMax <= 0 {
		return fmt.Errorf("export: fine-tuned convolution has output range %g, pooled range %g", c.OutMax, c.PooledMax)
	}
	if err := setConvWeights(g, op, c); err != nil {
		return err
	}
	out := &g.Tensors[op.Outputs[0]]
	// Activations are int8 [0, max]: zero point −128, all 256 levels used.
	outQ := []float32{c.OutMax / 255}
	out.Scale, out.ZeroPoint, out.Min, out.Max = outQ, []int64{-128}, nil, nil
	_, pool, _ := pooledFeature(g)
	pooledQ := []float32{c.PooledMax / 255}
	if pool >= 0 && g.OpCodes[g.Ops[pool].Opcode].Builtin == tfmodel.OpAveragePool2D {
		// TFLite's int8 AVERAGE_POOL_2D needs its output quantized like its input.
		pooledQ = outQ
	}
	// The pooled tensor, and the pooling's output if a reshape sits
	// between them.
	targets := []int32{ft}
	if pool >= 0 {
		targets = append(targets, g.Ops[pool].Outputs[0])
	}
	for _, t := range targets {
		pt := &g.Tensors[t]
		pt.Scale, pt.ZeroPoint, pt.Min, pt.Max = pooledQ, []int64{-128}, nil, nil
	}
	return nil
}

func clamp(v, lo, hi float64) float64 { return math.Max(lo, math.Min(hi, v)) }
