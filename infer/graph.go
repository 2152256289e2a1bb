package infer

import (
	"errors"
	"fmt"

	flatbuffers "github.com/google/flatbuffers/go"
)

// Graph is a whole TFLite model held in Go so that it can be edited and
// written back with the FlatBuffers builder: cut at a tensor (a feature
// extractor), new ops and weights appended (a trained head). It covers
// the schema parts that image classifiers use; anything it cannot carry
// faithfully is refused when reading, never silently dropped.
type Graph struct {
	Version     uint32
	Description string
	OpCodes     []OpCode
	Tensors     []GraphTensor
	Inputs      []int32
	Outputs     []int32
	Ops         []GraphOp
	Buffers     [][]byte // buffer 0 is the empty sentinel
	Metadata    []GraphMetadata
}

// GraphTensor is a tensor with its quantization (the same record
// ParseModel reads).
type GraphTensor = TensorInfo

// GraphOp is one operator; builtin options are kept as typed scalar fields.
type GraphOp struct {
	Opcode        int
	Inputs        []int32
	Outputs       []int32
	OptionsType   uint8
	Options       []OptionField
	CustomOptions []byte
}

// OptionField is one field of a builtin-options table: a scalar of Size
// bytes (little-endian Bits), or an int32 vector when Size is 0.
type OptionField struct {
	Present bool
	Size    int
	Bits    uint64
	Ints    []int32
}

// GraphMetadata is a named buffer (TFLITE_METADATA, min_runtime_version...).
type GraphMetadata struct {
	Name   string
	Buffer uint32
}

// Builtin options table types (schema BuiltinOptions union) and the sizes
// of their fields in order; 0 is a vector of int32.
const (
	OptConv2D          = 1
	OptDepthwiseConv2D = 2
	OptPool2D          = 5
	OptFullyConnected  = 8
	OptSoftmax         = 9
	OptAdd             = 11
	OptReshape         = 17
	OptReducer         = 27
)

var optionLayouts = map[uint8][]int{
	OptConv2D:          {1, 4, 4, 1, 4, 4},
	OptDepthwiseConv2D: {1, 4, 4, 4, 1, 4, 4},
	OptPool2D:          {1, 4, 4, 4, 4, 1},
	OptFullyConnected:  {1, 1, 1, 1},
	OptSoftmax:         {4},
	OptAdd:             {1, 1},
	OptReshape:         {0},
	OptReducer:         {1},
}

// Builtin operator codes used when building graphs.
const (
	OpAdd            = 0
	OpAveragePool2D  = 1
	OpConv2D         = 3
	OpDepthwiseConv  = 4
	OpFullyConnected = 9
	OpRelu           = 19
	OpRelu6          = 21
	OpReshape        = 22
	OpSoftmax        = 25
	OpMean           = 40
	OpQuantize       = 114
)

var errGraph = errors.New("cannot edit model")

