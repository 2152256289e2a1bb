package review

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/sorterd/sorterd/pipeline"
)

// The recent items: a ring, listed once fired and framed, newest first,
// with their images, and corrected into the samples folder.
func TestRecentItems(t *testing.T) {
	l := NewRecent(2)
	for _, id := range []string{"a", "b", "c"} {
		l.fire(pipeline.Event{ID: id})
	}
	if got := l.Items(10); len(got) != 0 {
		t.Errorf("listed before their frames: %v", got)
	}
	l.frame(pipeline.Event{ID: "b"}, []byte("frame-b"), nil, []byte("thumb-b"))
	l.frame(pipeline.Event{ID: "c"}, []byte("frame-c"), []byte("crop-c"), nil)
	got := l.Items(10)
	if len(got) != 2 || got[0].ID != "c" || got[1].ID != "b" {
		t.Fatalf("items %+v, want c then b (a pushed out)", got)
	}
	if _, err := l.Image("a", ImageFrame); !errors.Is(err, ErrNoItem) {
		t.Errorf("pushed-out item: %v", err)
	}
	for _, tc := range []struct{ id, kind, want string }{
		{"b", ImageCrop, "frame-b"}, // not cropped: the frame
		{"b", ImageThumb, "thumb-b"},
		{"c", ImageCrop, "crop-c"},
		{"c", ImageFrame, "frame-c"},
	} {
		if b, err := l.Image(tc.id, tc.kind); err != nil || string(b) != tc.want {
			t.Errorf("%s %s: %q %v", tc.id, tc.kind, b, err)
		}
	}
	if last := l.last(); last == nil || last.ID != "c" {
		t.Errorf("last %v", last)
	}
	dir := t.TempDir()
	if _, path, err := l.Correct(dir, "c", "paper"); err != nil || path != filepath.Join(dir, "paper", "c.jpg") {
		t.Fatalf("correct: %s %v", path, err)
	}
	if _, _, err := l.Correct(dir, "c", "glass"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "paper", "c.jpg")); !os.IsNotExist(err) {
		t.Error("a second correction left the first class's sample")
	}
	if b, err := os.ReadFile(filepath.Join(dir, "glass", "c.jpg")); err != nil || string(b) != "crop-c" {
		t.Errorf("sample %q %v", b, err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, FramesDir, "c.jpg")); err != nil || string(b) != "frame-c" {
		t.Errorf("sample's frame %q %v", b, err)
	}
	if got := l.Items(1); got[0].Corrected != "glass" {
		t.Errorf("corrected %q", got[0].Corrected)
	}
}

// An item the station decided before its flap fired (a conveyor's) is
// listed in the order it was decided, with its fired event; one fired
// without a frame (a sensor's item the camera could not find) is never
// listed but is the last decision.
func TestRecentOrderAndUnframed(t *testing.T) {
	l := NewRecent(0)
	l.frame(pipeline.Event{ID: "belt", Label: "glass"}, []byte("f"), nil, []byte("t"))
	l.fire(pipeline.Event{ID: "chute", Label: "metal", TS: "2"})
	l.frame(pipeline.Event{ID: "chute"}, []byte("f"), nil, []byte("t"))
	l.fire(pipeline.Event{ID: "belt", Label: "glass", TS: "3"})
	got := l.Items(10)
	if len(got) != 2 || got[0].ID != "chute" || got[1].ID != "belt" || got[1].TS != "3" || got[0].Label != "metal" {
		t.Fatalf("items %+v, want chute (decided second) then belt, with their fired events", got)
	}
	l.fire(pipeline.Event{ID: "sensor", Action: pipeline.Reject, Reason: "no_item"})
	if len(l.Items(10)) != 2 {
		t.Error("an item without a frame was listed")
	}
	if last := l.last(); last == nil || last.ID != "sensor" {
		t.Errorf("last %v, want the sensor's reject", last)
	}
	if found, framed := l.state("sensor"); !found || framed {
		t.Errorf("sensor's item: found %v, framed %v", found, framed)
	}
}

// The live frame's caption names the last decision as the item on the
// tray only when no other item is being classified: while one is, the
// frame shows that one, and the last decision is the previous item's.
func TestCaption(t *testing.T) {
	metal := &pipeline.Event{Label: "metal", Score: 0.97, Bin: "metal", Action: pipeline.Sort}
	unsure := &pipeline.Event{Label: "glass", Score: 0.41, Bin: "reject", Action: pipeline.Reject}
	cases := []struct {
		last         *pipeline.Event
		busy, paused bool
		want         string
	}{
		{nil, false, false, "waiting for an item"},
		{nil, true, false, "classifying...  waiting for an item"},
		{metal, false, false, "last item: metal 0.97 -> metal"},
		{metal, true, false, "classifying...  previous: metal 0.97 -> metal"},
		{unsure, false, false, "last item: glass 0.41 -> reject (reject)"},
		{metal, false, true, "PAUSED  last item: metal 0.97 -> metal"},
	}
	for _, c := range cases {
		if got := caption(c.last, c.busy, c.paused); got != c.want {
			t.Errorf("caption(%v, busy %v, paused %v) = %q, want %q", c.last, c.busy, c.paused, got, c.want)
		}
	}
}
