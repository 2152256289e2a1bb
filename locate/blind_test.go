package locate

import (
	"image"
	"image/color"
	"testing"
)

// A large item (a flattened box, the frame's full height and half its
// width) lying still for long is an item, not a new tray: when it is
// taken away the tray is empty again, and a later item is found.
func TestLargeItemNeverBlinds(t *testing.T) {
	for _, tc := range []struct {
		name string
		tray [3]float64
		item color.RGBA
	}{
		{"cardboard on light tray", [3]float64{200, 206, 210}, color.RGBA{R: 175, G: 140, B: 95}},
		{"dark box on dark tray", [3]float64{52, 56, 60}, color.RGBA{R: 20, G: 22, B: 25}},
		{"white board on light tray", [3]float64{200, 206, 210}, color.RGBA{R: 245, G: 245, B: 245}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			empty := tray(t, tc.tray)
			tr := learned(t, Options{}, empty)
			// Its shadow falls beside it: item and shadow cover more
			// than half the tray.
			shade := lit(t, empty, [3]float64{0.75, 0.75, 0.75})
			shaded := empty.Clone()
			t.Cleanup(func() { shaded.Close() })
			r := shade.Region(image.Rect(470, 0, 590, 480))
			dst := shaded.Region(image.Rect(470, 0, 590, 480))
			r.CopyTo(&dst)
			r.Close()
			dst.Close()
			big := with(t, shaded, image.Rect(150, 0, 470, 480), tc.item)
			for i := range 60 {
				if ob := tr.Observe(big); ob.Relearned || !ob.Present {
					t.Fatalf("frame %d with the large item: %+v", i, ob)
				}
			}
			for i := range 5 {
				tr.Observe(empty)
				_ = i
			}
			if ob := tr.Observe(empty); ob.Present {
				t.Fatalf("taken away: still present %+v", ob)
			}
			small := with(t, empty, image.Rect(300, 200, 400, 300), color.RGBA{R: 30, G: 90, B: 160})
			if ob := tr.Observe(small); ob.Outcome != Found || !near(ob.Blob, image.Rect(300, 200, 400, 300), 12) {
				t.Errorf("next item: %v %v", ob.Outcome, ob.Blob)
			}
		})
	}
}

// A tray learned with an item on it (the daemon started on an occupied
// tray, or a relearn took an item in) shows that item's place as
// occupied once it is gone; after StuckFrames the tray is learned anew,
// said, and the next item is found.
func TestStuckTrayRecovers(t *testing.T) {
	empty := tray(t, [3]float64{200, 206, 210})
	left := with(t, empty, image.Rect(150, 100, 350, 300), color.RGBA{R: 175, G: 140, B: 95})
	tr := learned(t, Options{StuckFrames: 40}, left)
	occupied, stuck := false, 0
	for i := range 45 {
		ob := tr.Observe(empty)
		occupied = occupied || ob.Occupied
		if ob.Stuck {
			if !ob.Relearned {
				t.Error("stuck without relearning")
			}
			stuck = i + 1
			break
		}
	}
	if stuck != 40 || !occupied {
		t.Fatalf("stuck at frame %d (occupied said: %v), want at 40", stuck, occupied)
	}
	if ob := tr.Observe(empty); ob.Present {
		t.Fatalf("after the relearn: present %+v", ob)
	}
	item := with(t, empty, image.Rect(300, 200, 400, 300), color.RGBA{R: 30, G: 90, B: 160})
	if ob := tr.Observe(item); ob.Outcome != Found {
		t.Errorf("next item: %v", ob.Outcome)
	}
}
