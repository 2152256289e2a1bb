package train

import (
	"bytes"
	"strings"
	"testing"
)

// Write prints what the run left out in the order the run met it (the
// scan's skipped files, identical images across classes, photos that
// failed to decode), then the split, every λ tried and the test figures.
func TestReportWriteOrder(t *testing.T) {
	rep := &Report{
		Classes: []string{"a", "b"}, Seed: 7, Train: 10, Val: 2, Test: 3,
		Skipped:   []string{"a/notes.txt", "b/broken.jpg: not a JPEG or PNG image"},
		Conflicts: [][]string{{"a/x.jpg", "b/x.jpg"}},
		Lambda:    0.01, ValAccuracy: 1, Threshold: 0.5, HeadFile: "m.head.json",
		scanSkipped: 1, views: 3, targetAcc: 0.95, out: "m.tflite",
		lambdas: []lambdaScore{{0.001, 0.5}, {0.01, 1}},
	}
	var b bytes.Buffer
	rep.Write(&b)
	got := b.String()
	order := []string{
		"skipped a/notes.txt\n",
		"identical image in two classes, left out: [a/x.jpg b/x.jpg]\n",
		"skipped b/broken.jpg: not a JPEG or PNG image\n",
		"classes [a b]\nsplit (seed 7): train 10, validation 2, test 3; 2 augmented view(s) per training image\n",
		"lambda 0.001    validation accuracy 50.00%\n",
		"lambda 0.01     validation accuracy 100.00%\n",
		"chosen lambda 0.01 (validation 100.00%); suggested reject threshold 0.50 (validation accuracy of accepted >= 95%)\n",
		"test accuracy: float head 0.00%, exported model 0.00%",
		"\nwrote m.tflite and m.head.json;",
	}
	at := 0
	for _, want := range order {
		i := strings.Index(got[at:], want)
		if i < 0 {
			t.Fatalf("report lacks %q after byte %d:\n%s", want, at, got)
		}
		at += i + len(want)
	}
	// Without decode failures the conflicts still follow the scan's skips.
	rep.Skipped = rep.Skipped[:1]
	b.Reset()
	rep.Write(&b)
	if !strings.HasPrefix(b.String(), "skipped a/notes.txt\nidentical image in two classes") {
		t.Errorf("report starts:\n%s", b.String())
	}
}

// The fine-tuning section names the layers tuned and, for two, the
// projection's step size.
func TestFineTuneReportWrite(t *testing.T) {
	for _, tc := range []struct {
		f    FineTuneReport
		want string
	}{
		{FineTuneReport{Layers: 1, LR: 0.01, HeadLR: 0.001, ConvL2: 0.03, Smooth: 0.1},
			"fine-tuning the last convolution with the head (Adam, lr 0.01, head lr 0.001, conv L2 0.03, label smoothing 0.1):\n"},
		{FineTuneReport{Layers: 2, LR: 0.01, ProjLR: 0.005, HeadLR: 0.001, ConvL2: 0.03},
			"fine-tuning the last two convolutions with the head (Adam, lr 0.01, projection lr 0.005, head lr 0.001, conv L2 0.03, label smoothing 0):\n"},
	} {
		var b bytes.Buffer
		tc.f.write(&b)
		if !strings.HasPrefix(b.String(), tc.want) {
			t.Errorf("got %q, want it to start %q", b.String(), tc.want)
		}
	}
}
