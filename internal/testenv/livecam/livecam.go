// Package livecam is a live camera for the daemon's chaos tests: an MJPEG
// HTTP server (multipart/x-mixed-replace, as IP cameras and the
// ustreamer/mjpg-streamer family serve) that plays a station recording
// at wall-clock pace, looping.
//
// Frame g of the endless loop is due at Start + g/fps whether or not
// anyone reads it, as with a real camera: a client that is not reading
// when a frame is due misses it (once the socket's buffers are full, the
// frames due while a write is blocked are skipped, as a camera with
// drop=true does). So a daemon that stalls (a slow disk write holding its
// loop, say) falls behind the world and misses items, which a file
// source, which waits for its reader, hides.
//
// A test knows when the world showed each item (Onset) and can stall the
// camera itself (Stall: the connection stays open and silent).
package livecam

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"gocv.io/x/gocv"
)

// Camera serves a recording as a live MJPEG stream at /stream.mjpg.
type Camera struct {
	fps    float64
	frames [][]byte // JPEG of each frame of the loop
	start  time.Time
	srv    *httptest.Server
	done   chan struct{} // closed by Close: the handlers return
	wg     sync.WaitGroup

	mu     sync.Mutex
	closed bool     // Close began: no new stream joins wg
	stalls []Window // the camera's own silences
}

// Window is a span of wall-clock time.
type Window struct{ From, To time.Time }

// Contains says whether t is in w.
func (w Window) Contains(t time.Time) bool { return !t.Before(w.From) && t.Before(w.To) }

// Start serves the recording at path (any video OpenCV reads) at fps,
// from now on, until the test ends.
func Start(t testing.TB, path string, fps float64) *Camera {
	t.Helper()
	if fps <= 0 {
		t.Fatalf("livecam: fps %v", fps)
	}
	frames, err := readFrames(path)
	if err != nil {
		t.Fatal(err)
	}
	c := &Camera{fps: fps, frames: frames, done: make(chan struct{})}
	c.srv = httptest.NewUnstartedServer(http.HandlerFunc(c.stream))
	c.srv.Config.ConnContext = func(ctx context.Context, conn net.Conn) context.Context {
		return context.WithValue(ctx, connKey{}, conn)
	}
	c.start = time.Now()
	c.srv.Start()
	t.Cleanup(c.Close)
	return c
}

// readFrames decodes every frame of the video and encodes it as a JPEG.
func readFrames(path string) ([][]byte, error) {
	vc, err := gocv.OpenVideoCapture(path)
	if err != nil {
		return nil, fmt.Errorf("livecam: open %s: %w", path, err)
	}
	defer vc.Close()
	m := gocv.NewMat()
	defer m.Close()
	var frames [][]byte
	for vc.Read(&m) && !m.Empty() {
		buf, err := gocv.IMEncodeWithParams(gocv.JPEGFileExt, m, []int{gocv.IMWriteJpegQuality, 90})
		if err != nil {
			return nil, fmt.Errorf("livecam: encode frame %d of %s: %w", len(frames), path, err)
		}
		frames = append(frames, append([]byte(nil), buf.GetBytes()...))
		buf.Close()
	}
	if len(frames) == 0 {
		return nil, fmt.Errorf("livecam: no frame in %s", path)
	}
	return frames, nil
}

// URL is the stream's address, for camera.source.
func (c *Camera) URL() string { return c.srv.URL + "/stream.mjpg" }

// Frames is the number of frames in one loop of the recording.
func (c *Camera) Frames() int { return len(c.frames) }

// Period is how long one loop of the recording lasts.
func (c *Camera) Period() time.Duration { return c.at(uint64(len(c.frames))).Sub(c.start) }

// at is when frame g of the endless loop is due.
func (c *Camera) at(g uint64) time.Time {
	return c.start.Add(time.Duration(float64(g) / c.fps * float64(time.Second)))
}

// due is the frame due at t (the last one whose time has come).
func (c *Camera) due(t time.Time) uint64 {
	if t.Before(c.start) {
		return 0
	}
	return uint64(t.Sub(c.start).Seconds() * c.fps)
}

// Onset is when the world showed frame first of loop number loop
// (counted from 0): an item of the recording lying in frames
// first..last appears at Onset(loop, first).
func (c *Camera) Onset(loop int, first int) time.Time {
	return c.at(uint64(loop)*uint64(len(c.frames)) + uint64(first))
}

// Loop is the loop of the recording playing at t.
func (c *Camera) Loop(t time.Time) int {
	return int(c.due(t) / uint64(len(c.frames)))
}

// Stall silences the camera for d from now: its connections stay open and
// nothing is sent; the world goes on (what is shown meanwhile is missed).
func (c *Camera) Stall(d time.Duration) Window {
	now := time.Now()
	w := Window{now, now.Add(d)}
	c.mu.Lock()
	c.stalls = append(c.stalls, w)
	c.mu.Unlock()
	return w
}

// Stalls are the camera's silences so far.
func (c *Camera) Stalls() []Window {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Window(nil), c.stalls...)
}

func (c *Camera) stalled(t time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, w := range c.stalls {
		if w.Contains(t) {
			return true
		}
	}
	return false
}

// Close ends every stream and the server.
func (c *Camera) Close() {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.closed = true
	c.mu.Unlock()
	close(c.done)
	c.srv.CloseClientConnections() // unblocks writes to clients that stopped reading
	c.wg.Wait()
	c.srv.Close()
}

const boundary = "livecamframe"

// stream writes the frame due at each frame time until the client leaves
// or the camera closes. A write that blocks (the client does not read)
// makes the frames due meanwhile go unsent.
func (c *Camera) stream(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/stream.mjpg" {
		http.NotFound(w, r)
		return
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.wg.Add(1) // under mu: never after Close began waiting
	c.mu.Unlock()
	defer c.wg.Done()
	// A small send buffer: the kernel holds a few frames for a client
	// that stopped reading, not seconds of them.
	if conn, ok := connOf(r); ok {
		conn.SetWriteBuffer(64 << 10)
	}
	w.Header().Set("Content-Type", "multipart/x-mixed-replace; boundary="+boundary)
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	next := c.due(time.Now())
	for {
		timer := time.NewTimer(time.Until(c.at(next)))
		select {
		case <-c.done:
			timer.Stop()
			return
		case <-r.Context().Done():
			timer.Stop()
			return
		case <-timer.C:
		}
		now := time.Now()
		g := c.due(now) // frames due while the last write blocked are skipped
		next = g + 1
		if c.stalled(now) {
			continue
		}
		jpg := c.frames[g%uint64(len(c.frames))]
		rc.SetWriteDeadline(time.Now().Add(time.Minute)) // a reader gone for good ends the stream
		if _, err := fmt.Fprintf(w, "--%s\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n", boundary, len(jpg)); err != nil {
			return
		}
		if _, err := w.Write(jpg); err != nil {
			return
		}
		if _, err := w.Write([]byte("\r\n")); err != nil {
			return
		}
		if err := rc.Flush(); err != nil {
			return
		}
	}
}

// connKey finds the TCP connection of a request (set by ConnContext).
type connKey struct{}

func connOf(r *http.Request) (*net.TCPConn, bool) {
	c, ok := r.Context().Value(connKey{}).(*net.TCPConn)
	return c, ok
}