// ReadGraph parses a whole model for editing.
func ReadGraph(data []byte) (g *Graph, err error) {
	m, err := ParseModel(data)
	if err != nil {
		return nil, err
	}
	defer fbCatch(&err)
	b := fbuf(data)
	root := b.root()
	if root.has(5) {
		return nil, fmt.Errorf("%w: deprecated metadata_buffer field", errGraph)
	}
	g = &Graph{Version: m.Version, Description: m.Description, OpCodes: m.OpCodes}
	sgs, _ := root.vec(2, 4)
	if sgs.n != 1 {
		return nil, fmt.Errorf("%w: %d subgraphs, want 1", errGraph, sgs.n)
	}
	sg := sgs.table(0)
	// Tensors come from ParseModel; refuse what Graph cannot carry over.
	ts, _ := sg.vec(0, 4)
	for j := 0; j < ts.n; j++ {
		t := ts.table(j)
		for f := 5; f <= 8; f++ {
			if f != 7 && t.has(f) && !(f == 5 && t.u8(5, 0) == 0) {
				return nil, fmt.Errorf("%w: tensor %d uses schema field %d (variable/sparse tensors are not supported)", errGraph, j, f)
			}
		}
		if q, ok := t.sub(4); ok && (q.has(4) || q.has(5)) {
			return nil, fmt.Errorf("%w: tensor %d has custom quantization details", errGraph, j)
		}
	}
	g.Tensors = m.Tensors
	if v, ok := sg.vec(1, 4); ok {
		g.Inputs = v.int32s()
	}
	if v, ok := sg.vec(2, 4); ok {
		g.Outputs = v.int32s()
	}
	ops, _ := sg.vec(3, 4)
	for j := 0; j < ops.n; j++ {
		t := ops.table(j)
		op := GraphOp{Opcode: int(t.u32(0, 0)), OptionsType: t.u8(3, 0)}
		if v, ok := t.vec(1, 4); ok {
			op.Inputs = v.int32s()
		}
		if v, ok := t.vec(2, 4); ok {
			op.Outputs = v.int32s()
		}
		if v, ok := t.vec(5, 1); ok {
			op.CustomOptions = append([]byte(nil), v.bytes()...)
		}
		for f := 6; f < 12; f++ {
			if t.has(f) {
				return nil, fmt.Errorf("%w: operator %d uses schema field %d", errGraph, j, f)
			}
		}
		if opt, ok := t.sub(4); ok {
			layout, known := optionLayouts[op.OptionsType]
			if !known {
				return nil, fmt.Errorf("%w: operator %d (%s) has builtin options type %d, which sorterd cannot copy", errGraph, j, g.OpCodes[op.Opcode].Name(), op.OptionsType)
			}
			for f, size := range layout {
				of := OptionField{Size: size}
				if p := opt.field(f); p != 0 {
					of.Present = true
					switch size {
					case 0:
						v, _ := opt.vec(f, 4)
						of.Ints = v.int32s()
					case 1:
						of.Bits = uint64(b.u8(p))
					case 4:
						of.Bits = uint64(b.u32(p))
					}
				}
				op.Options = append(op.Options, of)
			}
		}
		g.Ops = append(g.Ops, op)
	}
	bufs, _ := root.vec(4, 4)
	for j := 0; j < bufs.n; j++ {
		bt := bufs.table(j)
		if bt.has(1) || bt.has(2) {
			return nil, fmt.Errorf("%w: buffer %d is stored outside the flatbuffer", errGraph, j)
		}
		var d []byte
		if v, ok := bt.vec(0, 1); ok {
			d = v.bytes()
		}
		g.Buffers = append(g.Buffers, d)
	}
	if md, ok := root.vec(6, 4); ok {
		for j := 0; j < md.n; j++ {
			t := md.table(j)
			g.Metadata = append(g.Metadata, GraphMetadata{Name: t.str(0), Buffer: t.u32(1, 0)})
		}
	}
	return g, nil
}

