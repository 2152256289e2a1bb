package locate

import (
	"image"
	"image/color"
	"testing"

	"github.com/sorterd/sorterd/settings"
	"gocv.io/x/gocv"
)

// tray is a plain 640×480 tray with mild noise.
func tray(t testing.TB, bgr [3]float64) gocv.Mat {
	m := gocv.NewMatWithSizeFromScalar(gocv.NewScalar(bgr[0], bgr[1], bgr[2], 0), 480, 640, gocv.MatTypeCV8UC3)
	noise := gocv.NewMatWithSize(480, 640, gocv.MatTypeCV8UC3)
	defer noise.Close()
	gocv.RandN(&noise, gocv.NewScalar(0, 0, 0, 0), gocv.NewScalar(3, 3, 3, 0))
	gocv.Add(m, noise, &m)
	t.Cleanup(func() { m.Close() })
	return m
}

func with(t testing.TB, base gocv.Mat, r image.Rectangle, c color.RGBA) gocv.Mat {
	m := base.Clone()
	gocv.Rectangle(&m, r, c, -1)
	t.Cleanup(func() { m.Close() })
	return m
}

func learned(t testing.TB, o Options, empty gocv.Mat) *Tray {
	tr := New(o)
	t.Cleanup(tr.Close)
	for range 3 {
		if ob := tr.Observe(empty); ob.Present {
			t.Fatalf("empty tray seen as an item: %+v", ob)
		}
	}
	return tr
}

func near(a, b image.Rectangle, tol int) bool {
	d := func(x, y int) bool { return x-y <= tol && y-x <= tol }
	return d(a.Min.X, b.Min.X) && d(a.Min.Y, b.Min.Y) && d(a.Max.X, b.Max.X) && d(a.Max.Y, b.Max.Y)
}

func TestFindsItemBox(t *testing.T) {
	for _, tc := range []struct {
		name string
		tray [3]float64
		item color.RGBA
	}{
		{"dark item on light tray", [3]float64{200, 205, 210}, color.RGBA{40, 60, 90, 0}},
		{"light item on dark tray", [3]float64{50, 55, 60}, color.RGBA{230, 220, 210, 0}},
		// A colour of the tray's brightness: grey difference alone
		// would miss it.
		{"same brightness, other colour", [3]float64{120, 120, 120}, color.RGBA{170, 120, 80, 0}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			empty := tray(t, tc.tray)
			tr := learned(t, Options{Margin: 0.1}, empty)
			item := image.Rect(100, 120, 260, 400)
			ob := tr.Observe(with(t, empty, item, tc.item))
			if ob.Outcome != Found || !ob.Present {
				t.Fatalf("outcome %v (changed %.3f), want found", ob.Outcome, ob.Changed)
			}
			if !near(ob.Blob, item, 8) {
				t.Errorf("blob %v, item at %v", ob.Blob, item)
			}
			if !item.In(ob.Box) || ob.Box.Dx() != ob.Box.Dy() {
				t.Errorf("box %v: want a square around %v", ob.Box, item)
			}
			// 10% margin of the longer side (280) on each side.
			if side := ob.Box.Dx(); side < 330 || side > 350 {
				t.Errorf("box side %d, want about 336", side)
			}
		})
	}
}

func TestLightChangeIsNoItem(t *testing.T) {
	empty := tray(t, [3]float64{180, 185, 190})
	tr := learned(t, Options{}, empty)
	dim := gocv.NewMat()
	defer dim.Close()
	empty.ConvertToWithParams(&dim, gocv.MatTypeCV8UC3, 0.85, 0)
	if ob := tr.Observe(dim); ob.Present {
		t.Fatalf("a dimmer light seen as an item (changed %.3f, gain %.3f)", ob.Changed, ob.Gain)
	}
	// An item under the dimmer light is still found.
	item := image.Rect(300, 200, 420, 330)
	if ob := tr.Observe(with(t, dim, item, color.RGBA{30, 90, 40, 0})); ob.Outcome != Found || !near(ob.Blob, item, 8) {
		t.Fatalf("item under a dimmer light: %v blob %v", ob.Outcome, ob.Blob)
	}
}

