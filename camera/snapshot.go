package camera

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"gocv.io/x/gocv"
)

// Snapshot saves a frame of src to out (.jpg or .png) after dropping the
// first skip frames (a camera's exposure settles over its first frames),
// to aim the camera: a short file or pipeline that ends first gives its
// last frame. It gives up when ctx ends.
func Snapshot(ctx context.Context, src Source, skip int, out string) error {
	var f Frame
	defer func() { f.Close() }()
	for i := 0; i <= skip; i++ {
		next, err := src.Read(ctx)
		if errors.Is(err, ErrEnded) && i > 0 {
			break // keep the last frame
		}
		if err != nil {
			return fmt.Errorf("snapshot: frame %d: %w", i+1, err)
		}
		f.Close()
		f = next
	}
	if !gocv.IMWrite(out, f.Mat) {
		return fmt.Errorf("snapshot: cannot write %s (a .jpg or .png name in a writable folder)", out)
	}
	if st, err := os.Stat(out); err != nil || st.Size() == 0 {
		return fmt.Errorf("snapshot: %s was not written", out)
	}
	return nil
}

// LockNow opens a source with its exposure and white balance locked once
// settled over settle frames, and reads one frame after locking to show
// the camera still delivers; it says what the driver accepted. It gives
// up when ctx ends.
func LockNow(ctx context.Context, o Options, settle int) (Lock, error) {
	o.Lock, o.Settle = true, settle
	src, err := Open(o)
	if err != nil {
		return Lock{}, err
	}
	defer src.Close()
	f, err := src.Read(ctx)
	if err != nil {
		return src.Lock(), fmt.Errorf("camera lock: no frame after locking: %w", err)
	}
	f.Close()
	return src.Lock(), nil
}

// FirstFrame waits up to d for a frame of r (dropped), so that a daemon
// says it is ready once the camera gives frames; it returns the error that
// kept them away (nil: a frame came, or ctx ended first).
func (r *Reconnecting) FirstFrame(ctx context.Context, d time.Duration) error {
	wctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	f, err := r.Read(wctx)
	if err == nil {
		f.Close()
		return nil
	}
	if ctx.Err() != nil {
		return nil // stopping already: nothing to wait for
	}
	return err
}
