package tfmodel

import (
	flatbuffers "github.com/google/flatbuffers/go"
)

// Write serializes the model with the FlatBuffers builder; it refuses a
// model that Editable says it cannot carry over. Buffers are aligned to
// bufferAlign bytes so that TFLite can use them in place.
//
// The builder writes back to front, so the order of the calls below fixes
// the bytes of the file: exported models are compared byte for byte
// (`make model`), so change it only on purpose.
func (m *Model) Write() ([]byte, error) {
	if m.cannotEdit != nil {
		return nil, m.cannotEdit
	}
	w := writer{flatbuffers.NewBuilder(1 << 20)}
	buffers := w.buffers(m.Buffers)
	tensors := w.tensors(m.Tensors)
	ops := w.ops(m.Ops)
	subgraphs := w.subgraph(tensors, w.ints(m.Inputs), w.ints(m.Outputs), ops)
	opcodes := w.opCodes(m.OpCodes)
	metadata := w.metadata(m.Metadata)
	desc := w.CreateString(m.Description)
	w.StartObject(modelNumFields)
	w.PrependUint32Slot(modelVersion, m.Version, 0)
	w.PrependUOffsetTSlot(modelOperatorCodes, opcodes, 0)
	w.PrependUOffsetTSlot(modelSubgraphs, subgraphs, 0)
	w.PrependUOffsetTSlot(modelDescription, desc, 0)
	w.PrependUOffsetTSlot(modelBuffers, buffers, 0)
	if metadata != 0 {
		w.PrependUOffsetTSlot(modelMetadata, metadata, 0)
	}
	root := w.EndObject()
	w.FinishWithFileIdentifier(root, []byte(fileIdentifier))
	return w.FinishedBytes(), nil
}

// bufferAlign lets TFLite use constant buffers in place (SIMD loads).
const bufferAlign = 16

type writer struct{ *flatbuffers.Builder }

func (w writer) ints(v []int32) flatbuffers.UOffsetT {
	w.StartVector(4, len(v), 4)
	for i := len(v) - 1; i >= 0; i-- {
		w.PrependInt32(v[i])
	}
	return w.EndVector(len(v))
}

func (w writer) floats(v []float32) flatbuffers.UOffsetT {
	w.StartVector(4, len(v), 4)
	for i := len(v) - 1; i >= 0; i-- {
		w.PrependFloat32(v[i])
	}
	return w.EndVector(len(v))
}

func (w writer) int64s(v []int64) flatbuffers.UOffsetT {
	w.StartVector(8, len(v), 8)
	for i := len(v) - 1; i >= 0; i-- {
		w.PrependInt64(v[i])
	}
	return w.EndVector(len(v))
}

func (w writer) tables(offs []flatbuffers.UOffsetT) flatbuffers.UOffsetT {
	w.StartVector(uoffsetSize, len(offs), uoffsetSize)
	for i := len(offs) - 1; i >= 0; i-- {
		w.PrependUOffsetT(offs[i])
	}
	return w.EndVector(len(offs))
}

// buffers writes the buffers first and last to first: they are the
// largest part and end up at the end of the file.
func (w writer) buffers(bufs [][]byte) flatbuffers.UOffsetT {
	offs := make([]flatbuffers.UOffsetT, len(bufs))
	for i := len(bufs) - 1; i >= 0; i-- {
		var data flatbuffers.UOffsetT
		if b := bufs[i]; len(b) > 0 {
			w.StartVector(1, len(b), bufferAlign)
			for j := len(b) - 1; j >= 0; j-- {
				w.PrependByte(b[j])
			}
			data = w.EndVector(len(b))
		}
		w.StartObject(bufferNumFields)
		if data != 0 {
			w.PrependUOffsetTSlot(bufferData, data, 0)
		}
		offs[i] = w.EndObject()
	}
	return w.tables(offs)
}

func (w writer) tensors(ts []Tensor) flatbuffers.UOffsetT {
	offs := make([]flatbuffers.UOffsetT, len(ts))
	for i, t := range ts {
		name := w.CreateString(t.Name)
		shape := w.ints(t.Shape)
		var sig flatbuffers.UOffsetT
		if t.ShapeSignature != nil {
			sig = w.ints(t.ShapeSignature)
		}
		quant := w.quantization(&t)
		w.StartObject(tensorNumFields)
		w.PrependUOffsetTSlot(tensorShape, shape, 0)
		w.PrependInt8Slot(tensorType, int8(t.Type), 0)
		w.PrependUint32Slot(tensorBuffer, t.Buffer, 0)
		w.PrependUOffsetTSlot(tensorName, name, 0)
		if quant != 0 {
			w.PrependUOffsetTSlot(tensorQuantization, quant, 0)
		}
		if sig != 0 {
			w.PrependUOffsetTSlot(tensorShapeSignature, sig, 0)
		}
		offs[i] = w.EndObject()
	}
	return w.tables(offs)
}

