package train

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"image"
	"image/color"
	"image/jpeg"
	"log/slog"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sorterd/sorterd/infer"
	"github.com/sorterd/sorterd/internal/testenv"
	"github.com/sorterd/sorterd/tfmodel"
	"gocv.io/x/gocv"
)

func TestMain(m *testing.M) {
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	os.Exit(m.Run())
}

func baseModel(t testing.TB, name string) string { return testenv.Model(t, name) }

const (
	ptq = "tf2_mobilenet_v2_1.0_224_ptq.tflite"
	u8  = "mobilenet_v2_1.0_224_quant.tflite"
)

// synthData writes a labelled folder of generated photos: each class is a
// kind of object (a disc, a bar, a ring) in its own colour family on a
// noisy background, at random places and sizes.
func synthData(t testing.TB, perClass int) string {
	dir := t.TempDir()
	rng := rand.New(rand.NewSource(7))
	classes := []string{"disc", "bar", "ring"}
	for ci, class := range classes {
		os.MkdirAll(filepath.Join(dir, class), 0o755)
		for n := 0; n < perClass; n++ {
			img := image.NewRGBA(image.Rect(0, 0, 160, 120))
			bg := color.RGBA{uint8(90 + rng.Intn(40)), uint8(90 + rng.Intn(40)), uint8(90 + rng.Intn(40)), 255}
			cx, cy, r := 50+rng.Intn(60), 40+rng.Intn(40), 18+rng.Intn(15)
			for y := 0; y < 120; y++ {
				for x := 0; x < 160; x++ {
					c := bg
					c.R += uint8(rng.Intn(12))
					dx, dy := x-cx, y-cy
					d2 := dx*dx + dy*dy
					in := false
					switch ci {
					case 0:
						in = d2 < r*r
					case 1:
						in = abs(dx) < r*2 && abs(dy) < r/3
					case 2:
						in = d2 < r*r && d2 > (r*2/3)*(r*2/3)
					}
					if in {
						c = [3]color.RGBA{{220, 40, 40, 255}, {40, 200, 60, 255}, {40, 60, 220, 255}}[ci]
						c.G += uint8(rng.Intn(30))
					}
					img.Set(x, y, c)
				}
			}
			var b bytes.Buffer
			jpeg.Encode(&b, img, &jpeg.Options{Quality: 90})
			os.WriteFile(filepath.Join(dir, class, class+itoa(n)+".jpg"), b.Bytes(), 0o644)
		}
	}
	return dir
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}

func itoa(n int) string { return string(rune('a'+n/26)) + string(rune('a'+n%26)) }

// End to end on generated photos: the head learns the classes, the
// exported model loads in TFLite (XNNPACK and built-in kernels) and
// reproduces the float head's predictions, and a second run reads every
// feature from the cache.
func TestTrainExportSynthetic(t *testing.T) {
	testenv.Slow(t, "trains and exports")
	base := baseModel(t, ptq)
	data := synthData(t, 24)
	// A duplicate across classes and a corrupt photo: both reported.
	dup, _ := os.ReadFile(filepath.Join(data, "disc", "disc"+itoa(0)+".jpg"))
	os.WriteFile(filepath.Join(data, "bar", "copy.jpg"), dup, 0o644)
	os.WriteFile(filepath.Join(data, "ring", "broken.jpg"), dup[:len(dup)/2], 0o644)
	out := filepath.Join(t.TempDir(), "garbage.tflite")
	cache := t.TempDir()
	var log bytes.Buffer
	cfg := Config{Data: []string{data}, Out: out, Base: base, Seed: 3, Augment: 1, CacheDir: cache,
		Lambdas: []float64{1e-3, 1e-2}}
	rep, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	rep.Write(&log)
	t.Log(log.String())
	if len(rep.Conflicts) != 1 || !strings.Contains(log.String(), "copy.jpg") {
		t.Errorf("duplicate across classes not reported: %v", rep.Conflicts)
	}
	if !strings.Contains(log.String(), "broken.jpg") {
		t.Errorf("corrupt photo not reported")
	}
	if rep.FloatTest.Accuracy < 0.9 {
		t.Errorf("float head test accuracy %.2f", rep.FloatTest.Accuracy)
	}
	if d := rep.ExportTest.Accuracy - rep.FloatTest.Accuracy; d < -0.01 || d > 0.01 {
		t.Errorf("exported %.3f vs float %.3f", rep.ExportTest.Accuracy, rep.FloatTest.Accuracy)
	}
	first := rep.BackboneRun
	if first == 0 {
		t.Fatal("no backbone runs counted")
	}
	// The exported model: labels embedded, loads with both kernels, agrees.
	for _, d := range []string{infer.DelegateXNNPACK, infer.DelegateCPU} {
		c, err := infer.New(infer.Options{Model: out, Delegate: d})
		if err != nil {
			t.Fatalf("%s: %v", d, err)
		}
		if got := strings.Join(c.Labels(), ","); got != "bar,disc,ring" {
			t.Errorf("labels %q", got)
		}
		// Validation is perfect here, so the suggested threshold is 0.
		if m := c.Info().Sorterd; m == nil || m.Threshold != rep.Threshold || m.Info["lambda"] == nil {
			t.Errorf("training facts not recorded: %+v", m)
		}
		if d == infer.DelegateXNNPACK && c.Delegate().DelegatedNodes == 0 {
			t.Errorf("XNNPACK took nothing: %+v", c.Delegate())
		}
		c.Close()
	}
	// Second run, other hyper-parameters: no backbone run at all.
	cfg.Lambdas = []float64{3e-3}
	rep2, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if rep2.BackboneRun != 0 {
		t.Errorf("second run called the backbone %d times (first: %d)", rep2.BackboneRun, first)
	}
	if rep2.StationTest != nil || rep2.ValScored != rep2.Val {
		t.Errorf("without station views: station test %v, %d validation examples for %d photos", rep2.StationTest, rep2.ValScored, rep2.Val)
	}
}

