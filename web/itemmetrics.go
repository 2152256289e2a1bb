package web

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/sorterd/sorterd/pipeline"
)

// ItemMetrics counts decided items as the station reports them (its
// OnEvent): the trigger → flap latency, and items by label and action.
// The daemon makes it before the station, feeds it every event, and hands
// it to the server (Options.Items), which exports it on /metrics.
type ItemMetrics struct {
	latency prometheus.Histogram
	labels  *prometheus.CounterVec
}

// NewItemMetrics makes the metrics with a series for every label and
// action from the start, so rate() sees the first item.
func NewItemMetrics(labels []string) *ItemMetrics {
	m := &ItemMetrics{
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "sorterd_item_latency_seconds", Help: "From the item's trigger to its flap opening.",
			Buckets: []float64{.05, .1, .15, .2, .3, .4, .5, .75, 1, 1.5, 2, 3, 5, 10},
		}),
		labels: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sorterd_items_by_label_total", Help: "Decided items by the model's label and action (sort, reject).",
		}, []string{"label", "action"}),
	}
	for _, l := range labels {
		for _, a := range pipeline.Actions() {
			m.labels.WithLabelValues(l, a.String())
		}
	}
	return m
}

// Observe counts one decided item.
func (m *ItemMetrics) Observe(e pipeline.Event) {
	m.latency.Observe(time.Duration(e.LatencyMS * float64(time.Millisecond)).Seconds())
	m.labels.WithLabelValues(e.Label, e.Action.String()).Inc()
}

// ModelInfo says which model the station runs (sorterd_model_info).
type ModelInfo struct {
	SHA256   string // the first 12 hex digits are exported
	InputW   int
	InputH   int
	Delegate string // what executes the graph (cpu, xnnpack, edgetpu, gpu)
	Coverage string // full, partial, failed, unavailable, none
}

func modelInfoGauge(mi ModelInfo) prometheus.Gauge {
	sha := mi.SHA256
	if len(sha) > 12 {
		sha = sha[:12]
	}
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "sorterd_model_info", Help: "Always 1; the labels say which model the station runs.",
		ConstLabels: prometheus.Labels{"sha256": sha, "input": strconv.Itoa(mi.InputW) + "x" + strconv.Itoa(mi.InputH), "delegate": mi.Delegate, "coverage": mi.Coverage},
	})
	g.Set(1)
	return g
}
