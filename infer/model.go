package infer

import (
	"archive/zip"
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Errors a caller can tell apart with errors.Is. Each wrapped error also
// carries the specifics (file, tensor, op) in its message.
var (
	ErrModelTruncated     = errors.New("model file is truncated")
	ErrModelCorrupt       = errors.New("model file is corrupt")
	ErrNotModel           = errors.New("not a TensorFlow Lite model")
	ErrModelUnsupported   = errors.New("model is not supported")
	ErrNeedsEdgeTPU       = errors.New("model needs the Edge TPU delegate")
	ErrLabels             = errors.New("labels")
	ErrDelegate           = errors.New("delegate unavailable")
	ErrNoFeatureTensor    = errors.New("no pooled feature tensor")
	ErrNoPoolConv         = errors.New("no 1×1 convolution before the pooling")
	errSizePrefixedFormat = errors.New("size-prefixed flatbuffers are not supported")
)

// TensorType is a TFLite schema tensor type.
type TensorType int8

// The tensor types sorterd reads (TFLite schema values).
const (
	Float32 TensorType = 0
	Int32   TensorType = 2
	UInt8   TensorType = 3
	Int64   TensorType = 4
	Int8    TensorType = 9
)

func (t TensorType) String() string {
	switch t {
	case Float32:
		return "float32"
	case Int32:
		return "int32"
	case UInt8:
		return "uint8"
	case Int64:
		return "int64"
	case Int8:
		return "int8"
	case 1:
		return "float16"
	case 7:
		return "int16"
	}
	return fmt.Sprintf("type%d", int8(t))
}

// TensorInfo is a tensor as the model file declares it.
type TensorInfo struct {
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

// OpCode is one entry of the model's operator table.
type OpCode struct {
	Builtin int32
	Custom  string
	Version int32
}

// Name is the op's name as TFLite prints it.
func (o OpCode) Name() string {
	if o.Builtin == opCustom {
		return o.Custom
	}
	if n, ok := builtinNames[o.Builtin]; ok {
		return n
	}
	return fmt.Sprintf("BUILTIN_%d", o.Builtin)
}

// Operator is one node of the graph.
type Operator struct {
	Opcode  int
	Inputs  []int32
	Outputs []int32
}

// ModelInfo is what sorterd reads from a .tflite file without running it.
type ModelInfo struct {
	Version     uint32
	Description string
	OpCodes     []OpCode
	Tensors     []TensorInfo
	Inputs      []int32
	Outputs     []int32
	Operators   []Operator
	Subgraphs   int
	// Metadata buffers by name (TFLITE_METADATA, min_runtime_version, ...).
	Metadata map[string][]byte
	// Files appended to the flatbuffer as a zip (TFLite metadata's
	// associated files, such as a label file).
	Files map[string][]byte
	// Normalisation of the input from TFLite metadata, if declared.
	Mean, Std []float32
	// LabelFile is the associated file that metadata names as the
	// output's axis labels, if any.
	LabelFile string
	// Sorterd is the metadata `sorterd train` writes, if present.
	Sorterd *SorterdMeta
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

const (
	opCustom       = 32
	edgeTPUCustom  = "edgetpu-custom-op"
	metadataName   = "TFLITE_METADATA"
	assocAxisLabel = 2
)

// ParseModel reads and checks the structure of a TFLite flatbuffer. It
// never runs the model, and it never panics on bad input.
func ParseModel(data []byte) (m *ModelInfo, err error) {
	if len(data) < 8 {
		return nil, fmt.Errorf("%w: %d bytes", ErrModelTruncated, len(data))
	}
	if string(data[4:8]) != "TFL3" {
		if len(data) >= 12 && string(data[8:12]) == "TFL3" {
			return nil, errSizePrefixedFormat
		}
		return nil, fmt.Errorf("%w: no TFL3 identifier", ErrNotModel)
	}
	defer fbCatch(&err)

	b := fbuf(data)
	root := b.root()
	m = &ModelInfo{
		Version:     root.u32(0, 0),
		Description: root.str(3),
		Metadata:    map[string][]byte{},
	}
	if ocs, ok := root.vec(1, 4); ok {
		for j := 0; j < ocs.n; j++ {
			t := ocs.table(j)
			// builtin_code (field 3, int32) supersedes the deprecated
			// byte field 0 once codes passed 127.
			code := int32(t.u8(0, 0))
			if c := t.i32(3, 0); c > code {
				code = c
			}
			m.OpCodes = append(m.OpCodes, OpCode{Builtin: code, Custom: t.str(1), Version: t.i32(2, 1)})
		}
	}
	sgs, ok := root.vec(2, 4)
	if !ok || sgs.n == 0 {
		return nil, fmt.Errorf("%w: no subgraph", ErrModelCorrupt)
	}
	m.Subgraphs = sgs.n
	sg := sgs.table(0)
	if ts, ok := sg.vec(0, 4); ok {
		for j := 0; j < ts.n; j++ {
			m.Tensors = append(m.Tensors, parseTensor(ts.table(j)))
		}
	}
	if v, ok := sg.vec(1, 4); ok {
		m.Inputs = v.int32s()
	}
	if v, ok := sg.vec(2, 4); ok {
		m.Outputs = v.int32s()
	}
	if ops, ok := sg.vec(3, 4); ok {
		for j := 0; j < ops.n; j++ {
			t := ops.table(j)
			op := Operator{Opcode: int(t.u32(0, 0))}
			if v, ok := t.vec(1, 4); ok {
				op.Inputs = v.int32s()
			}
			if v, ok := t.vec(2, 4); ok {
				op.Outputs = v.int32s()
			}
			if op.Opcode >= len(m.OpCodes) {
				fbFail("operator %d uses opcode %d of %d", j, op.Opcode, len(m.OpCodes))
			}
			m.Operators = append(m.Operators, op)
		}
	}
	for _, idx := range append(append([]int32{}, m.Inputs...), m.Outputs...) {
		if idx < 0 || int(idx) >= len(m.Tensors) {
			fbFail("graph input/output %d is not a tensor", idx)
		}
	}
	for j, op := range m.Operators {
		for _, idx := range append(append([]int32{}, op.Inputs...), op.Outputs...) {
			if idx < -1 || int(idx) >= len(m.Tensors) {
				fbFail("operator %d refers to tensor %d of %d", j, idx, len(m.Tensors))
			}
		}
	}
	// Buffers: check that each one lies inside the file (a truncated file
	// usually loses the weights, which live at the end).
	bufs, _ := root.vec(4, 4)
	bufData := func(i uint32) []byte {
		if int(i) >= bufs.n {
			fbFail("buffer %d of %d", i, bufs.n)
		}
		bt := bufs.table(int(i))
		if v, ok := bt.vec(0, 1); ok {
			return v.bytes()
		}
		// Models over 2 GB keep data outside the flatbuffer (offset/size).
		if off, size := bt.u64(1, 0), bt.u64(2, 0); off > 1 {
			if off > uint64(len(data)) || size > uint64(len(data))-off {
				fbPast("buffer %d lies outside the file", i)
			}
			return data[off : off+size]
		}
		return nil
	}
	for j := 0; j < bufs.n; j++ {
		bufData(uint32(j))
	}
	for j, t := range m.Tensors {
		if t.Buffer != 0 && int(t.Buffer) >= bufs.n {
			fbFail("tensor %d uses buffer %d of %d", j, t.Buffer, bufs.n)
		}
	}
	if md, ok := root.vec(6, 4); ok {
		for j := 0; j < md.n; j++ {
			t := md.table(j)
			m.Metadata[t.str(0)] = bufData(t.u32(1, 0))
		}
	}
	m.Files = appendedFiles(data)
	if b, ok := m.Metadata[SorterdMetadataName]; ok {
		var sm SorterdMeta
		if json.Unmarshal(b, &sm) == nil {
			m.Sorterd = &sm
			m.Mean, m.Std = sm.Mean, sm.Std
		}
	}
	if meta, ok := m.Metadata[metadataName]; ok && len(meta) >= 8 {
		m.readTFLiteMetadata(meta)
	}
	return m, nil
}

func parseTensor(t fbTable) TensorInfo {
	ti := TensorInfo{Name: t.str(3), Type: TensorType(int8(t.u8(1, 0))), Buffer: t.u32(2, 0)}
	if v, ok := t.vec(0, 4); ok {
		ti.Shape = v.int32s()
	}
	if v, ok := t.vec(7, 4); ok {
		ti.ShapeSignature = v.int32s()
	}
	if q, ok := t.sub(4); ok {
		ti.Min, ti.Max, ti.Scale = floats(q, 0), floats(q, 1), floats(q, 2)
		ti.QuantDim = q.i32(6, 0)
		if v, ok := q.vec(3, 8); ok {
			for j := 0; j < v.n; j++ {
				ti.ZeroPoint = append(ti.ZeroPoint, v.i64(j))
			}
		}
	}
	return ti
}

// readTFLiteMetadata picks what sorterd uses from the TFLite metadata
// flatbuffer (metadata_schema.fbs): the input normalisation and the name
// of the output's axis-label file. Anything it cannot read is ignored: the
// metadata is advisory, the model still runs.
func (m *ModelInfo) readTFLiteMetadata(meta []byte) {
	defer func() { _ = recover() }()
	b := fbuf(meta)
	root := b.root()
	sgs, ok := root.vec(3, 4) // subgraph_metadata
	if !ok || sgs.n == 0 {
		return
	}
	sg := sgs.table(0)
	if ins, ok := sg.vec(2, 4); ok && ins.n > 0 { // input_tensor_metadata
		if pus, ok := ins.table(0).vec(4, 4); ok { // process_units
			for j := 0; j < pus.n; j++ {
				pu := pus.table(j)
				if pu.u8(0, 0) != 1 { // NormalizationOptions
					continue
				}
				if opt, ok := pu.sub(1); ok {
					m.Mean = floats(opt, 0)
					m.Std = floats(opt, 1)
				}
			}
		}
	}
	if outs, ok := sg.vec(3, 4); ok && outs.n > 0 { // output_tensor_metadata
		if files, ok := outs.table(0).vec(6, 4); ok {
			for j := 0; j < files.n; j++ {
				f := files.table(j)
				if f.u8(2, 0) == assocAxisLabel {
					m.LabelFile = f.str(0)
					return
				}
			}
		}
	}
}

func floats(t fbTable, i int) []float32 {
	v, ok := t.vec(i, 4)
	if !ok {
		return nil
	}
	out := make([]float32, v.n)
	for j := range out {
		out[j] = v.f32(j)
	}
	return out
}

// appendedFiles reads the zip archive that TFLite metadata tooling appends
// to a model (the flatbuffer stays valid; the zip reader finds its
// directory at the end of the file).
func appendedFiles(data []byte) map[string][]byte {
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return nil
	}
	files := map[string][]byte{}
	for _, f := range zr.File {
		if f.UncompressedSize64 > 64<<20 {
			continue
		}
		rc, err := f.Open()
		if err != nil {
			continue
		}
		b, err := io.ReadAll(io.LimitReader(rc, 64<<20))
		rc.Close()
		if err == nil {
			files[f.Name] = b
		}
	}
	return files
}

// EmbeddedLabels returns the label list the model carries: sorterd's own
// metadata, else the TFLite metadata's axis-label file, else the only .txt
// file appended to the model.
func (m *ModelInfo) EmbeddedLabels() ([]string, string, bool) {
	if m.Sorterd != nil && len(m.Sorterd.Labels) > 0 {
		return m.Sorterd.Labels, "sorterd metadata", true
	}
	if m.LabelFile != "" {
		if b, ok := m.Files[m.LabelFile]; ok {
			return ParseLabels(b), m.LabelFile, true
		}
	}
	var name string
	for n := range m.Files {
		if strings.HasSuffix(n, ".txt") {
			if name != "" {
				return nil, "", false
			}
			name = n
		}
	}
	if name == "" {
		return nil, "", false
	}
	return ParseLabels(m.Files[name]), name, true
}

// ParseLabels reads one label per line; blank trailing lines are dropped,
// surrounding space is trimmed.
func ParseLabels(b []byte) []string {
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for sc.Scan() {
		out = append(out, strings.TrimSpace(sc.Text()))
	}
	for len(out) > 0 && out[len(out)-1] == "" {
		out = out[:len(out)-1]
	}
	return out
}

// CustomOps lists the custom ops the graph uses.
func (m *ModelInfo) CustomOps() []string {
	var out []string
	seen := map[string]bool{}
	for _, op := range m.Operators {
		oc := m.OpCodes[op.Opcode]
		if oc.Builtin == opCustom && !seen[oc.Custom] {
			seen[oc.Custom] = true
			out = append(out, oc.Custom)
		}
	}
	return out
}

// builtinNames covers the ops a vision classifier uses and the ones whose
// absence a user is likely to hit; others print as BUILTIN_<code>.
var builtinNames = map[int32]string{
	0: "ADD", 1: "AVERAGE_POOL_2D", 2: "CONCATENATION", 3: "CONV_2D", 4: "DEPTHWISE_CONV_2D",
	6: "DEQUANTIZE", 9: "FULLY_CONNECTED", 14: "LOGISTIC", 17: "MAX_POOL_2D", 18: "MUL",
	19: "RELU", 21: "RELU6", 22: "RESHAPE", 23: "RESIZE_BILINEAR", 25: "SOFTMAX", 28: "TANH",
	32: "CUSTOM", 34: "PAD", 39: "TRANSPOSE", 40: "MEAN", 41: "SUB", 42: "DIV", 43: "SQUEEZE",
	49: "SPLIT", 53: "CAST", 55: "MAXIMUM", 56: "ARG_MAX", 57: "MINIMUM", 60: "PADV2",
	83: "PACK", 97: "RESIZE_NEAREST_NEIGHBOR", 98: "LEAKY_RELU", 114: "QUANTIZE",
	117: "HARD_SWISH",
}
