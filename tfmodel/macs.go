package tfmodel

// MACs counts the model's multiply-accumulates per inference from its
// graph: output elements × kernel taps × input channels for CONV_2D,
// output elements × taps for DEPTHWISE_CONV_2D, weights × rows for
// FULLY_CONNECTED. Other ops (adds, pooling, softmax) are a rounding
// error next to these and left out.
func (m *Model) MACs() int64 {
	elems := func(shape []int32) int64 {
		n := int64(1)
		for _, d := range shape {
			n *= int64(max(d, 1))
		}
		return n
	}
	var total int64
	for _, op := range m.Ops {
		if op.Opcode < 0 || op.Opcode >= len(m.OpCodes) || len(op.Inputs) < 2 || len(op.Outputs) < 1 || op.Inputs[1] < 0 || op.Outputs[0] < 0 {
			continue
		}
		w := m.Tensors[op.Inputs[1]].Shape
		out := m.Tensors[op.Outputs[0]].Shape
		switch m.OpCodes[op.Opcode].Builtin {
		case OpConv2D: // weights [out, kh, kw, in]
			if len(w) == 4 {
				total += elems(out) * int64(w[1]) * int64(w[2]) * int64(w[3])
			}
		case OpDepthwiseConv2D: // weights [1, kh, kw, channels]
			if len(w) == 4 {
				total += elems(out) * int64(w[1]) * int64(w[2])
			}
		case OpFullyConnected: // weights [out, in]
			if len(w) == 2 && w[0] > 0 {
				total += elems(out) * int64(w[1])
			}
		}
	}
	return total
}
