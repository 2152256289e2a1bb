// Package settings is what the configuration file and the packages it
// configures must agree on, with no cgo: the station's named choices (how
// an item is triggered, voted on and routed to its flap, how it is
// located, cropped and colour-corrected), each a typed enum with its name
// table, and the defaults that both the file and those packages use.
//
// config reads the names into these types; pipeline and locate take them
// as they are. Each type's String and MarshalText give its name and
// UnmarshalText reads one, as periph.io's enums do.
package settings

import (
	"errors"
	"fmt"
	"strings"
)

// Defaults shared by the configuration file and the packages it
// configures (config.Default fills them in; locate takes them for zero
// options).
const (
	// DefaultFrameWidth and DefaultFrameHeight are the camera's frame
	// size: enough pixels for an item at half the frame's width.
	DefaultFrameWidth  = 640
	DefaultFrameHeight = 480
	// DefaultFPS is the camera's frame rate.
	DefaultFPS = 15
	// DefaultDelta is the colour difference (0..255) that marks a pixel
	// as not the empty tray.
	DefaultDelta = 25
	// DefaultArea is the share of the tray that must differ for an item
	// to be present.
	DefaultArea = 0.005
	// DefaultMinSize is the smallest box side that is an item, as a share
	// of the tray's shorter side.
	DefaultMinSize = 0.08
	// DefaultMargin widens an item's box on every side by this share of
	// its longer side; training's station views crop with it too.
	DefaultMargin = 0.15
)

// ErrUnknownName is wrapped by every UnmarshalText here for a name not in
// its type's table.
var ErrUnknownName = errors.New("unknown")

// NameError is UnmarshalText's error for a name not in the table: Kind
// is what was being read ("vote"), Names what it may be.
type NameError struct {
	Kind, Name string
	Names      []string
}

func (e *NameError) Error() string {
	return fmt.Sprintf("%v %s %q (one of %s)", ErrUnknownName, e.Kind, e.Name, strings.Join(e.Names, ", "))
}

// Unwrap makes errors.Is(err, ErrUnknownName) hold.
func (e *NameError) Unwrap() error { return ErrUnknownName }

// names is the name table behind a typed enum: String, MarshalText and
// UnmarshalText read it.
type names []string

func (n names) name(kind string, i uint8) string {
	if int(i) < len(n) {
		return n[i]
	}
	return fmt.Sprintf("%s(%d)", kind, i)
}

func (n names) parse(kind string, b []byte) (uint8, error) {
	for i, s := range n {
		if s == string(b) {
			return uint8(i), nil
		}
	}
	return 0, &NameError{Kind: kind, Name: string(b), Names: n.list()}
}

func (n names) marshal(kind string, i uint8) ([]byte, error) {
	if int(i) >= len(n) {
		return nil, fmt.Errorf("%w %s %d", ErrUnknownName, kind, i)
	}
	return []byte(n[i]), nil
}

func (n names) list() []string { return append([]string(nil), n...) }

// TriggerMode is what starts an item (trigger.mode).
type TriggerMode uint8

// Trigger modes.
const (
	Continuous TriggerMode = iota // every Nth frame with an item on the tray
	GPIO                          // a presence sensor's edge
	Motion                        // the tray differs from the learned empty one
)

var triggerModeNames = names{"continuous", "gpio", "motion"}

// TriggerModeNames are the trigger modes' names, in order.
func TriggerModeNames() []string { return triggerModeNames.list() }

func (m TriggerMode) String() string { return triggerModeNames.name("TriggerMode", uint8(m)) }

// Valid reports whether m is one of the modes.
func (m TriggerMode) Valid() bool { return int(m) < len(triggerModeNames) }

// MarshalText writes the mode's name.
func (m TriggerMode) MarshalText() ([]byte, error) {
	return triggerModeNames.marshal("trigger mode", uint8(m))
}

// UnmarshalText reads a mode's name.
func (m *TriggerMode) UnmarshalText(b []byte) error {
	v, err := triggerModeNames.parse("trigger mode", b)
	*m = TriggerMode(v)
	return err
}

// Vote is how an item's frames become one label (decision.vote).
type Vote uint8

// Votes.
const (
	VoteMean     Vote = iota // the highest mean score over the frames
	VoteMajority             // the most frequent top-1, ties to the higher mean
)

var voteNames = names{"mean", "majority"}

// VoteNames are the votes' names, in order.
func VoteNames() []string { return voteNames.list() }

func (v Vote) String() string { return voteNames.name("Vote", uint8(v)) }

// Valid reports whether v is one of the votes.
func (v Vote) Valid() bool { return int(v) < len(voteNames) }

