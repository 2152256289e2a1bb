package infer

import (
	"encoding/binary"
	"fmt"
	"math"
)

// int8Versions are the op versions that declare int8 kernels (the same
// versions TFLite's converter writes for a per-channel int8 model).
var int8Versions = map[int32]int32{
	OpAdd:            2,
	OpAveragePool2D:  2,
	OpConv2D:         3,
	OpDepthwiseConv:  3,
	OpFullyConnected: 4,
	OpRelu:           2,
	OpRelu6:          2,
	OpReshape:        1,
	OpSoftmax:        2,
	OpMean:           2,
	OpQuantize:       2,
	2:                2, // CONCATENATION
	6:                2, // DEQUANTIZE
}

// ToInt8 rewrites a uint8 (quantization-aware trained) model as an int8
// one: activations keep their scale and move their zero point by -128,
// which is exact; convolution and fully-connected weights, which int8
// kernels want symmetric, are re-quantized per output channel and their
// int32 biases re-scaled to match. Why: XNNPACK in the TFLite we ship
// runs the int8 graph whole but refuses the uint8 graph's residual ADDs,
// which leaves the uint8 model ~10× slower; and sorterd's fine-tuning
// works on int8 layers. The weights change by at most half an int8 step
// of their channel.
func (g *Graph) ToInt8() error {
	users := map[int32][]int{} // constant tensor -> ops reading it
	for i, op := range g.Ops {
		for _, in := range op.Inputs {
			if in >= 0 && g.Tensors[in].Buffer != 0 {
				users[in] = append(users[in], i)
			}
		}
	}
	bufUse := map[uint32]int{}
	for _, t := range g.Tensors {
		if t.Buffer != 0 && len(g.Buffers[t.Buffer]) > 0 {
			bufUse[t.Buffer]++
		}
	}
	for i, op := range g.Ops {
		code := g.OpCodes[op.Opcode].Builtin
		uses := false
		for _, t := range append(append([]int32(nil), op.Inputs...), op.Outputs...) {
			if t >= 0 && g.Tensors[t].Type == UInt8 {
				uses = true
			}
		}
		if !uses {
			continue
		}
		if _, ok := int8Versions[code]; !ok {
			return fmt.Errorf("%w: operator %d (%s) has no int8 form sorterd knows", errGraph, i, g.OpCodes[op.Opcode].Name())
		}
		if code != OpConv2D && code != OpDepthwiseConv && code != OpFullyConnected {
			continue
		}
		w := op.Inputs[1]
		if g.Tensors[w].Type != UInt8 {
			continue
		}
		if len(users[w]) != 1 || bufUse[g.Tensors[w].Buffer] != 1 {
			return fmt.Errorf("%w: weights %q are shared between operators", errGraph, g.Tensors[w].Name)
		}
		var bias int32 = -1
		if len(op.Inputs) > 2 && op.Inputs[2] >= 0 {
			bias = op.Inputs[2]
			if len(users[bias]) != 1 || bufUse[g.Tensors[bias].Buffer] != 1 {
				return fmt.Errorf("%w: bias %q is shared between operators", errGraph, g.Tensors[bias].Name)
			}
		}
		dim := 0
		if code == OpDepthwiseConv {
			dim = 3
		}
		if err := g.requantWeights(w, bias, dim); err != nil {
			return fmt.Errorf("operator %d (%s): %w", i, g.OpCodes[op.Opcode].Name(), err)
		}
	}
	for i := range g.Tensors {
		t := &g.Tensors[i]
		if t.Type != UInt8 {
			continue
		}
		t.Type = Int8
		// A new slice: copies of the graph's tensors share the old one.
		zp := make([]int64, len(t.ZeroPoint))
		for j, z := range t.ZeroPoint {
			zp[j] = z - 128
		}
		t.ZeroPoint = zp
		if d := g.Buffers[t.Buffer]; t.Buffer != 0 && len(d) > 0 {
			if bufUse[t.Buffer] != 1 {
				return fmt.Errorf("%w: constant %q shares its buffer", errGraph, t.Name)
			}
			n := make([]byte, len(d))
			for j, v := range d {
				n[j] = byte(int8(int(v) - 128))
			}
			g.Buffers[t.Buffer] = n
		}
	}
	for i := range g.OpCodes {
		if v, ok := int8Versions[g.OpCodes[i].Builtin]; ok && g.OpCodes[i].Custom == "" && g.OpCodes[i].Version < v {
			g.OpCodes[i].Version = v
		}
	}
	return nil
}

