package train

import (
	"context"
	"fmt"
	"io"
	"math"
	"time"
)

// baseLayers reads the layers fine-tuning starts from out of the base
// model: the convolution before the pooling and, with two layers, the
// projection feeding it (else nil). Run calls it before any extraction,
// so a base fine-tuning cannot use is refused at once.
func (c *Config) baseLayers(base []byte) (conv, proj *convLayer, err error) {
	conv, err = baseConv(base)
	if err != nil {
		return nil, nil, fmt.Errorf("fine-tune: base model %s: %w", c.Base, err)
	}
	switch c.FT.Layers {
	case 0, 1:
	case 2:
		if proj, err = baseProj(base); err != nil {
			return nil, nil, fmt.Errorf("fine-tune: base model %s: %w", c.Base, err)
		}
	default:
		return nil, nil, fmt.Errorf("fine-tune: %d layers; only 1 or 2 are supported", c.FT.Layers)
	}
	return conv, proj, nil
}

// tune reads the activations at the input of the convolution before the
// pooling from ex (extracted for the features already, so from its
// cache), fine-tunes that convolution
// with the head on the training split (from init, the frozen head fitted
// on it), picks the epoch on the validation split, then, as the frozen
// path refits its head, trains again on train + validation (from final,
// the frozen head refitted on both) for the chosen epochs, and measures
// that model on the test split. It fills rep.FineTune and replaces rep's
// FloatTest and Threshold with the fine-tuned model's.
func (r *run) tune(ctx context.Context, ex *extractor, init, final *softmaxHead) (trained, error) {
	if !ex.act {
		return trained{}, fmt.Errorf("fine-tune: the extractor gives features, not the convolution's input")
	}
	var err error
	calls := ex.Calls.Load()
	// Validation: the photos and their station views (see isStation).
	var sets [4]actSet // train, validation, test photos, test station views
	for i, s := range []struct {
		idx   []int
		views []view
	}{{r.sp.Train, r.augs}, {r.sp.Val, append(r.augs[:1:1], r.trayViews()...)}, {r.sp.Test, r.augs[:1]}, {r.sp.Test, r.trayViews()}} {
		if len(s.views) == 0 {
			continue
		}
		if sets[i], err = r.activations(ctx, ex, s.idx, s.views); err != nil {
			return trained{}, err
		}
	}
	tr, val, test, stationTest := sets[0], sets[1], sets[2], sets[3]
	o := r.fineTuneOptions()
	start := time.Now()
	in := fineTuneInput{Train: tr, Val: val, In: ex.Quant(), Proj: r.ftProj, Conv: r.ftConv, Head: init}
	sel, err := fineTune(ctx, in, o)
	if err != nil {
		return trained{}, err
	}
	// The threshold comes from the model whose validation predictions are
	// unseen, as for the frozen head.
	vt, vp, vc := sel.Model.scores(val)
	r.rep.Threshold = suggestThreshold(vt, vp, vc, r.c.TargetAcc)
	o.StopAfter = sel.Chosen
	in.Train = actSet{X: append(append([][]byte{}, tr.X...), val.X...), Y: append(append([]int{}, tr.Y...), val.Y...)}
	in.Val, in.Head = actSet{}, final
	refit, err := fineTune(ctx, in, o)
	if err != nil {
		return trained{}, err
	}
	m := refit.Model
	f := &FineTuneReport{Epochs: sel.Epochs, Chosen: sel.Chosen, ValAccuracy: sel.Epochs[sel.Chosen].ValAccuracy,
		FrozenValAccuracy: r.rep.ValAccuracy, FrozenFloatTest: r.rep.FloatTest.Accuracy,
		LR: o.LR, HeadLR: o.HeadLR, ConvL2: o.ConvL2, Smooth: o.Smooth, BackboneRuns: ex.Calls.Load() - calls, Layers: o.Layers}
	if r.ftProj != nil {
		f.ProjLR = o.ProjLR
	}
	r.rep.FineTune = f
	// Quantization ranges from the chosen model on the training originals
	// and the validation split.
	seen := append(append([][]byte{}, tr.X[:min(len(r.sp.Train), len(tr.X))]...), val.X...)
	t := quantizeTuned(m, ex.Quant(), seen, f)
	tt, tp, tc := m.scores(test)
	r.rep.FloatTest = score(r.ds.Classes, tt, tp, tc)
	if len(stationTest.X) > 0 {
		st, sp, sc := m.scores(stationTest)
		ms := score(r.ds.Classes, st, sp, sc)
		r.rep.StationTest = &ms
	}
	f.Seconds = time.Since(start).Seconds()
	return t, nil
}

