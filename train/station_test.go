package train

import (
	"image"
	"image/color"
	"testing"

	"gocv.io/x/gocv"
)

// A station view is the same every time for the same photo (the feature
// cache depends on it), differs between views, and shows the item: the
// crop is mostly item, not tray.
func TestStationViews(t *testing.T) {
	photo := gocv.NewMatWithSizeFromScalar(gocv.NewScalar(225, 225, 225, 0), 384, 512, gocv.MatTypeCV8UC3)
	defer photo.Close()
	gocv.Circle(&photo, image.Pt(256, 192), 120, color.RGBA{R: 20, G: 40, B: 200}, -1) // BGR 200,40,20
	views := stationViews(3)
	if len(views) != 3 || views[0].Name == views[1].Name {
		t.Fatalf("views %v", views)
	}
	render := func(v view) gocv.Mat {
		m := gocv.NewMat()
		v.Apply(photo, &m)
		return m
	}
	a, b, c := render(views[0]), render(views[0]), render(views[1])
	defer a.Close()
	defer b.Close()
	defer c.Close()
	same := func(x, y gocv.Mat) bool {
		if x.Rows() != y.Rows() || x.Cols() != y.Cols() {
			return false
		}
		d := gocv.NewMat()
		defer d.Close()
		gocv.AbsDiff(x, y, &d)
		return gocv.CountNonZero(d.Reshape(1, 0)) == 0
	}
	if !same(a, b) {
		t.Error("the same view of the same photo differs between runs")
	}
	if same(a, c) {
		t.Error("two station views are identical")
	}
	// The item is a blue disc on a grey backdrop (a TrashNet-like
	// photo): whatever the tray's colour and light, a good share of the
	// crop is that disc, bluer than it is red or green.
	for i, m := range []gocv.Mat{a, c} {
		px, _ := m.DataPtrUint8()
		blue := 0
		for p := 0; p+2 < len(px); p += 3 {
			if int(px[p]) > int(px[p+2])+25 && int(px[p]) > int(px[p+1])+15 {
				blue++
			}
		}
		share := float64(blue) / float64(m.Rows()*m.Cols())
		if share < 0.1 || m.Cols() < 50 {
			t.Errorf("view %d: %dx%d, item covers %.0f%%", i, m.Cols(), m.Rows(), 100*share)
		}
	}
}
