package recording

import (
	"image"
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
