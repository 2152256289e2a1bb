package infer

import (
	"context"
	"errors"
	"math"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	tflite "github.com/mattn/go-tflite"
	"gocv.io/x/gocv"

	"github.com/sorterd/sorterd/internal/testenv"
	"github.com/sorterd/sorterd/tfmodel"
)

func classifyPath(t testing.TB, c *Classifier, path string) Result {
	t.Helper()
	img, err := ReadImageFile(path, ImageLimits{})
	if err != nil {
		t.Fatal(err)
	}
	defer img.Close()
	r, err := c.Classify(context.Background(), img, 5)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return r
}

func sum(s []float32) float64 {
	var v float64
	for _, x := range s {
		v += float64(x)
	}
	return v
}

// The uint8 (QAT) and int8 (PTQ) MobileNetV2 are different quantizations
// of the same network: on TrashNet photos they should mostly agree.
func TestUint8AndInt8ModelsAgree(t *testing.T) {
	testenv.Slow(t, "runs both models on many photos")
	photos := trashnetPhotos(t, 5)
	u8 := newClassifier(t, Options{Model: modelPath(t, u8Model), Delegate: DelegateCPU})
	i8 := newClassifier(t, Options{Model: modelPath(t, ptqModel)})
	agree := 0
	for _, p := range photos {
		a, b := classifyPath(t, u8, p), classifyPath(t, i8, p)
		for _, r := range []Result{a, b} {
			if s := sum(r.Scores); math.Abs(s-1) > 0.01 {
				t.Errorf("%s: scores sum to %.3f", p, s)
			}
		}
		if a.Index == b.Index {
			agree++
		}
		t.Logf("%-40s uint8 %-28q %.2f  int8 %-28q %.2f", filepath.Base(p), a.Label, a.Score.Score, b.Label, b.Score.Score)
	}
	frac := float64(agree) / float64(len(photos))
	t.Logf("top-1 agreement %d/%d", agree, len(photos))
	if frac < 0.5 {
		t.Errorf("uint8 and int8 models agree on %d of %d photos; want at least half", agree, len(photos))
	}
}

// XNNPACK must compute the network the built-in kernels compute. Their
// int8 requantization rounds differently, and one step of the int8 logits
// moves an ImageNet probability by up to ~0.1, so on photos where the top
// classes are nearly tied (thimble 0.18 / lighter 0.17 / pill bottle 0.16 on
// metal101.jpg) the order can swap: each one's top-1 must be in the other's
// top 5, no score may move by more than 0.15, and at least 80% of top-1
// answers must be identical.
func TestXNNPACKMatchesBuiltinKernels(t *testing.T) {
	testenv.Slow(t, "runs both kernels on photos")
	photos := trashnetPhotos(t, 4)
	cpu := newClassifier(t, Options{Model: modelPath(t, ptqModel), Delegate: DelegateCPU})
	xnn := newClassifier(t, Options{Model: modelPath(t, ptqModel), Delegate: DelegateXNNPACK})
	rep := xnn.Delegate()
	if rep.Active != DelegateXNNPACK || rep.DelegatedNodes == 0 || rep.Kernels == 0 {
		t.Fatalf("XNNPACK did not take the int8 graph: %+v", rep)
	}
	if cpu.Delegate().Coverage != "none" {
		t.Fatalf("cpu classifier reports %+v", cpu.Delegate())
	}
	inTop := func(i int, top []Score) bool {
		for _, s := range top[:5] {
			if s.Index == i {
				return true
			}
		}
		return false
	}
	same := 0
	for _, p := range photos {
		a, b := classifyPath(t, cpu, p), classifyPath(t, xnn, p)
		if a.Index == b.Index {
			same++
		}
		if !inTop(a.Index, b.Top) || !inTop(b.Index, a.Top) {
			t.Errorf("%s: cpu says %q (%.3f), xnnpack %q (%.3f)", p, a.Label, a.Score.Score, b.Label, b.Score.Score)
		}
		var maxDiff float64
		for i := range a.Scores {
			maxDiff = math.Max(maxDiff, math.Abs(float64(a.Scores[i]-b.Scores[i])))
		}
		if maxDiff > 0.15 {
			t.Errorf("%s: scores differ by up to %.3f", p, maxDiff)
		}
	}
	t.Logf("identical top-1 on %d of %d photos", same, len(photos))
	if same*10 < len(photos)*8 {
		t.Errorf("identical top-1 on only %d of %d photos", same, len(photos))
	}
}

// The uint8 model's residual ADDs are refused by XNNPACK in TFLite 2.9;
// the classifier must notice, say so, and still classify.
func TestFailedDelegationIsReported(t *testing.T) {
	c := newClassifier(t, Options{Model: modelPath(t, u8Model), Delegate: DelegateXNNPACK})
	rep := c.Delegate()
	if rep.Coverage != "failed" || rep.Active != DelegateCPU {
		t.Fatalf("want failed delegation running on cpu, got %+v", rep)
	}
	if !strings.Contains(rep.Reason, "ADD") {
		t.Errorf("reason %q does not name the rejected ADD nodes", rep.Reason)
	}
	img := solid(224, 224, 0, 0, 255)
	defer img.Close()
	if _, err := c.Classify(context.Background(), img, 3); err != nil {
		t.Fatal(err)
	}
}

