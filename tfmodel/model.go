package tfmodel

import (
	"encoding/json"
	"fmt"
)

// Model is a whole TFLite model file: its first subgraph, operator table,
// buffers and metadata, plus what sorterd reads from the metadata
// (normalisation, labels). Fields are exported for graph edits; Write
// builds a file from them again.
type Model struct {
	Version     uint32
	Description string
	OpCodes     []OpCode
	Subgraphs   int // subgraphs in the file; the fields below hold the first
	Tensors     []Tensor
	Inputs      []int32
	Outputs     []int32
	Ops         []Op
	// Buffers by index; buffer 0 is the empty sentinel. They alias the
	// bytes Parse read: edits replace a buffer, never write into one.
	Buffers  [][]byte
	Metadata []Metadata
	// Files appended to the flatbuffer as a zip (TFLite metadata's
	// associated files, such as a label file).
	Files map[string][]byte
	// Normalisation of the input from the metadata, if declared.
	Mean, Std []float32
	// LabelFile is the associated file that TFLite metadata names as the
	// output's axis labels, if any.
	LabelFile string
	// Sorterd is the metadata `sorterd train` writes, if present.
	Sorterd *SorterdMeta

	// cannotEdit says why Write would not reproduce this model (a schema
	// part it does not carry), nil when it would.
	cannotEdit error
}

// OpCode is one entry of the model's operator table.
type OpCode struct {
	Builtin Builtin
	Custom  string
	Version int32
}

// Name is the op's name as TFLite prints it.
func (o OpCode) Name() string {
	if o.Builtin == OpCustom {
		return o.Custom
	}
	return o.Builtin.String()
}

// Tensor is a tensor as the model file declares it, with its quantization.
type Tensor struct {
	Name           string
	Shape          []int32
	ShapeSignature []int32
	Type           TensorType
	Buffer         uint32
	Scale          []float32
	ZeroPoint      []int64
	QuantDim       int32
	Min, Max       []float32
}

// Op is one operator; builtin options are kept as typed scalar fields
// (nil when the options table is one sorterd does not know).
type Op struct {
	Opcode        int // index into OpCodes
	Inputs        []int32
	Outputs       []int32
	OptionsType   OptionsType
	Options       []OptionField
	CustomOptions []byte
}

// Option returns the option in slot f as an unsigned number, or def when
// the field is absent (the schema default).
func (op *Op) Option(f int, def uint64) uint64 {
	if f < len(op.Options) && op.Options[f].Present {
		return op.Options[f].Bits
	}
	return def
}

// NewOptions returns the fields of an options table of type t, every one
// absent (at its schema default), or nil for a table sorterd cannot copy.
func NewOptions(t OptionsType) []OptionField {
	layout, ok := optionLayouts[t]
	if !ok {
		return nil
	}
	out := make([]OptionField, len(layout))
	for f, size := range layout {
		out[f].Size = size
	}
	return out
}

// SetOption sets the scalar option in slot f to bits, at the size its
// table declares.
func (op *Op) SetOption(f int, bits uint64) {
	op.Options[f] = OptionField{Present: true, Size: optionLayouts[op.OptionsType][f], Bits: bits}
}

// OptionField is one field of a builtin-options table: a scalar of Size
// bytes (little-endian Bits), or an int32 vector when Size is 0.
type OptionField struct {
	Present bool
	Size    int
	Bits    uint64
	Ints    []int32
}

// Metadata is a named buffer (TFLITE_METADATA, min_runtime_version...).
type Metadata struct {
	Name   string
	Buffer uint32
}

// SorterdMetadataName names the metadata buffer of models sorterd exports.
const SorterdMetadataName = "sorterd"

// SorterdMeta is what sorterd records in the models it exports: the class
// labels in output order, the suggested reject threshold, the input
// normalisation and facts about the training run.
type SorterdMeta struct {
	Labels    []string       `json:"labels"`
	Threshold float64        `json:"threshold,omitempty"`
	Mean      []float32      `json:"mean,omitempty"`
	Std       []float32      `json:"std,omitempty"`
	Info      map[string]any `json:"info,omitempty"`
}

// minFile is the root offset plus the file identifier.
const minFile = 8

