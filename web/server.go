// Package web is the operator's page and HTTP API: classify an uploaded
// photo, watch the station live, list recent items and correct them,
// pause/resume and test flaps, /healthz and Prometheus /metrics. It
// reaches the station only through its control surface (Station) and its
// review (Review: recent items, corrections, the live frame).
package web

import (
	"bytes"
	"context"
	"crypto/subtle"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime/debug"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/sorterd/sorterd/infer"
	"github.com/sorterd/sorterd/links"
	"github.com/sorterd/sorterd/pipeline"
	"github.com/sorterd/sorterd/review"
	"gocv.io/x/gocv"
)

//go:embed static
var static embed.FS

//go:embed pages
var pageFiles embed.FS

// The three pages share their head and navigation (pages/layout.html);
// they are rendered once, at start.
var pageList = []struct{ Path, Page, Name, Title, File string }{
	{"/", "classify", "Classify", "classify", "index.html"},
	{"/live", "live", "Live", "live", "live.html"},
	{"/items", "items", "Recent items", "recent items", "items.html"},
}

func renderPages() (map[string][]byte, error) {
	type navItem struct {
		Path, Name string
		On         bool
	}
	out := map[string][]byte{}
	for _, p := range pageList {
		t, err := template.ParseFS(pageFiles, "pages/layout.html", "pages/"+p.File)
		if err != nil {
			return nil, fmt.Errorf("page %s: %w", p.File, err)
		}
		var nav []navItem
		for _, q := range pageList {
			nav = append(nav, navItem{q.Path, q.Name, q.Path == p.Path})
		}
		var buf bytes.Buffer
		if err := t.ExecuteTemplate(&buf, p.File, map[string]any{"Title": p.Title, "Page": p.Page, "Nav": nav}); err != nil {
			return nil, fmt.Errorf("page %s: %w", p.File, err)
		}
		out[p.Path] = buf.Bytes()
	}
	return out, nil
}

// Classifier is what the classify page needs (*infer.Classifier).
type Classifier interface {
	Classify(ctx context.Context, img gocv.Mat, k int) (infer.Result, error)
	NewReport(image string, r infer.Result, decode time.Duration) infer.Report
	Labels() []string
}

var _ Classifier = (*infer.Classifier)(nil)

// Station is the pipeline's control surface (*pipeline.Station).
type Station interface {
	Pause()
	Resume()
	TestFlap(ctx context.Context, bin string) error
	Stats() pipeline.Stats
	Health(now time.Time, stall time.Duration) error
}

var _ Station = (*pipeline.Station)(nil)

// Review is what the operator reviews of the station's work
// (*review.Review): recent items and their images, corrections, the live
// frame.
type Review interface {
	Items(limit int) []review.Item
	Image(id string, kind string) ([]byte, error)
	Correct(id, class string) (string, error)
	Snapshot() ([]byte, time.Time, error)
}

var _ Review = (*review.Review)(nil)

// Options configure the server. Station and Review may be nil (`sorterd
// serve`: the classify page and API only).
type Options struct {
	Listen   string
	Token    string // bearer token; "" for none
	TokenAll bool   // also for /healthz and /metrics
	// AllowedHosts are the host names the server answers to, besides IP
	// addresses, localhost and this machine's name (and name.local): a
	// request with another Host header is refused, so a page on a
	// DNS-rebound name cannot reach the API.
	AllowedHosts []string
	Classifier   Classifier
	Station      Station
	Review       Review
	Links        func() links.State
	Bins         []pipeline.Bin
	Threshold    float64
	Stall        time.Duration // /healthz: longest gap between frames
	Limits       infer.ImageLimits
	// Uploads classified at once (default 1) and uploads allowed to wait
	// for one of those (default 4). An upload beyond both is answered
	// 503 with Retry-After at once, before its body is read: a flood of
	// uploads costs neither memory nor the station's time.
	Uploads, UploadQueue int
	// UploadWait is how long an admitted upload waits for the classifier
	// before it is answered 503 (default 10 s, under the 30 s write
	// timeout).
	UploadWait time.Duration
	// StationBusy, when set, says an item is in flight at the station:
	// an upload waits for it to be decided before it is classified (within
	// UploadWait), so that uploads share the cores only between items and
	// never slow a trigger → flap.
	StationBusy func() bool
	Version     string
	Log         *slog.Logger
	// Items, when set, is exported on /metrics (the daemon feeds it);
	// Model, when its SHA256 is set, as sorterd_model_info.
	Items *ItemMetrics
	Model ModelInfo
}

