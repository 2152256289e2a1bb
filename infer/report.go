package infer

import "time"

// Report is one classified image as `sorterd --once --json` prints it and
// `POST /api/classify` returns it: one shape for both.
type Report struct {
	Image     string         `json:"image"`
	Label     string         `json:"label"`
	Score     float32        `json:"score"`
	Top       []Score        `json:"top"`
	Model     ModelRef       `json:"model"`
	Delegate  DelegateReport `json:"delegate"`
	TTA       []string       `json:"tta"`
	LatencyMS Latency        `json:"latency_ms"`
}

// ModelRef names the model that classified.
type ModelRef struct {
	Path   string `json:"path"`
	SHA256 string `json:"sha256"`
}

// Latency per stage, in milliseconds.
type Latency struct {
	Decode     float64 `json:"decode"`
	Preprocess float64 `json:"preprocess"`
	Invoke     float64 `json:"invoke"`
	Total      float64 `json:"total"`
}

// NewReport describes r; decode is the time the image took to decode.
func (c *Classifier) NewReport(image string, r Result, decode time.Duration) Report {
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	return Report{
		Image: image, Label: r.Label, Score: r.Score.Score, Top: r.Top,
		Model: ModelRef{Path: c.ModelPath(), SHA256: c.SHA256()}, Delegate: c.Delegate(), TTA: c.TTA(),
		LatencyMS: Latency{
			Decode: ms(decode), Preprocess: ms(r.Timing.Preprocess), Invoke: ms(r.Timing.Invoke),
			Total: ms(decode + r.Timing.Preprocess + r.Timing.Invoke + r.Timing.Postprocess),
		},
	}
}
