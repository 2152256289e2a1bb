package web

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sorterd/sorterd/infer"
	"gocv.io/x/gocv"
)

// gatedClassifier is the real classifier behind a gate: Classify waits
// until the test opens it, and counts who is inside.
type gatedClassifier struct {
	*infer.Classifier
	gate    chan struct{}
	mu      sync.Mutex
	inside  int
	maxSeen int
	entered chan struct{}
}

func (g *gatedClassifier) Classify(ctx context.Context, img gocv.Mat, k int) (infer.Result, error) {
	g.mu.Lock()
	g.inside++
	g.maxSeen = max(g.maxSeen, g.inside)
	g.mu.Unlock()
	g.entered <- struct{}{}
	<-g.gate
	defer func() { g.mu.Lock(); g.inside--; g.mu.Unlock() }()
	return g.Classifier.Classify(ctx, img, k)
}

// A flood of uploads: one is classified at a time, four wait, every other
// one is answered 503 with Retry-After while those five are still held
// (so no answer waits on the classifier), and the admitted ones all
// succeed once it is free.
func TestUploadFloodIsBounded(t *testing.T) {
	g := &gatedClassifier{Classifier: classifier(t), gate: make(chan struct{}), entered: make(chan struct{}, 100)}
	s, err := New(Options{Classifier: g, Bins: testBins})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(ts.Close)
	glass := readFile(t, photo(t, "glass", 12))
	send := func() (int, string, string) {
		res, err := http.Post(ts.URL+"/api/classify", "image/jpeg", bytes.NewReader(glass))
		if err != nil {
			return 0, err.Error(), ""
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b), res.Header.Get("Retry-After")
	}
	type answer struct {
		code int
		body string
	}
	admitted := make(chan answer, 5)
	var wg sync.WaitGroup
	for i := 0; i < 5; i++ {
		wg.Add(1)
		go func() { defer wg.Done(); c, b, _ := send(); admitted <- answer{c, b} }()
		if i == 0 {
			<-g.entered // the first holds the classifier
		}
	}
	// The four others are in the queue once it is full.
	eventually(t, "queue full", 10*time.Second, func() bool { return len(s.admit) == 5 })
	for i := 0; i < 20; i++ {
		code, body, retry := send()
		if code != http.StatusServiceUnavailable || retry == "" || !strings.Contains(body, "busy") {
			t.Fatalf("upload %d beyond the queue: %d %q retry %q", i, code, body, retry)
		}
	}
	// A large upload refused while it is still being sent gets its 503:
	// the body is read and thrown away, not left to a connection reset.
	conn, err := net.Dial("tcp", strings.TrimPrefix(ts.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	big := bytes.Repeat([]byte{0xAB}, 4<<20)
	fmt.Fprintf(conn, "POST /api/classify HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n", len(big))
	if _, err := conn.Write(big); err != nil {
		t.Errorf("sending a refused 4 MB upload: %v", err)
	}
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil || res.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("refused 4 MB upload: %v %v", res, err)
	}
	conn.Close()
	close(g.gate)
	wg.Wait()
	close(admitted)
	for a := range admitted {
		if a.code != 200 {
			t.Errorf("admitted upload: %d %s", a.code, a.body)
		}
	}
	if g.maxSeen != 1 {
		t.Errorf("%d uploads classified at once, want 1", g.maxSeen)
	}
	_, m, _ := get(t, ts.URL+"/metrics")
	if !strings.Contains(string(m), "sorterd_classify_uploads_refused_total 21") {
		t.Error("refused uploads not counted")
	}
}

// An admitted upload that cannot get the classifier within UploadWait is
// answered 503 rather than left to the server's write timeout (a dropped
// connection).
func TestUploadWaitBounded(t *testing.T) {
	g := &gatedClassifier{Classifier: classifier(t), gate: make(chan struct{}), entered: make(chan struct{}, 10)}
	s, err := New(Options{Classifier: g, Bins: testBins, UploadWait: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(ts.Close)
	glass := readFile(t, photo(t, "glass", 12))
	first := make(chan int, 1)
	go func() {
		code, _ := post(t, ts.URL+"/api/classify", "image/jpeg", glass)
		first <- code
	}()
	<-g.entered
	code, body := post(t, ts.URL+"/api/classify", "image/jpeg", glass)
	if code != http.StatusServiceUnavailable || !strings.Contains(string(body), "waited") {
		t.Errorf("second upload while the first holds the classifier: %d %s", code, body)
	}
	close(g.gate)
	if c := <-first; c != 200 {
		t.Errorf("first upload: %d", c)
	}
}

// Uploads give way to the station: while an item is in flight, an
// upload waits (and is classified once the item is decided), and one that
// would wait past UploadWait is answered 503 without touching the cores.
func TestUploadWaitsForStation(t *testing.T) {
	var busy sync.Mutex // held: an item in flight
	var inFlight bool
	setBusy := func(b bool) { busy.Lock(); inFlight = b; busy.Unlock() }
	isBusy := func() bool { busy.Lock(); defer busy.Unlock(); return inFlight }
	g := &gatedClassifier{Classifier: classifier(t), gate: make(chan struct{}), entered: make(chan struct{}, 10)}
	close(g.gate)
	s, err := New(Options{Classifier: g, Bins: testBins, UploadWait: 2 * time.Second, StationBusy: isBusy})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(ts.Close)
	glass := readFile(t, photo(t, "glass", 12))

	setBusy(true)
	done := make(chan int, 1)
	go func() { code, _ := post(t, ts.URL+"/api/classify", "image/jpeg", glass); done <- code }()
	select {
	case <-g.entered:
		t.Fatal("an upload was classified while the station had an item in flight")
	case <-time.After(300 * time.Millisecond):
	}
	setBusy(false)
	<-g.entered
	if code := <-done; code != 200 {
		t.Errorf("upload after the item was decided: %d", code)
	}

	setBusy(true)
	s2, err := New(Options{Classifier: g, Bins: testBins, UploadWait: 100 * time.Millisecond, StationBusy: isBusy})
	if err != nil {
		t.Fatal(err)
	}
	ts2 := httptest.NewServer(s2.Handler())
	t.Cleanup(ts2.Close)
	code, body := post(t, ts2.URL+"/api/classify", "image/jpeg", glass)
	if code != http.StatusServiceUnavailable || !strings.Contains(string(body), "station") {
		t.Errorf("upload while the station stays busy: %d %s", code, body)
	}
}