// Server is the HTTP server.
type Server struct {
	o        Options
	router   *pipeline.Router // nil: no bins (the classify page only)
	reg      *prometheus.Registry
	handler  http.Handler
	pages    map[string][]byte
	started  time.Time
	requests *prometheus.CounterVec
	uploads  prometheus.Histogram
	refused  prometheus.Counter
	hosts    map[string]bool
	admit    chan struct{} // uploads in the building: running or waiting
	run      chan struct{} // uploads decoding or classifying
}

// Request limits: uploads are read whole, so their size bounds memory.
const (
	defaultMaxUpload = 16 << 20
	defaultMaxPixels = 24_000_000
	// Decoded uploads are at most this many pixels (JPEGs scale down on
	// decode), whatever their size: 4 MP is 12 MB of BGR.
	defaultDecodePixels = 4_000_000
	maxJSONBody         = 4 << 10
)

// shutdownGrace is how long a stopping server lets requests finish.
const shutdownGrace = 5 * time.Second

// Defaults of Options.
const (
	defaultListen = "127.0.0.1:8080"
	// defaultUploadWait is how long an admitted upload waits for the
	// classifier, well under the server's write timeout.
	defaultUploadWait = 10 * time.Second
	// defaultStall is /healthz's longest gap between frames.
	defaultStall       = 10 * time.Second
	defaultUploads     = 1
	defaultUploadQueue = 4
)

func (o *Options) defaults() {
	if o.Listen == "" {
		o.Listen = defaultListen
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.Limits.MaxBytes <= 0 {
		o.Limits.MaxBytes = defaultMaxUpload
	}
	if o.Limits.MaxPixels <= 0 {
		o.Limits.MaxPixels = defaultMaxPixels
	}
	if o.Limits.DecodePixels <= 0 {
		o.Limits.DecodePixels = defaultDecodePixels
	}
	if o.Uploads <= 0 {
		o.Uploads = defaultUploads
	}
	if o.UploadQueue < 0 {
		o.UploadQueue = 0
	} else if o.UploadQueue == 0 {
		o.UploadQueue = defaultUploadQueue
	}
	if o.UploadWait <= 0 {
		o.UploadWait = defaultUploadWait
	}
	if o.Stall <= 0 {
		o.Stall = defaultStall
	}
	if o.Links == nil {
		o.Links = func() links.State { return links.State{} }
	}
}

// New builds the server; Run serves it.
func New(o Options) (*Server, error) {
	if o.Classifier == nil {
		return nil, errors.New("web: no classifier")
	}
	o.defaults()
	s := &Server{o: o, started: time.Now(), hosts: allowedHosts(o.AllowedHosts),
		admit: make(chan struct{}, o.Uploads+o.UploadQueue), run: make(chan struct{}, o.Uploads)}
	if len(o.Bins) > 0 {
		// Uploads are routed by the station's own rule.
		r, err := pipeline.NewRouter(o.Bins, o.Threshold)
		if err != nil {
			return nil, fmt.Errorf("web: bins: %w", err)
		}
		s.router = r
	}
	var err error
	if s.pages, err = renderPages(); err != nil {
		return nil, err
	}
	s.metrics()
	s.handler = s.routes()
	return s, nil
}

// allowedHosts are the host names the server answers to besides IP
// addresses: localhost, this machine's name (and name.local) and the
// configured ones.
func allowedHosts(configured []string) map[string]bool {
	hosts := map[string]bool{"localhost": true}
	if h, err := os.Hostname(); err == nil && h != "" {
		h = strings.ToLower(h)
		hosts[h], hosts[h+".local"] = true, true
	}
	for _, h := range configured {
		hosts[strings.TrimSuffix(strings.ToLower(h), ".")] = true
	}
	return hosts
}

// Handler is the whole site, for tests and embedding.
func (s *Server) Handler() http.Handler { return s.handler }

// Run serves until ctx ends, then drains requests for up to 5 s.
func (s *Server) Run(ctx context.Context) error {
	l, err := net.Listen("tcp", s.o.Listen)
	if err != nil {
		return fmt.Errorf("http.listen %s: %w", s.o.Listen, err)
	}
	return s.Serve(ctx, l)
}

// Serve serves on l until ctx ends.
func (s *Server) Serve(ctx context.Context, l net.Listener) error {
	srv := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second, // the MJPEG stream extends its own
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(s.o.Log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
	if a, ok := l.Addr().(*net.TCPAddr); ok && !a.IP.IsLoopback() && s.o.Token == "" {
		// Anyone on the network could pause the station, fire flaps and
		// label items (labels write training samples).
		l.Close()
		return fmt.Errorf("the page and API would listen beyond this machine (%s) without a token: anyone on the network could pause the station, fire flaps and label items; set http.token (serve: --token), or listen on 127.0.0.1", l.Addr())
	}
	s.o.Log.Info("web page", "url", "http://"+l.Addr().String()+"/", "token", s.o.Token != "")
	done := make(chan error, 1)
	go func() { done <- srv.Serve(l) }()
	select {
	case err := <-done:
		return fmt.Errorf("http: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		srv.Close()
	}
	<-done
	return nil
}

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	assets, _ := fs.Sub(static, "static")
	mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(assets)))
	for path, body := range s.pages {
		pattern := "GET " + path
		if path == "/" {
			pattern = "GET /{$}"
		}
		mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.Header().Set("Cache-Control", "no-cache")
			w.Write(body)
		})
	}

	api := func(pattern string, auth bool, h http.HandlerFunc) {
		method, path, _ := strings.Cut(pattern, " ")
		var hh http.Handler = h
		if auth {
			hh = s.auth(hh)
		}
		mux.Handle(pattern, s.count(path, hh))
		// The path with another method: 405 in JSON, not the catch-all 404.
		mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Allow", method)
			jsonError(w, http.StatusMethodNotAllowed, r.Method+" "+r.URL.Path+": use "+method)
		})
	}
	api("POST /api/classify", true, s.classify)
	api("GET /api/status", true, s.status)
	api("GET /api/events", true, s.events)
	api("GET /api/events/{id}/image", true, s.image)
	api("POST /api/events/{id}/label", true, s.label)
	api("POST /api/pause", true, s.pause)
	api("POST /api/resume", true, s.resume)
	api("POST /api/flaps/{bin}/test", true, s.testFlap)
	api("GET /api/frame", true, s.frame)
	api("GET /api/stream", true, s.stream)
	api("GET /healthz", s.o.TokenAll, s.healthz)
	api("GET /metrics", s.o.TokenAll, s.metricsHandler().ServeHTTP)
	mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		jsonError(w, http.StatusNotFound, "no such endpoint: "+r.Method+" "+r.URL.Path)
	})

	// Browsers mark cross-site requests (Sec-Fetch-Site, Origin): a form
	// on another site cannot pause the station or label items.
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		jsonError(w, http.StatusForbidden, "cross-site request refused")
	}))
	return s.recover(s.hostCheck(cop.Handler(mux)))
}

