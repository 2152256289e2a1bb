package infer

import (
	"errors"

	"github.com/sorterd/sorterd/tfmodel"
)

// Errors a caller can tell apart with errors.Is. Each wrapped error also
// carries the specifics (file, tensor, op) in its message. A model file
// that cannot be read at all gives tfmodel's errors (ErrTruncated,
// ErrCorrupt, ErrNotModel, a *tfmodel.FormatError).
var (
	ErrModelUnsupported = errors.New("model is not supported")
	ErrNeedsEdgeTPU     = errors.New("model needs the Edge TPU delegate")
	ErrLabels           = errors.New("labels")
	ErrDelegate         = errors.New("delegate unavailable")
)

// edgeTPUCustom is the custom op the Edge TPU compiler puts in place of
// the graph it compiled.
const edgeTPUCustom = "edgetpu-custom-op"

// endsInSoftmax follows the output back through ops that do not change
// values' meaning (quantize, reshape) to see whether it is a softmax:
// if not, the classifier applies one.
func endsInSoftmax(m *tfmodel.Model) bool {
	t := m.Outputs[0]
	for hops := 0; hops < 8; hops++ {
		p := m.Producer(t)
		if p < 0 {
			return false
		}
		switch m.Builtin(p) {
		case tfmodel.OpSoftmax:
			return true
		case tfmodel.OpQuantize, tfmodel.OpDequantize, tfmodel.OpReshape, tfmodel.OpSqueeze:
			if len(m.Ops[p].Inputs) == 0 {
				return false
			}
			t = m.Ops[p].Inputs[0]
		default:
			return false
		}
	}
	return false
}
