package tfmodel

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/sorterd/sorterd/internal/testenv"
)

const (
	ptqModel  = "tf2_mobilenet_v2_1.0_224_ptq.tflite"
	u8Model   = "mobilenet_v2_1.0_224_quant.tflite"
	tpuModel  = "mobilenet_v2_1.0_224_quant_edgetpu.tflite"
	labelFile = "imagenet_labels.txt"
)

// readModel reads a file of models/ (testenv.Model: a missing file
// skips, or fails under CI=true; testenv is cgo-free, as this package's
// tests must be).
func readModel(t testing.TB, name string) []byte {
	t.Helper()
	path := testenv.Model(t, name)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func parse(t testing.TB, data []byte) *Model {
	t.Helper()
	m, err := Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestParseModelsAndEmbeddedLabels(t *testing.T) {
	wantLabels := ParseLabels(readModel(t, labelFile))
	for _, name := range []string{ptqModel, u8Model, tpuModel} {
		t.Run(name, func(t *testing.T) {
			m := parse(t, readModel(t, name))
			labels, file, ok := m.EmbeddedLabels()
			if !ok {
				t.Fatalf("no embedded labels (files %d, label file %q)", len(m.Files), m.LabelFile)
			}
			if len(labels) != 1001 || labels[0] != "background" || strings.Join(labels, "\n") != strings.Join(wantLabels, "\n") {
				t.Errorf("embedded %s: %d labels, first %q; want the 1001 of %s", file, len(labels), labels[0], labelFile)
			}
			in := m.Tensors[m.Inputs[0]]
			if in.Type != UInt8 || len(in.Shape) != 4 || in.Shape[1] != 224 {
				t.Errorf("input %s %v %v", in.Name, in.Type, in.Shape)
			}
			if err := m.Editable(); err != nil {
				t.Errorf("not editable: %v", err)
			}
		})
	}
}

func TestCustomOps(t *testing.T) {
	if got := parse(t, readModel(t, tpuModel)).CustomOps(); len(got) != 1 || got[0] != "edgetpu-custom-op" {
		t.Errorf("edge TPU model: custom ops %q", got)
	}
	if got := parse(t, readModel(t, ptqModel)).CustomOps(); len(got) != 0 {
		t.Errorf("CPU model: custom ops %q", got)
	}
}

// Each broken file gives its own error: a *FormatError saying where for
// what Parse had to read, a sentinel for what is not a model at all.
func TestFormatErrors(t *testing.T) {
	good := readModel(t, ptqModel)
	badVtable := append([]byte(nil), good...)
	root := int(badVtable[0]) | int(badVtable[1])<<8 | int(badVtable[2])<<16 | int(badVtable[3])<<24
	copy(badVtable[root:], []byte{0xff, 0xff, 0xff, 0x7f}) // vtable offset far outside
	prefixed := append([]byte{byte(len(good)), byte(len(good) >> 8), byte(len(good) >> 16), byte(len(good) >> 24)}, good...)
	cases := []struct {
		name   string
		data   []byte
		target error
		text   string
		format bool
	}{
		{"empty", nil, ErrTruncated, "0 bytes", true},
		{"truncated", good[:len(good)/2], ErrTruncated, "past the end", true},
		{"bad vtable", badVtable, ErrCorrupt, "bad vtable", true},
		{"not a model", []byte("hello, this is not a model at all"), ErrNotModel, "TFL3", false},
		{"size prefixed", prefixed, errSizePrefixed, "size-prefixed", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(tc.data)
			if !errors.Is(err, tc.target) {
				t.Fatalf("error %v is not %v", err, tc.target)
			}
			if !strings.Contains(err.Error(), tc.text) {
				t.Errorf("error %q does not mention %q", err, tc.text)
			}
			var fe *FormatError
			if errors.As(err, &fe) != tc.format {
				t.Fatalf("error %v: FormatError %v, want %v", err, fe != nil, tc.format)
			}
			if fe != nil && (fe.Off < 0 || fe.Off > int64(len(tc.data))) {
				t.Errorf("offset %d outside the %d-byte file", fe.Off, len(tc.data))
			}
		})
	}
}

func TestParseLabels(t *testing.T) {
	got := ParseLabels([]byte("  glass \r\nmetal\n\npaper\n\n\n"))
	want := []string{"glass", "metal", "", "paper"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("got %q", got)
	}
}

// What Write builds, Parse reads back as the same model, and writing that
// again gives the same bytes: nothing is dropped or reordered, so an
// exported model depends only on its inputs.
func TestWriteRoundTrip(t *testing.T) {
	for _, name := range []string{ptqModel, u8Model, tpuModel} {
		t.Run(name, func(t *testing.T) {
			m := parse(t, readModel(t, name))
			out, err := m.Write()
			if err != nil {
				t.Fatal(err)
			}
			m2 := parse(t, out)
			for what, pair := range map[string][2]any{
				"op codes": {m.OpCodes, m2.OpCodes}, "tensors": {m.Tensors, m2.Tensors}, "ops": {m.Ops, m2.Ops},
				"inputs": {m.Inputs, m2.Inputs}, "outputs": {m.Outputs, m2.Outputs}, "metadata": {m.Metadata, m2.Metadata},
			} {
				if !reflect.DeepEqual(pair[0], pair[1]) {
					t.Errorf("%s differ after the round trip", what)
				}
			}
			if len(m.Buffers) != len(m2.Buffers) {
				t.Fatalf("%d buffers, %d after", len(m.Buffers), len(m2.Buffers))
			}
			for i := range m.Buffers {
				if !bytes.Equal(m.Buffers[i], m2.Buffers[i]) {
					t.Fatalf("buffer %d differs", i)
				}
			}
			again, err := m2.Write()
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(out, again) {
				t.Errorf("writing the parsed output again changed %d bytes to %d", len(out), len(again))
			}
		})
	}
}

// CutAt keeps what the cut tensor depends on and nothing else.
func TestCutAt(t *testing.T) {
	m := parse(t, readModel(t, ptqModel))
	first := m.Ops[0].Outputs[0]
	cut := m.CutAt(first)
	if len(cut.Ops) != 1 || len(cut.OpCodes) != 1 || len(cut.Outputs) != 1 {
		t.Fatalf("cut after the first op: %d ops, %d op codes, %d outputs", len(cut.Ops), len(cut.OpCodes), len(cut.Outputs))
	}
	if got, want := cut.Tensors[cut.Outputs[0]].Name, m.Tensors[first].Name; got != want {
		t.Errorf("output %q, want %q", got, want)
	}
	out, err := cut.Write()
	if err != nil {
		t.Fatal(err)
	}
	back := parse(t, out)
	if len(back.Tensors) >= len(m.Tensors)/4 || len(back.Buffers) >= len(m.Buffers)/4 || back.Metadata != nil {
		t.Errorf("cut model keeps %d of %d tensors, %d of %d buffers, metadata %v", len(back.Tensors), len(m.Tensors), len(back.Buffers), len(m.Buffers), back.Metadata)
	}
}

// SetInputSize recomputes shapes through strided convolutions and keeps
// the global pooling global.
func TestSetInputSize(t *testing.T) {
	m := parse(t, readModel(t, u8Model))
	if err := m.SetInputSize(320, 288); err != nil {
		t.Fatal(err)
	}
	if s := m.Tensors[m.Inputs[0]].Shape; !reflect.DeepEqual(s, []int32{1, 320, 288, 3}) {
		t.Fatalf("input shape %v", s)
	}
	// The first convolution has stride 2 and SAME padding.
	if s := m.Tensors[m.Ops[0].Outputs[0]].Shape; s[1] != 160 || s[2] != 144 {
		t.Errorf("first convolution's output %v, want 160×144", s)
	}
	for i, op := range m.Ops {
		if m.Builtin(i) != OpAveragePool2D {
			continue
		}
		in := m.Tensors[op.Inputs[0]].Shape
		if fw, fh := op.Option(Pool2DFilterWidth, 0), op.Option(Pool2DFilterHeight, 0); fw != uint64(in[2]) || fh != uint64(in[1]) {
			t.Errorf("pooling %d: filter %d×%d over an input of %v", i, fw, fh, in)
		}
	}
}

func TestToInt8RefusesUnknownOps(t *testing.T) {
	m := parse(t, readModel(t, u8Model))
	for i := range m.Ops {
		if m.Builtin(i) == OpReshape {
			m.OpCodes = append(m.OpCodes, OpCode{Builtin: OpTanh, Version: 1})
			m.Ops[i].Opcode = len(m.OpCodes) - 1
		}
	}
	err := m.ToInt8()
	if !errors.Is(err, ErrCannotEdit) || !strings.Contains(err.Error(), "TANH") {
		t.Fatalf("want a refusal naming TANH, got %v", err)
	}
}

func TestNames(t *testing.T) {
	for _, c := range []struct{ got, want string }{
		{OpQuantize.String(), "QUANTIZE"}, {Builtin(200).String(), "BUILTIN_200"},
		{OpCode{Builtin: OpCustom, Custom: "x"}.Name(), "x"},
		{Int8.String(), "int8"}, {TensorType(13).String(), "type13"},
	} {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
}

func FuzzParseModel(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte("\x10\x00\x00\x00TFL3"))
	if data, err := os.ReadFile(filepath.Join(testenv.Root(), "models", ptqModel)); err == nil {
		f.Add(data[:4096])
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Parse(data)
		if err != nil {
			return
		}
		// Whatever parsed must be usable without panics.
		m.EmbeddedLabels()
		m.CustomOps()
		for _, o := range m.Outputs {
			m.Producer(o)
		}
		if m.Editable() == nil {
			if _, err := m.Write(); err != nil {
				t.Fatalf("editable model not written: %v", err)
			}
		}
	})
}
