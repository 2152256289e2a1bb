package infer

import (
	"context"
	"fmt"
	"image"
	"testing"

	"gocv.io/x/gocv"
)

// go test -tags matprofile -bench . ./infer/  (make bench)

func BenchmarkPreprocess(b *testing.B) {
	c := newClassifier(b, Options{Model: modelPath(b, ptqModel)})
	frame := solid(640, 480, 40, 90, 200)
	defer frame.Close()
	p, _ := c.acquire(context.Background())
	defer func() { c.pool <- p }()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := c.preprocess(p, frame); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPreprocessStages splits preprocess into its two steps at the
// model sizes sorterd ships (docs/compute.md): the resize of a 640×480
// camera frame (and the one-call area resize it replaced), and the LUT pass (normalise, quantize, BGR→RGB) into the
// input tensor; lut-indexed is the loop the LUT pass replaced.
func BenchmarkPreprocessStages(b *testing.B) {
	frame := solid(640, 480, 40, 90, 200)
	defer frame.Close()
	for _, px := range []int{224, 320, 384} {
		b.Run(fmt.Sprintf("resize-%d", px), func(b *testing.B) {
			dst, box := gocv.NewMat(), gocv.NewMat()
			defer dst.Close()
			defer box.Close()
			for i := 0; i < b.N; i++ {
				resizeInput(frame, &box, &dst, px, px)
			}
		})
		// The one INTER_AREA call resizeInput made before its two steps.
		b.Run(fmt.Sprintf("resize-area-one-call-%d", px), func(b *testing.B) {
			dst := gocv.NewMat()
			defer dst.Close()
			for i := 0; i < b.N; i++ {
				gocv.Resize(frame, &dst, image.Pt(px, px), 0, 0, gocv.InterpolationArea)
			}
		})
		src := make([]byte, 3*px*px)
		dst := make([]byte, 3*px*px)
		var lut [3][256]byte
		b.Run(fmt.Sprintf("lut-%d", px), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				lutBGRToRGB(dst, src, &lut)
			}
		})
		b.Run(fmt.Sprintf("lut-indexed-%d", px), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				for j := 0; j < px*px; j++ {
					bl, g, r := src[3*j], src[3*j+1], src[3*j+2]
					dst[3*j], dst[3*j+1], dst[3*j+2] = lut[0][r], lut[1][g], lut[2][bl]
				}
			}
		})
	}
}

func benchClassify(b *testing.B, model, delegate string) {
	c := newClassifier(b, Options{Model: modelPath(b, model), Delegate: delegate})
	frame := solid(640, 480, 40, 90, 200)
	defer frame.Close()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := c.Classify(context.Background(), frame, 5); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkClassifyInt8XNNPACK(b *testing.B) { benchClassify(b, ptqModel, DelegateXNNPACK) }
func BenchmarkClassifyInt8CPU(b *testing.B)     { benchClassify(b, ptqModel, DelegateCPU) }
func BenchmarkClassifyUint8(b *testing.B)       { benchClassify(b, u8Model, DelegateXNNPACK) }

func BenchmarkDecodeJPEG(b *testing.B) {
	data := encodeJPEG(b, 640, 480)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		m, err := DecodeImage(data, ImageLimits{})
		if err != nil {
			b.Fatal(err)
		}
		m.Close()
	}
}
