package infer

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

// The model runs from memory: truncating (or rewriting) its file while the
// classifier runs changes nothing. With the file mmapped (delegate cpu
// reads the weights in place) the next inference died of SIGBUS.
func TestModelFileTruncatedWhileRunning(t *testing.T) {
	src, err := os.ReadFile(modelPath(t, "garbage.tflite"))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "garbage.tflite")
	if err := os.WriteFile(path, src, 0o644); err != nil {
		t.Fatal(err)
	}
	c := newClassifier(t, Options{Model: path, Delegate: DelegateCPU, Threads: 1})
	img, err := ReadImageFile(trashnetPhotos(t, 1)[0], ImageLimits{})
	if err != nil {
		t.Fatal(err)
	}
	defer img.Close()
	before, err := c.Classify(context.Background(), img, 3)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	after, err := c.Classify(context.Background(), img, 3)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, make([]byte, len(src)), 0o644); err != nil { // same size, zeros
		t.Fatal(err)
	}
	again, err := c.Classify(context.Background(), img, 3)
	if err != nil {
		t.Fatal(err)
	}
	if after.Label != before.Label || after.Score.Score != before.Score.Score || again.Score.Score != before.Score.Score {
		t.Errorf("before %v %v, after truncation %v %v, after rewrite %v %v", before.Label, before.Score.Score, after.Label, after.Score.Score, again.Label, again.Score.Score)
	}
}