// quantization writes a tensor's quantization table, or nothing (0) for
// a float tensor without ranges.
func (w writer) quantization(t *Tensor) flatbuffers.UOffsetT {
	if len(t.Scale) == 0 && len(t.Min) == 0 {
		return 0
	}
	var mn, mx, sc, zp flatbuffers.UOffsetT
	if len(t.Min) > 0 {
		mn = w.floats(t.Min)
	}
	if len(t.Max) > 0 {
		mx = w.floats(t.Max)
	}
	if len(t.Scale) > 0 {
		sc = w.floats(t.Scale)
		zp = w.int64s(t.ZeroPoint)
	}
	w.StartObject(quantNumFields)
	if mn != 0 {
		w.PrependUOffsetTSlot(quantMin, mn, 0)
	}
	if mx != 0 {
		w.PrependUOffsetTSlot(quantMax, mx, 0)
	}
	if sc != 0 {
		w.PrependUOffsetTSlot(quantScale, sc, 0)
		w.PrependUOffsetTSlot(quantZeroPoint, zp, 0)
	}
	w.PrependInt32Slot(quantQuantizedDim, t.QuantDim, 0)
	return w.EndObject()
}

func (w writer) ops(ops []Op) flatbuffers.UOffsetT {
	offs := make([]flatbuffers.UOffsetT, len(ops))
	for i, op := range ops {
		in, out := w.ints(op.Inputs), w.ints(op.Outputs)
		var custom flatbuffers.UOffsetT
		if op.CustomOptions != nil {
			custom = w.CreateByteVector(op.CustomOptions)
		}
		opts := w.options(op.Options)
		w.StartObject(operatorNumFields)
		w.PrependUint32Slot(operatorOpcodeIndex, uint32(op.Opcode), 0)
		w.PrependUOffsetTSlot(operatorInputs, in, 0)
		w.PrependUOffsetTSlot(operatorOutputs, out, 0)
		if opts != 0 {
			w.PrependByteSlot(operatorOptionsType, uint8(op.OptionsType), 0)
			w.PrependUOffsetTSlot(operatorOptions, opts, 0)
		}
		if custom != 0 {
			w.PrependUOffsetTSlot(operatorCustomOptions, custom, 0)
		}
		offs[i] = w.EndObject()
	}
	return w.tables(offs)
}

// options writes a builtin-options table field by field, or nothing (0)
// for an op without one.
func (w writer) options(fields []OptionField) flatbuffers.UOffsetT {
	if fields == nil {
		return 0
	}
	vecs := make([]flatbuffers.UOffsetT, len(fields))
	for f, of := range fields {
		if of.Present && of.Size == 0 {
			vecs[f] = w.ints(of.Ints)
		}
	}
	w.StartObject(len(fields))
	for f, of := range fields {
		if !of.Present {
			continue
		}
		switch of.Size {
		case 0:
			w.PrependUOffsetTSlot(f, vecs[f], 0)
		case 1:
			w.PrependByte(byte(of.Bits))
			w.Slot(f)
		case 4:
			w.PrependUint32(uint32(of.Bits))
			w.Slot(f)
		}
	}
	return w.EndObject()
}

// subgraph writes the one subgraph and returns the subgraphs vector.
func (w writer) subgraph(tensors, inputs, outputs, ops flatbuffers.UOffsetT) flatbuffers.UOffsetT {
	name := w.CreateString("main")
	w.StartObject(subgraphNumFields)
	w.PrependUOffsetTSlot(subgraphTensors, tensors, 0)
	w.PrependUOffsetTSlot(subgraphInputs, inputs, 0)
	w.PrependUOffsetTSlot(subgraphOutputs, outputs, 0)
	w.PrependUOffsetTSlot(subgraphOperators, ops, 0)
	w.PrependUOffsetTSlot(subgraphName, name, 0)
	return w.tables([]flatbuffers.UOffsetT{w.EndObject()})
}

func (w writer) opCodes(ocs []OpCode) flatbuffers.UOffsetT {
	offs := make([]flatbuffers.UOffsetT, len(ocs))
	for i, oc := range ocs {
		var custom flatbuffers.UOffsetT
		if oc.Custom != "" {
			custom = w.CreateString(oc.Custom)
		}
		w.StartObject(opcodeNumFields)
		dep := oc.Builtin
		if dep > placeholderForGreaterOpCodes {
			dep = placeholderForGreaterOpCodes
		}
		w.PrependInt8Slot(opcodeDeprecatedBuiltin, int8(dep), 0)
		if custom != 0 {
			w.PrependUOffsetTSlot(opcodeCustom, custom, 0)
		}
		w.PrependInt32Slot(opcodeVersion, oc.Version, 1)
		w.PrependInt32Slot(opcodeBuiltin, int32(oc.Builtin), 0)
		offs[i] = w.EndObject()
	}
	return w.tables(offs)
}

// metadata writes the metadata vector, or nothing (0) when there is none.
func (w writer) metadata(md []Metadata) flatbuffers.UOffsetT {
	offs := make([]flatbuffers.UOffsetT, len(md))
	for i, m := range md {
		name := w.CreateString(m.Name)
		w.StartObject(metadataNumFields)
		w.PrependUOffsetTSlot(metadataName, name, 0)
		w.PrependUint32Slot(metadataBuffer, m.Buffer, 0)
		offs[i] = w.EndObject()
	}
	if len(offs) == 0 {
		return 0
	}
	return w.tables(offs)
}
