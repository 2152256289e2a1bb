package web

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sorterd/sorterd/actuator"
	"github.com/sorterd/sorterd/camera"
	"github.com/sorterd/sorterd/infer"
	"github.com/sorterd/sorterd/internal/testenv"
	"github.com/sorterd/sorterd/links"
	"github.com/sorterd/sorterd/locate"
	"github.com/sorterd/sorterd/pipeline"
	"github.com/sorterd/sorterd/recording"
	"github.com/sorterd/sorterd/review"
	"github.com/sorterd/sorterd/settings"
)

// photo is a TrashNet photo from ../shared.
func photo(t testing.TB, class string, n int) string { return testenv.Photo(t, class, n) }

// classifier is the real shipped garbage model on the real TFLite runtime.
func classifier(t testing.TB) *infer.Classifier {
	c, err := infer.New(infer.Options{Model: testenv.Model(t, "garbage.tflite"), Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

var testBins = []pipeline.Bin{
	{Name: "glass", Labels: []string{"glass"}},
	{Name: "metal", Labels: []string{"metal"}},
	{Name: "paper", Labels: []string{"paper", "cardboard"}},
	{Name: "plastic", Labels: []string{"plastic"}},
	{Name: "reject", Labels: []string{"trash"}, Reject: true},
}

// live is a real station and its review: the web page's Station and
// Review.
type live struct {
	*pipeline.Station
	*review.Review
}

// liveStation runs a real station (OpenCV reading a looping video of
// TrashNet photos on a tray behind the daemon's reconnecting camera, the
// real model, dry-run flaps) with its review until the test ends.
func liveStation(t testing.TB, c *infer.Classifier) (live, string) {
	s, samples, _ := liveStationCamera(t, c)
	return s, samples
}

// liveStationCamera is liveStation that also gives the camera's state, as
// the daemon reports it on the page.
func liveStationCamera(t testing.TB, c *infer.Classifier) (live, string, func() *links.Camera) {
	dir := t.TempDir()
	video := filepath.Join(dir, "tray.avi")
	if _, err := recording.Write(video, recording.Options{Photos: trayPhotos(t), Camera: recording.Tinted, Hold: 14, Gap: 6, Seed: 1}); err != nil {
		t.Fatal(err)
	}
	src := &camera.Reconnecting{
		Open: func() (camera.Source, error) { return camera.Open(camera.Options{Source: video, FPS: 30, Loop: true}) },
		Min:  100 * time.Millisecond,
		Max:  time.Second,
		Log:  slog.New(slog.DiscardHandler),
	}
	flaps := map[string]actuator.Flap{}
	for _, b := range testBins {
		flaps[b.Name] = actuator.NewDryRun(actuator.Options{Name: b.Name})
	}
	motion := locate.New(locate.Options{Margin: settings.DefaultMargin})
	samples := filepath.Join(dir, "samples")
	var s *pipeline.Station
	rv := review.New(review.Options{SamplesDir: samples, Labels: c.Labels(),
		State: func() (bool, bool) { return s.Classifying(), s.Paused() }, OnCorrect: func(class string) { s.Corrected(class) }})
	s, err := pipeline.New(pipeline.Options{Station: "web", ModelSHA: c.SHA256(), Source: src, Classify: c, Flaps: flaps,
		Bins: testBins, Trigger: settings.Motion, Tray: motion, Frames: 2, Review: rv})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-done
		rv.Close()
		motion.Close()
		src.Close()
	})
	state := func() *links.Camera {
		cs := src.State()
		return &links.Camera{Connected: cs.Connected, Reconnects: cs.Reconnects, LastError: cs.LastError}
	}
	return live{s, rv}, samples, state
}

// trayPhotos are the items of the live station's recording, in order.
func trayPhotos(t testing.TB) []recording.Photo {
	return []recording.Photo{
		{Path: photo(t, "glass", 12), Class: "glass"},
		{Path: photo(t, "cardboard", 3), Class: "cardboard"},
		{Path: photo(t, "metal", 1), Class: "metal"},
	}
}

// server serves o's site on a test listener; a Station that is also a
// Review (a live station, webtest's fake) is both.
func server(t testing.TB, o Options) *httptest.Server {
	if o.Bins == nil {
		o.Bins = testBins
	}
	if r, ok := o.Station.(Review); ok && o.Review == nil {
		o.Review = r
	}
	s, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(ts.Close)
	return ts
}

func eventually(t testing.TB, what string, d time.Duration, cond func() bool) {
	t.Helper()
	testenv.Eventually(t, what, d, cond)
}

func do(t testing.TB, req *http.Request) (int, []byte, http.Header) {
	t.Helper()
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, b, res.Header
}

func get(t testing.TB, url string) (int, []byte, http.Header) {
	req, _ := http.NewRequest("GET", url, nil)
	return do(t, req)
}

func readFile(t testing.TB, p string) []byte {
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
