package web

import (
	"bytes"
	"context"
	"encoding/json"
	"image"
	"image/color"
	"image/jpeg"
	"mime/multipart"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sorterd/sorterd/infer/infertest"
	"github.com/sorterd/sorterd/pipeline"
	"github.com/sorterd/sorterd/web/webtest"
)

var _ Station = (*webtest.Station)(nil)
var _ Classifier = (*infertest.Classifier)(nil)

// The shipped model's classes, for the fakes.
var fakeLabels = []string{"cardboard", "glass", "metal", "paper", "plastic", "trash"}

func fakeClassifier(t testing.TB) *infertest.Classifier {
	c, err := infertest.New(infertest.Options{Labels: fakeLabels})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// jpegOf is a w×h JPEG of one colour.
func jpegOf(t testing.TB, w, h int, c color.RGBA) []byte {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			img.Set(x, y, c)
		}
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, nil); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// fakeStation holds two decided items (frame 640 wide, crop 200, thumb 160)
// and a live frame from now.
func fakeStation(t testing.TB) *webtest.Station {
	var bins []string
	for _, b := range testBins {
		bins = append(bins, b.Name)
	}
	st := webtest.New(webtest.Options{Labels: fakeLabels, SamplesDir: "/samples", Bins: bins})
	for i, ev := range []pipeline.Event{
		{ID: "a1", TS: "2026-01-01T00:00:01Z", Station: "web", Label: "glass", Score: 0.9, Bin: "glass", Action: pipeline.Sort, Frames: 2, Box: &pipeline.Box{X: 10, Y: 10, W: 200, H: 150}},
		{ID: "b2", TS: "2026-01-01T00:00:02Z", Station: "web", Label: "trash", Score: 0.4, Bin: "reject", Action: pipeline.Reject, Frames: 2, Box: &pipeline.Box{X: 0, Y: 0, W: 200, H: 150}},
	} {
		c := color.RGBA{uint8(100 * i), 120, 200, 255}
		st.Add(ev, jpegOf(t, 640, 480, c), jpegOf(t, 200, 150, c), jpegOf(t, 160, 120, c))
	}
	st.SetFrame(jpegOf(t, 640, 480, color.RGBA{60, 60, 60, 255}), time.Now())
	return st
}

