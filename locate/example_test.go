package locate_test

import (
	"fmt"
	"image"
	"image/color"

	"github.com/sorterd/sorterd/locate"
	"github.com/sorterd/sorterd/settings"
	"gocv.io/x/gocv"
)

// A Tray learns the empty tray from the first frame, then finds an item
// laid on it: the crop box is square, widened by the margin.
func ExampleTray() {
	tray := locate.New(locate.Options{Margin: settings.DefaultMargin})
	defer tray.Close()
	frame := func(item bool) gocv.Mat {
		m := gocv.NewMatWithSizeFromScalar(gocv.NewScalar(180, 180, 180, 0), 480, 640, gocv.MatTypeCV8UC3)
		if item {
			gocv.Rectangle(&m, image.Rect(200, 150, 360, 290), color.RGBA{40, 90, 200, 0}, -1)
		}
		return m
	}
	for _, item := range []bool{false, false, true} {
		m := frame(item)
		ob := tray.Observe(m)
		m.Close()
		fmt.Println(ob.Outcome, ob.Present, ob.Box)
	}
	// Output:
	// empty false (0,0)-(0,0)
	// empty false (0,0)-(0,0)
	// found true (176,114)-(389,327)
}
