package web

import (
	"bytes"
	"context"
	"encoding/json"
	"image"
	"image/jpeg"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/sorterd/sorterd/infer"
	"github.com/sorterd/sorterd/internal/testenv"
	"github.com/sorterd/sorterd/links"
	"github.com/sorterd/sorterd/pipeline"
	"github.com/sorterd/sorterd/review"
	"github.com/sorterd/sorterd/web/webtest"
)

func multipartBody(t testing.TB, field, name string, data []byte) (*bytes.Buffer, string) {
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	fw, err := mw.CreateFormFile(field, name)
	if err != nil {
		t.Fatal(err)
	}
	fw.Write(data)
	mw.Close()
	return &buf, mw.FormDataContentType()
}

func post(t testing.TB, url, ctype string, body []byte, hdr ...string) (int, []byte) {
	req, _ := http.NewRequest("POST", url, bytes.NewReader(body))
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	code, b, _ := do(t, req)
	return code, b
}

// badLabels posts the labels a correction must refuse (unknown, a path,
// bad JSON, an extra field, a form, an unknown item) and checks each
// answer's status and error body.
func badLabels(t *testing.T, base, labelURL string) {
	t.Helper()
	for _, tc := range []struct {
		url, ctype, body string
		code             int
	}{
		{labelURL, "application/json", `{"label":"unobtainium"}`, 400},
		{labelURL, "application/json", `{"label":"../etc"}`, 400},
		{labelURL, "application/json", `{"label":`, 400},
		{labelURL, "application/json", `{"label":"glass","x":1}`, 400},
		{labelURL, "application/x-www-form-urlencoded", `label=glass`, 415},
		{base + "/api/events/nope/label", "application/json", `{"label":"glass"}`, 404},
	} {
		code, b := post(t, tc.url, tc.ctype, []byte(tc.body))
		if code != tc.code {
			t.Errorf("%s %s: %d %s, want %d", tc.ctype, tc.body, code, b, tc.code)
		}
		errorOf(t, b)
	}
}

func errorOf(t testing.TB, b []byte) apiError {
	var e apiError
	if err := json.Unmarshal(b, &e); err != nil || e.Error == "" {
		t.Fatalf("not a JSON error: %s", b)
	}
	return e
}

// POST /api/classify against the real model: the same answer as the
// classifier itself, the --once --json fields, and a fitting status for
// every kind of bad upload.
func TestClassify(t *testing.T) {
	c := classifier(t)
	ts := server(t, Options{Classifier: c, Threshold: 0.5, Limits: infer.ImageLimits{MaxBytes: 1 << 20, MaxPixels: 2_000_000}})
	glass := readFile(t, photo(t, "glass", 12))

	body, ct := multipartBody(t, "image", "glass12.jpg", glass)
	code, b := post(t, ts.URL+"/api/classify?top=3", ct, body.Bytes())
	if code != 200 {
		t.Fatalf("%d %s", code, b)
	}
	var got map[string]any
	json.Unmarshal(b, &got)
	for _, k := range []string{"image", "label", "score", "top", "model", "delegate", "tta", "latency_ms", "bin", "action", "threshold"} {
		if _, ok := got[k]; !ok {
			t.Errorf("response lacks %q: %s", k, b)
		}
	}
	var r ClassifyResponse
	json.Unmarshal(b, &r)
	img, err := infer.DecodeImage(glass, infer.ImageLimits{})
	if err != nil {
		t.Fatal(err)
	}
	want, err := c.Classify(context.Background(), img, 3)
	img.Close()
	if err != nil {
		t.Fatal(err)
	}
	if r.Label != want.Label || r.Score != want.Score.Score || len(r.Top) != 3 || r.Image != "glass12.jpg" {
		t.Errorf("API says %s %.4f (top %d, image %q); the classifier says %s %.4f", r.Label, r.Score, len(r.Top), r.Image, want.Label, want.Score.Score)
	}
	wantBin := map[string]string{"glass": "glass", "metal": "metal", "paper": "paper", "cardboard": "paper", "plastic": "plastic", "trash": "reject"}[r.Label]
	if r.Score < 0.5 {
		wantBin = "reject"
	}
	if r.Bin != wantBin {
		t.Errorf("bin %q for %s %.2f, want %q", r.Bin, r.Label, r.Score, wantBin)
	}

	// A raw body works too, PNG as well as JPEG.
	if code, b := post(t, ts.URL+"/api/classify", "image/jpeg", glass); code != 200 {
		t.Errorf("raw JPEG: %d %s", code, b)
	}
	if code, b := post(t, ts.URL+"/api/classify", "image/png", readFile(t, filepath.Join(testenv.Root(), "testdata", "images", "red.png"))); code != 200 {
		t.Errorf("PNG: %d %s", code, b)
	}

	// A big image within the byte limit but over the pixel limit is refused
	// from its header.
	var big bytes.Buffer
	jpeg.Encode(&big, image.NewGray(image.Rect(0, 0, 2000, 1500)), &jpeg.Options{Quality: 10})
	cases := []struct {
		name, ctype string
		body        []byte
		code        int
		msg         string
	}{
		{"truncated", "image/jpeg", glass[:len(glass)/2], 422, "truncated"},
		{"corrupt", "image/jpeg", append(append([]byte{}, glass[:600]...), bytes.Repeat([]byte{0x55}, 5000)...), 422, "image"},
		{"not an image", "image/jpeg", []byte("GIF89a not really"), 415, "not a JPEG or PNG"},
		{"empty", "image/jpeg", nil, 400, "empty"},
		{"too many bytes", "image/jpeg", bytes.Repeat(glass, 1+(2<<20)/len(glass)), 413, "larger than"},
		{"too many pixels", "image/jpeg", big.Bytes(), 413, "2000×1500 pixels"},
		{"wrong content type", "text/plain", glass, 415, "Content-Type"},
		{"no content type", "", glass, 415, "Content-Type"},
		{"form without file", "multipart/form-data; boundary=x", []byte("--x\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n1\r\n--x--\r\n"), 400, "no \"image\" file"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, b := post(t, ts.URL+"/api/classify", tc.ctype, tc.body)
			e := errorOf(t, b)
			if code != tc.code || e.Status != code || !strings.Contains(e.Error, tc.msg) {
				t.Errorf("%d %q, want %d containing %q", code, e.Error, tc.code, tc.msg)
			}
		})
	}
}