// Write serializes the graph with the FlatBuffers builder. Buffers are
// aligned to 16 bytes so that TFLite can use them in place.
func (g *Graph) Write() []byte {
	bl := flatbuffers.NewBuilder(1 << 20)
	ints := func(v []int32) flatbuffers.UOffsetT {
		bl.StartVector(4, len(v), 4)
		for i := len(v) - 1; i >= 0; i-- {
			bl.PrependInt32(v[i])
		}
		return bl.EndVector(len(v))
	}
	floatsVec := func(v []float32) flatbuffers.UOffsetT {
		bl.StartVector(4, len(v), 4)
		for i := len(v) - 1; i >= 0; i-- {
			bl.PrependFloat32(v[i])
		}
		return bl.EndVector(len(v))
	}
	tables := func(offs []flatbuffers.UOffsetT) flatbuffers.UOffsetT {
		bl.StartVector(4, len(offs), 4)
		for i := len(offs) - 1; i >= 0; i-- {
			bl.PrependUOffsetT(offs[i])
		}
		return bl.EndVector(len(offs))
	}

	// Buffers first (largest, written once).
	bufOffs := make([]flatbuffers.UOffsetT, len(g.Buffers))
	for i := len(g.Buffers) - 1; i >= 0; i-- {
		var data flatbuffers.UOffsetT
		if len(g.Buffers[i]) > 0 {
			bl.StartVector(1, len(g.Buffers[i]), 16)
			for j := len(g.Buffers[i]) - 1; j >= 0; j-- {
				bl.PrependByte(g.Buffers[i][j])
			}
			data = bl.EndVector(len(g.Buffers[i]))
		}
		bl.StartObject(3)
		if data != 0 {
			bl.PrependUOffsetTSlot(0, data, 0)
		}
		bufOffs[i] = bl.EndObject()
	}
	buffers := tables(bufOffs)

	tensorOffs := make([]flatbuffers.UOffsetT, len(g.Tensors))
	for i, t := range g.Tensors {
		name := bl.CreateString(t.Name)
		shape := ints(t.Shape)
		var sig, quant flatbuffers.UOffsetT
		if t.ShapeSignature != nil {
			sig = ints(t.ShapeSignature)
		}
		if len(t.Scale) > 0 || len(t.Min) > 0 {
			var mn, mx, sc, zp flatbuffers.UOffsetT
			if len(t.Min) > 0 {
				mn = floatsVec(t.Min)
			}
			if len(t.Max) > 0 {
				mx = floatsVec(t.Max)
			}
			if len(t.Scale) > 0 {
				sc = floatsVec(t.Scale)
				bl.StartVector(8, len(t.ZeroPoint), 8)
				for k := len(t.ZeroPoint) - 1; k >= 0; k-- {
					bl.PrependInt64(t.ZeroPoint[k])
				}
				zp = bl.EndVector(len(t.ZeroPoint))
			}
			bl.StartObject(7)
			if mn != 0 {
				bl.PrependUOffsetTSlot(0, mn, 0)
			}
			if mx != 0 {
				bl.PrependUOffsetTSlot(1, mx, 0)
			}
			if sc != 0 {
				bl.PrependUOffsetTSlot(2, sc, 0)
				bl.PrependUOffsetTSlot(3, zp, 0)
			}
			bl.PrependInt32Slot(6, t.QuantDim, 0)
			quant = bl.EndObject()
		}
		bl.StartObject(8)
		bl.PrependUOffsetTSlot(0, shape, 0)
		bl.PrependInt8Slot(1, int8(t.Type), 0)
		bl.PrependUint32Slot(2, t.Buffer, 0)
		bl.PrependUOffsetTSlot(3, name, 0)
		if quant != 0 {
			bl.PrependUOffsetTSlot(4, quant, 0)
		}
		if sig != 0 {
			bl.PrependUOffsetTSlot(7, sig, 0)
		}
		tensorOffs[i] = bl.EndObject()
	}
	tensors := tables(tensorOffs)

	opOffs := make([]flatbuffers.UOffsetT, len(g.Ops))
	for i, op := range g.Ops {
		in, out := ints(op.Inputs), ints(op.Outputs)
		var custom, opts flatbuffers.UOffsetT
		if op.CustomOptions != nil {
			custom = bl.CreateByteVector(op.CustomOptions)
		}
		if op.Options != nil {
			vecs := make([]flatbuffers.UOffsetT, len(op.Options))
			for f, of := range op.Options {
				if of.Present && of.Size == 0 {
					vecs[f] = ints(of.Ints)
				}
			}
			bl.StartObject(len(op.Options))
			for f, of := range op.Options {
				if !of.Present {
					continue
				}
				switch of.Size {
				case 0:
					bl.PrependUOffsetTSlot(f, vecs[f], 0)
				case 1:
					bl.PrependByte(byte(of.Bits))
					bl.Slot(f)
				case 4:
					bl.PrependUint32(uint32(of.Bits))
					bl.Slot(f)
				}
			}
			opts = bl.EndObject()
		}
		bl.StartObject(6)
		bl.PrependUint32Slot(0, uint32(op.Opcode), 0)
		bl.PrependUOffsetTSlot(1, in, 0)
		bl.PrependUOffsetTSlot(2, out, 0)
		if opts != 0 {
			bl.PrependByteSlot(3, op.OptionsType, 0)
			bl.PrependUOffsetTSlot(4, opts, 0)
		}
		if custom != 0 {
			bl.PrependUOffsetTSlot(5, custom, 0)
		}
		opOffs[i] = bl.EndObject()
	}
	ops := tables(opOffs)
	inputs, outputs := ints(g.Inputs), ints(g.Outputs)
	sgName := bl.CreateString("main")
	bl.StartObject(5)
	bl.PrependUOffsetTSlot(0, tensors, 0)
	bl.PrependUOffsetTSlot(1, inputs, 0)
	bl.PrependUOffsetTSlot(2, outputs, 0)
	bl.PrependUOffsetTSlot(3, ops, 0)
	bl.PrependUOffsetTSlot(4, sgName, 0)
	subgraph := bl.EndObject()
	subgraphs := tables([]flatbuffers.UOffsetT{subgraph})

	ocOffs := make([]flatbuffers.UOffsetT, len(g.OpCodes))
	for i, oc := range g.OpCodes {
		var custom flatbuffers.UOffsetT
		if oc.Custom != "" {
			custom = bl.CreateString(oc.Custom)
		}
		bl.StartObject(4)
		dep := oc.Builtin
		if dep > 127 {
			dep = 127 // PLACEHOLDER_FOR_GREATER_OP_CODES
		}
		bl.PrependInt8Slot(0, int8(dep), 0)
		if custom != 0 {
			bl.PrependUOffsetTSlot(1, custom, 0)
		}
		bl.PrependInt32Slot(2, oc.Version, 1)
		bl.PrependInt32Slot(3, oc.Builtin, 0)
		ocOffs[i] = bl.EndObject()
	}
	opcodes := tables(ocOffs)

	mdOffs := make([]flatbuffers.UOffsetT, len(g.Metadata))
	for i, m := range g.Metadata {
		name := bl.CreateString(m.Name)
		bl.StartObject(2)
		bl.PrependUOffsetTSlot(0, name, 0)
		bl.PrependUint32Slot(1, m.Buffer, 0)
		mdOffs[i] = bl.EndObject()
	}
	var metadata flatbuffers.UOffsetT
	if len(mdOffs) > 0 {
		metadata = tables(mdOffs)
	}
	desc := bl.CreateString(g.Description)
	bl.StartObject(8)
	bl.PrependUint32Slot(0, g.Version, 0)
	bl.PrependUOffsetTSlot(1, opcodes, 0)
	bl.PrependUOffsetTSlot(2, subgraphs, 0)
	bl.PrependUOffsetTSlot(3, desc, 0)
	bl.PrependUOffsetTSlot(4, buffers, 0)
	if metadata != 0 {
		bl.PrependUOffsetTSlot(6, metadata, 0)
	}
	root := bl.EndObject()
	bl.FinishWithFileIdentifier(root, []byte("TFL3"))
	return bl.FinishedBytes()
}

