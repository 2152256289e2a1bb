package locate

import (
	"context"
	"errors"
	"fmt"

	"github.com/sorterd/sorterd/camera"
)

// ErrTrayBusy: the tray never looked empty and still for long enough.
var ErrTrayBusy = errors.New("the tray did not stay empty and still: clear it, keep hands and moving light away, and run calibrate again")

// Calibrate shows frames of src to a fresh Tray (options o) until it has
// settled its reference over quiet frames, no item present: the empty
// tray at setup, which BalanceReference corrects every crop back to.
// Something on the tray starts it again; ctx ending (or src's end) first
// is ErrTrayBusy.
func Calibrate(ctx context.Context, src camera.Source, o Options) (Reference, error) {
	tr := New(o)
	defer func() { tr.Close() }()
	for n := 0; ; n++ {
		f, err := src.Read(ctx)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, camera.ErrEnded) {
				return Reference{}, fmt.Errorf("calibrate after %d frames: %w", n, ErrTrayBusy)
			}
			return Reference{}, fmt.Errorf("calibrate: frame %d: %w", n+1, err)
		}
		ob := tr.Observe(f.Mat)
		f.Close()
		if ob.Present {
			// Something on the tray: learn it all again.
			tr.Close()
			tr = New(o)
			continue
		}
		if ref, ok := tr.Reference(); ok {
			return ref, nil
		}
	}
}
