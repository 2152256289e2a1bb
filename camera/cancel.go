package camera

import (
	"context"
	"os"
)

// Opening or reading a network stream happens inside OpenCV (FFmpeg),
// which a Go context cannot interrupt: a URL that accepts and stays silent
// held each open for 30 s, and SIGTERM waited for it. Two things bound it:
//
//   - FFmpeg's own I/O timeout (rw_timeout, set below unless the operator
//     set OPENCV_FFMPEG_CAPTURE_OPTIONS), so no call blocks longer than
//     networkTimeout;
//   - Reconnecting runs each open and read in a goroutine it can abandon:
//     a cancelled Read returns at once, and the call still running is
//     either picked up by the next Read or, after Close, cleaned up
//     (source and frame closed) by that goroutine when it returns.

// networkTimeoutUS is FFmpeg's I/O timeout for network sources, in µs.
const networkTimeoutUS = "10000000"

func init() {
	if _, ok := os.LookupEnv("OPENCV_FFMPEG_CAPTURE_OPTIONS"); !ok {
		// Read by OpenCV's FFmpeg backend at each open (cgo: os.Setenv
		// reaches the C environment).
		os.Setenv("OPENCV_FFMPEG_CAPTURE_OPTIONS", "rw_timeout;"+networkTimeoutUS)
	}
}

// call is an open or a read running in its own goroutine.
type call struct {
	read bool   // a read of src (else an open)
	src  Source // the source read from
	done chan callResult
}

type callResult struct {
	src   Source // what an open returned
	frame Frame
	err   error
}

// start runs an open (src == nil) or a read of src in a goroutine.
func (r *Reconnecting) start(src Source) *call {
	c := &call{read: src != nil, src: src, done: make(chan callResult, 1)}
	go func() {
		if c.read {
			// Not the caller's context: a Read cancelled while this runs
			// leaves the result to the next Read, which must not see a
			// stale context error as a lost camera.
			f, err := src.Read(context.Background())
			c.done <- callResult{frame: f, err: err}
			return
		}
		s, err := r.Open()
		if err != nil {
			s = nil // Open may return a typed nil (*Capture)(nil) with its error
		}
		c.done <- callResult{src: s, err: err}
	}()
	return c
}

// wait waits for the pending call or ctx; on ctx it leaves the call
// pending (r.pending) for the next Read or for Close.
func (r *Reconnecting) wait(ctx context.Context, c *call) (callResult, error) {
	select {
	case res := <-c.done:
		r.mu.Lock()
		r.pending = nil
		r.mu.Unlock()
		return res, nil
	case <-ctx.Done():
		r.mu.Lock()
		r.pending = c
		r.mu.Unlock()
		return callResult{}, ctx.Err()
	}
}

// abandon hands a pending call's results to a goroutine that closes them
// when the call returns (bounded by the FFmpeg timeout), so Close does not
// wait for OpenCV.
func abandon(c *call) {
	go func() {
		res := <-c.done
		res.frame.Close()
		if res.src != nil {
			res.src.Close()
		}
		if c.read {
			c.src.Close()
		}
	}()
}

// open opens the source in a goroutine (or picks up the open a cancelled
// Read left), returning when it does or when ctx ends.
func (r *Reconnecting) open(ctx context.Context) (Source, error) {
	c := r.takePending(false)
	if c == nil {
		c = r.start(nil)
	}
	res, err := r.wait(ctx, c)
	if err != nil {
		return nil, err
	}
	return res.src, res.err
}

// read reads r.src in a goroutine (or picks up the read a cancelled Read
// left), returning when it does or when ctx ends.
func (r *Reconnecting) read(ctx context.Context) (Frame, error) {
	c := r.takePending(true)
	if c == nil {
		c = r.start(r.src)
	}
	res, err := r.wait(ctx, c)
	if err != nil {
		return Frame{}, err
	}
	return res.frame, res.err
}

// takePending returns the pending call if it is of the kind wanted.
func (r *Reconnecting) takePending(read bool) *call {
	r.mu.Lock()
	defer r.mu.Unlock()
	if c := r.pending; c != nil && c.read == read {
		r.pending = nil
		return c
	}
	return nil
}
