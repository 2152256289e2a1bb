package tfmodel

import "fmt"

// CutAt returns a copy of the model whose only output is tensor t, with
// every op that t does not depend on removed, and unused tensors, buffers
// and op codes dropped. Metadata is dropped too (it describes the old
// output).
func (m *Model) CutAt(t int32) *Model {
	keep := m.opsFeeding(t)
	out := &Model{Version: m.Version, Description: m.Description, Subgraphs: 1, Buffers: [][]byte{nil}, cannotEdit: m.cannotEdit}
	tmap := map[int32]int32{-1: -1}
	bmap := map[uint32]uint32{0: 0}
	omap := map[int]int{}
	mapTensor := func(i int32) int32 {
		if n, ok := tmap[i]; ok {
			return n
		}
		tt := m.Tensors[i]
		if tt.Buffer != 0 {
			nb, ok := bmap[tt.Buffer]
			if !ok {
				nb = uint32(len(out.Buffers))
				out.Buffers = append(out.Buffers, m.Buffers[tt.Buffer])
				bmap[tt.Buffer] = nb
			}
			tt.Buffer = nb
		}
		n := int32(len(out.Tensors))
		out.Tensors = append(out.Tensors, tt)
		tmap[i] = n
		return n
	}
	remap := func(v []int32) []int32 {
		r := make([]int32, len(v))
		for i, x := range v {
			r[i] = mapTensor(x)
		}
		return r
	}
	out.Inputs = remap(m.Inputs)
	for i, op := range m.Ops {
		if !keep[i] {
			continue
		}
		oc, ok := omap[op.Opcode]
		if !ok {
			oc = len(out.OpCodes)
			out.OpCodes = append(out.OpCodes, m.OpCodes[op.Opcode])
			omap[op.Opcode] = oc
		}
		nop := op
		nop.Opcode = oc
		nop.Inputs = remap(op.Inputs)
		nop.Outputs = remap(op.Outputs)
		out.Ops = append(out.Ops, nop)
	}
	out.Outputs = remap([]int32{t})
	return out
}

// opsFeeding marks the ops that tensor t depends on.
func (m *Model) opsFeeding(t int32) []bool {
	need := map[int32]bool{t: true}
	keep := make([]bool, len(m.Ops))
	for i := len(m.Ops) - 1; i >= 0; i-- {
		op := m.Ops[i]
		for _, o := range op.Outputs {
			if need[o] {
				keep[i] = true
			}
		}
		if keep[i] {
			for _, in := range op.Inputs {
				if in >= 0 {
					need[in] = true
				}
			}
		}
	}
	return keep
}

// AddOpCode returns the index of a builtin op code, adding it if needed.
func (m *Model) AddOpCode(builtin Builtin, version int32) int {
	for i, oc := range m.OpCodes {
		if oc.Builtin == builtin && oc.Custom == "" && oc.Version >= version {
			return i
		}
	}
	m.OpCodes = append(m.OpCodes, OpCode{Builtin: builtin, Version: version})
	return len(m.OpCodes) - 1
}

// AddTensor appends a tensor (with data, if not nil) and returns its index.
func (m *Model) AddTensor(t Tensor, data []byte) int32 {
	if data != nil {
		t.Buffer = uint32(len(m.Buffers))
		m.Buffers = append(m.Buffers, data)
	}
	m.Tensors = append(m.Tensors, t)
	return int32(len(m.Tensors) - 1)
}

// AddMetadata stores a named metadata buffer.
func (m *Model) AddMetadata(name string, data []byte) {
	m.Metadata = append(m.Metadata, Metadata{Name: name, Buffer: uint32(len(m.Buffers))})
	m.Buffers = append(m.Buffers, data)
}