func TestShadowIsNoItem(t *testing.T) {
	empty := tray(t, [3]float64{180, 185, 190})
	tr := learned(t, Options{}, empty)
	shadow := empty.Clone()
	defer shadow.Close()
	r := shadow.Region(image.Rect(200, 150, 400, 350))
	r.ConvertToWithParams(&r, gocv.MatTypeCV8UC3, 0.75, 0)
	r.Close()
	if ob := tr.Observe(shadow); ob.Outcome == Found {
		t.Fatalf("a shadow located as an item at %v", ob.Blob)
	}
}

func TestROI(t *testing.T) {
	empty := tray(t, [3]float64{200, 200, 200})
	roi := image.Rect(160, 80, 560, 460)
	tr := learned(t, Options{ROI: roi, Margin: 0.3}, empty)
	// Something beside the tray: not an item.
	if ob := tr.Observe(with(t, empty, image.Rect(0, 0, 140, 200), color.RGBA{20, 20, 20, 0})); ob.Present {
		t.Fatalf("outside the ROI seen as an item: %+v", ob)
	}
	// An item at the tray's edge: the crop stays on the tray.
	item := image.Rect(170, 300, 300, 450)
	ob := tr.Observe(with(t, empty, item, color.RGBA{20, 20, 200, 0}))
	if ob.Outcome != Found || !ob.Box.In(roi) {
		t.Fatalf("outcome %v box %v, want found inside %v", ob.Outcome, ob.Box, roi)
	}
}

func TestSmallIsNoItem(t *testing.T) {
	empty := tray(t, [3]float64{200, 200, 200})
	tr := learned(t, Options{Area: 0.0005}, empty)
	ob := tr.Observe(with(t, empty, image.Rect(300, 200, 320, 225), color.RGBA{0, 0, 0, 0}))
	if ob.Outcome != Small {
		t.Fatalf("a 20×25 speck: %v, want too_small", ob.Outcome)
	}
}

// A thin item that covers too little to be present is not learned into
// the tray while it lies there.
func TestThinItemNotLearned(t *testing.T) {
	empty := tray(t, [3]float64{200, 200, 200})
	tr := learned(t, Options{Area: 0.05}, empty)
	pen := with(t, empty, image.Rect(100, 200, 500, 215), color.RGBA{20, 20, 120, 0})
	for range 60 {
		tr.Observe(pen)
	}
	tr.o.Area = 0.005
	if ob := tr.Observe(pen); ob.Outcome != Found {
		t.Fatalf("after 60 frames the pen is %v (changed %.4f): learned into the tray", ob.Outcome, ob.Changed)
	}
}

// The whole tray changed for long (a camera knocked): learned anew.
func TestRelearn(t *testing.T) {
	tr := learned(t, Options{}, tray(t, [3]float64{200, 200, 200}))
	other := tray(t, [3]float64{30, 140, 60})
	relearned := false
	for range relearnFrames + 1 {
		relearned = relearned || tr.Observe(other).Relearned
	}
	if !relearned {
		t.Fatal("not relearned")
	}
	if ob := tr.Observe(other); ob.Present {
		t.Fatalf("after relearning: %+v", ob)
	}
}

