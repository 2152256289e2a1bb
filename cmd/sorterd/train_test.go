package main

import (
	"bytes"
	"encoding/json"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sorterd/sorterd/internal/testenv"
)

// colourData writes dir/<class>/*.jpg: noisy photos whose dominant colour
// is the class.
func colourData(t *testing.T, perClass int) string {
	dir := t.TempDir()
	rng := rand.New(rand.NewSource(1))
	for ci, class := range []string{"blue", "green", "red"} {
		os.MkdirAll(filepath.Join(dir, class), 0o755)
		for n := 0; n < perClass; n++ {
			img := image.NewRGBA(image.Rect(0, 0, 96, 72))
			for y := 0; y < 72; y++ {
				for x := 0; x < 96; x++ {
					c := [3]uint8{uint8(rng.Intn(80)), uint8(rng.Intn(80)), uint8(rng.Intn(80))}
					c[2-ci] += 150
					img.Set(x, y, color.RGBA{c[0], c[1], c[2], 255})
				}
			}
			var b bytes.Buffer
			jpeg.Encode(&b, img, nil)
			os.WriteFile(filepath.Join(dir, class, class+string(rune('a'+n))+".jpg"), b.Bytes(), 0o644)
		}
	}
	return dir
}

func TestTrainEvalExportCLI(t *testing.T) {
	testenv.Slow(t, "trains")
	base := model(t)
	data := colourData(t, 15)
	tmp := t.TempDir()
	out := filepath.Join(tmp, "g.tflite")
	code, stdout, errs := runCLI(t, "train", "--data", data, "--out", out, "--base", base, "--size", "0",
		"--augment", "1", "--station-views", "1", "--cache", filepath.Join(tmp, "cache"))
	if code != 0 {
		t.Fatalf("train: exit %d: %s", code, errs)
	}
	for _, want := range []string{"split (seed 1): train", "validation accuracy", "test accuracy: float head", "confusion"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("train output lacks %q", want)
		}
	}
	plot := filepath.Join(tmp, "confusion.png")
	code, stdout, errs = runCLI(t, "eval", "--model", out, "--data", data, "--json", "--plot", plot)
	if code != 0 {
		t.Fatalf("eval: exit %d: %s", code, errs)
	}
	var m struct {
		Accuracy  float64
		N         int
		PerClass  []map[string]any `json:"per_class"`
		Confusion [][]int
	}
	if err := json.Unmarshal([]byte(stdout), &m); err != nil {
		t.Fatal(err)
	}
	if m.N != 45 || m.Accuracy < 0.9 || len(m.PerClass) != 3 || len(m.Confusion) != 3 {
		t.Errorf("eval %+v", m)
	}
	f, err := os.Open(plot)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := png.Decode(f); err != nil {
		t.Errorf("plot: %v", err)
	}
	f.Close()
	// A folder with some of the model's classes, even one (a station's
	// corrected photos): the model's other labels get columns of their
	// own, so a prediction of one of them is counted wrong.
	for _, c := range []struct {
		folder string
		minAcc float64
		maxAcc float64
	}{{"red", 0.9, 1}, {"blue", 0, 0.1}} { // "blue" holds red photos: mislabelled
		sub := t.TempDir()
		if err := os.CopyFS(filepath.Join(sub, c.folder), os.DirFS(filepath.Join(data, "red"))); err != nil {
			t.Fatal(err)
		}
		code, stdout, errs = runCLI(t, "eval", "--model", out, "--data", sub, "--json")
		if code != 0 {
			t.Fatalf("eval on %s only: exit %d: %s", c.folder, code, errs)
		}
		m.PerClass, m.Confusion = nil, nil
		if err := json.Unmarshal([]byte(stdout), &m); err != nil {
			t.Fatal(err)
		}
		if m.N != 15 || m.Accuracy < c.minAcc || m.Accuracy > c.maxAcc || len(m.PerClass) != 3 || len(m.Confusion) != 3 ||
			m.PerClass[0]["class"] != c.folder {
			t.Errorf("eval on %s only: %+v", c.folder, m)
		}
	}
	// Training needs two classes.
	one := t.TempDir()
	if err := os.CopyFS(filepath.Join(one, "red"), os.DirFS(filepath.Join(data, "red"))); err != nil {
		t.Fatal(err)
	}
	code, _, errs = runCLI(t, "train", "--data", one, "--out", filepath.Join(tmp, "one.tflite"), "--base", base, "--cache", filepath.Join(tmp, "cache"))
	if code == 0 || !strings.Contains(errs, "only one class (red)") {
		t.Errorf("train on one class: exit %d, %s", code, errs)
	}
	// export rebuilds the very same model from the head file.
	again := filepath.Join(tmp, "again.tflite")
	code, _, errs = runCLI(t, "export", "--head", filepath.Join(tmp, "g.head.json"), "--base", base, "--out", again)
	if code != 0 {
		t.Fatalf("export: exit %d: %s", code, errs)
	}
	a, _ := os.ReadFile(out)
	b, _ := os.ReadFile(again)
	if !bytes.Equal(a, b) {
		t.Errorf("export from the head file differs from the trained model (%d vs %d bytes)", len(a), len(b))
	}
	// The wrong base is refused by hash.
	code, _, errs = runCLI(t, "export", "--head", filepath.Join(tmp, "g.head.json"), "--base", out, "--out", again)
	if code == 0 || !strings.Contains(errs, "sha256") {
		t.Errorf("export with the wrong base: exit %d, %s", code, errs)
	}
	// A folder without classes: one clear line.
	code, _, errs = runCLI(t, "train", "--data", t.TempDir(), "--out", out, "--base", base)
	if code == 0 || !strings.Contains(errs, "no class folders") {
		t.Errorf("empty data: exit %d, %s", code, errs)
	}
	// Fractions that leave nothing to train or choose with.
	for _, f := range [][]string{{"--test-fraction", "-0.1"}, {"--val-fraction", "0"}, {"--test-fraction", "0.6", "--val-fraction", "0.4"}} {
		args := append([]string{"train", "--data", data, "--out", out, "--base", base}, f...)
		code, _, errs = runCLI(t, args...)
		if code != 2 || !strings.Contains(errs, "--test-fraction") || !strings.Contains(errs, "sum < 1") {
			t.Errorf("%v: exit %d, %s", f, code, errs)
		}
	}
}
