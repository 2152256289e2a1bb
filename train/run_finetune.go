package train

import (
	"context"
	"fmt"
	"io"
	"math"
	"time"
)

// fineTuned is what Run's fine-tuning step hands to the export.
type fineTuned struct {
	*FineTuned
	conv, proj         *ConvExport
	logitMin, logitMax float32
}

// baseLayers reads the layers fine-tuning starts from out of the base
// model: the convolution before the pooling and, with two layers, the
// projection feeding it (else nil). Run calls it before any extraction,
// so a base fine-tuning cannot use is refused at once.
func (c *Config) baseLayers(base []byte) (conv, proj *ConvLayer, err error) {
	conv, err = BaseConv(base)
	if err != nil {
		return nil, nil, fmt.Errorf("fine-tune: base model %s: %w", c.Base, err)
	}
	switch c.FT.Layers {
	case 0, 1:
	case 2:
		if proj, err = BaseProj(base); err != nil {
			return nil, nil, fmt.Errorf("fine-tune: base model %s: %w", c.Base, err)
		}
	default:
		return nil, nil, fmt.Errorf("fine-tune: %d layers; only 1 or 2 are supported", c.FT.Layers)
	}
	return conv, proj, nil
}

// fineTune extracts the activations at the input of the convolution
// before the pooling (cached like the features), fine-tunes that
// convolution with the head on the training split (from init, the frozen
// head fitted on it), picks the epoch on the validation split, then, as
// the frozen path refits its head, trains again on train + validation
// (from final, the frozen head refitted on both) for the chosen epochs,
// and measures that model on the test split. It fills rep.FineTune and
// replaces rep's FloatTest and Threshold with the fine-tuned model's.
func (c *Config) fineTune(ctx context.Context, conv, proj *ConvLayer, ds *Dataset, sp Split, augs []Augment, init, final *Head, rep *Report) (*fineTuned, error) {
	ex, err := NewExtractor(ExtractorOptions{Base: c.Base, CacheDir: c.CacheDir, Delegate: c.Delegate, Size: c.Size,
		ConvInput: true, Layers: c.FT.Layers, Logger: c.Log})
	if err != nil {
		return nil, fmt.Errorf("fine-tune: %w", err)
	}
	defer ex.Close()
	acts := func(idx []int, aug Augment) ([][]byte, error) {
		items := make([]Item, len(idx))
		for i, j := range idx {
			items[i] = ds.Items[j]
		}
		var prog func(int, int)
		if c.Progress != nil {
			prog = Progress(c.Progress, "activations "+aug.Name)
		}
		x, _, err := ex.Activations(ctx, items, aug, prog)
		return x, err
	}
	set := func(idx []int, views []Augment) (ActSet, error) {
		var s ActSet
		for _, a := range views {
			x, err := acts(idx, a)
			if err != nil {
				return s, fmt.Errorf("fine-tune: activations (%s): %w", a.Name, err)
			}
			for i, j := range idx {
				if x[i] != nil { // failed to decode: already left out of the split
					s.X = append(s.X, x[i])
					s.Y = append(s.Y, ds.Items[j].Class)
				}
			}
		}
		return s, nil
	}
	tr, err := set(sp.Train, augs)
	if err != nil {
		return nil, err
	}
	val, err := set(sp.Val, augs[:1])
	if err != nil {
		return nil, err
	}
	test, err := set(sp.Test, augs[:1])
	if err != nil {
		return nil, err
	}
	o := c.FT
	o.Seed, o.ClassWeights, o.Log = c.Seed, true, c.Log
	o.defaults()
	if c.Progress != nil {
		cur, bar := 0, func(int, int) {}
		o.Progress = func(ep, done, total int) {
			if ep != cur {
				cur = ep
				bar = Progress(c.Progress, fmt.Sprintf("fine-tune %d/%d", ep, o.Epochs))
			}
			if bar != nil {
				bar(done, total)
			}
		}
	}
	start := time.Now()
	sel, epochs, chosen, err := FineTune(ctx, tr, val, ex.Quant(), proj, conv, init, o)
	if err != nil {
		return nil, err
	}
	// The threshold comes from the model whose validation predictions are
	// unseen, as for the frozen head.
	vt, vp, vc := sel.scores(val)
	rep.Threshold = SuggestThreshold(vt, vp, vc, c.TargetAcc)
	all := ActSet{X: append(append([][]byte{}, tr.X...), val.X...), Y: append(append([]int{}, tr.Y...), val.Y...)}
	o.StopAfter = chosen
	m, _, _, err := FineTune(ctx, all, ActSet{}, ex.Quant(), proj, conv, final, o)
	if err != nil {
		return nil, err
	}
	f := &FineTuneReport{Epochs: epochs, Chosen: chosen, ValAccuracy: epochs[chosen].ValAccuracy,
		FrozenValAccuracy: rep.ValAccuracy, FrozenFloatTest: rep.FloatTest.Accuracy,
		LR: o.LR, HeadLR: o.HeadLR, ConvL2: o.ConvL2, BackboneRuns: ex.Calls.Load(), Layers: o.Layers}
	if proj != nil {
		f.ProjLR = o.ProjLR
	}
	rep.FineTune = f

	// Quantization ranges and the reject threshold from the chosen model
	// on the training originals and the validation split.
	nOrig := len(sp.Train)
	seen := append(append([][]byte{}, tr.X[:min(nOrig, len(tr.X))]...), val.X...)
	pooled := m.Pooled(seen)
	var pmax float32
	lo, hi := float32(math.Inf(1)), float32(math.Inf(-1))
	for _, p := range pooled {
		for _, v := range p {
			pmax = max(pmax, v)
		}
		for _, v := range m.Head.Logits(p) {
			lo, hi = min(lo, v), max(hi, v)
		}
	}
	// RELU6 bounds the convolution's output; a small margin over the
	// largest pooled value seen keeps rarer images from saturating.
	convIn := ex.Quant()
	var qp *ConvExport
	if m.Proj != nil {
		// The projection's output is the convolution's input: its int8
		// range is the one seen in training now, not the base's.
		plo, phi := m.ProjRange(seen)
		qp = QuantizeConv(m.Proj, ex.Quant(), phi, 0)
		qp.OutMin = plo
		convIn = ActQuant(plo, phi)
		f.ProjRange = [2]float32{plo, phi}
	}
	qc := QuantizeConv(m.Conv, convIn, 6, min(6, 1.05*pmax))
	tt, tp, tc := m.scores(test)
	rep.FloatTest = Score(ds.Classes, tt, tp, tc)
	f.Seconds = time.Since(start).Seconds()
	return &fineTuned{FineTuned: m, conv: qc, proj: qp, logitMin: lo, logitMax: hi}, nil
}