func TestSquare(t *testing.T) {
	within := image.Rect(0, 0, 640, 480)
	for _, tc := range []struct {
		box    image.Rectangle
		margin float64
		want   image.Rectangle
	}{
		{image.Rect(200, 100, 300, 300), 0, image.Rect(150, 100, 350, 300)},
		{image.Rect(200, 100, 300, 300), 0.1, image.Rect(130, 80, 370, 320)},
		{image.Rect(0, 0, 100, 50), 0, image.Rect(0, 0, 100, 100)}, // moved inside
		{image.Rect(100, 0, 300, 480), 0.1, image.Rectangle{}},     // too tall: 576×480, clipped to the frame
	} {
		got := Square(tc.box, tc.margin, within)
		if tc.box.Dy() == 480 {
			if got.Dy() != 480 || got.Dx() != 576 || !tc.box.In(got) {
				t.Errorf("Square(%v, %v) = %v, want 576×480 around it", tc.box, tc.margin, got)
			}
			continue
		}
		if got != tc.want {
			t.Errorf("Square(%v, %v) = %v, want %v", tc.box, tc.margin, got, tc.want)
		}
	}
}

// Locating on a 640×480 frame (the budget: ≤ 1 ms; figures in
// the README).
func BenchmarkObserve(b *testing.B) {
	empty := tray(b, [3]float64{200, 205, 210})
	item := with(b, empty, image.Rect(200, 120, 460, 400), color.RGBA{40, 60, 90, 0})
	tr := New(Options{})
	defer tr.Close()
	tr.Observe(empty)
	b.ResetTimer()
	for range b.N {
		tr.Observe(item)
	}
}

// Locating and cropping as the station does by default: Observe, then the
// balanced crop (a copy through a lookup table; on the dark tray also the
// smoothing).
func BenchmarkObserveCrop(b *testing.B) {
	for _, bc := range []struct {
		name string
		tray [3]float64
	}{{"light", [3]float64{200, 205, 210}}, {"dark", [3]float64{52, 56, 60}}} {
		b.Run(bc.name, func(b *testing.B) {
			empty := tray(b, bc.tray)
			item := with(b, empty, image.Rect(200, 120, 460, 400), color.RGBA{40, 60, 90, 0})
			tr := New(Options{Margin: settings.DefaultMargin, Balance: settings.BalanceReference})
			defer tr.Close()
			crop := gocv.NewMat()
			defer crop.Close()
			tr.Observe(empty)
			b.ResetTimer()
			for range b.N {
				ob := tr.Observe(item)
				tr.Crop(item, ob, &crop)
			}
		})
	}
}

// The light drifts while a thin item (too small to count as present)
// lies there, then it is taken away: no ghost of it is left, because
// the tray is learned in the light it was first seen in.
func TestNoGhostAfterLightDrift(t *testing.T) {
	empty := tray(t, [3]float64{170, 175, 180})
	tr := learned(t, Options{Area: 0.05}, empty)
	pen := with(t, empty, image.Rect(100, 200, 500, 215), color.RGBA{20, 20, 120, 0})
	lit := gocv.NewMat()
	defer lit.Close()
	for i := range 60 {
		pen.ConvertToWithParams(&lit, gocv.MatTypeCV8UC3, 1+0.2*float32(i)/60, 0)
		tr.Observe(lit)
	}
	empty.ConvertToWithParams(&lit, gocv.MatTypeCV8UC3, 1.2, 0)
	tr.o.Area = 0.002
	if ob := tr.Observe(lit); ob.Outcome == Found || ob.Present {
		t.Fatalf("the pen's ghost: %v, changed %.4f, blob %v", ob.Outcome, ob.Changed, ob.Blob)
	}
}

// An item's shadow is not the tray: learned while the item lay there (too
// faint to count as present), it stayed behind as a bright ghost that
// kept the tray "occupied" for good and hid the items after it.
func TestNoGhostAfterShadow(t *testing.T) {
	empty := tray(t, [3]float64{170, 175, 180})
	tr := learned(t, Options{}, empty)
	shadow := with(t, empty, image.Rect(200, 300, 500, 360), color.RGBA{126, 122, 119, 0}) // ×0.7 in every channel
	for range 30 {
		if ob := tr.Observe(shadow); ob.Present {
			t.Fatalf("a shadow alone seen as an item: %v, changed %.4f", ob.Outcome, ob.Changed)
		}
	}
	for i := range 5 {
		if ob := tr.Observe(empty); ob.Present || ob.Outcome != Empty {
			t.Fatalf("frame %d after the shadow left: %v, changed %.4f, blob %v (the shadow's ghost)", i, ob.Outcome, ob.Changed, ob.Blob)
		}
	}
}