// Parse reads and checks the structure of a TFLite flatbuffer, once. It
// never runs the model, and it never panics on bad input: a file it
// cannot read gives a *FormatError (or ErrNotModel).
func Parse(data []byte) (m *Model, err error) {
	if len(data) < minFile {
		return nil, &FormatError{Off: 0, What: fmt.Sprintf("%d bytes", len(data)), Err: ErrTruncated}
	}
	if string(data[4:8]) != fileIdentifier {
		if len(data) >= 12 && string(data[8:12]) == fileIdentifier {
			return nil, errSizePrefixed
		}
		return nil, fmt.Errorf("%w: no %s identifier", ErrNotModel, fileIdentifier)
	}
	defer catch(&err)

	root := fbuf(data).root()
	m = &Model{Version: root.u32(modelVersion, 0), Description: root.str(modelDescription)}
	if root.has(modelMetadataBuffer) {
		m.refuse("deprecated metadata_buffer field")
	}
	m.OpCodes = readOpCodes(root)
	sgs, ok := root.tables(modelSubgraphs)
	if !ok || sgs.n == 0 {
		corrupt(root.pos, "no subgraph")
	}
	m.Subgraphs = sgs.n
	if sgs.n != 1 {
		m.refuse("%d subgraphs, want 1", sgs.n)
	}
	m.readSubgraph(sgs.table(0))
	m.readBuffers(data, root)
	m.checkIndices()
	if md, ok := root.tables(modelMetadata); ok {
		for j := 0; j < md.n; j++ {
			t := md.table(j)
			m.Metadata = append(m.Metadata, Metadata{Name: t.str(metadataName), Buffer: t.u32(metadataBuffer, 0)})
		}
	}
	for _, md := range m.Metadata {
		if int(md.Buffer) >= len(m.Buffers) {
			corrupt(root.pos, "metadata %q uses buffer %d of %d", md.Name, md.Buffer, len(m.Buffers))
		}
	}
	m.readMetadata(data)
	return m, nil
}

// refuse records the first reason Write cannot carry this model over.
func (m *Model) refuse(format string, args ...any) {
	if m.cannotEdit == nil {
		m.cannotEdit = fmt.Errorf("%w: "+format, append([]any{ErrCannotEdit}, args...)...)
	}
}

// Editable reports whether Write can carry the whole model over; if not,
// the error (ErrCannotEdit) names the schema part it would drop.
func (m *Model) Editable() error { return m.cannotEdit }

func readOpCodes(root fbTable) []OpCode {
	ocs, ok := root.tables(modelOperatorCodes)
	if !ok {
		return nil
	}
	out := make([]OpCode, 0, ocs.n)
	for j := 0; j < ocs.n; j++ {
		t := ocs.table(j)
		// builtin_code supersedes the deprecated byte field once codes
		// passed 127.
		code := int32(t.u8(opcodeDeprecatedBuiltin, 0))
		if c := t.i32(opcodeBuiltin, 0); c > code {
			code = c
		}
		out = append(out, OpCode{Builtin: Builtin(code), Custom: t.str(opcodeCustom), Version: t.i32(opcodeVersion, 1)})
	}
	return out
}

func (m *Model) readSubgraph(sg fbTable) {
	if ts, ok := sg.tables(subgraphTensors); ok {
		for j := 0; j < ts.n; j++ {
			m.Tensors = append(m.Tensors, m.readTensor(j, ts.table(j)))
		}
	}
	m.Inputs = sg.int32s(subgraphInputs)
	m.Outputs = sg.int32s(subgraphOutputs)
	if ops, ok := sg.tables(subgraphOperators); ok {
		for j := 0; j < ops.n; j++ {
			m.Ops = append(m.Ops, m.readOp(j, ops.table(j)))
		}
	}
}

func (m *Model) readTensor(j int, t fbTable) Tensor {
	ti := Tensor{
		Name: t.str(tensorName), Type: TensorType(int8(t.u8(tensorType, 0))), Buffer: t.u32(tensorBuffer, 0),
		Shape: t.int32s(tensorShape), ShapeSignature: t.int32s(tensorShapeSignature),
	}
	if (t.has(tensorIsVariable) && t.u8(tensorIsVariable, 0) != 0) || t.has(tensorSparsity) || t.has(tensorHasRank) {
		m.refuse("tensor %d uses schema fields sorterd does not carry (variable/sparse tensors are not supported)", j)
	}
	if q, ok := t.sub(tensorQuantization); ok {
		ti.Min, ti.Max, ti.Scale = q.floats(quantMin), q.floats(quantMax), q.floats(quantScale)
		ti.QuantDim = q.i32(quantQuantizedDim, 0)
		if v, ok := q.vec(quantZeroPoint, 8); ok {
			for k := 0; k < v.n; k++ {
				ti.ZeroPoint = append(ti.ZeroPoint, v.i64(k))
			}
		}
		if q.has(quantDetailsType) || q.has(quantDetails) {
			m.refuse("tensor %d has custom quantization details", j)
		}
	}
	return ti
}

