package camera

import (
	"image"

	"gocv.io/x/gocv"
)

// Motion tells an item on the tray from the empty tray: it learns the
// empty background as a running average of quiet frames and reports the
// share of pixels that differ from it by more than Delta.
type Motion struct {
	Area  float64 // share of pixels that must change (0..1)
	Delta float64 // per-pixel difference (0..255) that counts
	Rate  float64 // background learning rate for quiet frames (default 0.05)

	bg, small, gray, diff, mask gocv.Mat
	ready                       bool
}

// NewMotion makes a detector; Close frees its Mats.
func NewMotion(area, delta float64) *Motion {
	return &Motion{Area: area, Delta: delta, Rate: 0.05,
		bg: gocv.NewMat(), small: gocv.NewMat(), gray: gocv.NewMat(), diff: gocv.NewMat(), mask: gocv.NewMat()}
}

// Present reports whether frame shows something that is not background,
// and the changed share. Quiet frames refresh the background.
func (m *Motion) Present(frame gocv.Mat) (bool, float64) {
	gocv.Resize(frame, &m.small, image.Pt(160, 120), 0, 0, gocv.InterpolationArea)
	gocv.CvtColor(m.small, &m.gray, gocv.ColorBGRToGray)
	m.gray.ConvertTo(&m.gray, gocv.MatTypeCV32F)
	if !m.ready {
		m.gray.CopyTo(&m.bg)
		m.ready = true
		return false, 0
	}
	gocv.AbsDiff(m.gray, m.bg, &m.diff)
	gocv.Threshold(m.diff, &m.mask, float32(m.Delta), 255, gocv.ThresholdBinary)
	changed := float64(gocv.CountNonZero(m.mask)) / float64(m.mask.Rows()*m.mask.Cols())
	present := changed >= m.Area
	if !present {
		gocv.AddWeighted(m.bg, 1-m.Rate, m.gray, m.Rate, 0, &m.bg)
	}
	return present, changed
}

// Close frees the detector's Mats.
func (m *Motion) Close() {
	for _, mat := range []*gocv.Mat{&m.bg, &m.small, &m.gray, &m.diff, &m.mask} {
		if mat.Ptr() != nil {
			mat.Close()
			*mat = gocv.Mat{}
		}
	}
}