// scores returns the true class, predicted class and its probability of
// every example.
func (m *FineTuned) scores(s ActSet) (truth, pred []int, conf []float64) {
	for i, f := range m.Pooled(s.X) {
		p := m.Head.Probs(f)
		b := argmax(p)
		truth = append(truth, s.Y[i])
		pred = append(pred, b)
		conf = append(conf, float64(p[b]))
	}
	return
}

func (f *FineTuneReport) write(w io.Writer) {
	if f.Layers == 2 {
		fmt.Fprintf(w, "fine-tuning the last two convolutions with the head (Adam, lr %g, projection lr %g, head lr %g, conv L2 %g):\n", f.LR, f.ProjLR, f.HeadLR, f.ConvL2)
	} else {
		fmt.Fprintf(w, "fine-tuning the last convolution with the head (Adam, lr %g, head lr %g, conv L2 %g):\n", f.LR, f.HeadLR, f.ConvL2)
	}
	for _, e := range f.Epochs {
		if e.Epoch == 0 {
			fmt.Fprintf(w, "  epoch 0 (frozen start)            validation %.2f%%\n", 100*e.ValAccuracy)
			continue
		}
		fmt.Fprintf(w, "  epoch %d  train loss %.4f  %5.1f s  validation %.2f%%\n", e.Epoch, e.TrainLoss, e.Seconds, 100*e.ValAccuracy)
	}
	fmt.Fprintf(w, "chosen epoch %d: validation %.2f%% (frozen head %.2f%%); refitted on train + validation for %d epoch(s); %.1f s in all\n",
		f.Chosen, 100*f.ValAccuracy, 100*f.FrozenValAccuracy, f.Chosen, f.Seconds)
}