// With a token: the API refuses requests without it; pages, /healthz and
// /metrics stay open unless TokenAll. Cross-site posts are refused.
func TestTokenAndCrossSite(t *testing.T) {
	c := classifier(t)
	for _, all := range []bool{false, true} {
		ts := server(t, Options{Classifier: c, Token: "s3cret", TokenAll: all})
		glass := readFile(t, photo(t, "glass", 12))
		code, b := post(t, ts.URL+"/api/classify", "image/jpeg", glass)
		if code != 401 || !strings.Contains(errorOf(t, b).Error, "bearer token") {
			t.Errorf("no token: %d %s", code, b)
		}
		if code, _ := post(t, ts.URL+"/api/classify", "image/jpeg", glass, "Authorization", "Bearer wrong"); code != 401 {
			t.Errorf("wrong token: %d", code)
		}
		if code, b := post(t, ts.URL+"/api/classify", "image/jpeg", glass, "Authorization", "Bearer s3cret"); code != 200 {
			t.Errorf("right token: %d %s", code, b)
		}
		if code, _, _ := get(t, ts.URL+"/api/status"); code != 401 {
			t.Errorf("status without token: %d", code)
		}
		if code, _, _ := get(t, ts.URL+"/"); code != 200 {
			t.Errorf("page: %d", code)
		}
		wantOpen := map[bool]int{false: 200, true: 401}[all]
		for _, p := range []string{"/healthz", "/metrics"} {
			if code, _, _ := get(t, ts.URL+p); code != wantOpen {
				t.Errorf("token_all=%v %s: %d, want %d", all, p, code, wantOpen)
			}
		}
		// A form on another site, with the right token even: refused.
		code, b = post(t, ts.URL+"/api/classify", "image/jpeg", glass, "Authorization", "Bearer s3cret", "Sec-Fetch-Site", "cross-site")
		if code != 403 || !strings.Contains(errorOf(t, b).Error, "cross-site") {
			t.Errorf("cross-site: %d %s", code, b)
		}
		code, _ = post(t, ts.URL+"/api/classify", "image/jpeg", glass, "Authorization", "Bearer s3cret", "Origin", "https://evil.example")
		if code != 403 {
			t.Errorf("foreign Origin: %d", code)
		}
	}
}

