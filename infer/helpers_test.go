package infer

import (
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/sorterd/sorterd/internal/testenv"
)

func modelPath(t testing.TB, name string) string { return testenv.Model(t, name) }

const (
	ptqModel  = "tf2_mobilenet_v2_1.0_224_ptq.tflite"
	u8Model   = "mobilenet_v2_1.0_224_quant.tflite"
	tpuModel  = "mobilenet_v2_1.0_224_quant_edgetpu.tflite"
	labelFile = "imagenet_labels.txt"
)

func sharedDir(t testing.TB) string { return testenv.Shared() }

// trashnetPhotos returns the first perClass photos of each class, in a
// stable order.
func trashnetPhotos(t testing.TB, perClass int) []string {
	t.Helper()
	dir := testenv.Need(t, filepath.Join(sharedDir(t), "data", "trashnet"))
	var out []string
	for _, class := range []string{"cardboard", "glass", "metal", "paper", "plastic", "trash"} {
		files, err := filepath.Glob(filepath.Join(dir, class, "*.jpg"))
		if err != nil || len(files) == 0 {
			t.Fatalf("no photos for %s in %s", class, dir)
		}
		sort.Strings(files)
		if len(files) > perClass {
			files = files[:perClass]
		}
		out = append(out, files...)
	}
	return out
}

func newClassifier(t testing.TB, o Options) *Classifier {
	t.Helper()
	c, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestMain(m *testing.M) {
	// Tests build many classifiers; keep their info logs out of the output.
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	os.Exit(m.Run())
}
