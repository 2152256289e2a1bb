package pipeline

import (
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
