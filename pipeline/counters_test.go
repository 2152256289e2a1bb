package pipeline

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// Counters count what they are told and keep their start across the
// stations that share them (a reload).
func TestCounters(t *testing.T) {
	c := NewCounters()
	t0 := time.Now().Add(-10 * time.Second)
	c.start(t0)
	c.start(time.Now()) // the reloaded station: the start stays
	for range 30 {
		c.frame()
	}
	c.drop("paused")
	c.locate("no_item")
	c.inference(20 * time.Millisecond)
	c.inference(40 * time.Millisecond)
	c.fired(Event{Bin: "glass", Action: Sort})
	c.fired(Event{Bin: "rest", Action: Reject})
	c.fired(Event{Bin: "rest", Action: Sort})
	c.corrected("paper")
	var st Stats
	c.fill(&st)
	if st.Frames != 30 || st.Dropped["paused"] != 1 || st.Locate["no_item"] != 1 || st.Corrections["paper"] != 1 {
		t.Errorf("stats %+v", st)
	}
	if st.ItemsPerBin["rest"] != 2 || st.Actions["reject"] != 1 || st.Actions["sort"] != 2 ||
		st.Sorted[BinAction{"rest", Reject}] != 1 || st.Sorted[BinAction{"rest", Sort}] != 1 {
		t.Errorf("items %v %v %v", st.ItemsPerBin, st.Actions, st.Sorted)
	}
	if st.UptimeS < 10 || st.FPS <= 0 || st.FPS > 3 {
		t.Errorf("uptime %.1f s, fps %.2f: the first start should count", st.UptimeS, st.FPS)
	}
	if st.Inference.Count != 2 || st.InferP50MS != 40 || st.InferP99MS != 40 {
		t.Errorf("inference %+v p50 %v p99 %v", st.Inference, st.InferP50MS, st.InferP99MS)
	}
	st.Dropped["paused"] = 99 // a snapshot, not the counters
	var again Stats
	c.fill(&again)
	if again.Dropped["paused"] != 1 {
		t.Error("the snapshot shares the counters' map")
	}
}

// The recent items: a ring, listed once fired and framed, newest first,
// with their images, and corrected into the samples folder.
func TestRecentItems(t *testing.T) {
	l := NewRecentItems(2)
	recs := []*record{{ev: Event{ID: "a"}}, {ev: Event{ID: "b"}}, {ev: Event{ID: "c"}}}
	for _, r := range recs {
		l.add(r)
		l.fired(r, r.ev)
	}
	if got := l.Items(10); len(got) != 0 {
		t.Errorf("listed before their frames: %v", got)
	}
	l.framed(recs[1], []byte("frame-b"), nil, []byte("thumb-b"))
	l.framed(recs[2], []byte("frame-c"), []byte("crop-c"), nil)
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
