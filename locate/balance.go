package locate

import (
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"math"
	"os"
	"path/filepath"
	"time"
)

// Reference is the empty tray as the camera saw it at setup: its mean
// colour (B, G, R) over the ROI. settings.BalanceReference corrects every
// crop back to that light and exposure.
type Reference struct {
	Tray  [3]float32      `json:"tray"`
	ROI   image.Rectangle `json:"roi"` // the ROI it was taken over (frame pixels)
	Taken time.Time       `json:"taken"`
}

// Valid reports whether r holds a tray colour.
func (r Reference) Valid() bool {
	for _, v := range r.Tray {
		if !(v > 0) || math.IsInf(float64(v), 0) {
			return false
		}
	}
	return true
}

// Correctable is the largest change of one colour, either way, that
// settings.BalanceReference undoes: beyond it (a lamp out, the camera's exposure
// far from setup's) highlights clip and noise is amplified, so the crop
// is corrected only this far and the observation says Drifted.
const Correctable = 1.6

// referenceFrames quiet frames after the tray is first learned settle the
// reference when Options gave none: a camera with automatic exposure
// settles on the empty tray within them.
const referenceFrames = 30

// Reference returns the reference the tray corrects to, and whether it
// is settled: given in Options, or taken over the first referenceFrames
// quiet frames. The daemon saves a settled reference it took.
func (b *Tray) Reference() (Reference, bool) {
	return b.ref, b.ref.Valid() && b.quiet >= referenceFrames
}

// takeReference follows the learned tray with the reference until
// referenceFrames quiet frames have been seen, unless Options gave one.
func (b *Tray) takeReference(present bool) {
	if b.o.Reference.Valid() {
		b.quiet = referenceFrames
		return
	}
	if present || b.quiet >= referenceFrames {
		return
	}
	b.quiet++
	n := float64(len(b.bg) / 3)
	for c, v := range b.bgSum {
		b.ref.Tray[c] = float32(v / n)
	}
	b.ref.ROI = b.roi
	b.ref.Taken = time.Now().UTC()
}

// light is each colour's change against the reference: the frame over
// the learned tray on the pixels that show the tray (no item, no shadow),
// times the learned tray's own change since the reference (it follows a
// light's colour slowly). Zero without a reference.
func (b *Tray) light(px []byte) (l [3]float32, drifted bool) {
	if !b.ref.Valid() {
		return l, false
	}
	wk, _ := b.weak.DataPtrUint8()
	all := b.bgSum
	var now, was [3]float64
	for p, on := range wk {
		i := 3 * p
		if on != 0 || b.shade[p] {
			continue
		}
		for c := 0; c < 3; c++ {
			now[c] += float64(px[i+c])
			was[c] += float64(b.bg[i+c])
		}
	}
	n := float64(len(wk))
	for c := range l {
		if was[c] <= 0 || n == 0 {
			return [3]float32{}, false
		}
		v := float32(now[c] / was[c] * all[c] / n / float64(b.ref.Tray[c]))
		l[c] = v
		if v > Correctable || v < 1/Correctable {
			drifted = true
		}
	}
	return l, drifted
}

// ReferenceFile is the reference's file name in the daemon's state_dir.
const ReferenceFile = "reference.json"

// ErrNoReference: no reference has been saved.
var ErrNoReference = errors.New("no reference recorded")

// LoadReference reads a reference saved by SaveReference; ErrNoReference
// when there is none.
func LoadReference(path string) (Reference, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return Reference{}, ErrNoReference
	}
	if err != nil {
		return Reference{}, fmt.Errorf("reference: %w", err)
	}
	var r Reference
	if err := json.Unmarshal(b, &r); err != nil {
		return Reference{}, fmt.Errorf("reference %s: %w", path, err)
	}
	if !r.Valid() {
		return Reference{}, fmt.Errorf("reference %s: tray colour %v is not a colour", path, r.Tray)
	}
	return r, nil
}

// SaveReference writes r to path atomically (a temporary file renamed).
func SaveReference(path string, r Reference) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("reference: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".reference-*")
	if err != nil {
		return fmt.Errorf("reference: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return fmt.Errorf("reference %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("reference %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("reference %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("reference %s: %w", path, err)
	}
	return nil
}
