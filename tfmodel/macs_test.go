package tfmodel

import "testing"

// The MAC count read from the graph scales with the input's area: the
// shipped 384-px model does (384/224)² the 224-px backbone's work, less
// the 1001-class layer it does not have.
func TestMACs(t *testing.T) {
	m224 := parse(t, readModel(t, "mobilenet_v2_1.0_224_quant.tflite")).MACs()
	m384 := parse(t, readModel(t, "garbage.tflite")).MACs()
	const head1001 = 1280 * 1001 // the ImageNet classifier: a 1×1 convolution in this file
	if m224 < 299e6 || m224 > 302e6 {
		t.Errorf("MobileNetV2 1.0 at 224 px: %d MACs, want ~300.8M", m224)
	}
	want := float64(m224-head1001) * (384.0 / 224) * (384.0 / 224)
	if got := float64(m384); got < want || got > want*1.001 {
		t.Errorf("at 384 px: %d MACs, want %.0f (the 224-px backbone × (384/224)²) plus a 6-class head", m384, want)
	}
}
