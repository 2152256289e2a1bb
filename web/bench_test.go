package web

import (
	"bytes"
	"io"
	"net/http"
	"testing"
)

// POST /api/classify end to end over loopback HTTP: upload, decode,
// classify (no TTA, 1 thread), JSON answer.
func BenchmarkClassifyUpload(b *testing.B) {
	ts := server(b, Options{Classifier: classifier(b)})
	img := readFile(b, photo(b, "glass", 12))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		res, err := http.Post(ts.URL+"/api/classify", "image/jpeg", bytes.NewReader(img))
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if res.StatusCode != 200 {
			b.Fatal(res.Status)
		}
	}
}

// GET /api/frame: clone the latest frame, write the decision, encode JPEG.
func BenchmarkLiveFrame(b *testing.B) {
	c := classifier(b)
	st, _ := liveStation(b, c)
	ts := server(b, Options{Classifier: c, Station: st})
	eventually(b, "a frame", 20e9, func() bool { code, _, _ := get(b, ts.URL+"/api/frame"); return code == 200 })
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if code, _, _ := get(b, ts.URL+"/api/frame"); code != 200 {
			b.Fatal(code)
		}
	}
}
