package infer

import (
	"github.com/sorterd/sorterd/internal/testenv"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"testing"
)

// repoRoot is the module root (where go.mod is).
func repoRoot(t testing.TB) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	return filepath.Dir(filepath.Dir(file))
}

func need(t testing.TB, path string) string { t.Helper(); return testenv.Need(t, path) }

func modelPath(t testing.TB, name string) string {
	return need(t, filepath.Join(repoRoot(t), "models", name))
}

const (
	ptqModel  = "tf2_mobilenet_v2_1.0_224_ptq.tflite"
	u8Model   = "mobilenet_v2_1.0_224_quant.tflite"
	tpuModel  = "mobilenet_v2_1.0_224_quant_edgetpu.tflite"
	labelFile = "imagenet_labels.txt"
)

func sharedDir(t testing.TB) string {
	if d := os.Getenv("SORTERD_SHARED"); d != "" {
		return d
	}
	return filepath.Join(repoRoot(t), "..", "shared")
}

// trashnetPhotos returns the first perClass photos of each class, in a
// stable order.
func trashnetPhotos(t testing.TB, perClass int) []string {
	t.Helper()
	dir := need(t, filepath.Join(sharedDir(t), "data", "trashnet"))
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
