package recording

import (
	"image"
	"math"
	"testing"
)

func TestScore(t *testing.T) {
	items := []Item{
		{Photo: Photo{Class: "glass"}, First: 8, Last: 20},
		{Photo: Photo{Class: "cardboard"}, First: 30, Last: 42},
		{Photo: Photo{Class: "metal"}, First: 52, Last: 64},
		{Photo: Photo{Class: "trash"}, First: 74, Last: 86, Box: image.Rect(0, 0, 1, 1)},
	}
	binOf := func(c string) string {
		switch c {
		case "cardboard", "paper":
			return "paper"
		case "trash":
			return "reject"
		}
		return c
	}
	ds := []Decision{
		{Frame: 11, Label: "glass", Bin: "glass", Action: "sort"},
		{Frame: 15, Label: "glass", Bin: "glass", Action: "sort"},    // a second decision: extra
		{Frame: 33, Label: "paper", Bin: "paper", Action: "sort"},    // wrong label, right bin
		{Frame: 66, Label: "metal", Bin: "reject", Action: "reject"}, // just after it was taken: counts, rejected
		{Frame: 95, Label: "paper", Bin: "paper", Action: "sort"},    // nothing on the tray: extra
	}
	r := Score("t", items, ds, 3, binOf)
	if r.Items != 4 || r.Decided != 3 || r.Missed != 1 || r.Extra != 2 {
		t.Fatalf("counts %+v", r)
	}
	if r.Accuracy != 0.5 || r.Sorted != 0.5 || r.SortedRight != 1 {
		t.Errorf("accuracy %.2f sorted %.2f right bin %.2f, want 0.5 0.5 1", r.Accuracy, r.Sorted, r.SortedRight)
	}
	if r.Confusion["cardboard"]["paper"] != 1 || r.Confusion["trash"][""] != 1 || r.Recall["glass"] != 1 || r.Recall["cardboard"] != 0 {
		t.Errorf("confusion %v recall %v", r.Confusion, r.Recall)
	}
}

// The threshold curve: a higher threshold sorts fewer items, and the
// right-bin share is of those it sorts. As the station routes, trash over
// the threshold is sorted into the reject bin (its right bin), and a label
// no bin collects is never sorted.
func TestScoreCurve(t *testing.T) {
	items := []Item{
		{Photo: Photo{Class: "glass"}, First: 0, Last: 9},
		{Photo: Photo{Class: "cardboard"}, First: 10, Last: 19},
		{Photo: Photo{Class: "metal"}, First: 20, Last: 29},
		{Photo: Photo{Class: "plastic"}, First: 30, Last: 39},
		{Photo: Photo{Class: "trash"}, First: 40, Last: 49},
		{Photo: Photo{Class: "plastic"}, First: 50, Last: 59},
	}
	binOf := func(c string) string {
		switch c {
		case "cardboard", "paper":
			return "paper"
		case "glass", "metal", "plastic":
			return c
		}
		return "reject"
	}
	ds := []Decision{
		{Frame: 2, Label: "glass", Score: 0.9, Binned: true},
		{Frame: 12, Label: "paper", Score: 0.6, Binned: true}, // right bin
		{Frame: 22, Label: "metal", Score: 0.95, Binned: true},
		{Frame: 32, Label: "glass", Score: 0.7, Binned: true}, // wrong bin
		{Frame: 42, Label: "trash", Score: 0.8, Binned: true}, // the reject bin: right
		{Frame: 52, Label: "foam", Score: 0.99},               // no bin: rejected at any threshold
	}
	r := Score("t", items, ds, 3, binOf)
	at := map[float64]Point{}
	for _, p := range r.Curve {
		at[p.Threshold] = p
	}
	for _, want := range []Point{{0.5, 5.0 / 6, 0.8}, {0.65, 4.0 / 6, 0.75}, {0.75, 0.5, 1}, {0.95, 1.0 / 6, 1}} {
		got := at[want.Threshold]
		if math.Abs(got.Sorted-want.Sorted) > 1e-9 || math.Abs(got.SortedRight-want.SortedRight) > 1e-9 {
			t.Errorf("threshold %.2f: sorted %.2f right %.2f, want %.2f %.2f", want.Threshold, got.Sorted, got.SortedRight, want.Sorted, want.SortedRight)
		}
	}
}

// BinThresholds gives each bin the lowest threshold at which what it
// would collect is right often enough.
func TestBinThresholds(t *testing.T) {
	var ss []Scored
	add := func(n int, label, class string, score float64) {
		for range n {
			ss = append(ss, Scored{LabelBin: label, ClassBin: class, Binned: true, Score: score})
		}
	}
	add(90, "glass", "glass", 0.9)
	add(5, "glass", "paper", 0.6) // wrong, unsure
	add(2, "glass", "paper", 0.95)
	add(50, "paper", "paper", 0.8)
	add(10, "metal", "glass", 0.97)                                             // never right
	ss = append(ss, Scored{LabelBin: "reject", ClassBin: "paper", Score: 0.99}) // no bin collects it
	got := BinThresholds([]Report{{Scored: ss}}, 0.97)
	want := map[string]float64{"glass": 0.61, "paper": 0.5, "metal": 0.99}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for b, w := range want {
		if d := got[b] - w; d > 1e-9 || d < -1e-9 {
			t.Errorf("%s: %v, want %v", b, got[b], w)
		}
	}
}
