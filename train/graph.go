package train

import (
	"errors"
	"fmt"

	"github.com/sorterd/sorterd/tfmodel"
)

// Errors of the graph queries that find where training cuts and what it
// retrains in a base model.
var (
	ErrNoFeatureTensor = errors.New("no pooled feature tensor")
	ErrNoPoolConv      = errors.New("no 1×1 convolution before the pooling")
)

// maxHops bounds the walks back from the output: a classifier's tail is a
// handful of ops, and a cycle in a corrupt graph must not loop forever.
const maxHops = 16

// pooledFeature finds, by graph structure, the tensor a classifier's final
// layer reads: walk back from the output through the ops that only reshape,
// quantize or normalise (SOFTMAX, RESHAPE, QUANTIZE, DEQUANTIZE, SQUEEZE)
// to the classifier (FULLY_CONNECTED or a 1×1 CONV_2D), and return its
// input if that is a pooled [1,(1,1,)C] tensor. It also returns the index
// of the pooling op (MEAN or AVERAGE_POOL_2D) that produced it, or -1.
func pooledFeature(g *tfmodel.Model) (tensor int32, pool int, err error) {
	if len(g.Outputs) != 1 {
		return 0, 0, fmt.Errorf("%w: model has %d outputs", ErrNoFeatureTensor, len(g.Outputs))
	}
	t := g.Outputs[0]
	for hops := 0; hops < maxHops; hops++ {
		p := g.Producer(t)
		if p < 0 {
			break
		}
		switch g.Builtin(p) {
		case tfmodel.OpSoftmax, tfmodel.OpReshape, tfmodel.OpQuantize, tfmodel.OpDequantize, tfmodel.OpSqueeze:
			t = g.Ops[p].Inputs[0]
			continue
		case tfmodel.OpFullyConnected, tfmodel.OpConv2D:
			return classifierInput(g, g.Ops[p].Inputs[0])
		}
		break
	}
	return 0, 0, fmt.Errorf("%w: the output is not produced by a FULLY_CONNECTED or CONV_2D classifier", ErrNoFeatureTensor)
}

// minFeatures is the narrowest vector taken for pooled features.
const minFeatures = 8

// classifierInput checks that the classifier's input in is a pooled
// vector and finds the pooling behind it, skipping a reshape.
func classifierInput(g *tfmodel.Model, in int32) (int32, int, error) {
	shape := g.Tensors[in].Shape
	n := 1
	for _, d := range shape[:len(shape)-1] {
		n *= int(d)
	}
	if n != 1 || shape[len(shape)-1] < minFeatures {
		return 0, 0, fmt.Errorf("%w: the classifier reads %q of shape %v, not a pooled vector", ErrNoFeatureTensor, g.Tensors[in].Name, shape)
	}
	src := in
	for k := 0; k < 3; k++ {
		pp := g.Producer(src)
		if pp < 0 {
			return in, -1, nil
		}
		switch g.Builtin(pp) {
		case tfmodel.OpMean, tfmodel.OpAveragePool2D:
			return in, pp, nil
		case tfmodel.OpReshape, tfmodel.OpSqueeze:
			src = g.Ops[pp].Inputs[0]
		default:
			return in, -1, nil
		}
	}
	return in, -1, nil
}

// findPoolConv finds, by graph structure, the convolution whose output the
// global pooling averages into the pooled feature tensor (MobileNetV2's
// "Conv_1", 320→1280): from pooledFeature's pooling op to the CONV_2D that
// produces its input. Fine-tuning retrains that layer, so it must be a
// 1×1, stride-1 convolution; anything else is ErrNoPoolConv.
func findPoolConv(g *tfmodel.Model) (int, error) {
	_, pool, err := pooledFeature(g)
	if err != nil {
		return -1, err
	}
	if pool < 0 {
		return -1, fmt.Errorf("%w: the pooled tensor is not produced by MEAN or AVERAGE_POOL_2D", ErrNoPoolConv)
	}
	return conv1x1Producer(g, g.Ops[pool].Inputs[0], "the pooling")
}

// conv1x1Producer returns the op producing tensor in (read by reader, for
// the error) if it is a 1×1, stride-1 CONV_2D; anything else is
// ErrNoPoolConv.
func conv1x1Producer(g *tfmodel.Model, in int32, reader string) (int, error) {
	p := g.Producer(in)
	if p < 0 {
		return -1, fmt.Errorf("%w: %s reads %q, which no op produces", ErrNoPoolConv, reader, g.Tensors[in].Name)
	}
	op := &g.Ops[p]
	if code := g.OpCodes[op.Opcode]; code.Builtin != tfmodel.OpConv2D {
		return -1, fmt.Errorf("%w: %s reads %q, produced by %s, not a CONV_2D", ErrNoPoolConv, reader, g.Tensors[in].Name, code.Name())
	}
	w := g.Tensors[op.Inputs[1]].Shape // OHWI
	if len(w) != 4 || w[1] != 1 || w[2] != 1 {
		return -1, fmt.Errorf("%w: CONV_2D %d has a kernel of shape %v, not 1×1", ErrNoPoolConv, p, w)
	}
	for _, f := range []int{tfmodel.Conv2DStrideW, tfmodel.Conv2DStrideH} {
		if s := op.Option(f, 1); s != 1 {
			return -1, fmt.Errorf("%w: CONV_2D %d has stride %d", ErrNoPoolConv, p, s)
		}
	}
	return p, nil
}

// findProjConv finds, by graph structure, the convolution that produces
// findPoolConv's input (MobileNetV2's "block_16_project", the last
// inverted residual block's linear 1×1 projection, 960→320). Fine-tuning
// two layers retrains it too, so it must be a 1×1, stride-1 CONV_2D
// without a fused activation whose output only that convolution reads (no
// residual ADD); anything else is ErrNoPoolConv.
func findProjConv(g *tfmodel.Model) (int, error) {
	ci, err := findPoolConv(g)
	if err != nil {
		return -1, err
	}
	in := g.Ops[ci].Inputs[0]
	p, err := conv1x1Producer(g, in, fmt.Sprintf("CONV_2D %d", ci))
	if err != nil {
		return -1, err
	}
	if act := g.Ops[p].Option(tfmodel.Conv2DActivation, 0); act != uint64(tfmodel.ActNone) {
		return -1, fmt.Errorf("%w: CONV_2D %d has a fused activation (%d), not a linear projection", ErrNoPoolConv, p, act)
	}
	for i, o := range g.Ops {
		if i == ci {
			continue
		}
		for _, t := range o.Inputs {
			if t == in {
				return -1, fmt.Errorf("%w: %q, the output of CONV_2D %d, is also read by %s %d", ErrNoPoolConv,
					g.Tensors[in].Name, p, g.OpCodes[o.Opcode].Name(), i)
			}
		}
	}
	for _, t := range g.Outputs {
		if t == in {
			return -1, fmt.Errorf("%w: %q is a model output", ErrNoPoolConv, g.Tensors[in].Name)
		}
	}
	return p, nil
}