// hostCheck refuses a Host header that is neither an IP address nor an
// allowed name. A DNS-rebinding page (evil.example resolving to the
// station) is same-origin to the browser, so only the Host tells it apart.
func (s *Server) hostCheck(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host := r.Host
		if hh, _, err := net.SplitHostPort(host); err == nil {
			host = hh
		}
		host = strings.TrimSuffix(strings.ToLower(strings.Trim(host, "[]")), ".")
		if net.ParseIP(host) == nil && !s.hosts[host] {
			jsonError(w, http.StatusMisdirectedRequest, fmt.Sprintf("host %q is not allowed: add it to http.allowed_hosts", truncateString(host, 100)))
			return
		}
		h.ServeHTTP(w, r)
	})
}

func truncateString(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// auth requires the bearer token when one is configured. Pages and static
// files carry no data and stay open; the page asks for the token on 401.
func (s *Server) auth(h http.Handler) http.Handler {
	if s.o.Token == "" {
		return h
	}
	want := []byte("Bearer " + s.o.Token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), want) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="sorterd"`)
			jsonError(w, http.StatusUnauthorized, "missing or wrong bearer token (Authorization: Bearer TOKEN)")
			return
		}
		h.ServeHTTP(w, r)
	})
}

// recover turns a handler panic into a JSON 500 and a log line.
func (s *Server) recover(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.o.Log.Error("http handler panic", "path", r.URL.Path, "panic", v, "stack", string(debug.Stack()))
				jsonError(w, http.StatusInternalServerError, "internal error")
			}
		}()
		h.ServeHTTP(w, r)
	})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// apiError is every failed request's body.
type apiError struct {
	Error  string `json:"error"`
	Status int    `json:"status"`
}

func jsonError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, apiError{Error: msg, Status: code})
}
