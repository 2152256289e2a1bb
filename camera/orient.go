package camera

import (
	"context"
	"fmt"

	"gocv.io/x/gocv"
)

// Flip mirrors frames, for a camera mounted mirrored or seen through a
// mirror.
type Flip string

// Flips.
const (
	FlipNone       Flip = "none"
	FlipHorizontal Flip = "horizontal" // left-right
	FlipVertical   Flip = "vertical"   // top-bottom
	FlipBoth       Flip = "both"       // both axes (the same as rotate 180)
)

// Orientation is how the camera is mounted: each frame is turned Rotate
// degrees clockwise (0, 90, 180 or 270), then flipped.
type Orientation struct {
	Rotate int
	Flip   Flip
}

// Check tells whether the orientation is one Orient can apply.
func (o Orientation) Check() error {
	switch o.Rotate {
	case 0, 90, 180, 270:
	default:
		return fmt.Errorf("rotate %d: want 0, 90, 180 or 270", o.Rotate)
	}
	switch o.Flip {
	case "", FlipNone, FlipHorizontal, FlipVertical, FlipBoth:
	default:
		return fmt.Errorf("flip %q: want none, horizontal, vertical or both", o.Flip)
	}
	return nil
}

// Identity reports an orientation that leaves frames as they are.
func (o Orientation) Identity() bool {
	return o.Rotate == 0 && (o.Flip == "" || o.Flip == FlipNone)
}

// Apply turns and flips m in place (rotations by 90 and 270 degrees swap
// its width and height, through one new Mat that replaces m).
func (o Orientation) Apply(m *gocv.Mat) {
	switch o.Rotate {
	case 90, 270:
		code := gocv.Rotate90Clockwise
		if o.Rotate == 270 {
			code = gocv.Rotate90CounterClockwise
		}
		dst := gocv.NewMat()
		gocv.Rotate(*m, &dst, code)
		m.Close()
		*m = dst
	case 180:
		gocv.Flip(*m, m, -1)
	}
	switch o.Flip {
	case FlipHorizontal:
		gocv.Flip(*m, m, 1)
	case FlipVertical:
		gocv.Flip(*m, m, 0)
	case FlipBoth:
		gocv.Flip(*m, m, -1)
	}
}

// Oriented applies an Orientation to every frame of a source.
type Oriented struct {
	Source
	Orientation
}

var _ Source = (*Oriented)(nil)

// Orient wraps src so its frames come out turned and flipped; an identity
// orientation returns src itself.
func Orient(src Source, o Orientation) (Source, error) {
	if err := o.Check(); err != nil {
		return nil, fmt.Errorf("camera orientation: %w", err)
	}
	if o.Identity() {
		return src, nil
	}
	return &Oriented{Source: src, Orientation: o}, nil
}

// Read returns the source's next frame, oriented.
func (s *Oriented) Read(ctx context.Context) (Frame, error) {
	f, err := s.Source.Read(ctx)
	if err != nil {
		return f, err
	}
	s.Apply(&f.Mat)
	return f, nil
}

// OpenOriented opens a source (Open) whose frames come out turned and
// flipped as the camera is mounted (Orient), and says what locking its
// exposure did (Capture.Lock).
func OpenOriented(o Options, or Orientation) (Source, Lock, error) {
	src, err := Open(o)
	if err != nil {
		return nil, Lock{}, err
	}
	oriented, err := Orient(src, or)
	if err != nil {
		src.Close()
		return nil, Lock{}, err
	}
	return oriented, src.Lock(), nil
}
