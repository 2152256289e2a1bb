package locate

import (
	"errors"
	"image"
	"image/color"
	"os"
	"path/filepath"
	"testing"

	"github.com/sorterd/sorterd/settings"
	"gocv.io/x/gocv"
)

// lit is frame with each channel multiplied by g (B, G, R): the same
// scene in another light, or with the camera's gains moved.
func lit(t testing.TB, frame gocv.Mat, g [3]float64) gocv.Mat {
	m := gocv.NewMat()
	ch := gocv.Split(frame)
	for c := range ch {
		ch[c].ConvertToWithParams(&ch[c], gocv.MatTypeCV8U, float32(g[c]), 0)
	}
	gocv.Merge(ch, &m)
	for _, c := range ch {
		c.Close()
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// settled is a Tray that has taken its reference from empty.
func settled(t testing.TB, o Options, empty gocv.Mat) *Tray {
	tr := learned(t, o, empty)
	for range referenceFrames {
		tr.Observe(empty)
	}
	if _, ok := tr.Reference(); !ok {
		t.Fatal("no reference after the quiet frames")
	}
	return tr
}

// settings.BalanceReference keeps an item's own colours on any tray while the
// light and camera are as at setup, and undoes a change of them since:
// the tray is never taken for grey.
func TestCropCorrectsToReference(t *testing.T) {
	card := image.Rect(200, 120, 400, 360)
	item := color.RGBA{R: 200, G: 120, B: 40, A: 255} // an orange box
	for _, tc := range []struct {
		name  string
		tray  [3]float64
		light [3]float64 // the scene's change after setup
	}{
		{"dark tray, light as at setup", [3]float64{50, 55, 60}, [3]float64{1, 1, 1}},
		{"green tray, light as at setup", [3]float64{60, 150, 70}, [3]float64{1, 1, 1}},
		{"light tray, dimmer and warmer light", [3]float64{200, 205, 210}, [3]float64{0.75, 0.85, 0.95}},
		{"dark tray, camera gains up", [3]float64{50, 55, 60}, [3]float64{1.35, 1.3, 1.2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			empty := tray(t, tc.tray)
			tr := settled(t, Options{Margin: 0.15, Balance: settings.BalanceReference}, empty)
			frame := lit(t, with(t, empty, card, item), tc.light)
			ob := tr.Observe(frame)
			if ob.Outcome != Found {
				t.Fatalf("outcome %v, want found", ob.Outcome)
			}
			for c := range ob.Light {
				if d := float64(ob.Light[c]) - tc.light[c]; d > 0.03 || d < -0.03 {
					t.Errorf("light %v, want %v", ob.Light, tc.light)
					break
				}
			}
			if ob.Drifted {
				t.Error("drifted within what can be corrected")
			}
			crop := gocv.NewMat()
			defer crop.Close()
			tr.Crop(frame, ob, &crop)
			// The card's middle, in the crop's pixels.
			mid := crop.Region(image.Rect(crop.Cols()/2-20, crop.Rows()/2-20, crop.Cols()/2+20, crop.Rows()/2+20))
			defer mid.Close()
			m := mid.Mean()
			want := [3]float64{float64(item.B), float64(item.G), float64(item.R)}
			for c, v := range []float64{m.Val1, m.Val2, m.Val3} {
				if v < want[c]-6 || v > want[c]+6 {
					t.Errorf("item in the crop %.0f %.0f %.0f, want its own colour %v", m.Val1, m.Val2, m.Val3, want)
					break
				}
			}
		})
	}
}

// A light far from setup's is corrected only so far, and said.
func TestReferenceDrifted(t *testing.T) {
	empty := tray(t, [3]float64{120, 125, 130})
	tr := settled(t, Options{Balance: settings.BalanceReference}, empty)
	ob := tr.Observe(lit(t, with(t, empty, image.Rect(200, 120, 400, 360), color.RGBA{R: 30, G: 30, B: 30}), [3]float64{0.4, 0.45, 0.5}))
	if !ob.Drifted {
		t.Errorf("light %v: want drifted", ob.Light)
	}
	if !(ob.Light[0] < 1/Correctable) {
		t.Errorf("light %v, want under %v", ob.Light, 1/Correctable)
	}
}

// A reference given for the same ROI is used from the first frame; one
// taken over another ROI is dropped and taken anew.
func TestReferenceGiven(t *testing.T) {
	empty := tray(t, [3]float64{50, 55, 60})
	whole := image.Rect(0, 0, 640, 480)
	ref := Reference{Tray: [3]float32{100, 110, 120}, ROI: whole}
	tr := learned(t, Options{Balance: settings.BalanceReference, Reference: ref}, empty)
	got, ok := tr.Reference()
	if !ok || got.Tray != ref.Tray {
		t.Fatalf("reference %+v %v, want the given one, settled", got, ok)
	}
	ob := tr.Observe(with(t, empty, image.Rect(200, 120, 400, 360), color.RGBA{R: 200, G: 200, B: 200}))
	if l := ob.Light[0]; l < 0.45 || l > 0.55 {
		t.Errorf("light %v: want about 0.5 (the tray reads half the reference)", ob.Light)
	}

	other := Reference{Tray: [3]float32{100, 110, 120}, ROI: image.Rect(0, 0, 320, 240)}
	tr2 := learned(t, Options{Balance: settings.BalanceReference, Reference: other}, empty)
	if got, ok := tr2.Reference(); ok || got.ROI == other.ROI {
		t.Errorf("reference %+v %v: another ROI's must be dropped", got, ok)
	}
}

func TestReferenceFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, ReferenceFile)
	if _, err := LoadReference(p); !errors.Is(err, ErrNoReference) {
		t.Fatalf("missing file: %v, want ErrNoReference", err)
	}
	ref := Reference{Tray: [3]float32{50.5, 55, 60}, ROI: image.Rect(10, 20, 630, 470)}
	if err := SaveReference(p, ref); err != nil {
		t.Fatal(err)
	}
	got, err := LoadReference(p)
	if err != nil || got.Tray != ref.Tray || got.ROI != ref.ROI {
		t.Fatalf("loaded %+v %v, want %+v", got, err, ref)
	}
	for _, bad := range []string{"{", `{"tray":[0,0,0]}`, `[1,2,3]`} {
		os.WriteFile(p, []byte(bad), 0o600)
		if _, err := LoadReference(p); err == nil || errors.Is(err, ErrNoReference) {
			t.Errorf("%s: %v, want a specific error", bad, err)
		}
	}
}