// requantWeights turns uint8 weights w (per-tensor, any zero point) into
// symmetric int8 weights with one scale per channel along dim, and
// re-scales the int32 bias to match. The tensor is left marked Int8 so the pass in ToInt8 does
// not shift it again.
func (g *Graph) requantWeights(w, bias int32, dim int) error {
	wt := &g.Tensors[w]
	if len(wt.Scale) != 1 || len(wt.ZeroPoint) != 1 {
		return fmt.Errorf("%w: uint8 weights %q are not per-tensor", errGraph, wt.Name)
	}
	data := g.Buffers[wt.Buffer]
	n := 1
	for _, s := range wt.Shape {
		n *= int(s)
	}
	if len(data) != n || dim >= len(wt.Shape) {
		return fmt.Errorf("%w: weights %q hold %d bytes for shape %v", errGraph, wt.Name, len(data), wt.Shape)
	}
	ch := int(wt.Shape[dim])
	inner := 1 // elements between two neighbours along dim
	for _, s := range wt.Shape[dim+1:] {
		inner *= int(s)
	}
	chOf := func(j int) int { return (j / inner) % ch }
	s0, z0 := float64(wt.Scale[0]), float64(wt.ZeroPoint[0])
	maxAbs := make([]float64, ch)
	for j, q := range data {
		maxAbs[chOf(j)] = math.Max(maxAbs[chOf(j)], math.Abs(s0*(float64(q)-z0)))
	}
	// A channel whose integer values already fit in [-127, 127] keeps
	// the tensor's scale and so its exact values; only a wider channel
	// gets a coarser step of its own.
	scales := make([]float32, ch)
	for c, m := range maxAbs {
		scales[c] = float32(s0)
		if m > 127*s0 {
			scales[c] = float32(m / 127)
		}
	}
	out := make([]byte, n)
	for j, q := range data {
		v := math.Round(s0 * (float64(q) - z0) / float64(scales[chOf(j)]))
		out[j] = byte(int8(clampInt(v, -127, 127)))
	}
	g.Buffers[wt.Buffer] = out
	wt.Type, wt.Scale, wt.ZeroPoint, wt.QuantDim = Int8, scales, make([]int64, ch), int32(dim)
	wt.Min, wt.Max = nil, nil
	if bias < 0 {
		return nil
	}
	bt := &g.Tensors[bias]
	bd := g.Buffers[bt.Buffer]
	if bt.Type != Int32 || len(bd) != 4*ch || len(bt.Scale) != 1 {
		return fmt.Errorf("%w: bias %q is not a per-tensor int32 vector of %d", errGraph, bt.Name, ch)
	}
	// The kernels add the int32 bias in units of input × weight scale,
	// whatever scale the tensor records, so a channel that kept its
	// weight scale keeps its bias integers too; a widened one divides
	// them by how much its step grew.
	bs := float64(bt.Scale[0])
	nb := make([]byte, len(bd))
	bscales := make([]float32, ch)
	for c := 0; c < ch; c++ {
		grow := float64(scales[c]) / s0
		bscales[c] = float32(bs * grow)
		v := float64(int32(binary.LittleEndian.Uint32(bd[4*c:])))
		if grow != 1 {
			v = clampInt(math.Round(v/grow), math.MinInt32, math.MaxInt32)
		}
		binary.LittleEndian.PutUint32(nb[4*c:], uint32(int32(v)))
	}
	g.Buffers[bt.Buffer] = nb
	bt.Scale, bt.ZeroPoint, bt.QuantDim = bscales, make([]int64, ch), 0
	return nil
}

func clampInt(v, lo, hi float64) float64 { return math.Max(lo, math.Min(hi, v)) }
