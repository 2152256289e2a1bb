package web

import (
	"bytes"
	"encoding/json"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/sorterd/sorterd/internal/testenv"
)

// Whatever arrives at /api/classify (any content type, any body) gets a
// 200 or a JSON error with a 4xx status: never a 500, never a panic.
func FuzzClassifyRequest(f *testing.F) {
	png := readFile(f, filepath.Join(testenv.Root(), "testdata", "images", "red.png"))
	mp, ct := multipartBody(f, "image", "red.png", png)
	f.Add("image/png", png)
	f.Add(ct, mp.Bytes())
	f.Add("multipart/form-data; boundary=x", []byte("--x\r\nContent-Disposition: form-data; name=\"image\"; filename=\"../a\"\r\n\r\n\x89PNG\r\n--x--"))
	f.Add("image/jpeg", []byte{0xff, 0xd8, 0xff, 0xe0, 0, 16, 'J', 'F', 'I', 'F', 0})
	f.Add("text/plain; charset=\x00", []byte("x"))
	s, err := New(Options{Classifier: classifier(f)})
	if err != nil {
		f.Fatal(err)
	}
	h := s.Handler()
	f.Fuzz(func(t *testing.T, ctype string, body []byte) {
		req := httptest.NewRequest("POST", "/api/classify", bytes.NewReader(body))
		req.Header.Set("Content-Type", ctype)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code == 200 {
			return
		}
		var e apiError
		if rec.Code >= 500 || json.Unmarshal(rec.Body.Bytes(), &e) != nil || e.Status != rec.Code {
			t.Fatalf("%q: %d %s", ctype, rec.Code, rec.Body.Bytes())
		}
	})
}
