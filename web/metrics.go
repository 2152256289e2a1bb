package web

import (
	"net/http"
	"runtime"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/sorterd/sorterd/pipeline"
)

// The station's counters live in the pipeline (it also publishes them on
// MQTT); the collector reads one snapshot per scrape instead of keeping a
// second set of counters in step.

var (
	descInference   = prometheus.NewDesc("sorterd_inference_seconds", "Time to classify one frame (all TTA views).", nil, nil)
	descFrames      = prometheus.NewDesc("sorterd_frames_read_total", "Frames read from the camera.", nil, nil)
	descDropped     = prometheus.NewDesc("sorterd_frames_dropped_total", "Frames read but not looked at, by reason (paused, cooldown, error; empty, too_small: no item located in it).", []string{"reason"}, nil)
	descItems       = prometheus.NewDesc("sorterd_items_total", "Decided items by bin and action (sort, reject).", []string{"bin", "action"}, nil)
	descCorrections = prometheus.NewDesc("sorterd_corrections_total", "Items an operator labelled, by the class given.", []string{"class"}, nil)
	descLocate      = prometheus.NewDesc("sorterd_locate_total", "What locating items found: no_item (a trigger with no item: given up), abandoned (an item whose frames stopped), relearned (the tray learned anew), stuck (something lay on the tray for a minute: learned anew).", []string{"result"}, nil)
	descPaused      = prometheus.NewDesc("sorterd_paused", "1 while the station is paused.", nil, nil)
	descHealthy     = prometheus.NewDesc("sorterd_healthy", "1 while the pipeline progresses (as /healthz).", nil, nil)
	descCamera      = prometheus.NewDesc("sorterd_camera_connected", "1 while the camera delivers frames.", nil, nil)
	descReconnects  = prometheus.NewDesc("sorterd_camera_reconnects_total", "Times the camera was lost and reopening began.", nil, nil)
	descMQTT        = prometheus.NewDesc("sorterd_mqtt_connected", "1 while connected to the MQTT broker.", nil, nil)
	descOutbox      = prometheus.NewDesc("sorterd_mqtt_outbox_depth", "Events waiting in the on-disk outbox.", nil, nil)
	descOutDropped  = prometheus.NewDesc("sorterd_mqtt_outbox_dropped_total", "Events dropped because the outbox was full.", nil, nil)
	descOutFailed   = prometheus.NewDesc("sorterd_mqtt_outbox_failed_total", "Events the disk refused (full, read-only); kept in memory instead.", nil, nil)
	descOutMemory   = prometheus.NewDesc("sorterd_mqtt_outbox_in_memory", "Waiting events held only in memory (a crash loses them).", nil, nil)
	descOutQuar     = prometheus.NewDesc("sorterd_mqtt_outbox_quarantined_total", "Outbox files that were not an event (empty, cut short, stray, JSON that is no event), moved aside.", nil, nil)
	descOutDegraded = prometheus.NewDesc("sorterd_mqtt_outbox_degraded", "1 while events cannot be written to disk.", nil, nil)
	descConflicts   = prometheus.NewDesc("sorterd_mqtt_station_conflicts_total", "Times another sorterd was seen publishing as this station.", nil, nil)
)

type collector struct{ s *Server }

