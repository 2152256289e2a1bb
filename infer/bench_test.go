package infer

import (
	"context"
	"testing"
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