// White paper on a light tray differs by less than Delta almost
// everywhere: its reach (half of Delta) and a few strong pixels (print)
// make it present, and its box is the paper's, not the print's.
func TestFaintItemFound(t *testing.T) {
	empty := tray(t, [3]float64{200, 200, 200})
	tr := learned(t, Options{}, empty)
	paper := image.Rect(240, 120, 440, 360)
	item := with(t, empty, paper, color.RGBA{220, 220, 218, 0})
	gocv.Rectangle(&item, image.Rect(300, 200, 324, 224), color.RGBA{40, 40, 60, 0}, -1)
	ob := tr.Observe(item)
	if !ob.Present || ob.Outcome != Found {
		t.Fatalf("white paper on a light tray: %v, present %v, changed %.4f, reach %.4f", ob.Outcome, ob.Present, ob.Changed, ob.Reach)
	}
	if !near(ob.Blob, paper, 12) {
		t.Fatalf("blob %v, want the paper %v", ob.Blob, paper)
	}
	// The print alone is too little: no item.
	tr2 := learned(t, Options{}, empty)
	print := with(t, empty, image.Rect(300, 200, 324, 224), color.RGBA{40, 40, 60, 0})
	if ob := tr2.Observe(print); ob.Present {
		t.Fatalf("a speck seen as an item: changed %.4f, reach %.4f", ob.Changed, ob.Reach)
	}
}

// A pale item (glass or white paper whitened to the tray's light) differs
// by less than Delta everywhere, with no print to give strong pixels: it
// is present when its weak patch covers paleReach × Area, and found. A
// smaller pale patch (a stain, a damp spot) is not an item.
func TestPaleItemFound(t *testing.T) {
	empty := tray(t, [3]float64{200, 200, 200})
	tr := learned(t, Options{}, empty)
	pale := image.Rect(230, 170, 410, 310) // 8% of the frame, +17 grey levels
	ob := tr.Observe(with(t, empty, pale, color.RGBA{217, 217, 217, 0}))
	if !ob.Present || ob.Outcome != Found || !near(ob.Blob, pale, 12) {
		t.Fatalf("pale item: %v, present %v, changed %.4f, reach %.4f, blob %v", ob.Outcome, ob.Present, ob.Changed, ob.Reach, ob.Blob)
	}
	if ob.Changed >= faintStrong*settings.DefaultArea {
		t.Fatalf("the pale item has strong pixels (changed %.4f): the test no longer tests the pale rule", ob.Changed)
	}
	tr2 := learned(t, Options{}, empty)
	stain := image.Rect(300, 200, 380, 260) // 1.6% of the frame
	if ob := tr2.Observe(with(t, empty, stain, color.RGBA{217, 217, 217, 0})); ob.Present {
		t.Fatalf("a small pale stain seen as an item: changed %.4f, reach %.4f", ob.Changed, ob.Reach)
	}
}

