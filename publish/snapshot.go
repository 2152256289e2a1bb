package publish

import (
	"bytes"
	"fmt"
	"image"
	"image/jpeg"
	"sync/atomic"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"golang.org/x/image/draw"
)

// DefaultSnapshotLimit bounds the retained snapshot: brokers and Home
// Assistant take larger messages, but a retained image is sent to every
// new subscriber, so it is kept small.
const DefaultSnapshotLimit = 256 << 10

// Snapshot publishes the last item's crop (JPEG), retained, on
// <prefix>/<station>/snapshot, made to fit Options.SnapshotLimit. While
// the broker is away the latest is kept and published on reconnection.
// It returns the bytes published (or kept).
func (p *Publisher) Snapshot(jpg []byte) ([]byte, error) {
	return p.retainImage(&p.snapshot, "snapshot", jpg)
}

// SnapshotFrame is Snapshot for the item's full frame, on
// <prefix>/<station>/snapshot/frame.
func (p *Publisher) SnapshotFrame(jpg []byte) ([]byte, error) {
	return p.retainImage(&p.snapshotFrame, "snapshot/frame", jpg)
}

func (p *Publisher) retainImage(last *atomic.Pointer[[]byte], topic string, jpg []byte) ([]byte, error) {
	b, err := FitJPEG(jpg, p.o.SnapshotLimit)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", topic, err)
	}
	last.Store(&b)
	if p.connected.Load() {
		p.client.Publish(p.Topic(topic), 1, true, b)
	}
	return b, nil
}

func (p *Publisher) republishSnapshot(c mqtt.Client) {
	if b := p.snapshot.Load(); b != nil {
		c.Publish(p.Topic("snapshot"), 1, true, *b)
	}
	if b := p.snapshotFrame.Load(); b != nil {
		c.Publish(p.Topic("snapshot/frame"), 1, true, *b)
	}
}

// FitJPEG returns b when it is at most limit bytes; otherwise b decoded
// and re-encoded at a lower quality, then at half the size, and so on,
// until it fits.
func FitJPEG(b []byte, limit int) ([]byte, error) {
	if len(b) <= limit {
		return b, nil
	}
	img, err := jpeg.Decode(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("not a JPEG: %w", err)
	}
	var buf bytes.Buffer
	for {
		for _, q := range []int{80, 60} {
			buf.Reset()
			if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: q}); err != nil {
				return nil, fmt.Errorf("encode: %w", err)
			}
			if buf.Len() <= limit {
				return buf.Bytes(), nil
			}
		}
		r := img.Bounds()
		if r.Dx() <= 16 || r.Dy() <= 16 {
			return nil, fmt.Errorf("cannot fit the image in %d bytes (%d at %dx%d)", limit, buf.Len(), r.Dx(), r.Dy())
		}
		small := image.NewRGBA(image.Rect(0, 0, r.Dx()/2, r.Dy()/2))
		draw.ApproxBiLinear.Scale(small, small.Bounds(), img, r, draw.Src, nil)
		img = small
	}
}
