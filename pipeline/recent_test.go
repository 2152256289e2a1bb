package pipeline

import "testing"

// The live frame's caption names the last decision as the item on the
// tray only when no other item is being classified: while one is, the
// frame shows that one, and the last decision is the previous item's.
func TestCaption(t *testing.T) {
	metal := &Event{Label: "metal", Score: 0.97, Bin: "metal", Action: Sort}
	unsure := &Event{Label: "glass", Score: 0.41, Bin: "reject", Action: Reject}
	cases := []struct {
		last         *Event
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