func TestPartialDelegationIsCounted(t *testing.T) {
	c := newClassifier(t, Options{Model: modelPath(t, ptqModel), Delegate: DelegateXNNPACK})
	rep := c.Delegate()
	if rep.Nodes != len(c.Info().Ops) {
		t.Errorf("census saw %d nodes, the model has %d operators", rep.Nodes, len(c.Info().Ops))
	}
	if rep.DelegatedNodes < rep.Nodes/2 || rep.DelegatedNodes > rep.Nodes {
		t.Errorf("delegated %d of %d nodes", rep.DelegatedNodes, rep.Nodes)
	}
	if rep.Coverage == "partial" && !strings.Contains(rep.Reason, "not delegated") {
		t.Errorf("partial coverage without the ops left behind: %q", rep.Reason)
	}
}

func solid(w, h int, b, g, r float64) gocv.Mat {
	return gocv.NewMatWithSizeFromScalar(gocv.NewScalar(b, g, r, 0), h, w, gocv.MatTypeCV8UC3)
}

// inputBytes runs preprocessing on an interpreter and returns a copy of the
// input tensor's raw bytes.
func inputBytes(t *testing.T, c *Classifier, img gocv.Mat) []byte {
	t.Helper()
	p, err := c.acquire(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer func() { c.pool <- p }()
	if err := c.preprocess(p, img); err != nil {
		t.Fatal(err)
	}
	return append([]byte(nil), unsafeBytes(p.in)...)
}

// A pure-red BGR frame must land in the tensor as R=255, G=B=0, each
// quantized with the input tensor's own scale and zero point.
func TestPreprocessRedIsRGBAndQuantizedFromTensorParams(t *testing.T) {
	for _, tc := range []struct {
		model string
		typ   tfmodel.TensorType
	}{{u8Model, tfmodel.UInt8}, {ptqModel, tfmodel.UInt8}} {
		t.Run(tc.model, func(t *testing.T) {
			c := newClassifier(t, Options{Model: modelPath(t, tc.model), Delegate: DelegateCPU})
			in := c.Info().Tensors[c.Info().Inputs[0]]
			if c.inType != tc.typ || len(in.Scale) != 1 {
				t.Fatalf("input is %v with %d scales", c.inType, len(in.Scale))
			}
			scale, zp := float64(in.Scale[0]), float64(in.ZeroPoint[0])
			want := func(px float64) byte {
				real := (px - 127.5) / 127.5
				return byte(math.Max(0, math.Min(255, math.Round(real/scale)+zp)))
			}
			red := solid(300, 200, 0, 0, 255)
			defer red.Close()
			got := inputBytes(t, c, red)
			w, h := c.InputSize()
			if len(got) != w*h*3 {
				t.Fatalf("input has %d bytes, want %d", len(got), w*h*3)
			}
			for i := 0; i < w*h; i += 997 {
				if got[3*i] != want(255) || got[3*i+1] != want(0) || got[3*i+2] != want(0) {
					t.Fatalf("pixel %d = %v, want [%d %d %d]", i, got[3*i:3*i+3], want(255), want(0), want(0))
				}
			}
		})
	}
}

// The LUT quantizes per the tensor's type and parameters, not by habit.
func TestQuantizeFromParams(t *testing.T) {
	cases := []struct {
		name  string
		typ   tfmodel.TensorType
		scale float64
		zp    int
		px    float32
		want  byte
	}{
		{"uint8 QAT 255", tfmodel.UInt8, 0.0078125, 128, 255, 255},
		{"uint8 QAT 0", tfmodel.UInt8, 0.0078125, 128, 0, 0},
		{"uint8 PTQ 128", tfmodel.UInt8, 1 / 127.5, 127, 128, 128},
		{"int8 -1", tfmodel.Int8, 1 / 127.5, -1, 0, 0x80},
		{"int8 +1", tfmodel.Int8, 1 / 127.5, -1, 255, 127},
		{"int8 zero", tfmodel.Int8, 1.0 / 128, 0, 127.5, 0},
		{"clamped", tfmodel.UInt8, 0.001, 0, 255, 255},
	}
	for _, tc := range cases {
		real := (tc.px - 127.5) / 127.5
		got := quantize(real, qp(tc.scale, tc.zp), tc.typ)
		if got != tc.want {
			t.Errorf("%s: quantize(%.3f) = %d, want %d", tc.name, real, got, tc.want)
		}
	}
}

func TestFloatInputLUT(t *testing.T) {
	// A float32 model takes the normalised value itself.
	c := &Classifier{inType: tfmodel.Float32, info: &tfmodel.Model{}, opts: Options{Mean: []float32{0}, Std: []float32{255}}}
	c.all = []*interp{{}}
	c.buildLUTWith(qp(0, 0))
	if c.lut[0][255] != 1 || c.lut[2][0] != 0 || math.Abs(float64(c.lut[1][51])-0.2) > 1e-6 {
		t.Errorf("float LUT: 255→%v 0→%v 51→%v", c.lut[0][255], c.lut[2][0], c.lut[1][51])
	}
}

// N goroutines share one Classifier; each result must equal the serial one.
func TestConcurrentClassifyMatchesSerial(t *testing.T) {
	photos := trashnetPhotos(t, 2)
	c := newClassifier(t, Options{Model: modelPath(t, ptqModel), Interpreters: 3, Threads: 1})
	serial := make([]Result, len(photos))
	for i, p := range photos {
		serial[i] = classifyPath(t, c, p)
	}
	var wg sync.WaitGroup
	errs := make(chan error, len(photos)*4)
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for k := range photos {
				i := (k + g) % len(photos)
				img, err := ReadImageFile(photos[i], ImageLimits{})
				if err != nil {
					errs <- err
					return
				}
				r, err := c.Classify(context.Background(), img, 5)
				img.Close()
				if err != nil {
					errs <- err
					return
				}
				for j := range r.Scores {
					if r.Scores[j] != serial[i].Scores[j] {
						errs <- errors.New(photos[i] + ": concurrent scores differ from serial")
						return
					}
				}
			}
		}(g)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestClassifyAfterCloseAndDoubleClose(t *testing.T) {
	c, err := New(Options{Model: modelPath(t, ptqModel)})
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	c.Close()
	img := solid(10, 10, 1, 2, 3)
	defer img.Close()
	if _, err := c.Classify(context.Background(), img, 1); !errors.Is(err, ErrClosed) {
		t.Fatalf("Classify after Close: %v", err)
	}
}

func TestClassifyHonoursContext(t *testing.T) {
	c := newClassifier(t, Options{Model: modelPath(t, ptqModel)})
	p, _ := c.acquire(context.Background()) // hold the only interpreter
	defer func() { c.pool <- p }()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	img := solid(10, 10, 1, 2, 3)
	defer img.Close()
	if _, err := c.Classify(ctx, img, 1); !errors.Is(err, context.Canceled) {
		t.Fatalf("want context.Canceled, got %v", err)
	}
}

func TestFramesOfOtherTypes(t *testing.T) {
	c := newClassifier(t, Options{Model: modelPath(t, ptqModel)})
	gray := gocv.NewMatWithSize(100, 120, gocv.MatTypeCV8UC1)
	defer gray.Close()
	bgra := gocv.NewMatWithSize(100, 120, gocv.MatTypeCV8UC4)
	defer bgra.Close()
	for _, m := range []gocv.Mat{gray, bgra} {
		if _, err := c.Classify(context.Background(), m, 1); err != nil {
			t.Errorf("type %v: %v", m.Type(), err)
		}
	}
	f := gocv.NewMatWithSize(10, 10, gocv.MatTypeCV32FC3)
	defer f.Close()
	if _, err := c.Classify(context.Background(), f, 1); !errors.Is(err, ErrImageCorrupt) {
		t.Errorf("float frame: %v", err)
	}
	empty := gocv.NewMat()
	defer empty.Close()
	if _, err := c.Classify(context.Background(), empty, 1); !errors.Is(err, ErrImageCorrupt) {
		t.Errorf("empty frame: %v", err)
	}
}

func qp(scale float64, zp int) tflite.QuantizationParams {
	return tflite.QuantizationParams{Scale: scale, ZeroPoint: zp}
}

// TTA averages the probabilities of the image and its views: the same as
// classifying each transformed image alone and averaging by hand.
func TestTTAAveragesViews(t *testing.T) {
	photo := trashnetPhotos(t, 1)[1]
	plain := newClassifier(t, Options{Model: modelPath(t, ptqModel), Delegate: DelegateCPU})
	tta := newClassifier(t, Options{Model: modelPath(t, ptqModel), Delegate: DelegateCPU, TTA: []string{"flip", "rot180"}})
	img, err := ReadImageFile(photo, ImageLimits{})
	if err != nil {
		t.Fatal(err)
	}
	defer img.Close()
	want := make([]float64, len(plain.Labels()))
	views, _ := ViewsByName([]string{"flip", "rot180"})
	mats := []gocv.Mat{img}
	for _, v := range views {
		m := gocv.NewMat()
		defer m.Close()
		v.Apply(img, &m)
		mats = append(mats, m)
	}
	for _, m := range mats {
		r, err := plain.Classify(context.Background(), m, 1)
		if err != nil {
			t.Fatal(err)
		}
		for i, s := range r.Scores {
			want[i] += float64(s) / 3
		}
	}
	got, err := tta.Classify(context.Background(), img, 3)
	if err != nil {
		t.Fatal(err)
	}
	for i := range want {
		if math.Abs(float64(got.Scores[i])-want[i]) > 1e-5 {
			t.Fatalf("class %d: TTA %v, averaged by hand %v", i, got.Scores[i], want[i])
		}
	}
	if s := sum(got.Scores); math.Abs(s-1) > 0.01 {
		t.Errorf("TTA scores sum to %.3f", s)
	}
	if _, err := New(Options{Model: modelPath(t, ptqModel), TTA: []string{"upside-down"}}); err == nil {
		t.Error("unknown view accepted")
	}
}
