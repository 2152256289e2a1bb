package tfmodel

import (
	"encoding/binary"
	"fmt"
	"math"
)

// int8Versions are the op versions that declare int8 kernels (the same
// versions TFLite's converter writes for a per-channel int8 model).
var int8Versions = map[Builtin]int32{
	OpAdd:             2,
	OpAveragePool2D:   2,
	OpConv2D:          3,
	OpDepthwiseConv2D: 3,
	OpFullyConnected:  4,
	OpRelu:            2,
	OpRelu6:           2,
	OpReshape:         1,
	OpSoftmax:         2,
	OpMean:            2,
	OpQuantize:        2,
	OpConcatenation:   2,
	OpDequantize:      2,
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
func (m *Model) ToInt8() error {
	users, bufUse := m.constantUse()
	for i := range m.Ops {
		if err := m.requantOp(i, users, bufUse); err != nil {
			return err
		}
	}
	for i := range m.Tensors {
		if err := m.shiftToInt8(&m.Tensors[i], bufUse); err != nil {
			return err
		}
	}
	for i := range m.OpCodes {
		if v, ok := int8Versions[m.OpCodes[i].Builtin]; ok && m.OpCodes[i].Custom == "" && m.OpCodes[i].Version < v {
			m.OpCodes[i].Version = v
		}
	}
	return nil
}

// uint8Offset is what moves a uint8 value or zero point to int8.
const uint8Offset = 128

// constantUse counts, per constant tensor, the ops reading it, and per
// non-empty buffer, the tensors using it: weights rewritten in place must
// belong to one op.
func (m *Model) constantUse() (users map[int32][]int, bufUse map[uint32]int) {
	users = map[int32][]int{}
	for i, op := range m.Ops {
		for _, in := range op.Inputs {
			if in >= 0 && m.Tensors[in].Buffer != 0 {
				users[in] = append(users[in], i)
			}
		}
	}
	bufUse = map[uint32]int{}
	for _, t := range m.Tensors {
		if t.Buffer != 0 && len(m.Buffers[t.Buffer]) > 0 {
			bufUse[t.Buffer]++
		}
	}
	return users, bufUse
}

// requantOp checks that op i, if it touches uint8 tensors, has an int8
// form, and re-quantizes the uint8 weights and bias of a convolution or
// fully-connected op per channel.
func (m *Model) requantOp(i int, users map[int32][]int, bufUse map[uint32]int) error {
	op := m.Ops[i]
	code := m.Builtin(i)
	uses := false
	for _, t := range append(append([]int32(nil), op.Inputs...), op.Outputs...) {
		if t >= 0 && m.Tensors[t].Type == UInt8 {
			uses = true
		}
	}
	if !uses {
		return nil
	}
	if _, ok := int8Versions[code]; !ok {
		return fmt.Errorf("%w: operator %d (%s) has no int8 form sorterd knows", ErrCannotEdit, i, m.OpCodes[op.Opcode].Name())
	}
	if code != OpConv2D && code != OpDepthwiseConv2D && code != OpFullyConnected {
		return nil
	}
	w := op.Inputs[1]
	if m.Tensors[w].Type != UInt8 {
		return nil
	}
	if len(users[w]) != 1 || bufUse[m.Tensors[w].Buffer] != 1 {
		return fmt.Errorf("%w: weights %q are shared between operators", ErrCannotEdit, m.Tensors[w].Name)
	}
	var bias int32 = -1
	if len(op.Inputs) > 2 && op.Inputs[2] >= 0 {
		bias = op.Inputs[2]
		if len(users[bias]) != 1 || bufUse[m.Tensors[bias].Buffer] != 1 {
			return fmt.Errorf("%w: bias %q is shared between operators", ErrCannotEdit, m.Tensors[bias].Name)
		}
	}
	dim := 0 // output channels: OHWI
	if code == OpDepthwiseConv2D {
		dim = 3 // 1HWC
	}
	if err := m.requantWeights(w, bias, dim); err != nil {
		return fmt.Errorf("operator %d (%s): %w", i, m.OpCodes[op.Opcode].Name(), err)
	}
	return nil
}

// shiftToInt8 moves a uint8 tensor (activation or constant) to int8 by
// shifting its zero point and data by 128, which is exact.
func (m *Model) shiftToInt8(t *Tensor, bufUse map[uint32]int) error {
	if t.Type != UInt8 {
		return nil
	}
	t.Type = Int8
	// A new slice: copies of the model's tensors share the old one.
	zp := make([]int64, len(t.ZeroPoint))
	for j, z := range t.ZeroPoint {
		zp[j] = z - uint8Offset
	}
	t.ZeroPoint = zp
	if d := m.Buffers[t.Buffer]; t.Buffer != 0 && len(d) > 0 {
		if bufUse[t.Buffer] != 1 {
			return fmt.Errorf("%w: constant %q shares its buffer", ErrCannotEdit, t.Name)
		}
		n := make([]byte, len(d))
		for j, v := range d {
			n[j] = byte(int8(int(v) - uint8Offset))
		}
		m.Buffers[t.Buffer] = n
	}
	return nil
}

// requantWeights turns uint8 weights w (per-tensor, any zero point) into
// symmetric int8 weights with one scale per channel along dim, and
// re-scales the int32 bias to match. The tensor is left marked Int8 so the pass in ToInt8 does
// not shift it again.
func (m *Model) requantWeights(w, bias int32, dim int) error {
	wt := &m.Tensors[w]
	if len(wt.Scale) != 1 || len(wt.ZeroPoint) != 1 {
		return fmt.Errorf("%w: uint8 weights %q are not per-tensor", ErrCannotEdit, wt.Name)
	}
	data := m.Buffers[wt.Buffer]
	n := 1
	for _, s := range wt.Shape {
		n *= int(s)
	}
	if len(data) != n || dim >= len(wt.Shape) {
		return fmt.Errorf("%w: weights %q hold %d bytes for shape %v", ErrCannotEdit, wt.Name, len(data), wt.Shape)
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
	for c, mx := range maxAbs {
		scales[c] = float32(s0)
		if mx > 127*s0 {
			scales[c] = float32(mx / 127)
		}
	}
	out := make([]byte, n)
	for j, q := range data {
		v := math.Round(s0 * (float64(q) - z0) / float64(scales[chOf(j)]))
		out[j] = byte(int8(clampInt(v, -127, 127)))
	}
	m.Buffers[wt.Buffer] = out
	wt.Type, wt.Scale, wt.ZeroPoint, wt.QuantDim = Int8, scales, make([]int64, ch), int32(dim)
	wt.Min, wt.Max = nil, nil
	if bias < 0 {
		return nil
	}
	return m.requantBias(bias, scales, s0)
}

// requantBias re-scales the int32 bias of weights whose per-tensor scale
// s0 became the per-channel scales.
func (m *Model) requantBias(bias int32, scales []float32, s0 float64) error {
	ch := len(scales)
	bt := &m.Tensors[bias]
	bd := m.Buffers[bt.Buffer]
	if bt.Type != Int32 || len(bd) != 4*ch || len(bt.Scale) != 1 {
		return fmt.Errorf("%w: bias %q is not a per-tensor int32 vector of %d", ErrCannotEdit, bt.Name, ch)
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
	m.Buffers[bt.Buffer] = nb
	bt.Scale, bt.ZeroPoint, bt.QuantDim = bscales, make([]int64, ch), 0
	return nil
}

func clampInt(v, lo, hi float64) float64 { return math.Max(lo, math.Min(hi, v)) }