// Without a station (sorterd serve) the station endpoints say so.
func TestServeWithoutStation(t *testing.T) {
	ts := server(t, Options{Classifier: classifier(t)})
	for _, p := range []string{"/api/events", "/api/frame", "/api/events/x/image"} {
		code, b, _ := get(t, ts.URL+p)
		if code != 503 || !strings.Contains(errorOf(t, b).Error, "no station") {
			t.Errorf("%s: %d %s", p, code, b)
		}
	}
	if code, b := post(t, ts.URL+"/api/pause", "", nil); code != 503 {
		t.Errorf("pause: %d %s", code, b)
	}
	if code, _, _ := get(t, ts.URL+"/healthz"); code != 200 {
		t.Errorf("healthz: %d", code)
	}
	if code, b, _ := get(t, ts.URL+"/api/nothing"); code != 404 || errorOf(t, b).Status != 404 {
		t.Errorf("unknown endpoint: %d %s", code, b)
	}
	if code, b := post(t, ts.URL+"/api/status", "", nil); code != 405 {
		t.Errorf("POST status: %d %s", code, b)
	}
}

func items(t testing.TB, url string) []review.Item {
	code, b, _ := get(t, url+"/api/events?limit=50")
	if code != 200 {
		t.Fatalf("events: %d %s", code, b)
	}
	var out []review.Item
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// The one end-to-end test of the station's API on a real station (OpenCV,
// the real model, dry-run flaps; the handlers' cases are in
// TestStationHandlers on a fake): recent items with their frames,
// corrections saved as samples, pause/resume, flaps, the live frame and
// stream, /healthz.
func TestStationEndToEnd(t *testing.T) {
	testenv.Slow(t, "runs a real station with the real model")
	c := classifier(t)
	st, samples := liveStation(t, c)
	ts := server(t, Options{Classifier: c, Station: st, Stall: 500 * time.Millisecond})
	// A listed item always has its frame: the list is read in a tight
	// loop while the station decides items, so an item shown before its
	// frame is encoded would be caught here.
	deadline := time.Now().Add(60 * time.Second)
	for n := 0; n < 2; {
		its := st.Items(50)
		for _, it := range its {
			if !it.HasImage {
				t.Fatalf("item %s listed without its frame", it.ID)
			}
		}
		if n = len(its); time.Now().After(deadline) {
			t.Fatalf("timed out waiting for two items (have %d)", n)
		}
		time.Sleep(200 * time.Microsecond)
	}

	its := items(t, ts.URL)
	it := its[0]
	if it.ID == "" || it.Label == "" || it.Bin == "" || !it.HasImage || it.Frames != 2 {
		t.Fatalf("item %+v", it)
	}
	if t0, t1 := its[0].TS, its[1].TS; t0 < t1 {
		t.Errorf("not newest first: %s before %s", t0, t1)
	}
	if code, b, _ := get(t, ts.URL+"/api/events?limit=1"); code != 200 || strings.Count(string(b), `"id"`) != 1 {
		t.Errorf("limit=1: %d %s", code, b)
	}
	for _, bad := range []string{"0", "x", "5000"} {
		if code, _, _ := get(t, ts.URL+"/api/events?limit="+bad); code != 400 {
			t.Errorf("limit=%s: %d", bad, code)
		}
	}
	// The item's frame, thumbnail and crop are JPEGs of the right sizes.
	for thumb, width := range map[string]int{"": 640, "?thumb=1": 160, "?kind=crop": it.Box.W} {
		code, b, h := get(t, ts.URL+"/api/events/"+it.ID+"/image"+thumb)
		if code != 200 || h.Get("Content-Type") != "image/jpeg" {
			t.Fatalf("image%s: %d %s", thumb, code, h.Get("Content-Type"))
		}
		cfg, err := jpeg.DecodeConfig(bytes.NewReader(b))
		if err != nil || cfg.Width != width {
			t.Errorf("image%s: %v, width %d want %d", thumb, err, cfg.Width, width)
		}
	}
	if code, _, _ := get(t, ts.URL+"/api/events/nope/image"); code != 404 {
		t.Errorf("unknown image: %d", code)
	}

	// Correct the item: its frame lands in samples/<class>/<id>.jpg;
	// correcting again moves it.
	labelURL := ts.URL + "/api/events/" + it.ID + "/label"
	other := "trash"
	if it.Label == "trash" {
		other = "paper"
	}
	code, b := post(t, labelURL, "application/json", []byte(`{"label":"`+other+`"}`))
	if code != 200 {
		t.Fatalf("label: %d %s", code, b)
	}
	var lr LabelResponse
	json.Unmarshal(b, &lr)
	want := filepath.Join(samples, other, it.ID+".jpg")
	if lr.File != want {
		t.Errorf("file %s, want %s", lr.File, want)
	}
	// The sample is what the model saw (the crop); the full frame is
	// kept beside it.
	_, crop, _ := get(t, ts.URL+"/api/events/"+it.ID+"/image?kind=crop")
	if saved, err := os.ReadFile(want); err != nil || !bytes.Equal(saved, crop) {
		t.Errorf("saved sample %s: %v (same bytes as the item's crop: %v)", want, err, bytes.Equal(saved, crop))
	}
	_, full, _ := get(t, ts.URL+"/api/events/"+it.ID+"/image")
	if saved, err := os.ReadFile(filepath.Join(samples, review.FramesDir, it.ID+".jpg")); err != nil || !bytes.Equal(saved, full) {
		t.Errorf("saved frame: %v (same bytes as the item's frame: %v)", err, bytes.Equal(saved, full))
	}
	if code, _ := post(t, labelURL, "application/json", []byte(`{"label":"glass"}`)); code != 200 {
		t.Errorf("relabel: %d", code)
	}
	if _, err := os.Stat(want); !os.IsNotExist(err) {
		t.Errorf("old sample still there after relabel: %v", err)
	}
	if _, err := os.Stat(filepath.Join(samples, "glass", it.ID+".jpg")); err != nil {
		t.Error(err)
	}
	if findItem(items(t, ts.URL), it.ID).Corrected != "glass" {
		t.Errorf("item not marked corrected: %+v", findItem(items(t, ts.URL), it.ID))
	}
	badLabels(t, ts.URL, labelURL)

	// Pause: frames are still read (and counted as dropped), nothing sorted.
	if code, b := post(t, ts.URL+"/api/pause", "", nil); code != 200 || !strings.Contains(string(b), `"paused": true`) {
		t.Fatalf("pause: %d %s", code, b)
	}
	before := st.Stats()
	eventually(t, "frames dropped while paused", 10*time.Second, func() bool {
		after := st.Stats()
		return after.Paused && after.Dropped["paused"] > before.Dropped["paused"]
	})
	// Paused, the station still reads frames: healthy.
	if code, b, _ := get(t, ts.URL+"/healthz"); code != 200 {
		t.Errorf("paused but reading: %d %s", code, b)
	}
	var status Status
	_, b, _ = get(t, ts.URL+"/api/status")
	json.Unmarshal(b, &status)
	if !status.Running || status.Station == nil || !status.Station.Paused || len(status.Bins) != 5 || status.Station.Corrections["glass"] != 1 {
		t.Errorf("status %s", b)
	}
	post(t, ts.URL+"/api/resume", "", nil)
	if st.Stats().Paused {
		t.Error("still paused after resume")
	}
	if code, b := post(t, ts.URL+"/api/flaps/glass/test", "", nil); code != 200 {
		t.Errorf("test flap: %d %s", code, b)
	}
	if code, b := post(t, ts.URL+"/api/flaps/attic/test", "", nil); code != 404 || !strings.Contains(errorOf(t, b).Error, "attic") {
		t.Errorf("unknown flap: %d %s", code, b)
	}

	// The live frame, as one JPEG and as an MJPEG stream.
	code, b, h := get(t, ts.URL+"/api/frame")
	if code != 200 || h.Get("X-Frame-Time") == "" {
		t.Fatalf("frame: %d", code)
	}
	if _, err := jpeg.Decode(bytes.NewReader(b)); err != nil {
		t.Errorf("frame: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	req, _ := http.NewRequestWithContext(ctx, "GET", ts.URL+"/api/stream", nil)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(res.Header.Get("Content-Type"), "multipart/x-mixed-replace") {
		t.Errorf("stream type %s", res.Header.Get("Content-Type"))
	}
	mr := multipart.NewReader(res.Body, "sorterdframe")
	for i := 0; i < 2; i++ {
		p, err := mr.NextPart()
		if err != nil {
			t.Fatalf("stream part %d: %v", i, err)
		}
		if _, err := jpeg.Decode(p); err != nil {
			t.Errorf("stream part %d: %v", i, err)
		}
	}
	cancel()
	res.Body.Close()

	if code, b, _ := get(t, ts.URL+"/healthz"); code != 200 {
		t.Errorf("healthz while running: %d %s", code, b)
	}
}

func findItem(its []review.Item, id string) review.Item {
	for _, it := range its {
		if it.ID == id {
			return it
		}
	}
	return review.Item{}
}

// /healthz turns 503, with the reason, once frames stop.
func TestHealthzStall(t *testing.T) {
	st := webtest.New(webtest.Options{})
	ts := server(t, Options{Classifier: fakeClassifier(t), Station: st, Stall: 300 * time.Millisecond})
	for _, tc := range []struct {
		name  string
		frame time.Duration // age of the last frame; 0: none yet
		code  int
		body  string
	}{
		{"no frame yet", 0, 503, "station not started"},
		{"fresh frame", time.Millisecond, 200, `"ok"`},
		{"stalled", time.Second, 503, "no camera frame for"},
	} {
		if tc.frame > 0 {
			st.SetFrame([]byte{0xff, 0xd8}, time.Now().Add(-tc.frame))
		}
		if code, b, _ := get(t, ts.URL+"/healthz"); code != tc.code || !strings.Contains(string(b), tc.body) {
			t.Errorf("%s: %d %s, want %d with %s", tc.name, code, b, tc.code, tc.body)
		}
	}
}

// A panicking handler answers JSON 500, and the server goes on.
func TestPanicIsJSON500(t *testing.T) {
	c := classifier(t)
	ts := server(t, Options{Classifier: c, Review: panicky{}})
	code, b, _ := get(t, ts.URL+"/api/events")
	if code != 500 || errorOf(t, b).Error != "internal error" {
		t.Errorf("%d %s", code, b)
	}
	if code, _, _ := get(t, ts.URL+"/"); code != 200 {
		t.Errorf("after panic: %d", code)
	}
}

type panicky struct{ Review }

func (panicky) Items(int) []review.Item { panic("boom") }

// /metrics parses as Prometheus text, and its counters follow the
// station's figures and corrections (a fake station: the figures are the
// test's).
func TestMetricsMove(t *testing.T) {
	st := fakeStation(t)
	ts := server(t, Options{Classifier: fakeClassifier(t), Station: st, Version: "test",
		Links: func() links.State {
			return links.State{Camera: &links.Camera{Connected: true}, MQTT: &links.MQTT{Connected: true, Outbox: 3}}
		}})
	scrape := func() map[string]*dto.MetricFamily {
		code, b, h := get(t, ts.URL+"/metrics")
		if code != 200 || !strings.HasPrefix(h.Get("Content-Type"), "text/plain") {
			t.Fatalf("metrics: %d %s", code, h.Get("Content-Type"))
		}
		p := expfmt.NewTextParser(model.LegacyValidation)
		mf, err := p.TextToMetricFamilies(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("metrics do not parse: %v", err)
		}
		return mf
	}
	total := func(mf map[string]*dto.MetricFamily, name string) float64 {
		f, ok := mf[name]
		if !ok {
			t.Fatalf("no %s", name)
		}
		sum := 0.0
		for _, m := range f.Metric {
			switch {
			case m.Counter != nil:
				sum += m.Counter.GetValue()
			case m.Gauge != nil:
				sum += m.Gauge.GetValue()
			case m.Histogram != nil:
				sum += float64(m.Histogram.GetSampleCount())
			}
		}
		return sum
	}
	stats := func(frames int64, glass int, inferences uint64) pipeline.Stats {
		return pipeline.Stats{Frames: frames, Sorted: map[pipeline.BinAction]int{{Bin: "glass", Action: pipeline.Sort}: glass},
			Inference: pipeline.Histogram{Bounds: []float64{.1, 1}, Counts: []uint64{inferences, inferences}, Count: inferences, Sum: 0.05 * float64(inferences)}}
	}
	st.SetStats(stats(10, 1, 2))
	m0 := scrape()
	st.SetStats(stats(25, 3, 6))
	if _, err := st.Correct("a1", "plastic"); err != nil {
		t.Fatal(err)
	}
	m1 := scrape()
	for _, tc := range []struct {
		name       string
		was, after float64
	}{
		{"sorterd_frames_read_total", 10, 25},
		{"sorterd_items_total", 1, 3},
		{"sorterd_inference_seconds", 2, 6},
		{"sorterd_corrections_total", 0, 1},
	} {
		if a, b := total(m0, tc.name), total(m1, tc.name); a != tc.was || b != tc.after {
			t.Errorf("%s: %v → %v, want %v → %v", tc.name, a, b, tc.was, tc.after)
		}
	}
	if total(m1, "sorterd_mqtt_outbox_depth") != 3 || total(m1, "sorterd_camera_connected") != 1 || total(m1, "sorterd_build_info") != 1 {
		t.Error("links or build info missing")
	}
	if len(m1["sorterd_locate_total"].Metric) != 4 || len(m1["sorterd_frames_dropped_total"].Metric) != 5 {
		t.Errorf("locate_total %d series (want no_item, abandoned, relearned, stuck), frames_dropped_total %d (want 5 reasons)",
			len(m1["sorterd_locate_total"].Metric), len(m1["sorterd_frames_dropped_total"].Metric))
	}
	if len(m1["sorterd_items_total"].Metric) < 6 {
		t.Errorf("items_total has %d series, want every bin (and reject's two actions)", len(m1["sorterd_items_total"].Metric))
	}
}