// An item casts a shadow and a stain does not: the pale patch that alone
// is too small for an item (the stain above) is one when a shadow lies
// beside it, and its box is the patch, not the shadow. On a dark tray
// too, where such items were missed (paper whitened to the tray's colour).
func TestPaleItemBesideShadowFound(t *testing.T) {
	for _, tc := range []struct {
		name        string
		tray, patch [3]float64
	}{
		{"light tray", [3]float64{200, 200, 200}, [3]float64{217, 217, 217}},
		{"dark tray", [3]float64{52, 56, 60}, [3]float64{60, 64, 68}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			empty := tray(t, tc.tray)
			patch := image.Rect(300, 200, 380, 260) // 1.6% of the frame
			shadow := patch.Add(image.Pt(40, 30))
			// BGR, as the tray's colour, to with's RGBA.
			rgba := func(v [3]float64) color.RGBA { return color.RGBA{uint8(v[2]), uint8(v[1]), uint8(v[0]), 0} }
			stain := with(t, empty, patch, rgba(tc.patch))
			tr := learned(t, Options{}, empty)
			if ob := tr.Observe(stain); ob.Present {
				t.Fatalf("a pale stain seen as an item: changed %.4f, reach %.4f, shadow %.4f", ob.Changed, ob.Reach, ob.Shadow)
			}
			dim := [3]float64{0.8 * tc.tray[0], 0.8 * tc.tray[1], 0.8 * tc.tray[2]}
			item := with(t, with(t, empty, shadow, rgba(dim)), patch, rgba(tc.patch))
			tr2 := learned(t, Options{}, empty)
			ob := tr2.Observe(item)
			if !ob.Present || ob.Outcome != Found || !near(ob.Blob, patch, 12) {
				t.Fatalf("pale item beside its shadow: %v, present %v, reach %.4f, shadow %.4f, blob %v (patch %v)",
					ob.Outcome, ob.Present, ob.Reach, ob.Shadow, ob.Blob, patch)
			}
			if ob.Reach >= paleReach*settings.DefaultArea || ob.Changed >= faintStrong*settings.DefaultArea || ob.Shadow < shadowArea*settings.DefaultArea {
				t.Fatalf("changed %.4f, reach %.4f, shadow %.4f: the test no longer tests the shadow rule", ob.Changed, ob.Reach, ob.Shadow)
			}
		})
	}
}

// On a dark tray an item differs by fewer grey levels (reflectance is a
// factor): a light card dimmed to 15 levels above a dark tray is found,
// and the dark tray's noise is still no item.
func TestDarkTrayItemFound(t *testing.T) {
	empty := tray(t, [3]float64{45, 45, 50})
	tr := learned(t, Options{}, empty)
	card := image.Rect(200, 120, 400, 360)
	item := with(t, empty, card, color.RGBA{66, 62, 60, 0}) // +15..16 in every channel
	ob := tr.Observe(item)
	if !ob.Present || ob.Outcome != Found || !near(ob.Blob, card, 12) {
		t.Fatalf("card on a dark tray: %v, present %v, changed %.4f, blob %v", ob.Outcome, ob.Present, ob.Changed, ob.Blob)
	}
	for range 10 {
		if ob := tr.Observe(empty); ob.Present {
			t.Fatalf("dark tray's noise seen as an item: changed %.4f, reach %.4f", ob.Changed, ob.Reach)
		}
	}
}

// Settled: the blob is where it was a frame before. The frame an item
// arrives in is not settled, the next one at the same place is; a move
// unsettles it again.
func TestSettled(t *testing.T) {
	empty := tray(t, [3]float64{170, 175, 180})
	tr := learned(t, Options{}, empty)
	a := with(t, empty, image.Rect(100, 100, 260, 300), color.RGBA{30, 60, 200, 0})
	b := with(t, empty, image.Rect(380, 120, 540, 320), color.RGBA{30, 60, 200, 0})
	for i, step := range []struct {
		frame   gocv.Mat
		settled bool
	}{{a, false}, {a, true}, {a, true}, {b, false}, {b, true}, {empty, false}, {a, false}} {
		ob := tr.Observe(step.frame)
		if ob.Settled != step.settled {
			t.Fatalf("frame %d: settled %v, want %v (%v, blob %v)", i, ob.Settled, step.settled, ob.Outcome, ob.Blob)
		}
	}
}

