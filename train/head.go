package train

import (
	"errors"
	"fmt"
	"math"
	"sync"

	"github.com/sorterd/sorterd/infer"
	"gonum.org/v1/gonum/optimize"
)

// Head is a softmax layer on standardised features:
// p = softmax(W · (x - Mean)/Std + B).
type Head struct {
	Classes []string    `json:"classes"`
	Mean    []float32   `json:"mean"` // per feature
	Std     []float32   `json:"std"`
	W       [][]float32 `json:"w"` // [class][feature]
	B       []float32   `json:"b"`
	Lambda  float64     `json:"lambda"` // L2 strength it was trained with
}

// HeadOptions configure training.
type HeadOptions struct {
	Lambda       float64 // L2 regularisation on W (per sample)
	ClassWeights bool    // weight samples inversely to class frequency
	MaxIter      int
}

// Standardise computes per-feature mean and std over the training rows.
func Standardise(x [][]float32) (mean, std []float32) {
	d := len(x[0])
	m := make([]float64, d)
	s := make([]float64, d)
	for _, r := range x {
		for j, v := range r {
			m[j] += float64(v)
		}
	}
	for j := range m {
		m[j] /= float64(len(x))
	}
	for _, r := range x {
		for j, v := range r {
			dv := float64(v) - m[j]
			s[j] += dv * dv
		}
	}
	mean, std = make([]float32, d), make([]float32, d)
	for j := range m {
		mean[j] = float32(m[j])
		std[j] = float32(math.Sqrt(s[j]/float64(len(x))) + 1e-3)
	}
	return mean, std
}

// TrainHead fits the softmax layer by L-BFGS on the full batch. It is
// deterministic: same data, same options, same weights.
func TrainHead(x [][]float32, y []int, classes []string, o HeadOptions) (*Head, error) {
	if len(x) == 0 || len(x) != len(y) {
		return nil, errors.New("train head: no training rows")
	}
	k, d := len(classes), len(x[0])
	mean, std := Standardise(x)
	z := make([][]float64, len(x))
	for i, r := range x {
		z[i] = make([]float64, d)
		for j, v := range r {
			z[i][j] = float64((v - mean[j]) / std[j])
		}
	}
	sw := make([]float64, len(x))
	counts := make([]int, k)
	for _, c := range y {
		counts[c]++
	}
	for i, c := range y {
		sw[i] = 1
		if o.ClassWeights {
			sw[i] = float64(len(y)) / (float64(k) * float64(max(counts[c], 1)))
		}
	}
	if o.MaxIter <= 0 {
		o.MaxIter = 500
	}
	n := float64(len(x))
	np := k*d + k
	// f(θ) = mean weighted cross-entropy + λ/2 |W|², rows split across
	// goroutines (each part sums into its own gradient; the sum order is fixed,
	// so results do not depend on scheduling).
	const parts = 4 // fixed, so the result does not depend on the machine
	partGrad := make([][]float64, parts)
	partLoss := make([]float64, parts)
	for i := range partGrad {
		partGrad[i] = make([]float64, np)
	}
	fg := func(grad, theta []float64) float64 {
		var wg sync.WaitGroup
		for pi := 0; pi < parts; pi++ {
			wg.Add(1)
			go func(pi int) {
				defer wg.Done()
				g := partGrad[pi]
				for i := range g {
					g[i] = 0
				}
				var loss float64
				logits := make([]float64, k)
				for i := pi; i < len(z); i += parts {
					r := z[i]
					mx := math.Inf(-1)
					for c := 0; c < k; c++ {
						w := theta[c*d : (c+1)*d]
						s := theta[k*d+c]
						for j, v := range r {
							s += w[j] * v
						}
						logits[c] = s
						mx = math.Max(mx, s)
					}
					var sum float64
					for c := range logits {
						logits[c] = math.Exp(logits[c] - mx)
						sum += logits[c]
					}
					loss -= sw[i] * math.Log(math.Max(logits[y[i]]/sum, 1e-300))
					for c := 0; c < k; c++ {
						gc := sw[i] * (logits[c] / sum)
						if c == y[i] {
							gc -= sw[i]
						}
						gc /= n
						gw := g[c*d : (c+1)*d]
						for j, v := range r {
							gw[j] += gc * v
						}
						g[k*d+c] += gc
					}
				}
				partLoss[pi] = loss
			}(pi)
		}
		wg.Wait()
		var loss float64
		for i := range grad {
			grad[i] = 0
		}
		for pi := 0; pi < parts; pi++ {
			loss += partLoss[pi]
			for i, v := range partGrad[pi] {
				grad[i] += v
			}
		}
		loss /= n
		for i := 0; i < k*d; i++ {
			loss += 0.5 * o.Lambda * theta[i] * theta[i]
			grad[i] += o.Lambda * theta[i]
		}
		return loss
	}
	p := optimize.Problem{
		Func: func(t []float64) float64 { g := make([]float64, np); return fg(g, t) },
		Grad: func(g, t []float64) { fg(g, t) },
	}
	res, err := optimize.Minimize(p, make([]float64, np), &optimize.Settings{
		MajorIterations:   o.MaxIter,
		GradientThreshold: 1e-6,
	}, &optimize.LBFGS{})
	if err != nil && res == nil {
		return nil, fmt.Errorf("train head: %w", err)
	}
	h := &Head{Classes: classes, Mean: mean, Std: std, B: make([]float32, k), Lambda: o.Lambda}
	for c := 0; c < k; c++ {
		w := make([]float32, d)
		for j := range w {
			w[j] = float32(res.X[c*d+j])
		}
		h.W = append(h.W, w)
		h.B[c] = float32(res.X[k*d+c])
	}
	return h, nil
}

// Logits of one feature vector.
func (h *Head) Logits(x []float32) []float32 {
	out := make([]float32, len(h.B))
	for c, w := range h.W {
		s := float64(h.B[c])
		for j, v := range x {
			s += float64(w[j]) * float64((v-h.Mean[j])/h.Std[j])
		}
		out[c] = float32(s)
	}
	return out
}

// Probs of one feature vector.
func (h *Head) Probs(x []float32) []float32 {
	l := h.Logits(x)
	infer.Softmax(l)
	return l
}

func argmax(s []float32) int {
	best := 0
	for i, v := range s {
		if v > s[best] {
			best = i
		}
	}
	return best
}
