package publish

import (
	"bytes"
	"image"
	"image/color"
	"image/jpeg"
	"math/rand"
	"testing"

	"github.com/sorterd/sorterd/internal/testenv"
)

// noisyJPEG is a JPEG that compresses badly: w×h of random pixels.
func noisyJPEG(t *testing.T, w, h int) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	r := rand.New(rand.NewSource(1))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			img.Set(x, y, color.RGBA{uint8(r.Intn(256)), uint8(r.Intn(256)), uint8(r.Intn(256)), 255})
		}
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: 95}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestFitJPEG(t *testing.T) {
	big := noisyJPEG(t, 1024, 768)
	if len(big) <= DefaultSnapshotLimit {
		t.Fatalf("test image only %d bytes", len(big))
	}
	small, err := FitJPEG(big, DefaultSnapshotLimit)
	if err != nil {
		t.Fatal(err)
	}
	if len(small) > DefaultSnapshotLimit {
		t.Errorf("fitted to %d bytes, limit %d", len(small), DefaultSnapshotLimit)
	}
	cfg, err := jpeg.DecodeConfig(bytes.NewReader(small))
	if err != nil {
		t.Fatalf("fitted image is no JPEG: %v", err)
	}
	t.Logf("%d bytes 1024x768 → %d bytes %dx%d", len(big), len(small), cfg.Width, cfg.Height)
	if same, _ := FitJPEG(small, DefaultSnapshotLimit); !bytes.Equal(same, small) {
		t.Error("an image within the limit was re-encoded")
	}
	if _, err := FitJPEG([]byte("not a jpeg, and longer than the limit"), 10); err == nil {
		t.Error("garbage accepted")
	}
	if _, err := FitJPEG(big, 100); err == nil {
		t.Error("100 bytes: no error")
	}
}

// The snapshot is retained: a subscriber that comes later (Home
// Assistant after a restart) gets the last item's image, within the limit.
func TestSnapshotRetained(t *testing.T) {
	b := testenv.StartBroker(t)
	o := goldenOptions()
	o.Broker = b.URL()
	o.SnapshotLimit = 64 << 10
	p, stop := runPub(t, o)
	defer stop()
	first := noisyJPEG(t, 64, 64)
	if _, err := p.Snapshot(first); err != nil {
		t.Fatal(err)
	}
	big := noisyJPEG(t, 800, 600)
	sent, err := p.Snapshot(big)
	if err != nil {
		t.Fatal(err)
	}
	if len(sent) > o.SnapshotLimit {
		t.Fatalf("sent %d bytes", len(sent))
	}
	var got string
	waitFor(t, "retained snapshot", func() bool {
		got = retained(t, b, "sorterd/t1/snapshot")["sorterd/t1/snapshot"]
		return got == string(sent)
	})
	if _, err := jpeg.DecodeConfig(bytes.NewReader([]byte(got))); err != nil {
		t.Errorf("retained snapshot is no JPEG: %v", err)
	}
}