// With station views, the held-out photos get them too: validation scores
// each photo and its station views, and the test photos' station views
// are measured on their own.
func TestStationViewsHeldOut(t *testing.T) {
	testenv.Slow(t, "trains on held-out station views")
	t.Run("frozen", func(t *testing.T) { testStationViewsHeldOut(t, false) })
	t.Run("finetune", func(t *testing.T) { testStationViewsHeldOut(t, true) })
}

func testStationViewsHeldOut(t *testing.T, finetune bool) {
	base := baseModel(t, ptq)
	data := synthData(t, 20)
	cfg := Config{Data: []string{data}, Out: filepath.Join(t.TempDir(), "m.tflite"), Base: base, Seed: 3, Augment: 1,
		StationViews: 2, CacheDir: t.TempDir(), Lambdas: []float64{1e-2}}
	if finetune {
		cfg.Size, cfg.FineTune, cfg.FT = 96, true, FineTuneOptions{Epochs: 1, Batch: 8}
	}
	rep, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	rep.Write(&log)
	t.Log(log.String())
	if rep.ValScored != 3*rep.Val {
		t.Errorf("validation scored %d examples for %d photos with 2 station views each", rep.ValScored, rep.Val)
	}
	if rep.StationTest == nil || rep.StationTest.N != 2*rep.Test {
		t.Fatalf("station test %+v for %d test photos", rep.StationTest, rep.Test)
	}
	if rep.StationTest.Accuracy < 0.5 {
		t.Errorf("station views of the test photos: %.2f (chance 0.33)", rep.StationTest.Accuracy)
	}
	if !strings.Contains(log.String(), "station views (") {
		t.Errorf("report does not give the station views' accuracy")
	}
}