// Crop with Balance scales each channel by the tray under the box: on a
// dark, bluish tray the crop's tray comes out at BalanceLevel in every
// channel and the item by the same factors (a near-black tray by at most
// balanceMax); without Balance, or for an observation that found nothing,
// the crop is the frame's pixels.
func TestCropBalancesByTray(t *testing.T) {
	card := image.Rect(200, 120, 400, 360)
	for _, tc := range []struct {
		name    string
		tray    [3]float64 // B, G, R
		item    color.RGBA
		balance bool
	}{
		{"dark bluish tray", [3]float64{80, 50, 40}, color.RGBA{R: 60, G: 30, B: 20}, true},
		{"light tray", [3]float64{205, 200, 190}, color.RGBA{R: 40, G: 90, B: 150}, true},
		{"near-black tray: gain capped", [3]float64{12, 12, 12}, color.RGBA{R: 30, G: 30, B: 30}, true},
		{"not balanced", [3]float64{80, 50, 40}, color.RGBA{R: 60, G: 30, B: 20}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			empty := tray(t, tc.tray)
			bal := settings.BalanceNone
			if tc.balance {
				bal = settings.BalanceTray
			}
			tr := learned(t, Options{Margin: 0.15, Balance: bal}, empty)
			frame := with(t, empty, card, tc.item)
			ob := tr.Observe(frame)
			if ob.Outcome != Found {
				t.Fatalf("outcome %v, want found", ob.Outcome)
			}
			for c := range 3 {
				if d := float64(ob.Tray[c]) - tc.tray[c]; d < -3 || d > 3 {
					t.Errorf("Tray %v, want about %v", ob.Tray, tc.tray)
				}
			}
			crop := gocv.NewMat()
			defer crop.Close()
			tr.Crop(frame, ob, &crop)
			if crop.Cols() != ob.Box.Dx() || crop.Rows() != ob.Box.Dy() {
				t.Fatalf("crop %dx%d, box %v", crop.Cols(), crop.Rows(), ob.Box)
			}
			// Nothing found: the whole frame, as it is.
			whole := gocv.NewMat()
			defer whole.Close()
			tr.Crop(frame, Observation{}, &whole)
			if whole.Cols() != frame.Cols() || whole.Rows() != frame.Rows() || meanOf(whole, card) != meanOf(frame, card) {
				t.Errorf("crop of no item: %dx%d, want the %dx%d frame", whole.Cols(), whole.Rows(), frame.Cols(), frame.Rows())
			}
			// A corner of the crop is tray; its middle is the card. The
			// box's own pixels give the tray's there.
			raw := boxPixels(frame, ob.Box)
			defer raw.Close()
			corners := image.Rect(2, 2, 22, 22)
			rawCorner, corner := meanOf(raw, corners), meanOf(crop, corners)
			middle := meanOf(crop, image.Rect(crop.Cols()/2-20, crop.Rows()/2-20, crop.Cols()/2+20, crop.Rows()/2+20))
			item := [3]float64{float64(tc.item.B), float64(tc.item.G), float64(tc.item.R)}
			for c := range 3 {
				if d := rawCorner[c] - tc.tray[c]; d < -3 || d > 3 {
					t.Errorf("unbalanced crop's tray %v, want the frame's %v", rawCorner, tc.tray)
				}
				g := 1.0
				if tc.balance {
					g = min(BalanceLevel/float64(ob.Tray[c]), balanceMax)
				}
				if want := rawCorner[c] * g; corner[c] < want-4 || corner[c] > want+4 {
					t.Errorf("tray in the crop %v, channel %d want about %.0f", corner, c, want)
				}
				if want := min(item[c]*g, 255); middle[c] < want-4 || middle[c] > want+4 {
					t.Errorf("card in the crop %v, channel %d want about %.0f", middle, c, want)
				}
			}
			if tc.balance && ob.Tray[0] > BalanceLevel/balanceMax {
				for c := range 3 {
					if corner[c] < BalanceLevel-6 || corner[c] > BalanceLevel+6 {
						t.Errorf("balanced tray %v, want %d in every channel", corner, BalanceLevel)
					}
				}
			}
		})
	}
}

func meanOf(m gocv.Mat, r image.Rectangle) [3]float64 {
	reg := m.Region(r)
	defer reg.Close()
	s := reg.Mean()
	return [3]float64{s.Val1, s.Val2, s.Val3}
}