// Producer returns the index of the op that writes tensor t, or -1.
func (g *Graph) Producer(t int32) int {
	for i, op := range g.Ops {
		for _, o := range op.Outputs {
			if o == t {
				return i
			}
		}
	}
	return -1
}

// PooledFeature finds, by graph structure, the tensor a classifier's final
// layer reads: walk back from the output through the ops that only reshape,
// quantize or normalise (SOFTMAX, RESHAPE, QUANTIZE, DEQUANTIZE, SQUEEZE)
// to the classifier (FULLY_CONNECTED or a 1×1 CONV_2D), and return its
// input if that is a pooled [1,(1,1,)C] tensor. It also returns the index
// of the pooling op (MEAN or AVERAGE_POOL_2D) that produced it, or -1.
func (g *Graph) PooledFeature() (tensor int32, pool int, err error) {
	if len(g.Outputs) != 1 {
		return 0, 0, fmt.Errorf("%w: model has %d outputs", ErrNoFeatureTensor, len(g.Outputs))
	}
	t := g.Outputs[0]
	for hops := 0; hops < 16; hops++ {
		p := g.Producer(t)
		if p < 0 {
			break
		}
		op := g.Ops[p]
		switch g.OpCodes[op.Opcode].Builtin {
		case OpSoftmax, OpReshape, OpQuantize, 6, 43:
			t = op.Inputs[0]
			continue
		case OpFullyConnected, OpConv2D:
			in := op.Inputs[0]
			shape := g.Tensors[in].Shape
			n := 1
			for _, d := range shape[:len(shape)-1] {
				n *= int(d)
			}
			if n != 1 || shape[len(shape)-1] < 8 {
				return 0, 0, fmt.Errorf("%w: the classifier reads %q of shape %v, not a pooled vector", ErrNoFeatureTensor, g.Tensors[in].Name, shape)
			}
			// Skip a reshape between the pooling and the classifier.
			src := in
			for k := 0; k < 3; k++ {
				pp := g.Producer(src)
				if pp < 0 {
					return in, -1, nil
				}
				switch g.OpCodes[g.Ops[pp].Opcode].Builtin {
				case OpMean, OpAveragePool2D:
					return in, pp, nil
				case OpReshape, 43:
					src = g.Ops[pp].Inputs[0]
				default:
					return in, -1, nil
				}
			}
			return in, -1, nil
		}
		break
	}
	return 0, 0, fmt.Errorf("%w: the output is not produced by a FULLY_CONNECTED or CONV_2D classifier", ErrNoFeatureTensor)
}