// MarshalText writes the vote's name.
func (v Vote) MarshalText() ([]byte, error) { return voteNames.marshal("vote", uint8(v)) }

// UnmarshalText reads a vote's name.
func (v *Vote) UnmarshalText(b []byte) error {
	x, err := voteNames.parse("vote", b)
	*v = Vote(x)
	return err
}

// Geometry is how items reach the flaps (decision.geometry).
type Geometry uint8

// Geometries.
const (
	// Chute: the item waits on the tray; its flap fires at once, one item
	// at a time.
	Chute Geometry = iota
	// Conveyor: items travel on; each bin's flap fires after its delay,
	// and items overlap.
	Conveyor
)

var geometryNames = names{"chute", "conveyor"}

// GeometryNames are the geometries' names, in order.
func GeometryNames() []string { return geometryNames.list() }

func (g Geometry) String() string { return geometryNames.name("Geometry", uint8(g)) }

// Valid reports whether g is one of the geometries.
func (g Geometry) Valid() bool { return int(g) < len(geometryNames) }

// MarshalText writes the geometry's name.
func (g Geometry) MarshalText() ([]byte, error) { return geometryNames.marshal("geometry", uint8(g)) }

// UnmarshalText reads a geometry's name.
func (g *Geometry) UnmarshalText(b []byte) error {
	x, err := geometryNames.parse("geometry", b)
	*g = Geometry(x)
	return err
}

// Method is what the model sees of a frame (locate.method).
type Method uint8

// Methods.
const (
	// Background crops the box of what differs from the learned empty
	// tray.
	Background Method = iota
	// ROI classifies the fixed region camera.roi, item or not.
	ROI
	// Whole classifies the whole frame ("none").
	Whole
)

var methodNames = names{"background", "roi", "none"}

// MethodNames are the locate methods' names, in order.
func MethodNames() []string { return methodNames.list() }

func (m Method) String() string { return methodNames.name("Method", uint8(m)) }

// Valid reports whether m is one of the methods.
func (m Method) Valid() bool { return int(m) < len(methodNames) }

// MarshalText writes the method's name.
func (m Method) MarshalText() ([]byte, error) { return methodNames.marshal("locate method", uint8(m)) }

// UnmarshalText reads a method's name.
func (m *Method) UnmarshalText(b []byte) error {
	x, err := methodNames.parse("locate method", b)
	*m = Method(x)
	return err
}

// Shape is the shape of an item's crop (locate.shape).
type Shape uint8

// Shapes.
const (
	// Square makes the box square (more tray around a long item).
	Square Shape = iota
	// Tight keeps the box's own shape, which the model squeezes to its
	// square input, as it squeezed the 4:3 photos it was trained on.
	Tight
)

var shapeNames = names{"square", "tight"}

// ShapeNames are the shapes' names, in order.
func ShapeNames() []string { return shapeNames.list() }

func (s Shape) String() string { return shapeNames.name("Shape", uint8(s)) }

// Valid reports whether s is one of the shapes.
func (s Shape) Valid() bool { return int(s) < len(shapeNames) }

// MarshalText writes the shape's name.
func (s Shape) MarshalText() ([]byte, error) { return shapeNames.marshal("shape", uint8(s)) }

// UnmarshalText reads a shape's name.
func (s *Shape) UnmarshalText(b []byte) error {
	x, err := shapeNames.parse("shape", b)
	*s = Shape(x)
	return err
}

// Balance is how an item's crop has its colours corrected
// (locate.balance).
type Balance uint8

// Balances.
const (
	// BalanceNone crops the frame's pixels as they are.
	BalanceNone Balance = iota
	// BalanceReference divides out how the light and the camera changed
	// since the reference tray was recorded at setup: an item keeps the
	// colours it has there, on any tray. The tray is never assumed grey.
	BalanceReference
	// BalanceTray scales each colour so that the tray under the box is
	// light grey: right only where the tray's colour is the light's (a
	// white tray), kept for models trained that way.
	BalanceTray
)

var balanceNames = names{"none", "reference", "tray"}

// BalanceNames are the balances' names, in order.
func BalanceNames() []string { return balanceNames.list() }

func (b Balance) String() string { return balanceNames.name("Balance", uint8(b)) }

// Valid reports whether b is one of the balances.
func (b Balance) Valid() bool { return int(b) < len(balanceNames) }

// MarshalText writes the balance's name.
func (b Balance) MarshalText() ([]byte, error) { return balanceNames.marshal("balance", uint8(b)) }

// UnmarshalText reads a balance's name.
func (b *Balance) UnmarshalText(t []byte) error {
	x, err := balanceNames.parse("balance", t)
	*b = Balance(x)
	return err
}