// activations gathers the cached activations of the items idx in every
// view of views, as an actSet.
func (r *run) activations(ctx context.Context, ex *extractor, idx []int, views []view) (actSet, error) {
	items := make([]Item, len(idx))
	for i, j := range idx {
		items[i] = r.ds.Items[j]
	}
	var s actSet
	for _, a := range views {
		x, _, err := ex.Activations(ctx, items, a, r.c.progress("activations "+a.Name))
		if err != nil {
			return s, fmt.Errorf("fine-tune: activations (%s): %w", a.Name, err)
		}
		for i, j := range idx {
			if x[i] != nil { // failed to decode: already left out of the split
				s.X = append(s.X, x[i])
				s.Y = append(s.Y, r.ds.Items[j].Class)
			}
		}
	}
	return s, nil
}

// fineTuneOptions completes the run's fine-tuning options, with one
// progress bar per epoch.
func (r *run) fineTuneOptions() FineTuneOptions {
	o := r.c.FT
	o.Seed, o.ClassWeights, o.Log = r.c.Seed, true, r.c.Log
	o.defaults()
	if r.c.Progress != nil {
		cur, bar := 0, func(int, int) {}
		o.Progress = func(ep, done, total int) {
			if ep != cur {
				cur = ep
				bar = r.c.Progress(fmt.Sprintf("fine-tune %d/%d", ep, o.Epochs))
			}
			if bar != nil {
				bar(done, total)
			}
		}
	}
	return o
}

// quantizeTuned quantizes the fine-tuned layers for the export from the
// ranges the model m shows on the examples seen in training (in: the
// quantization of the activations it reads), and records the
// projection's range in f.
func quantizeTuned(m *fineTuned, in quantParams, seen [][]byte, f *FineTuneReport) trained {
	var pmax float32
	lo, hi := float32(math.Inf(1)), float32(math.Inf(-1))
	for _, p := range m.Pooled(seen) {
		for _, v := range p {
			pmax = max(pmax, v)
		}
		for _, v := range m.Head.Logits(p) {
			lo, hi = min(lo, v), max(hi, v)
		}
	}
	t := trained{head: m.Head, logitMin: lo, logitMax: hi}
	// RELU6 bounds the convolution's output; a small margin over the
	// largest pooled value seen keeps rarer images from saturating.
	convIn := in
	if m.Proj != nil {
		// The projection's output is the convolution's input: its int8
		// range is the one seen in training now, not the base's.
		plo, phi := m.ProjRange(seen)
		t.proj = quantizeConv(m.Proj, in, phi, 0)
		t.proj.OutMin = plo
		convIn = actQuant(plo, phi)
		f.ProjRange = [2]float32{plo, phi}
	}
	t.conv = quantizeConv(m.Conv, convIn, 6, min(6, 1.05*pmax))
	return t
}

// scores returns the true class, predicted class and its probability of
// every example.
func (m *fineTuned) scores(s actSet) (truth, pred []int, conf []float64) {
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
	layers, proj := "the last convolution", ""
	if f.Layers == 2 {
		layers, proj = "the last two convolutions", fmt.Sprintf(", projection lr %g", f.ProjLR)
	}
	fmt.Fprintf(w, "fine-tuning %s with the head (Adam, lr %g%s, head lr %g, conv L2 %g, label smoothing %g):\n", layers, f.LR, proj, f.HeadLR, f.ConvL2, f.Smooth)
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
