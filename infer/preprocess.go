package infer

import (
	"image"

	"gocv.io/x/gocv"
)

// resizeInput scales src to the model's w×h (box: scratch) without
// aliasing. When it shrinks by 2× or more in both directions it takes two
// steps: first the whole factor in each direction with INTER_AREA (each
// output pixel the mean of a kx×ky box, OpenCV's vectorised integer
// path), then the rest, under 2×, with INTER_LINEAR. One INTER_AREA call
// with a fractional factor (640/224 = 2.86) takes OpenCV's general area
// path instead, float weights per source pixel, several times slower
// (docs/compute.md, "Frame → scores overhead"). The two steps' pixels
// differ from the one call's (a mean of box means, then a blend);
// TestResizeInput bounds the difference.
//
// A frame at 320 or 384 px, and an item's crop for the default 384 px
// model (shrunk by less than 2×, or enlarged), take the one call.
func resizeInput(src gocv.Mat, box, dst *gocv.Mat, w, h int) {
	sw, sh := src.Cols(), src.Rows()
	if sw < w || sh < h {
		gocv.Resize(src, dst, image.Pt(w, h), 0, 0, gocv.InterpolationLinear)
		return
	}
	// Both directions: a box 2×1 (a 640×480 frame to 320 px) is no
	// faster than the one call.
	kx, ky := sw/w, sh/h
	if kx < 2 || ky < 2 {
		gocv.Resize(src, dst, image.Pt(w, h), 0, 0, gocv.InterpolationArea)
		return
	}
	// The box path needs whole factors: the last sw%kx columns (and
	// rows), fewer than k, are left out.
	whole := src
	if sw%kx != 0 || sh%ky != 0 {
		whole = src.Region(image.Rect(0, 0, sw/kx*kx, sh/ky*ky))
		defer whole.Close()
	}
	gocv.Resize(whole, box, image.Pt(sw/kx, sh/ky), 0, 0, gocv.InterpolationArea)
	gocv.Resize(*box, dst, image.Pt(w, h), 0, 0, gocv.InterpolationLinear)
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
