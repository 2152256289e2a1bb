package infer

import (
	"context"
	"os"
	"testing"

	"github.com/sorterd/sorterd/tfmodel"
)

// Reading a model with tfmodel and writing it back with the builder gives
// a model TFLite runs with the same results, for both quantizations.
func TestRewrittenModelRunsTheSame(t *testing.T) {
	for _, name := range []string{ptqModel, u8Model} {
		t.Run(name, func(t *testing.T) {
			raw, err := os.ReadFile(modelPath(t, name))
			if err != nil {
				t.Fatal(err)
			}
			g, err := tfmodel.Parse(raw)
			if err != nil {
				t.Fatal(err)
			}
			path := writeModel(t, g, "rt.tflite")
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
	g, err := tfmodel.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	if err := g.SetInputSize(320, 320); err != nil {
		t.Fatal(err)
	}
	path := writeModel(t, g, "320.tflite")
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
