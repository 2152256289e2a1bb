//go:build matprofile

package locate

import (
	"image"
	"image/color"
	"testing"

	"github.com/sorterd/sorterd/settings"
	"gocv.io/x/gocv"
)

func TestTrayLeaksNoMat(t *testing.T) {
	empty := tray(t, [3]float64{200, 200, 200})
	item := with(t, empty, image.Rect(100, 100, 300, 300), color.RGBA{0, 0, 0, 0})
	before := gocv.MatProfile.Count()
	tr := New(Options{Balance: settings.BalanceTray})
	crop := gocv.NewMat()
	for i := range 20 {
		if i%4 == 0 {
			ob := tr.Observe(item)
			tr.Crop(item, ob, &crop)
		} else {
			tr.Crop(empty, tr.Observe(empty), &crop) // no item: the frame
		}
	}
	crop.Close()
	tr.Close()
	tr.Close() // a second Close is harmless
	if after := gocv.MatProfile.Count(); after != before {
		t.Errorf("Mats: %d before, %d after", before, after)
	}
}
