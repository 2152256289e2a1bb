package infer

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sorterd/sorterd/tfmodel"
)

// Each bad model gives its own error, named for a user.
func TestBadModels(t *testing.T) {
	dir := t.TempDir()
	good, err := os.ReadFile(modelPath(t, ptqModel))
	if err != nil {
		t.Fatal(err)
	}
	tpu, err := os.ReadFile(modelPath(t, tpuModel))
	if err != nil {
		t.Fatal(err)
	}
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	// Same length as "edgetpu-custom-op", so every offset stays valid.
	otherCustom := bytes.Replace(tpu, []byte("edgetpu-custom-op"), []byte("fancy-custom-op!!"), 1)
	labels5 := write("five.txt", []byte("a\nb\nc\nd\ne\n"))
	ptq := write("ok.tflite", good)
	cases := []struct {
		name   string
		opts   Options
		target error
		text   string
	}{
		{"missing file", Options{Model: filepath.Join(dir, "nope.tflite")}, os.ErrNotExist, "nope.tflite"},
		{"empty", Options{Model: write("empty.tflite", nil)}, tfmodel.ErrTruncated, "0 bytes"},
		{"truncated", Options{Model: write("half.tflite", good[:len(good)/2])}, tfmodel.ErrTruncated, "past the end"},
		{"not a model", Options{Model: write("text.tflite", []byte("hello, this is not a model at all"))}, tfmodel.ErrNotModel, "TFL3"},
		{"edge tpu without delegate", Options{Model: write("tpu.tflite", tpu)}, ErrNeedsEdgeTPU, "Edge TPU"},
		{"unknown custom op", Options{Model: write("custom.tflite", otherCustom)}, ErrModelUnsupported, "fancy-custom-op!!"},
		{"labels missing", Options{Model: ptq, Labels: filepath.Join(dir, "nolabels.txt")}, ErrLabels, "nolabels.txt"},
		{"labels count", Options{Model: ptq, Labels: labels5}, ErrLabels, "5 labels"},
		{"unknown delegate", Options{Model: ptq, Delegate: "tpu9000"}, nil, "unknown delegate"},
		{"edgetpu library missing", Options{Model: ptq, Delegate: DelegateEdgeTPU, EdgeTPULibrary: "libedgetpu-missing.so.1"}, ErrDelegate, "libedgetpu-missing.so.1"},
		{"edgetpu runtime: where from", Options{Model: ptq, Delegate: DelegateEdgeTPU, EdgeTPULibrary: "libedgetpu-missing.so.1"}, ErrDelegate, "libedgetpu1-std from Coral's apt repository"},
		{"gpu unavailable", Options{Model: ptq, Delegate: DelegateGPU}, ErrDelegate, "GPU delegate"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := New(tc.opts)
			if err == nil {
				c.Close()
				t.Fatal("loaded")
			}
			if tc.target != nil && !errors.Is(err, tc.target) {
				t.Errorf("error %q is not %v", err, tc.target)
			}
			if !strings.Contains(err.Error(), tc.text) {
				t.Errorf("error %q does not mention %q", err, tc.text)
			}
			t.Log(err)
		})
	}
}

// With fallback allowed, a missing delegate runs on the CPU and says so.
func TestDelegateFallback(t *testing.T) {
	c := newClassifier(t, Options{Model: modelPath(t, ptqModel), Delegate: DelegateEdgeTPU, Fallback: true})
	rep := c.Delegate()
	if rep.Active != DelegateCPU || rep.Coverage != "unavailable" || !strings.Contains(rep.Reason, DefaultEdgeTPULibrary) {
		t.Fatalf("report %+v", rep)
	}
	// ...but an Edge-TPU-only model cannot fall back.
	_, err := New(Options{Model: modelPath(t, tpuModel), Delegate: DelegateEdgeTPU, Fallback: true})
	if !errors.Is(err, ErrNeedsEdgeTPU) {
		t.Fatalf("edge TPU model with fallback: %v", err)
	}
}

// A model edgetpu_compiler has not compiled gives the TPU nothing to run:
// the error says to compile it; a compiled one passes.
func TestEdgeTPUNeedsCompiledModel(t *testing.T) {
	for _, tc := range []struct {
		model    string
		compiled bool
	}{{ptqModel, false}, {tpuModel, true}} {
		b, err := os.ReadFile(modelPath(t, tc.model))
		if err != nil {
			t.Fatal(err)
		}
		m, err := tfmodel.Parse(b)
		if err != nil {
			t.Fatal(err)
		}
		err = compiledForEdgeTPU(m)
		if tc.compiled != (err == nil) {
			t.Fatalf("%s: compiled %v, error %v", tc.model, tc.compiled, err)
		}
		if err != nil && (!errors.Is(err, ErrDelegate) || !strings.Contains(err.Error(), "edgetpu_compiler")) {
			t.Errorf("%s: error %q: want ErrDelegate naming edgetpu_compiler", tc.model, err)
		}
	}
}
