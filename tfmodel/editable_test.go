package tfmodel

import (
	"errors"
	"strings"
	"testing"

	flatbuffers "github.com/google/flatbuffers/go"
)

// tinyModel builds a model of n subgraphs, each one tensor that is input
// and output at once (no op), the tensor variable if asked.
func tinyModel(n int, variable bool) []byte {
	w := writer{flatbuffers.NewBuilder(256)}
	buffers := w.buffers([][]byte{nil})
	subs := make([]flatbuffers.UOffsetT, n)
	for i := range subs {
		name := w.CreateString("t")
		shape := w.ints([]int32{1, 4})
		w.StartObject(tensorIsVariable + 1)
		w.PrependUOffsetTSlot(tensorShape, shape, 0)
		w.PrependUOffsetTSlot(tensorName, name, 0)
		if variable {
			w.PrependBoolSlot(tensorIsVariable, true, false)
		}
		tensors := w.tables([]flatbuffers.UOffsetT{w.EndObject()})
		io := w.ints([]int32{0})
		w.StartObject(subgraphNumFields)
		w.PrependUOffsetTSlot(subgraphTensors, tensors, 0)
		w.PrependUOffsetTSlot(subgraphInputs, io, 0)
		w.PrependUOffsetTSlot(subgraphOutputs, io, 0)
		subs[i] = w.EndObject()
	}
	subgraphs := w.tables(subs)
	w.StartObject(modelNumFields)
	w.PrependUint32Slot(modelVersion, 3, 0)
	w.PrependUOffsetTSlot(modelSubgraphs, subgraphs, 0)
	w.PrependUOffsetTSlot(modelBuffers, buffers, 0)
	w.FinishWithFileIdentifier(w.EndObject(), []byte(fileIdentifier))
	return w.FinishedBytes()
}

// A model with parts Write cannot carry still parses (the classifier can
// run it), but Editable names the part and Write refuses: nothing is
// dropped silently.
func TestEditableRefusesWhatWriteWouldDrop(t *testing.T) {
	for _, tc := range []struct {
		name     string
		data     []byte
		refusal  string // "" for an editable model
		subgraph int
	}{
		{"plain", tinyModel(1, false), "", 1},
		{"two subgraphs", tinyModel(2, false), "2 subgraphs", 2},
		{"variable tensor", tinyModel(1, true), "variable", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := parse(t, tc.data)
			if m.Subgraphs != tc.subgraph || len(m.Tensors) != 1 || m.Tensors[0].Name != "t" {
				t.Fatalf("parsed %d subgraphs, tensors %+v", m.Subgraphs, m.Tensors)
			}
			err := m.Editable()
			out, werr := m.Write()
			if tc.refusal == "" {
				if err != nil || werr != nil {
					t.Fatalf("editable %v, write %v", err, werr)
				}
				if again := parse(t, out); len(again.Tensors) != 1 {
					t.Errorf("rewritten: %d tensors", len(again.Tensors))
				}
				return
			}
			if !errors.Is(err, ErrCannotEdit) || !strings.Contains(err.Error(), tc.refusal) {
				t.Errorf("Editable: %v, want ErrCannotEdit naming %q", err, tc.refusal)
			}
			if !errors.Is(werr, ErrCannotEdit) || out != nil {
				t.Errorf("Write gave %d bytes, error %v", len(out), werr)
			}
			// A cut keeps the refusal: it is the same model's parts.
			if _, err := m.CutAt(0).Write(); !errors.Is(err, ErrCannotEdit) {
				t.Errorf("cut model written: %v", err)
			}
		})
	}
}