// PoolConv finds, by graph structure, the convolution whose output the
// global pooling averages into the pooled feature tensor (MobileNetV2's
// "Conv_1", 320→1280): from PooledFeature's pooling op to the CONV_2D that
// produces its input. Fine-tuning retrains that layer, so it must be a
// 1×1, stride-1 convolution; anything else is ErrNoPoolConv.
func (g *Graph) PoolConv() (int, error) {
	_, pool, err := g.PooledFeature()
	if err != nil {
		return -1, err
	}
	if pool < 0 {
		return -1, fmt.Errorf("%w: the pooled tensor is not produced by MEAN or AVERAGE_POOL_2D", ErrNoPoolConv)
	}
	return g.conv1x1Producer(g.Ops[pool].Inputs[0], "the pooling")
}

// conv1x1Producer returns the op producing tensor in (read by reader, for
// the error) if it is a 1×1, stride-1 CONV_2D; anything else is
// ErrNoPoolConv.
func (g *Graph) conv1x1Producer(in int32, reader string) (int, error) {
	p := g.Producer(in)
	if p < 0 {
		return -1, fmt.Errorf("%w: %s reads %q, which no op produces", ErrNoPoolConv, reader, g.Tensors[in].Name)
	}
	op := g.Ops[p]
	if code := g.OpCodes[op.Opcode]; code.Builtin != OpConv2D {
		return -1, fmt.Errorf("%w: %s reads %q, produced by %s, not a CONV_2D", ErrNoPoolConv, reader, g.Tensors[in].Name, code.Name())
	}
	w := g.Tensors[op.Inputs[1]].Shape
	if len(w) != 4 || w[1] != 1 || w[2] != 1 {
		return -1, fmt.Errorf("%w: CONV_2D %d has a kernel of shape %v, not 1×1", ErrNoPoolConv, p, w)
	}
	for _, f := range []int{1, 2} { // stride_w, stride_h
		if f < len(op.Options) && op.Options[f].Present && op.Options[f].Bits != 1 {
			return -1, fmt.Errorf("%w: CONV_2D %d has stride %d", ErrNoPoolConv, p, op.Options[f].Bits)
		}
	}
	return p, nil
}

