package infer

import (
	"math/rand"
	"testing"
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