// Describe sends nothing: an unchecked collector, since which series exist
// (bins, links) is only known at scrape time.
func (c collector) Describe(ch chan<- *prometheus.Desc) {}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	b := func(v bool) float64 {
		if v {
			return 1
		}
		return 0
	}
	if st := c.s.o.Station; st != nil {
		s := st.Stats()
		buckets := make(map[float64]uint64, len(s.Inference.Bounds))
		for i, ub := range s.Inference.Bounds {
			buckets[ub] = s.Inference.Counts[i]
		}
		ch <- prometheus.MustNewConstHistogram(descInference, s.Inference.Count, s.Inference.Sum, buckets)
		ch <- prometheus.MustNewConstMetric(descFrames, prometheus.CounterValue, float64(s.Frames))
		for _, reason := range []string{"paused", "cooldown", "error", "empty", "too_small"} {
			ch <- prometheus.MustNewConstMetric(descDropped, prometheus.CounterValue, float64(s.Dropped[reason]), reason)
		}
		c.items(ch, s.Sorted)
		for _, l := range c.s.o.Classifier.Labels() {
			ch <- prometheus.MustNewConstMetric(descCorrections, prometheus.CounterValue, float64(s.Corrections[l]), l)
		}
		for _, r := range []string{"no_item", "abandoned", "relearned", "stuck"} {
			ch <- prometheus.MustNewConstMetric(descLocate, prometheus.CounterValue, float64(s.Locate[r]), r)
		}
		ch <- prometheus.MustNewConstMetric(descPaused, prometheus.GaugeValue, b(s.Paused))
		ch <- prometheus.MustNewConstMetric(descHealthy, prometheus.GaugeValue, b(st.Health(time.Now(), c.s.o.Stall) == nil))
	}
	l := c.s.o.Links()
	if l.Camera != nil {
		ch <- prometheus.MustNewConstMetric(descCamera, prometheus.GaugeValue, b(l.Camera.Connected))
		ch <- prometheus.MustNewConstMetric(descReconnects, prometheus.CounterValue, float64(l.Camera.Reconnects))
	}
	if l.MQTT != nil {
		ch <- prometheus.MustNewConstMetric(descMQTT, prometheus.GaugeValue, b(l.MQTT.Connected))
		ch <- prometheus.MustNewConstMetric(descOutbox, prometheus.GaugeValue, float64(l.MQTT.Outbox))
		ch <- prometheus.MustNewConstMetric(descOutDropped, prometheus.CounterValue, float64(l.MQTT.Dropped))
		ch <- prometheus.MustNewConstMetric(descOutFailed, prometheus.CounterValue, float64(l.MQTT.Failed))
		ch <- prometheus.MustNewConstMetric(descOutMemory, prometheus.GaugeValue, float64(l.MQTT.InMemory))
		ch <- prometheus.MustNewConstMetric(descOutQuar, prometheus.CounterValue, float64(l.MQTT.Quarantined))
		ch <- prometheus.MustNewConstMetric(descOutDegraded, prometheus.GaugeValue, b(l.MQTT.Problem != ""))
		ch <- prometheus.MustNewConstMetric(descConflicts, prometheus.CounterValue, float64(l.MQTT.Conflicts))
	}
}

// items are the items per bin and action; every bin appears from the
// start, so rate() sees the first item.
func (c collector) items(ch chan<- prometheus.Metric, sorted map[pipeline.BinAction]int) {
	seen := map[pipeline.BinAction]bool{}
	if c.s.router != nil {
		for _, bin := range c.s.router.Bins() {
			for _, a := range pipeline.Actions() {
				if !c.s.router.Can(bin, a) {
					continue
				}
				k := pipeline.BinAction{Bin: bin.Name, Action: a}
				seen[k] = true
				ch <- prometheus.MustNewConstMetric(descItems, prometheus.CounterValue, float64(sorted[k]), bin.Name, a.String())
			}
		}
	}
	for k, v := range sorted {
		if !seen[k] {
			ch <- prometheus.MustNewConstMetric(descItems, prometheus.CounterValue, float64(v), k.Bin, k.Action.String())
		}
	}
}

func (s *Server) metrics() {
	s.reg = prometheus.NewRegistry()
	s.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "sorterd_http_requests_total", Help: "HTTP API requests by handler and status code.",
	}, []string{"handler", "code"})
	s.uploads = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "sorterd_classify_upload_seconds", Help: "Decode + classify time of uploaded photos.",
		Buckets: []float64{.01, .02, .05, .1, .2, .5, 1, 2},
	})
	s.refused = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "sorterd_classify_uploads_refused_total", Help: "Uploads answered 503 because the upload queue was full.",
	})
	build := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "sorterd_build_info", Help: "Always 1; the labels say which sorterd runs.",
		ConstLabels: prometheus.Labels{"version": s.o.Version, "goversion": runtime.Version()},
	})
	build.Set(1)
	s.reg.MustRegister(collector{s}, s.requests, s.uploads, s.refused, build,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if s.o.Items != nil {
		s.reg.MustRegister(s.o.Items.latency, s.o.Items.labels)
	}
	if s.o.Model.SHA256 != "" {
		s.reg.MustRegister(modelInfoGauge(s.o.Model))
	}
}

func (s *Server) metricsHandler() http.Handler {
	return promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{ErrorLog: slogPrinter{s}})
}

type slogPrinter struct{ s *Server }

func (p slogPrinter) Println(v ...any) { p.s.o.Log.Warn("metrics", "err", v) }

// count counts requests per handler and status code.
func (s *Server) count(name string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rw := &statusWriter{ResponseWriter: w, code: http.StatusOK}
		h.ServeHTTP(rw, r)
		s.requests.WithLabelValues(name, strconv.Itoa(rw.code)).Inc()
	})
}

type statusWriter struct {
	http.ResponseWriter
	code  int
	wrote bool
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.wrote {
		w.code, w.wrote = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController reach Flush and deadlines.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