// ProjConv finds, by graph structure, the convolution that produces
// PoolConv's input (MobileNetV2's "block_16_project", the last inverted
// residual block's linear 1×1 projection, 960→320). Fine-tuning two
// layers retrains it too, so it must be a 1×1, stride-1 CONV_2D without a
// fused activation whose output only PoolConv reads (no residual ADD);
// anything else is ErrNoPoolConv.
func (g *Graph) ProjConv() (int, error) {
	ci, err := g.PoolConv()
	if err != nil {
		return -1, err
	}
	in := g.Ops[ci].Inputs[0]
	p, err := g.conv1x1Producer(in, fmt.Sprintf("CONV_2D %d", ci))
	if err != nil {
		return -1, err
	}
	op := g.Ops[p]
	if len(op.Options) > 3 && op.Options[3].Bits != 0 { // fused_activation_function
		return -1, fmt.Errorf("%w: CONV_2D %d has a fused activation (%d), not a linear projection", ErrNoPoolConv, p, op.Options[3].Bits)
	}
	for i, o := range g.Ops {
		if i == ci {
			continue
		}
		for _, t := range o.Inputs {
			if t == in {
				return -1, fmt.Errorf("%w: %q, the output of CONV_2D %d, is also read by %s %d", ErrNoPoolConv,
					g.Tensors[in].Name, p, g.OpCodes[o.Opcode].Name(), i)
			}
		}
	}
	for _, t := range g.Outputs {
		if t == in {
			return -1, fmt.Errorf("%w: %q is a model output", ErrNoPoolConv, g.Tensors[in].Name)
		}
	}
	return p, nil
}

