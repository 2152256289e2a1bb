package infer

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/sorterd/sorterd/internal/testenv"
	"github.com/sorterd/sorterd/tfmodel"
)

func readU8Graph(t *testing.T) *tfmodel.Model {
	t.Helper()
	raw, err := os.ReadFile(modelPath(t, u8Model))
	if err != nil {
		t.Fatal(err)
	}
	g, err := tfmodel.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// writeModel writes an edited model to a temporary file for TFLite.
func writeModel(t *testing.T, g *tfmodel.Model, name string) string {
	t.Helper()
	out, err := g.Write()
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, out, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func isWeights(g *tfmodel.Model, t int32) (dim int, ok bool) {
	for _, op := range g.Ops {
		switch g.OpCodes[op.Opcode].Builtin {
		case tfmodel.OpConv2D, tfmodel.OpFullyConnected:
			if op.Inputs[1] == t {
				return 0, true
			}
		case tfmodel.OpDepthwiseConv2D:
			if op.Inputs[1] == t {
				return 3, true
			}
		}
	}
	return 0, false
}

// Where every channel's integer weights fit in [-127, 127] around the
// zero point, the rewrite changes no value: activations only move their
// zero point, weights keep their scale and integers (minus the zero
// point), biases their integers. The test first clamps the uint8 weights
// to make that true (a model as valid as the original), checks the
// tensors, then runs both models: TFLite's int8 per-channel kernels round
// a product now and then differently from its uint8 ones (one value of
// 25,088 by one step in the first layer where it happens), so the scores
// may differ slightly (0.016 here) but not the answers; a wrong zero
// point or bias would move them by tenths.
func TestToInt8IsExactWhereWeightsFit(t *testing.T) {
	testenv.Slow(t, "runs both models on photos")
	g := readU8Graph(t)
	for i, tt := range g.Tensors {
		if _, ok := isWeights(g, int32(i)); !ok || tt.Type != tfmodel.UInt8 {
			continue
		}
		z := tt.ZeroPoint[0]
		d := append([]byte(nil), g.Buffers[tt.Buffer]...)
		for j, q := range d {
			d[j] = byte(min(max(int64(q), z-127), z+127))
		}
		g.Buffers[tt.Buffer] = d
	}
	fitted := writeModel(t, g, "fitted-uint8.tflite")
	before := append([]tfmodel.Tensor(nil), g.Tensors...)
	bufs := append([][]byte(nil), g.Buffers...)
	if err := g.ToInt8(); err != nil {
		t.Fatal(err)
	}
	for i, tt := range g.Tensors {
		was := before[i]
		if tt.Type == tfmodel.UInt8 {
			t.Fatalf("tensor %q is still uint8", tt.Name)
		}
		if was.Type == tfmodel.Int32 && len(bufs[was.Buffer]) > 0 && !bytes.Equal(bufs[was.Buffer], g.Buffers[tt.Buffer]) {
			t.Fatalf("bias %q changed", tt.Name)
		}
		if was.Type != tfmodel.UInt8 {
			continue
		}
		dim, ok := isWeights(g, int32(i))
		if !ok {
			if tt.ZeroPoint[0] != was.ZeroPoint[0]-128 || tt.Scale[0] != was.Scale[0] {
				t.Fatalf("tensor %q: zero point %d → %d, scale %g → %g", tt.Name, was.ZeroPoint[0], tt.ZeroPoint[0], was.Scale[0], tt.Scale[0])
			}
			continue
		}
		if tt.QuantDim != int32(dim) || len(tt.Scale) != int(tt.Shape[dim]) {
			t.Fatalf("weights %q: %d scales along %d, shape %v", tt.Name, len(tt.Scale), tt.QuantDim, tt.Shape)
		}
		for c, z := range tt.ZeroPoint {
			if z != 0 || tt.Scale[c] != was.Scale[0] {
				t.Fatalf("weights %q channel %d: scale %g zero point %d, want %g and 0", tt.Name, c, tt.Scale[c], z, was.Scale[0])
			}
		}
		for j, q := range bufs[was.Buffer] {
			if got := int64(int8(g.Buffers[tt.Buffer][j])); got != int64(q)-was.ZeroPoint[0] {
				t.Fatalf("weights %q[%d]: %d, want %d - %d", tt.Name, j, got, q, was.ZeroPoint[0])
			}
		}
	}
	labels := modelPath(t, labelFile)
	a := newClassifier(t, Options{Model: fitted, Labels: labels, Delegate: DelegateCPU})
	b := newClassifier(t, Options{Model: writeModel(t, g, "int8.tflite"), Labels: labels, Delegate: DelegateCPU})
	if in := b.Info().Tensors[b.Info().Inputs[0]]; in.Type != tfmodel.Int8 {
		t.Fatalf("input is %v", in.Type)
	}
	var maxDiff float64
	for _, p := range trashnetPhotos(t, 2) {
		ra, rb := classifyPath(t, a, p), classifyPath(t, b, p)
		if ra.Index != rb.Index {
			t.Errorf("%s: uint8 says %q, int8 %q", filepath.Base(p), ra.Label, rb.Label)
		}
		for i := range ra.Scores {
			maxDiff = math.Max(maxDiff, math.Abs(float64(ra.Scores[i]-rb.Scores[i])))
		}
	}
	t.Logf("scores differ by up to %.4f", maxDiff)
	if maxDiff > 0.05 {
		t.Errorf("scores differ by up to %.4f", maxDiff)
	}
}

// The real uint8 model has one to three channels per layer wider than
// int8 allows at its scale; those get a coarser step. XNNPACK, which
// refuses the uint8 graph, must take the int8 one, and its answers must
// stay those of the uint8 model on most photos (ImageNet's top classes
// are often near ties on TrashNet photos; 187 of 203 agreed when this
// was written).
func TestToInt8RunsOnXNNPACK(t *testing.T) {
	testenv.Slow(t, "runs both models on many photos")
	g := readU8Graph(t)
	if err := g.ToInt8(); err != nil {
		t.Fatal(err)
	}
	labels := modelPath(t, labelFile)
	u8 := newClassifier(t, Options{Model: modelPath(t, u8Model), Labels: labels, Delegate: DelegateCPU})
	i8 := newClassifier(t, Options{Model: writeModel(t, g, "int8.tflite"), Labels: labels, Delegate: DelegateXNNPACK})
	rep := i8.Delegate()
	if rep.Active != DelegateXNNPACK || rep.DelegatedNodes < rep.Nodes-3 {
		t.Fatalf("XNNPACK did not take the rewritten graph: %+v", rep)
	}
	photos := trashnetPhotos(t, 10)
	agree := 0
	for _, p := range photos {
		a, b := classifyPath(t, u8, p), classifyPath(t, i8, p)
		if a.Index == b.Index {
			agree++
		}
	}
	t.Logf("top-1 agreement %d/%d", agree, len(photos))
	if agree*4 < len(photos)*3 {
		t.Errorf("int8 rewrite agrees with the uint8 model on %d of %d photos", agree, len(photos))
	}
}
