package train

import "fmt"

// binning maps classes to the station's bins. The station routes an item
// by its best class's bin and compares that bin's summed score with the
// threshold (pipeline.Router.BinScore): an item scored paper 0.5,
// cardboard 0.45 goes surely to the paper bin. The threshold is chosen
// the same way, so that it means on the station what it meant here.
type binning []int // class index → bin index

// newBinning groups classes by bins (each a list of class names); a
// class in no bin is a bin of its own. A class in two bins is an error.
func newBinning(classes []string, bins [][]string) (binning, error) {
	idx := map[string]int{}
	for i, c := range classes {
		idx[c] = i
	}
	b := make(binning, len(classes))
	for i := range b {
		b[i] = -1
	}
	for k, labels := range bins {
		for _, l := range labels {
			i, ok := idx[l]
			if !ok {
				continue // a label this data set has no class for
			}
			if b[i] >= 0 {
				return nil, fmt.Errorf("class %q is in two bins", l)
			}
			b[i] = k
		}
	}
	next := len(bins)
	for i := range b {
		if b[i] < 0 {
			b[i] = next
			next++
		}
	}
	return b, nil
}

// rows is what the threshold is chosen on, per example: the bin of the
// true class, the bin of the best class, and that bin's summed score.
func (b binning) rows(y []int, probs [][]float32) (truth, pred []int, conf []float64) {
	for i, p := range probs {
		best := argmax(p)
		var s float32
		for c, v := range p {
			if b[c] == b[best] {
				s += v
			}
		}
		truth = append(truth, b[y[i]])
		pred = append(pred, b[best])
		conf = append(conf, float64(s))
	}
	return
}