// CutAt returns a copy of the graph whose only output is tensor t, with
// every op that t does not depend on removed, and unused tensors, buffers
// and op codes dropped. Metadata is dropped too (it describes the old
// output).
func (g *Graph) CutAt(t int32) *Graph {
	need := map[int32]bool{t: true}
	keep := make([]bool, len(g.Ops))
	for i := len(g.Ops) - 1; i >= 0; i-- {
		op := g.Ops[i]
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
	out := &Graph{Version: g.Version, Description: g.Description, Inputs: g.Inputs, Outputs: []int32{t}, Buffers: [][]byte{nil}}
	tmap := map[int32]int32{-1: -1}
	bmap := map[uint32]uint32{0: 0}
	omap := map[int]int{}
	mapTensor := func(i int32) int32 {
		if n, ok := tmap[i]; ok {
			return n
		}
		tt := g.Tensors[i]
		if tt.Buffer != 0 {
			nb, ok := bmap[tt.Buffer]
			if !ok {
				nb = uint32(len(out.Buffers))
				out.Buffers = append(out.Buffers, g.Buffers[tt.Buffer])
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
	out.Inputs = remap(g.Inputs)
	for i, op := range g.Ops {
		if !keep[i] {
			continue
		}
		oc, ok := omap[op.Opcode]
		if !ok {
			oc = len(out.OpCodes)
			out.OpCodes = append(out.OpCodes, g.OpCodes[op.Opcode])
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

// AddOpCode returns the index of a builtin op code, adding it if needed.
func (g *Graph) AddOpCode(builtin, version int32) int {
	for i, oc := range g.OpCodes {
		if oc.Builtin == builtin && oc.Custom == "" && oc.Version >= version {
			return i
		}
	}
	g.OpCodes = append(g.OpCodes, OpCode{Builtin: builtin, Version: version})
	return len(g.OpCodes) - 1
}

// AddTensor appends a tensor (with data, if not nil) and returns its index.
func (g *Graph) AddTensor(t GraphTensor, data []byte) int32 {
	if data != nil {
		t.Buffer = uint32(len(g.Buffers))
		g.Buffers = append(g.Buffers, data)
	}
	g.Tensors = append(g.Tensors, t)
	return int32(len(g.Tensors) - 1)
}

// AddMetadata stores a named metadata buffer.
func (g *Graph) AddMetadata(name string, data []byte) {
	g.Metadata = append(g.Metadata, GraphMetadata{Name: name, Buffer: uint32(len(g.Buffers))})
	g.Buffers = append(g.Buffers, data)
}

// SetInputSize changes the model's input to h×w and recomputes every
// tensor shape downstream. MobileNetV2 is fully convolutional, so a
// larger input sees finer detail with the same weights; a global
// AVERAGE_POOL_2D is widened to stay global. Ops whose shapes it does not
// know are refused.
func (g *Graph) SetInputSize(h, w int32) error {
	if len(g.Inputs) != 1 {
		return fmt.Errorf("%w: %d inputs", errGraph, len(g.Inputs))
	}
	in := &g.Tensors[g.Inputs[0]]
	if len(in.Shape) != 4 {
		return fmt.Errorf("%w: input shape %v", errGraph, in.Shape)
	}
	in.Shape = []int32{in.Shape[0], h, w, in.Shape[3]}
	in.ShapeSignature = nil
	outSize := func(n, k, stride, dil int32, padding uint64) int32 {
		if padding == 0 { // SAME
			return (n + stride - 1) / stride
		}
		eff := (k-1)*dil + 1
		return (n - eff + stride) / stride
	}
	opt := func(op *GraphOp, f int, def uint64) uint64 {
		if f < len(op.Options) && op.Options[f].Present {
			return op.Options[f].Bits
		}
		return def
	}
	for i := range g.Ops {
		op := &g.Ops[i]
		x := g.Tensors[op.Inputs[0]].Shape
		out := &g.Tensors[op.Outputs[0]]
		out.ShapeSignature = nil
		switch code := g.OpCodes[op.Opcode].Builtin; code {
		case OpConv2D, OpDepthwiseConv:
			wt := g.Tensors[op.Inputs[1]].Shape // [O|1, kh, kw, I|C]
			sw, sh := int32(opt(op, 1, 1)), int32(opt(op, 2, 1))
			dw, dh := int32(opt(op, 4, 1)), int32(opt(op, 5, 1))
			ch := wt[0]
			if code == OpDepthwiseConv {
				dw, dh = int32(opt(op, 5, 1)), int32(opt(op, 6, 1))
				ch = wt[3]
			}
			pad := opt(op, 0, 0)
			out.Shape = []int32{x[0], outSize(x[1], wt[1], sh, dh, pad), outSize(x[2], wt[2], sw, dw, pad), ch}
		case OpAdd, OpQuantize, 6, OpRelu, OpRelu6, OpSoftmax:
			out.Shape = append([]int32(nil), x...)
		case OpAveragePool2D:
			fw, fh := int32(opt(op, 3, 0)), int32(opt(op, 4, 0))
			if out.Shape[1] != 1 || out.Shape[2] != 1 {
				return fmt.Errorf("%w: AVERAGE_POOL_2D %d is not global", errGraph, i)
			}
			if fw > 0 && fh > 0 {
				op.Options[3] = OptionField{Present: true, Size: 4, Bits: uint64(x[2])}
				op.Options[4] = OptionField{Present: true, Size: 4, Bits: uint64(x[1])}
				op.Options[0] = OptionField{Present: true, Size: 1, Bits: 1} // VALID
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
			return fmt.Errorf("%w: cannot resize through %s", errGraph, g.OpCodes[op.Opcode].Name())
		}
	}
	return nil
}