// The exported model's per-image predictions match the float head's.
func TestExportMatchesFloatHead(t *testing.T) {
	testenv.Slow(t, "trains and exports")
	base := baseModel(t, ptq)
	data := synthData(t, 12)
	ds, err := Scan(data)
	if err != nil {
		t.Fatal(err)
	}
	ex, err := newExtractor(extractorOptions{Base: base, CacheDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer ex.Close()
	f, _, err := ex.Features(context.Background(), ds.Items, augments[0], nil)
	if err != nil {
		t.Fatal(err)
	}
	var y []int
	for _, it := range ds.Items {
		y = append(y, it.Class)
	}
	h, err := trainHead(f, y, ds.Classes, headOptions{Lambda: 1e-2})
	if err != nil {
		t.Fatal(err)
	}
	lo, hi := logitRange(h, f)
	raw, _ := os.ReadFile(base)
	model, err := exportModel(raw, h, exportOptions{LogitMin: lo, LogitMax: hi})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "m.tflite")
	os.WriteFile(path, model, 0o644)
	c, err := infer.New(infer.Options{Model: path})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	agree := 0
	for i, it := range ds.Items {
		img, _ := infer.ReadImageFile(it.Path, infer.ImageLimits{})
		r, err := c.Classify(context.Background(), img, 3)
		img.Close()
		if err != nil {
			t.Fatal(err)
		}
		fp := h.Probs(f[i])
		if r.Index == argmax(fp) {
			agree++
		}
		if d := r.Score.Score - fp[r.Index]; d > 0.08 || d < -0.08 {
			t.Errorf("%s: exported p=%.3f, float p=%.3f", it.Path, r.Score.Score, fp[r.Index])
		}
	}
	if agree != len(ds.Items) {
		t.Errorf("exported model agrees with the float head on %d of %d images", agree, len(ds.Items))
	}
}

// The cut model's output is the pooled tensor of the full model: compare
// with the full model whose output list is patched to that tensor (TFLite
// keeps graph outputs intact, so it can be read there).
func TestFeatureModelIsPooledTensor(t *testing.T) {
	testenv.Slow(t, "runs the backbone on photos")
	for _, name := range []string{ptq, u8} {
		t.Run(name, func(t *testing.T) {
			raw, err := os.ReadFile(baseModel(t, name))
			if err != nil {
				t.Fatal(err)
			}
			g, err := tfmodel.Parse(raw)
			if err != nil {
				t.Fatal(err)
			}
			if name == u8 {
				// train reads a uint8 base as int8 (baseGraph): the cut
				// model must be the rewritten model's pooled tensor.
				fromU8, _, err := featureModel(raw, 0)
				if err != nil {
					t.Fatal(err)
				}
				if err := g.ToInt8(); err != nil {
					t.Fatal(err)
				}
				raw = mustWrite(t, g)
				again, _, err := featureModel(raw, 0)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(fromU8, again) {
					t.Fatal("the feature model of the uint8 base is not that of its int8 rewrite")
				}
			}
			pooled, _, err := pooledFeature(g)
			if err != nil {
				t.Fatal(err)
			}
			feat, dim, err := featureModel(raw, 0)
			if err != nil {
				t.Fatal(err)
			}
			if typ := g.Tensors[pooled].Type; typ != tfmodel.Int8 {
				t.Errorf("pooled tensor is %v", typ)
			}
			if dim != 1280 {
				t.Errorf("feature width %d", dim)
			}
			patched := patchOutput(t, raw, pooled)
			dir := t.TempDir()
			a, b := filepath.Join(dir, "cut.tflite"), filepath.Join(dir, "patched.tflite")
			os.WriteFile(a, feat, 0o644)
			os.WriteFile(b, patched, 0o644)
			ca, err := infer.New(infer.Options{Model: a, Features: true, Delegate: infer.DelegateCPU})
			if err != nil {
				t.Fatal(err)
			}
			defer ca.Close()
			cb, err := infer.New(infer.Options{Model: b, Features: true, Delegate: infer.DelegateCPU})
			if err != nil {
				t.Fatal(err)
			}
			defer cb.Close()
			img := gocv.NewMatWithSizeFromScalar(gocv.NewScalar(30, 120, 200, 0), 300, 400, gocv.MatTypeCV8UC3)
			defer img.Close()
			fa, err := ca.Embed(context.Background(), img)
			if err != nil {
				t.Fatal(err)
			}
			fb, err := cb.Embed(context.Background(), img)
			if err != nil {
				t.Fatal(err)
			}
			if len(fa) != 1280 || len(fb) != 1280 {
				t.Fatalf("lengths %d %d", len(fa), len(fb))
			}
			nonzero := 0
			for i := range fa {
				if fa[i] != fb[i] {
					t.Fatalf("feature %d: cut %v, full model %v", i, fa[i], fb[i])
				}
				if fa[i] != 0 {
					nonzero++
				}
			}
			if nonzero < 100 {
				t.Errorf("only %d non-zero features", nonzero)
			}
		})
	}
}

// patchOutput rewrites, in place, the one element of subgraph 0's outputs
// vector: the 4-byte edit that lets a test read an intermediate tensor.
func patchOutput(t *testing.T, raw []byte, tensor int32) []byte {
	out := append([]byte(nil), raw...)
	u32 := func(o int) int { return int(binary.LittleEndian.Uint32(out[o:])) }
	u16 := func(o int) int { return int(binary.LittleEndian.Uint16(out[o:])) }
	field := func(table, i int) int {
		vt := table - int(int32(u32(table)))
		if 4+2*i >= u16(vt) || u16(vt+4+2*i) == 0 {
			t.Fatal("field missing")
		}
		return table + u16(vt+4+2*i)
	}
	root := u32(0)
	sgsAt := field(root, 2)
	sgs := sgsAt + u32(sgsAt)
	sg := sgs + 4 + u32(sgs+4)
	outAt := field(sg, 2)
	vec := outAt + u32(outAt)
	if u32(vec) != 1 {
		t.Fatalf("%d outputs", u32(vec))
	}
	binary.LittleEndian.PutUint32(out[vec+4:], uint32(tensor))
	return out
}

func TestBadData(t *testing.T) {
	empty := t.TempDir()
	if _, err := Scan(empty); !errors.Is(err, ErrNoClasses) {
		t.Errorf("empty folder: %v", err)
	}
	one := t.TempDir()
	os.MkdirAll(filepath.Join(one, "glass"), 0o755)
	os.WriteFile(filepath.Join(one, "glass", "a.jpg"), []byte("x"), 0o644)
	// One class can be evaluated on, not trained on.
	if ds, err := Scan(one); err != nil || len(ds.Classes) != 1 {
		t.Errorf("scan one class: %v", err)
	}
	if _, err := Run(context.Background(), Config{Data: []string{one}, Out: filepath.Join(t.TempDir(), "x.tflite"), CacheDir: t.TempDir()}); !errors.Is(err, ErrOneClass) {
		t.Errorf("train on one class: %v", err)
	}
	two := t.TempDir()
	os.MkdirAll(filepath.Join(two, "glass"), 0o755)
	os.MkdirAll(filepath.Join(two, "paper"), 0o755)
	os.WriteFile(filepath.Join(two, "glass", "a.jpg"), []byte("x"), 0o644)
	os.WriteFile(filepath.Join(two, "paper", "notes.txt"), []byte("x"), 0o644)
	if _, err := Scan(two); !errors.Is(err, ErrEmptyClass) || !strings.Contains(err.Error(), "paper") {
		t.Errorf("class without images: %v", err)
	}
	if _, err := Scan(filepath.Join(two, "missing")); err == nil {
		t.Error("missing folder accepted")
	}
}

func TestBaseWithoutPooledTensor(t *testing.T) {
	raw, err := os.ReadFile(baseModel(t, ptq))
	if err != nil {
		t.Fatal(err)
	}
	feat, _, err := featureModel(raw, 0)
	if err != nil {
		t.Fatal(err)
	}
	// A feature extractor ends in MEAN, not a classifier: no pooled tensor.
	if _, _, err := featureModel(feat, 0); !errors.Is(err, ErrNoFeatureTensor) {
		t.Errorf("feature model as base: %v", err)
	}
	if _, _, err := featureModel([]byte("nonsense"), 0); err == nil {
		t.Error("garbage accepted as a base model")
	}
}

func TestSplitIsStratifiedAndSeeded(t *testing.T) {
	ds := &Dataset{Classes: []string{"a", "b"}}
	for i := 0; i < 100; i++ {
		ds.Items = append(ds.Items, Item{Class: i % 2})
	}
	s1, s2 := ds.StratifiedSplit(5, 0.1, 0.2), ds.StratifiedSplit(5, 0.1, 0.2)
	if len(s1.Test) != 20 || len(s1.Val) != 10 || len(s1.Train) != 70 {
		t.Errorf("sizes %d %d %d", len(s1.Train), len(s1.Val), len(s1.Test))
	}
	for i := range s1.Test {
		if s1.Test[i] != s2.Test[i] {
			t.Fatal("same seed, different split")
		}
	}
	perClass := [2]int{}
	for _, i := range s1.Test {
		perClass[ds.Items[i].Class]++
	}
	if perClass[0] != 10 || perClass[1] != 10 {
		t.Errorf("test split per class %v", perClass)
	}
}

// mustWrite writes an edited model.
func mustWrite(t testing.TB, g *tfmodel.Model) []byte {
	t.Helper()
	out, err := g.Write()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// pooledFeature finds the pooled tensor and the pooling by structure, in
// both quantizations of MobileNetV2.
func TestPooledFeatureByStructure(t *testing.T) {
	for _, name := range []string{ptq, u8} {
		raw, err := os.ReadFile(baseModel(t, name))
		if err != nil {
			t.Fatal(err)
		}
		g, err := tfmodel.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		ti, pool, err := pooledFeature(g)
		if err != nil {
			t.Fatal(err)
		}
		shape := g.Tensors[ti].Shape
		if shape[len(shape)-1] != 1280 || pool < 0 {
			t.Errorf("%s: tensor %d %q shape %v, pool op %d", name, ti, g.Tensors[ti].Name, shape, pool)
		}
		if op := g.Builtin(pool); op != tfmodel.OpMean && op != tfmodel.OpAveragePool2D {
			t.Errorf("%s: pooling is %v", name, op)
		}
	}
}
