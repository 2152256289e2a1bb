package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sorterd/sorterd/infer"
	"github.com/sorterd/sorterd/internal/testenv"
)

// The small model ships as a head file, as the default does: `sorterd
// export` (make model-small) assembles a 224-px model with the six
// classes, trained with the test split held out, that classifies a photo
// with a third of the default's work.
func TestSmallModelHead(t *testing.T) {
	base := testenv.Need(t, filepath.Join(testenv.Root(), "models", "mobilenet_v2_1.0_224_quant.tflite"))
	out := filepath.Join(t.TempDir(), "garbage-224.tflite")
	code, _, errs := runCLI(t, "export", "--head", filepath.Join(testenv.Root(), "heads", "garbage-224.head.json"), "--base", base, "--out", out)
	if code != 0 {
		t.Fatalf("export: exit %d: %s", code, errs)
	}
	clf, err := infer.New(infer.Options{Model: out})
	if err != nil {
		t.Fatal(err)
	}
	defer clf.Close()
	if w, h := clf.InputSize(); w != 224 || h != 224 {
		t.Errorf("input %d×%d", w, h)
	}
	if got := strings.Join(clf.Labels(), ","); got != "cardboard,glass,metal,paper,plastic,trash" {
		t.Errorf("labels %s", got)
	}
	if macs := clf.Info().MACs(); macs > 300e6 {
		t.Errorf("%d MACs per view", macs)
	}
	// Trained without the 404 test photos: its accuracy figures are a measurement.
	if m := clf.Info().Sorterd; m == nil || m.Info["train_images"] != float64(1616) {
		t.Errorf("metadata %+v: want 1616 training photos (test split held out)", m)
	}
	img, err := infer.ReadImageFile(photo(t), infer.ImageLimits{})
	if err != nil {
		t.Fatal(err)
	}
	defer img.Close()
	r, err := clf.Classify(context.Background(), img, 1)
	if err != nil || r.Label != "glass" {
		t.Errorf("glass1.jpg: %q (%.2f), %v", r.Label, r.Score.Score, err)
	}
}