// The station's API on a fake station: listing, images, corrections,
// pause, flaps, the live frame and stream, each with its status codes.
// (TestStationEndToEnd runs the same surface on a real station.)
func TestStationHandlers(t *testing.T) {
	st := fakeStation(t)
	ts := server(t, Options{Classifier: fakeClassifier(t), Station: st, Stall: time.Minute})

	its := items(t, ts.URL)
	if len(its) != 2 || its[0].ID != "b2" || its[1].ID != "a1" || !its[0].HasImage {
		t.Fatalf("items %+v: want b2, a1 (newest first) with images", its)
	}
	for _, tc := range []struct {
		query string
		code  int
		n     int
	}{{"?limit=1", 200, 1}, {"", 200, 2}, {"?limit=1000", 200, 2}, {"?limit=0", 400, 0}, {"?limit=x", 400, 0}, {"?limit=5000", 400, 0}} {
		code, b, _ := get(t, ts.URL+"/api/events"+tc.query)
		if code != tc.code || (code == 200 && strings.Count(string(b), `"id"`) != tc.n) {
			t.Errorf("events%s: %d %s, want %d with %d items", tc.query, code, b, tc.code, tc.n)
		}
	}
	for query, width := range map[string]int{"": 640, "?thumb=1": 160, "?kind=crop": 200} {
		code, b, h := get(t, ts.URL+"/api/events/a1/image"+query)
		if code != 200 || h.Get("Content-Type") != "image/jpeg" {
			t.Fatalf("image%s: %d %s", query, code, h.Get("Content-Type"))
		}
		if cfg, err := jpeg.DecodeConfig(bytes.NewReader(b)); err != nil || cfg.Width != width {
			t.Errorf("image%s: %v, width %d want %d", query, err, cfg.Width, width)
		}
	}
	if code, _, _ := get(t, ts.URL+"/api/events/nope/image"); code != 404 {
		t.Errorf("unknown image: %d", code)
	}

	labelURL := ts.URL + "/api/events/a1/label"
	code, b := post(t, labelURL, "application/json", []byte(`{"label":"trash"}`))
	var lr LabelResponse
	json.Unmarshal(b, &lr)
	if code != 200 || lr.File != filepath.Join("/samples", "trash", "a1.jpg") || lr.ID != "a1" || lr.Label != "trash" {
		t.Errorf("label: %d %s", code, b)
	}
	if findItem(items(t, ts.URL), "a1").Corrected != "trash" {
		t.Error("item not marked corrected")
	}
	badLabels(t, ts.URL, labelURL)
	// A station without a samples folder answers 503.
	nosamples := webtest.New(webtest.Options{Labels: fakeLabels})
	nosamples.Add(pipeline.Event{ID: "c3"}, jpegOf(t, 8, 8, color.RGBA{}), nil, nil)
	ts2 := server(t, Options{Classifier: fakeClassifier(t), Station: nosamples})
	if code, b := post(t, ts2.URL+"/api/events/c3/label", "application/json", []byte(`{"label":"glass"}`)); code != 503 {
		t.Errorf("no samples folder: %d %s", code, b)
	}

	if code, b := post(t, ts.URL+"/api/pause", "", nil); code != 200 || !strings.Contains(string(b), `"paused": true`) || !st.Stats().Paused {
		t.Fatalf("pause: %d %s", code, b)
	}
	var status Status
	_, b, _ = get(t, ts.URL+"/api/status")
	json.Unmarshal(b, &status)
	if !status.Running || status.Station == nil || !status.Station.Paused || len(status.Bins) != 5 || status.Station.Corrections["trash"] != 1 {
		t.Errorf("status %s", b)
	}
	if code, b := post(t, ts.URL+"/api/resume", "", nil); code != 200 || !strings.Contains(string(b), `"paused": false`) || st.Stats().Paused {
		t.Errorf("resume: %d %s", code, b)
	}
	if code, b := post(t, ts.URL+"/api/flaps/glass/test", "", nil); code != 200 {
		t.Errorf("test flap: %d %s", code, b)
	}
	if code, b := post(t, ts.URL+"/api/flaps/attic/test", "", nil); code != 404 || !strings.Contains(errorOf(t, b).Error, "attic") {
		t.Errorf("unknown flap: %d %s", code, b)
	}
	if f := st.Flapped(); len(f) != 1 || f[0] != "glass" {
		t.Errorf("flaps opened %v, want [glass]", f)
	}

	code, b, h := get(t, ts.URL+"/api/frame")
	if code != 200 || h.Get("X-Frame-Time") == "" {
		t.Fatalf("frame: %d", code)
	}
	if _, err := jpeg.Decode(bytes.NewReader(b)); err != nil {
		t.Errorf("frame: %v", err)
	}
	// The stream sends a part for each new frame.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", ts.URL+"/api/stream", nil)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if !strings.HasPrefix(res.Header.Get("Content-Type"), "multipart/x-mixed-replace") {
		t.Errorf("stream type %s", res.Header.Get("Content-Type"))
	}
	frames := [][]byte{jpegOf(t, 64, 48, color.RGBA{200, 0, 0, 255}), jpegOf(t, 64, 48, color.RGBA{0, 200, 0, 255})}
	fed := make(chan struct{})
	go func() { // new frames until the test has read its parts
		defer close(fed)
		for i := 0; ctx.Err() == nil; i++ {
			st.SetFrame(frames[i%2], time.Now())
			time.Sleep(50 * time.Millisecond)
		}
	}()
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
	<-fed
	if code, b, _ := get(t, ts.URL+"/healthz"); code != 200 {
		t.Errorf("healthz: %d %s", code, b)
	}
}