func (m *Model) readOp(j int, t fbTable) Op {
	op := Op{
		Opcode: int(t.u32(operatorOpcodeIndex, 0)), OptionsType: OptionsType(t.u8(operatorOptionsType, 0)),
		Inputs: t.int32s(operatorInputs), Outputs: t.int32s(operatorOutputs),
	}
	if op.Opcode >= len(m.OpCodes) {
		corrupt(t.pos, "operator %d uses opcode %d of %d", j, op.Opcode, len(m.OpCodes))
	}
	if v, ok := t.vec(operatorCustomOptions, 1); ok {
		// A copy, and nil when empty, as Write expects.
		op.CustomOptions = append([]byte(nil), v.bytes()...)
	}
	for f := operatorFirstUnsupported; f <= operatorLastUnsupported; f++ {
		if t.has(f) {
			m.refuse("operator %d uses schema field %d", j, f)
		}
	}
	opt, ok := t.sub(operatorOptions)
	if !ok {
		return op
	}
	layout, known := optionLayouts[op.OptionsType]
	if !known {
		m.refuse("operator %d (%s) has builtin options type %d, which sorterd cannot copy", j, m.OpCodes[op.Opcode].Name(), op.OptionsType)
		return op
	}
	for f, size := range layout {
		of := OptionField{Size: size}
		if p := opt.field(f); p != 0 {
			of.Present = true
			switch size {
			case 0:
				of.Ints = opt.int32s(f)
			case 1:
				of.Bits = uint64(opt.b.u8(p))
			case 4:
				of.Bits = uint64(opt.b.u32(p))
			}
		}
		op.Options = append(op.Options, of)
	}
	return op
}

// readBuffers checks that each buffer lies inside the file (a truncated
// file usually loses the weights, which live at the end).
func (m *Model) readBuffers(data []byte, root fbTable) {
	bufs, _ := root.tables(modelBuffers)
	m.Buffers = make([][]byte, bufs.n)
	for j := range m.Buffers {
		bt := bufs.table(j)
		if bt.has(bufferOffset) || bt.has(bufferSize) {
			m.refuse("buffer %d is stored outside the flatbuffer", j)
		}
		if v, ok := bt.vec(bufferData, 1); ok {
			m.Buffers[j] = v.bytes()
			continue
		}
		if off, size := bt.u64(bufferOffset, 0), bt.u64(bufferSize, 0); off > 1 {
			if off > uint64(len(data)) || size > uint64(len(data))-off {
				truncated(bt.pos, "buffer %d lies outside the file", j)
			}
			m.Buffers[j] = data[off : off+size]
		}
	}
}

// checkIndices checks every tensor, buffer and graph index the model
// refers to, so that users of the exported fields need not.
func (m *Model) checkIndices() {
	for _, idx := range m.Inputs {
		m.checkTensor(idx, "graph input")
	}
	for _, idx := range m.Outputs {
		m.checkTensor(idx, "graph output")
	}
	for j, op := range m.Ops {
		for _, idx := range append(append([]int32{}, op.Inputs...), op.Outputs...) {
			if idx < -1 || int(idx) >= len(m.Tensors) {
				corrupt(0, "operator %d refers to tensor %d of %d", j, idx, len(m.Tensors))
			}
		}
	}
	for j, t := range m.Tensors {
		if t.Buffer != 0 && int(t.Buffer) >= len(m.Buffers) {
			corrupt(0, "tensor %d uses buffer %d of %d", j, t.Buffer, len(m.Buffers))
		}
	}
}

func (m *Model) checkTensor(idx int32, what string) {
	if idx < 0 || int(idx) >= len(m.Tensors) {
		corrupt(0, "%s %d is not a tensor", what, idx)
	}
}

// MetadataBuffer returns the metadata buffer of that name (the last, if
// the file names two alike).
func (m *Model) MetadataBuffer(name string) ([]byte, bool) {
	for i := len(m.Metadata) - 1; i >= 0; i-- {
		if md := m.Metadata[i]; md.Name == name {
			return m.Buffers[md.Buffer], true
		}
	}
	return nil, false
}

// readMetadata fills Files, Mean, Std, LabelFile and Sorterd.
func (m *Model) readMetadata(data []byte) {
	m.Files = appendedFiles(data)
	if b, ok := m.MetadataBuffer(SorterdMetadataName); ok {
		var sm SorterdMeta
		if json.Unmarshal(b, &sm) == nil {
			m.Sorterd = &sm
			m.Mean, m.Std = sm.Mean, sm.Std
		}
	}
	if meta, ok := m.MetadataBuffer(tfliteMetadata); ok && len(meta) >= minFile {
		m.readTFLiteMetadata(meta)
	}
}

// CustomOps lists the custom ops the graph uses.
func (m *Model) CustomOps() []string {
	var out []string
	seen := map[string]bool{}
	for _, op := range m.Ops {
		oc := m.OpCodes[op.Opcode]
		if oc.Builtin == OpCustom && !seen[oc.Custom] {
			seen[oc.Custom] = true
			out = append(out, oc.Custom)
		}
	}
	return out
}

// Producer returns the index of the op that writes tensor t, or -1.
func (m *Model) Producer(t int32) int {
	for i, op := range m.Ops {
		for _, o := range op.Outputs {
			if o == t {
				return i
			}
		}
	}
	return -1
}

// Builtin returns the builtin code of op i.
func (m *Model) Builtin(i int) Builtin { return m.OpCodes[m.Ops[i].Opcode].Builtin }