// A balanced crop is smoothed in proportion to its gain: on a dark tray
// (gain about 4) the tray's noise in the crop stays near the frame's
// instead of being scaled with it; on a light tray (gain about 1) the
// crop keeps the frame's noise (no smoothing).
func TestBalanceSmoothsAmplifiedNoise(t *testing.T) {
	card := image.Rect(200, 120, 400, 360)
	for _, tc := range []struct {
		name   string
		tray   [3]float64
		smooth bool
	}{
		{"dark tray", [3]float64{48, 48, 48}, true},
		{"light tray", [3]float64{200, 200, 200}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			empty := tray(t, tc.tray)
			tr := learned(t, Options{Margin: 0.15, Balance: settings.BalanceTray}, empty)
			frame := with(t, empty, card, color.RGBA{R: 20, G: 20, B: 20})
			ob := tr.Observe(frame)
			if ob.Outcome != Found {
				t.Fatalf("outcome %v, want found", ob.Outcome)
			}
			crop, raw := gocv.NewMat(), boxPixels(frame, ob.Box)
			defer crop.Close()
			defer raw.Close()
			tr.Crop(frame, ob, &crop)
			corner := image.Rect(4, 4, 44, 44)
			gain := BalanceLevel / float64(ob.Tray[0])
			sd := func(m gocv.Mat) float64 {
				r := m.Region(corner)
				defer r.Close()
				mean, dev := gocv.NewMat(), gocv.NewMat()
				defer mean.Close()
				defer dev.Close()
				gocv.MeanStdDev(r, &mean, &dev)
				return dev.GetDoubleAt(0, 0)
			}
			rawSD, sd0 := sd(raw), sd(crop)
			if rawSD < 1 {
				t.Fatalf("the frame's noise σ %.2f: the test needs noise", rawSD)
			}
			if tc.smooth && sd0 > 0.5*gain*rawSD {
				t.Errorf("dark tray: crop's noise σ %.2f, frame's %.2f, gain %.2f: want it smoothed under half of %.2f", sd0, rawSD, gain, gain*rawSD)
			}
			if !tc.smooth && sd0 < 0.8*gain*rawSD {
				t.Errorf("light tray: crop's noise σ %.2f, frame's %.2f × gain %.2f: want it kept", sd0, rawSD, gain)
			}
		})
	}
}

// boxPixels is a copy of box's pixels of frame, as they are.
func boxPixels(frame gocv.Mat, box image.Rectangle) gocv.Mat {
	r := frame.Region(box)
	defer r.Close()
	return r.Clone()
}

// A grey item (metal, grey card) on a light tray reads darker by one
// factor in every channel, as a shadow does; unlike a shadow, its surface
// has a pattern of its own, and it is found with nothing else beside it.
func TestGreyItemIsNoShadow(t *testing.T) {
	empty := tray(t, [3]float64{197, 203, 209})
	tr := learned(t, Options{}, empty)
	item := image.Rect(240, 190, 400, 260)
	grey := empty.Clone()
	defer grey.Close()
	px, err := grey.DataPtrUint8()
	if err != nil {
		t.Fatal(err)
	}
	for y := item.Min.Y; y < item.Max.Y; y++ {
		for x := item.Min.X; x < item.Max.X; x++ {
			// ×0.62–0.74 in every channel, changing every few pixels
			// (print, creases): a shadow's range, not its smoothness.
			f := 0.62 + 0.12*float64((x/3*7+y/3*13)%5)/4
			for c := range 3 {
				i := 3*(y*grey.Cols()+x) + c
				px[i] = uint8(float64(px[i]) * f)
			}
		}
	}
	ob := tr.Observe(grey)
	if ob.Outcome != Found || !near(ob.Blob, item, 12) {
		t.Fatalf("grey item: %v, blob %v (want near %v), changed %.4f, shadow %.4f", ob.Outcome, ob.Blob, item, ob.Changed, ob.Shadow)
	}
}
