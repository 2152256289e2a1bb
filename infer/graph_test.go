package infer

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

// Reading a model into a Graph and writing it back with the builder gives
// a model TFLite runs with the same results, for both quantizations.
func TestGraphRoundTrip(t *testing.T) {
	for _, name := range []string{ptqModel, u8Model} {
		t.Run(name, func(t *testing.T) {
			raw, err := os.ReadFile(modelPath(t, name))
			if err != nil {
				t.Fatal(err)
			}
			g, err := ReadGraph(raw)
			if err != nil {
				t.Fatal(err)
			}
			out := g.Write()
			m, err := ParseModel(out)
			if err != nil {
				t.Fatal(err)
			}
			if len(m.Operators) != len(g.Ops) || len(m.Tensors) != len(g.Tensors) {
				t.Fatalf("rewritten model has %d ops, %d tensors", len(m.Operators), len(m.Tensors))
			}
			path := filepath.Join(t.TempDir(), "rt.tflite")
			os.WriteFile(path, out, 0o644)
			a := newClassifier(t, Options{Model: modelPath(t, name), Delegate: DelegateCPU})
			b := newClassifier(t, Options{Model: path, Delegate: DelegateCPU, Labels: modelPath(t, labelFile)})
			img := solid(320, 240, 20, 140, 220)
			defer img.Close()
			ra, err := a.Classify(context.Background(), img, 5)
			if err != nil {
				t.Fatal(err)
			}
			rb, err := b.Classify(context.Background(), img, 5)
			if err != nil {
				t.Fatal(err)
			}
			for i := range ra.Scores {
				if ra.Scores[i] != rb.Scores[i] {
					t.Fatalf("score %d: original %v, rewritten %v", i, ra.Scores[i], rb.Scores[i])
				}
			}
		})
	}
}

// A larger input keeps the model valid: shapes are recomputed, TFLite and
// XNNPACK accept it, and the classifier feeds it at the new size.
func TestSetInputSize(t *testing.T) {
	raw, err := os.ReadFile(modelPath(t, ptqModel))
	if err != nil {
		t.Fatal(err)
	}
	g, err := ReadGraph(raw)
	if err != nil {
		t.Fatal(err)
	}
	if err := g.SetInputSize(320, 320); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "320.tflite")
	os.WriteFile(path, g.Write(), 0o644)
	c := newClassifier(t, Options{Model: path, Labels: modelPath(t, labelFile)})
	if w, h := c.InputSize(); w != 320 || h != 320 {
		t.Fatalf("input %dx%d", w, h)
	}
	if c.Delegate().DelegatedNodes == 0 {
		t.Errorf("XNNPACK refused the resized graph: %+v", c.Delegate())
	}
	img := solid(640, 480, 20, 140, 220)
	defer img.Close()
	if _, err := c.Classify(context.Background(), img, 1); err != nil {
		t.Fatal(err)
	}
}

func TestPooledFeatureByStructure(t *testing.T) {
	for _, name := range []string{ptqModel, u8Model} {
		raw, _ := os.ReadFile(modelPath(t, name))
		g, err := ReadGraph(raw)
		if err != nil {
			t.Fatal(err)
		}
		ti, pool, err := g.PooledFeature()
		if err != nil {
			t.Fatal(err)
		}
		shape := g.Tensors[ti].Shape
		if shape[len(shape)-1] != 1280 || pool < 0 {
			t.Errorf("%s: tensor %d %q shape %v, pool op %d", name, ti, g.Tensors[ti].Name, shape, pool)
		}
	}
}
