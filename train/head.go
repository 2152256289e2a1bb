package train

import (
	"errors"
	"fmt"
	"math"
	"sync"

	"github.com/sorterd/sorterd/infer"
	"gonum.org/v1/gonum/optimize"
)

// softmaxHead is a softmax layer on standardised features:
// p = softmax(W · (x - Mean)/Std + B).
type softmaxHead struct {
	Classes []string    `json:"classes"`
	Mean    []float32   `json:"mean"` // per feature
	Std     []float32   `json:"std"`
	W       [][]float32 `json:"w"` // [class][feature]
	B       []float32   `json:"b"`
	Lambda  float64     `json:"lambda"` // L2 strength it was trained with
}

// headOptions configure training.
type headOptions struct {
	Lambda       float64 // L2 regularisation on W (per sample)
	ClassWeights bool    // weight samples inversely to class frequency
	MaxIter      int
}

// standardise computes per-feature mean and std over the training rows.
func standardise(x [][]float32) (mean, std []float32) {
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

// trainHead fits the softmax layer by L-BFGS on the full batch. It is
// deterministic: same data, same options, same weights.
func trainHead(x [][]float32, y []int, classes []string, o headOptions) (*softmaxHead, error) {
	if len(x) == 0 || len(x) != len(y) {
		return nil, errors.New("train head: no training rows")
	}
	if o.MaxIter <= 0 {
		o.MaxIter = 500
	}
	mean, std := standardise(x)
	hp := newHeadProblem(x, y, len(classes), mean, std, o)
	np := hp.k*hp.d + hp.k
	p := optimize.Problem{
		Func: func(t []float64) float64 { g := make([]float64, np); return hp.objective(g, t) },
		Grad: func(g, t []float64) { hp.objective(g, t) },
	}
	res, err := optimize.Minimize(p, make([]float64, np), &optimize.Settings{
		MajorIterations:   o.MaxIter,
		GradientThreshold: 1e-6,
	}, &optimize.LBFGS{})
	if err != nil && res == nil {
		return nil, fmt.Errorf("train head: %w", err)
	}
	k, d := hp.k, hp.d
	h := &softmaxHead{Classes: classes, Mean: mean, Std: std, B: make([]float32, k), Lambda: o.Lambda}
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

// headParts is how many goroutines share the rows of the head's
// objective: fixed, so the result does not depend on the machine.
const headParts = 4

// headProblem is the head's objective on standardised rows z with labels
// y and sample weights sw; θ is W ([class][feature], flat) then B.
type headProblem struct {
	z        [][]float64
	y        []int
	sw       []float64
	k, d     int
	lambda   float64
	partGrad [][]float64
	partLoss []float64
}

func newHeadProblem(x [][]float32, y []int, k int, mean, std []float32, o headOptions) *headProblem {
	d := len(x[0])
	hp := &headProblem{y: y, k: k, d: d, lambda: o.Lambda, z: make([][]float64, len(x)), sw: make([]float64, len(x)),
		partGrad: make([][]float64, headParts), partLoss: make([]float64, headParts)}
	for i, r := range x {
		hp.z[i] = make([]float64, d)
		for j, v := range r {
			hp.z[i][j] = float64((v - mean[j]) / std[j])
		}
	}
	counts := make([]int, k)
	for _, c := range y {
		counts[c]++
	}
	for i, c := range y {
		hp.sw[i] = 1
		if o.ClassWeights {
			hp.sw[i] = float64(len(y)) / (float64(k) * float64(max(counts[c], 1)))
		}
	}
	for i := range hp.partGrad {
		hp.partGrad[i] = make([]float64, k*d+k)
	}
	return hp
}

// objective is f(θ) = mean weighted cross-entropy + λ/2 |W|², with its
// gradient in grad. Rows are split across goroutines, each summing into
// its own gradient; the parts are added in a fixed order, so results do
// not depend on scheduling.
func (hp *headProblem) objective(grad, theta []float64) float64 {
	var wg sync.WaitGroup
	for pi := 0; pi < headParts; pi++ {
		wg.Add(1)
		go func(pi int) {
			defer wg.Done()
			hp.partLoss[pi] = hp.part(pi, theta)
		}(pi)
	}
	wg.Wait()
	var loss float64
	for i := range grad {
		grad[i] = 0
	}
	for pi := 0; pi < headParts; pi++ {
		loss += hp.partLoss[pi]
		for i, v := range hp.partGrad[pi] {
			grad[i] += v
		}
	}
	loss /= float64(len(hp.z))
	for i := 0; i < hp.k*hp.d; i++ {
		loss += 0.5 * hp.lambda * theta[i] * theta[i]
		grad[i] += hp.lambda * theta[i]
	}
	return loss
}

// part sums the loss of rows pi, pi+headParts, ... and their gradient
// (already divided by the row count) into partGrad[pi].
func (hp *headProblem) part(pi int, theta []float64) float64 {
	k, d, n := hp.k, hp.d, float64(len(hp.z))
	g := hp.partGrad[pi]
	for i := range g {
		g[i] = 0
	}
	var loss float64
	logits := make([]float64, k)
	for i := pi; i < len(hp.z); i += headParts {
		r := hp.z[i]
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
		sw, y := hp.sw[i], hp.y[i]
		loss -= sw * math.Log(math.Max(logits[y]/sum, 1e-300))
		for c := 0; c < k; c++ {
			gc := sw * (logits[c] / sum)
			if c == y {
				gc -= sw
			}
			gc /= n
			gw := g[c*d : (c+1)*d]
			for j, v := range r {
				gw[j] += gc * v
			}
			g[k*d+c] += gc
		}
	}
	return loss
}

// Logits of one feature vector.
func (h *softmaxHead) Logits(x []float32) []float32 {
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
func (h *softmaxHead) Probs(x []float32) []float32 {
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
