package infer

import (
	"image"
	"math/rand"
	"path/filepath"
	"testing"

	"gocv.io/x/gocv"
)

// The bounds-check-free loops give what the plain per-pixel lookup gives:
// R from the third byte through table 0, and so on, nothing past n.
func TestLUTBGRToRGB(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	var lut [3][256]byte
	var lutF [3][256]float32
	for ch := range lut {
		for v := range lut[ch] {
			lut[ch][v] = byte(rng.Intn(256))
			lutF[ch][v] = rng.Float32()
		}
	}
	const pixels = 37
	src := make([]byte, 3*pixels+2) // a ragged tail is left alone
	rng.Read(src)
	dst := make([]byte, 3*pixels+2)
	dst[3*pixels], dst[3*pixels+1] = 7, 9
	dstF := make([]float32, 3*pixels)
	lutBGRToRGB(dst, src, &lut)
	lutBGRToRGB(dstF, src, &lutF)
	for i := 0; i < pixels; i++ {
		b, g, r := src[3*i], src[3*i+1], src[3*i+2]
		if want := [3]byte{lut[0][r], lut[1][g], lut[2][b]}; [3]byte(dst[3*i:3*i+3]) != want {
			t.Fatalf("pixel %d: %v, want %v", i, dst[3*i:3*i+3], want)
		}
		if want := [3]float32{lutF[0][r], lutF[1][g], lutF[2][b]}; [3]float32(dstF[3*i:3*i+3]) != want {
			t.Fatalf("float pixel %d: %v, want %v", i, dstF[3*i:3*i+3], want)
		}
	}
	if dst[3*pixels] != 7 || dst[3*pixels+1] != 9 {
		t.Errorf("the tail was written: %v", dst[3*pixels:])
	}
}

// The two-step shrink stays close to OpenCV's one-call area mean on real
// photos (both alias-free), gives the asked size from any frame size,
// including sizes that are not whole multiples, and enlarges as before.
func TestResizeInput(t *testing.T) {
	box, dst, ref := gocv.NewMat(), gocv.NewMat(), gocv.NewMat()
	defer box.Close()
	defer dst.Close()
	defer ref.Close()
	for _, p := range trashnetPhotos(t, 1) {
		img := gocv.IMRead(p, gocv.IMReadColor)
		if img.Empty() {
			t.Fatalf("%s: cannot read", p)
		}
		frame := gocv.NewMat()
		gocv.Resize(img, &frame, image.Pt(641, 479), 0, 0, gocv.InterpolationLinear)
		img.Close()
		for _, px := range []int{224, 320, 384, 800} {
			resizeInput(frame, &box, &dst, px, px)
			if dst.Cols() != px || dst.Rows() != px || dst.Channels() != 3 {
				t.Fatalf("%s at %d: got %dx%dx%d", filepath.Base(p), px, dst.Cols(), dst.Rows(), dst.Channels())
			}
			interp := gocv.InterpolationArea
			if px > 479 {
				interp = gocv.InterpolationLinear
			}
			gocv.Resize(frame, &ref, image.Pt(px, px), 0, 0, interp)
			diff := gocv.NewMat()
			gocv.AbsDiff(dst, ref, &diff)
			mean := diff.Mean()
			diff.Close()
			m := (mean.Val1 + mean.Val2 + mean.Val3) / 3
			t.Logf("%s at %d px: %.2f grey levels from the one-call resize on average", filepath.Base(p), px, m)
			if m > 3 {
				t.Errorf("%s at %d px: %.2f grey levels from the one-call resize on average", filepath.Base(p), px, m)
			}
		}
		frame.Close()
	}
}
