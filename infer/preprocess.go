package infer

import (
	"image"

	"gocv.io/x/gocv"
)

// resizeInput scales src to the model's w×h: INTER_AREA to shrink (each
// output pixel the mean of the source pixels it covers, no aliasing),
// INTER_LINEAR to enlarge.
//
// A faster shrink was tried and left out: a whole-factor INTER_AREA first
// (OpenCV's vectorised box path) and the rest below 2× after it cuts the
// 640×480 → 224×224 resize ~3.5×, but a mean of box means is not OpenCV's
// one-step area mean (~0.5 grey levels apart on average at 224 px, a few
// dozen at sharp edges), enough to flip borderline top-1s in
// TestXNNPACKMatchesBuiltinKernels and TestToInt8IsExactWhereWeightsFit.
// See docs/compute.md.
func resizeInput(src gocv.Mat, dst *gocv.Mat, w, h int) {
	interp := gocv.InterpolationArea
	if src.Cols() < w || src.Rows() < h {
		interp = gocv.InterpolationLinear
	}
	gocv.Resize(src, dst, image.Pt(w, h), 0, 0, interp)
}

// lutBGRToRGB writes each BGR pixel of src into dst as RGB, every channel
// through its table: normalisation and the tensor's quantization in one
// lookup (bytes for quantized input tensors, float32 for float ones).
// Re-slicing three elements at a time lets the compiler drop the bounds
// checks the indexed loop had (figures in docs/compute.md).
func lutBGRToRGB[T byte | float32](dst []T, src []byte, lut *[3][256]T) {
	n := min(len(dst), len(src)) / 3 * 3
	dst, src = dst[:n], src[:n]
	r, g, b := &lut[0], &lut[1], &lut[2]
	for i := 0; i < n; i += 3 {
		s := src[i : i+3 : i+3]
		d := dst[i : i+3 : i+3]
		d[0], d[1], d[2] = r[s[2]], g[s[1]], b[s[0]]
	}
}