// SetInputSize changes the model's input to h×w and recomputes every
// tensor shape downstream. MobileNetV2 is fully convolutional, so a
// larger input sees finer detail with the same weights; a global
// AVERAGE_POOL_2D is widened to stay global. Ops whose shapes it does not
// know are refused.
func (m *Model) SetInputSize(h, w int32) error {
	if len(m.Inputs) != 1 {
		return fmt.Errorf("%w: %d inputs", ErrCannotEdit, len(m.Inputs))
	}
	in := &m.Tensors[m.Inputs[0]]
	if len(in.Shape) != 4 {
		return fmt.Errorf("%w: input shape %v", ErrCannotEdit, in.Shape)
	}
	in.Shape = []int32{in.Shape[0], h, w, in.Shape[3]}
	in.ShapeSignature = nil
	for i := range m.Ops {
		if err := m.reshapeOutput(i); err != nil {
			return err
		}
	}
	return nil
}

// reshapeOutput recomputes the output shape of op i from its input's.
func (m *Model) reshapeOutput(i int) error {
	op := &m.Ops[i]
	x := m.Tensors[op.Inputs[0]].Shape
	out := &m.Tensors[op.Outputs[0]]
	out.ShapeSignature = nil
	switch code := m.Builtin(i); code {
	case OpConv2D:
		wt := m.Tensors[op.Inputs[1]].Shape // [O, kh, kw, I]
		out.Shape = convShape(op, conv2DWindow, x, wt, wt[0])
	case OpDepthwiseConv2D:
		wt := m.Tensors[op.Inputs[1]].Shape // [1, kh, kw, C]
		out.Shape = convShape(op, depthwiseWindow, x, wt, wt[3])
	case OpAdd, OpQuantize, OpDequantize, OpRelu, OpRelu6, OpSoftmax:
		out.Shape = append([]int32(nil), x...)
	case OpAveragePool2D:
		if out.Shape[1] != 1 || out.Shape[2] != 1 {
			return fmt.Errorf("%w: AVERAGE_POOL_2D %d is not global", ErrCannotEdit, i)
		}
		if op.Option(Pool2DFilterWidth, 0) > 0 && op.Option(Pool2DFilterHeight, 0) > 0 {
			op.SetOption(Pool2DFilterWidth, uint64(x[2]))
			op.SetOption(Pool2DFilterHeight, uint64(x[1]))
			op.SetOption(Pool2DPadding, uint64(PaddingValid))
		}
		out.Shape = []int32{x[0], 1, 1, x[3]}
	case OpMean:
		if len(out.Shape) == 4 {
			out.Shape = []int32{x[0], 1, 1, x[3]}
		} else {
			out.Shape = []int32{x[0], x[3]}
		}
	case OpReshape, OpFullyConnected:
		// Shapes fixed by a constant or by the weights.
	default:
		return fmt.Errorf("%w: cannot resize through %s", ErrCannotEdit, m.OpCodes[op.Opcode].Name())
	}
	return nil
}

// windowSlots are where a convolution's options table keeps its window.
type windowSlots struct{ padding, strideW, strideH, dilationW, dilationH int }

var (
	conv2DWindow    = windowSlots{Conv2DPadding, Conv2DStrideW, Conv2DStrideH, Conv2DDilationW, Conv2DDilationH}
	depthwiseWindow = windowSlots{DepthwisePadding, DepthwiseStrideW, DepthwiseStrideH, DepthwiseDilationW, DepthwiseDilationH}
)

// convShape is the NHWC output shape of a (depthwise) convolution with
// input shape x, kernel shape wt and ch output channels.
func convShape(op *Op, win windowSlots, x, wt []int32, ch int32) []int32 {
	sw, sh := int32(op.Option(win.strideW, 1)), int32(op.Option(win.strideH, 1))
	dw, dh := int32(op.Option(win.dilationW, 1)), int32(op.Option(win.dilationH, 1))
	pad := Padding(op.Option(win.padding, uint64(PaddingSame)))
	return []int32{x[0], outSize(x[1], wt[1], sh, dh, pad), outSize(x[2], wt[2], sw, dw, pad), ch}
}

// outSize is TFLite's output length of a windowed op along one axis.
func outSize(n, k, stride, dil int32, padding Padding) int32 {
	if padding == PaddingSame {
		return (n + stride - 1) / stride
	}
	eff := (k-1)*dil + 1
	return (n - eff + stride) / stride
}
