// Package config reads and checks sorterd's YAML configuration file into
// plain structs. Parsing is strict (an unknown key is an error) and every
// message names the field and the line, so a technician can fix the file
// without reading code.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/sorterd/sorterd/settings"
	"go.yaml.in/yaml/v3"
)

// DefaultPath is where the systemd unit expects the file.
const DefaultPath = "/etc/sorterd/sorterd.yaml"

// DefaultModelPath is where the package installs the default model, the
// default model.path. make install sets it to its PREFIX at link time
// (-X github.com/sorterd/sorterd/config.DefaultModelPath=...).
var DefaultModelPath = "/usr/share/sorterd/models/garbage.tflite"

// Config is the whole file.
type Config struct {
	Station  string   `yaml:"station"`
	LogLevel string   `yaml:"log_level"`
	StateDir string   `yaml:"state_dir"`
	Camera   Camera   `yaml:"camera"`
	Trigger  Trigger  `yaml:"trigger"`
	Locate   Locate   `yaml:"locate"`
	Model    Model    `yaml:"model"`
	Decision Decision `yaml:"decision"`
	Bins     []Bin    `yaml:"bins"`
	GPIO     GPIO     `yaml:"gpio"`
	MQTT     MQTT     `yaml:"mqtt"`
	HTTP     HTTP     `yaml:"http"`
	Archive  Archive  `yaml:"archive"`
}

// Archive keeps every decided item's crop and event in
// <state_dir>/items/, the oldest removed beyond MaxItems or MaxMB.
type Archive struct {
	Enabled  bool `yaml:"enabled"`
	MaxItems int  `yaml:"max_items"`
	MaxMB    int  `yaml:"max_mb"`
}

// Camera is the frame source.
type Camera struct {
	// Source is a V4L2 device index ("0"), a device path (/dev/video0), a
	// video file, an rtsp:// or http(s):// URL, or a GStreamer pipeline
	// ending in appsink (any source containing "!").
	Source       string   `yaml:"source"`
	Width        int      `yaml:"width"`
	Height       int      `yaml:"height"`
	FPS          float64  `yaml:"fps"`
	Loop         bool     `yaml:"loop"` // restart a video file at its end
	ReconnectMin Duration `yaml:"reconnect_min"`
	ReconnectMax Duration `yaml:"reconnect_max"`
	// StallTimeout: no frame for this long counts as a lost source.
	StallTimeout Duration `yaml:"stall_timeout"`
	// ROI is the tray's part of the frame, in frame pixels: only it starts
	// items and enters crops. Zero width and height: the whole frame.
	ROI ROI `yaml:"roi"`
	// Rotate and Flip say how the camera is mounted: each frame is turned
	// Rotate degrees clockwise, then flipped.
	Rotate Rotation `yaml:"rotate"`
	Flip   Flip     `yaml:"flip"`
	// Exposure: auto leaves the camera's exposure and white balance to its
	// driver; locked switches both off at the values they settled on, so
	// an item keeps its own colours on any tray (V4L2 devices only;
	// docs/camera.md for pipelines).
	Exposure Exposure `yaml:"exposure"`
}

// Exposure is camera.exposure: whether sorterd locks the camera's
// exposure and white balance. The camera package does the locking; this
// is only the file's name for it, so that config needs no cgo.
type Exposure int

// Exposures.
const (
	// ExposureAuto leaves the driver's automatic exposure and white
	// balance as they are (on, for most cameras).
	ExposureAuto Exposure = iota
	// ExposureLocked lets the automatic loops settle over the first
	// frames, then switches them off at the values they reached.
	ExposureLocked
)

var exposureNames = [...]string{ExposureAuto: "auto", ExposureLocked: "locked"}

func (e Exposure) String() string {
	if e >= 0 && int(e) < len(exposureNames) {
		return exposureNames[e]
	}
	return fmt.Sprintf("Exposure(%d)", int(e))
}

// ExposureNames lists the names a config may use.
func ExposureNames() []string { return exposureNames[:] }

// ParseExposure reads an exposure's name.
func ParseExposure(s string) (Exposure, error) {
	for i, n := range exposureNames {
		if n == s {
			return Exposure(i), nil
		}
	}
	return 0, fmt.Errorf("%q is not one of %s", s, strings.Join(exposureNames[:], ", "))
}

// UnmarshalYAML reads an exposure's name. An unknown name is a type error
// on its line, which Parse reports as camera.exposure with that line,
// beside the file's other type errors.
func (e *Exposure) UnmarshalYAML(n *yaml.Node) error {
	v, err := ParseExposure(n.Value)
	if err != nil {
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: %v", n.Line, err)}}
	}
	*e = v
	return nil
}

// MarshalYAML writes the exposure's name.
func (e Exposure) MarshalYAML() (any, error) { return e.String(), nil }

// ROI is a rectangle in frame pixels.
type ROI struct {
	X      int `yaml:"x"`
	Y      int `yaml:"y"`
	Width  int `yaml:"width"`
	Height int `yaml:"height"`
}

// Locate says what the model sees of each frame.
type Locate struct {
	// Method: background (the box of what differs from the learned empty
	// tray), roi (camera.roi, item or not) or none (the whole frame).
	Method settings.Method `yaml:"method"`
	// Margin added around the item on every side, as a share of its
	// longer side, before the crop is made square.
	Margin float64 `yaml:"margin"`
	// MinSize: a box whose longer side is under this share of the ROI's
	// shorter side is no item.
	MinSize float64 `yaml:"min_size"`
	// Shape of the crop: square (the box made square, more tray around a
	// long item) or tight (the box as it is, squeezed to the model's
	// square input).
	Shape settings.Shape `yaml:"shape"`
	// Balance: reference (each colour of the crop corrected for how the
	// light and the camera changed since the empty tray was recorded at
	// setup, state_dir/reference.json: the item keeps its own colours on
	// any tray), tray (scaled so that the tray under the crop is light
	// grey: only for a white tray and models trained that way) or none.
	Balance settings.Balance `yaml:"balance"`
}

// UnmarshalYAML reads the section, its choices by name (decodeNamed).
func (l *Locate) UnmarshalYAML(n *yaml.Node) error {
	type plain Locate
	return decodeNamed(n, (*plain)(l), "Locate")
}

// Rotation is a clockwise turn of the camera's frames: 0, 90, 180 or 270.
type Rotation int

// Rotations.
const (
	Rotate0   Rotation = 0
	Rotate90  Rotation = 90
	Rotate180 Rotation = 180
	Rotate270 Rotation = 270
)

// Valid reports whether r is one of the four rotations.
func (r Rotation) Valid() bool {
	return r == Rotate0 || r == Rotate90 || r == Rotate180 || r == Rotate270
}

// Flip mirrors the camera's frames after the rotation.
type Flip string

// Flips.
const (
	FlipNone       Flip = "none"
	FlipHorizontal Flip = "horizontal" // left-right
	FlipVertical   Flip = "vertical"   // top-bottom
	FlipBoth       Flip = "both"
)

// Valid reports whether f is one of the flips.
func (f Flip) Valid() bool {
	return f == FlipNone || f == FlipHorizontal || f == FlipVertical || f == FlipBoth
}

// FlapMode is how a bin's flap moves.
type FlapMode string

// Flap modes.
const (
	FlapPulse FlapMode = "pulse" // open for bins.pulse, then close
	FlapHold  FlapMode = "hold"  // open until the next item's flap
)

// Trigger decides when an item is present.
type Trigger struct {
	Mode     settings.TriggerMode `yaml:"mode"`   // continuous, gpio or motion
	Every    int                  `yaml:"every"`  // continuous: classify every Nth frame
	Frames   int                  `yaml:"frames"` // frames classified per item
	Pin      string               `yaml:"pin"`    // gpio: presence sensor input
	Debounce Duration             `yaml:"debounce"`
	// motion: share of pixels that must differ from the learned empty
	// background, and the per-pixel difference that counts.
	MotionArea  float64 `yaml:"motion_area"`
	MotionDelta int     `yaml:"motion_delta"`
}

// UnmarshalYAML reads the section, its mode by name (decodeNamed).
func (t *Trigger) UnmarshalYAML(n *yaml.Node) error {
	type plain Trigger
	return decodeNamed(n, (*plain)(t), "Trigger")
}

// Model is the classifier.
type Model struct {
	Path          string `yaml:"path"`
	Labels        string `yaml:"labels"`
	Delegate      string `yaml:"delegate"`
	Threads       int    `yaml:"threads"`
	Fallback      bool   `yaml:"fallback"`
	EdgeTPUDevice string `yaml:"edgetpu_device"`
	// TTA: extra views of each frame classified and averaged
	// (flip, rot180, rot90, rot270, vflip, transpose, ...).
	TTA []string `yaml:"tta"`
	// TTAPerFrame > 0 shares the TTA views out over an item's frames,
	// this many per frame, instead of classifying every frame with all;
	// AutoViews: as many as fit the camera's frame period, timed at start.
	TTAPerFrame ViewsPerFrame `yaml:"tta_per_frame"`
}

// ViewsPerFrame is model.tta_per_frame: a number of views, or AutoViews.
type ViewsPerFrame int

// AutoViews ("auto") leaves the number of views per frame to the daemon,
// which times one inference at start and takes as many views as fit the
// camera's frame period: the same file then suits a Pi and a desktop.
const AutoViews ViewsPerFrame = -1

// UnmarshalYAML reads a number or "auto".
func (v *ViewsPerFrame) UnmarshalYAML(n *yaml.Node) error {
	if n.Value == "auto" {
		*v = AutoViews
		return nil
	}
	var i int
	// A negative count is refused here, not read as AutoViews (-1).
	if err := n.Decode(&i); err != nil || i < 0 {
		return fmt.Errorf("line %d: %q is not a number of views (>= 0) or auto", n.Line, n.Value)
	}
	*v = ViewsPerFrame(i)
	return nil
}

// MarshalYAML writes the number, or "auto".
func (v ViewsPerFrame) MarshalYAML() (any, error) {
	if v == AutoViews {
		return "auto", nil
	}
	return int(v), nil
}

func (v ViewsPerFrame) String() string {
	if v == AutoViews {
		return "auto"
	}
	return strconv.Itoa(int(v))
}

// Decision turns an item's frames into one bin.
type Decision struct {
	Vote settings.Vote `yaml:"vote"` // mean (of scores) or majority (of top-1)
	// Threshold below which the item goes to the reject bin; 0: the
	// threshold recorded in the model by `sorterd train`.
	Threshold float64           `yaml:"threshold"`
	Geometry  settings.Geometry `yaml:"geometry"` // chute or conveyor
	Cooldown  Duration          `yaml:"cooldown"` // chute: wait after a flap fires
}

// UnmarshalYAML reads the section, its choices by name (decodeNamed).
func (d *Decision) UnmarshalYAML(n *yaml.Node) error {
	type plain Decision
	return decodeNamed(n, (*plain)(d), "Decision")
}

// Bin is one output of the station and the flap that opens it.
type Bin struct {
	Name      string   `yaml:"name"`
	Labels    []string `yaml:"labels"` // classes sorted into it
	Reject    bool     `yaml:"reject"` // the bin for low-confidence items
	Pin       string   `yaml:"pin"`    // GPIO pin driving the flap
	ActiveLow bool     `yaml:"active_low"`
	Mode      FlapMode `yaml:"mode"`  // pulse or hold
	Pulse     Duration `yaml:"pulse"` // pulse length
	Delay     Duration `yaml:"delay"` // conveyor: camera → flap travel time
	// Threshold is this bin's own reject threshold (0: decision's), for
	// a bin that must stay pure: `sorterd eval --station` suggests one
	// per bin for a share right.
	Threshold float64 `yaml:"threshold"`
	// Servo: drive a hobby servo by PWM between these angles instead of
	// switching a level.
	Servo       bool    `yaml:"servo"`
	OpenAngle   float64 `yaml:"open_angle"`
	ClosedAngle float64 `yaml:"closed_angle"`
}

// GPIO selects the driver.
type GPIO struct {
	Driver string `yaml:"driver"` // periph or dry-run
}

// MQTT is the broker connection and what is published.
type MQTT struct {
	Enabled         bool     `yaml:"enabled"`
	Broker          string   `yaml:"broker"`    // tcp://host:1883, ssl://host:8883
	ClientID        string   `yaml:"client_id"` // "" = publish.DefaultClientID: unique per machine and state_dir
	Username        string   `yaml:"username"`
	Password        string   `yaml:"password"`
	PasswordFile    string   `yaml:"password_file"` // the password, read at start; else $CREDENTIALS_DIRECTORY/mqtt_password
	CAFile          string   `yaml:"ca_file"`
	CertFile        string   `yaml:"cert_file"`
	KeyFile         string   `yaml:"key_file"`
	TopicPrefix     string   `yaml:"topic_prefix"`
	Outbox          int      `yaml:"outbox"` // events kept while the broker is away
	StatsInterval   Duration `yaml:"stats_interval"`
	Discovery       bool     `yaml:"discovery"`
	DiscoveryPrefix string   `yaml:"discovery_prefix"`
}

// HTTP is the operator's web page and API.
type HTTP struct {
	Enabled bool   `yaml:"enabled"`
	Listen  string `yaml:"listen"`
	// Token, when set, is required as "Authorization: Bearer TOKEN" by the
	// API; TokenForAll extends it to /healthz and /metrics.
	Token       string `yaml:"token"`
	TokenFile   string `yaml:"token_file"` // the token, read at start (a systemd credential: SORTERD_HTTP_TOKEN_FILE=%d/http_token)
	TokenForAll bool   `yaml:"token_for_all"`
	// AllowedHosts are host names (besides IP addresses, localhost and
	// this machine's name) the page answers to: other Host headers are
	// refused, which defeats DNS rebinding.
	AllowedHosts []string `yaml:"allowed_hosts"`
	// PublicURL is the page's address for other machines (Home
	// Assistant's device link), when http.listen does not tell it.
	PublicURL string `yaml:"public_url"`
}

// Duration is a time.Duration written as "250ms", "2s".
type Duration time.Duration

// UnmarshalYAML parses a Go duration string.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %q is not a duration (like 250ms or 2s)", n.Line, n.Value)
	}
	*d = Duration(v)
	return nil
}

// MarshalYAML writes the duration as text.
func (d Duration) MarshalYAML() (any, error) { return time.Duration(d).String(), nil }

// D is the duration as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// Default is the configuration with every default filled in.
func Default() Config {
	return Config{
		Station:  "station1",
		LogLevel: "info",
		StateDir: "/var/lib/sorterd",
		Camera: Camera{Source: "0", Width: settings.DefaultFrameWidth, Height: settings.DefaultFrameHeight, FPS: settings.DefaultFPS,
			ReconnectMin: Duration(500 * time.Millisecond), ReconnectMax: Duration(30 * time.Second),
			StallTimeout: Duration(5 * time.Second), Rotate: Rotate0, Flip: FlipNone},
		Trigger: Trigger{Mode: settings.Continuous, Every: 15, Frames: 3, Debounce: Duration(50 * time.Millisecond),
			MotionArea: settings.DefaultArea, MotionDelta: settings.DefaultDelta},
		Locate: Locate{Method: settings.Background, Margin: settings.DefaultMargin, MinSize: settings.DefaultMinSize,
			Shape: settings.Square, Balance: settings.BalanceReference},
		Model:    Model{Path: DefaultModelPath, Delegate: "xnnpack", Fallback: true, TTA: []string{"flip", "rot180", "rot90", "rot270", "vflip"}, TTAPerFrame: 2},
		Decision: Decision{Vote: settings.VoteMean, Geometry: settings.Chute, Cooldown: Duration(time.Second)},
		GPIO:     GPIO{Driver: "periph"},
		MQTT: MQTT{Enabled: true, Broker: "tcp://127.0.0.1:1883", TopicPrefix: "sorterd", Outbox: 10000,
			StatsInterval: Duration(30 * time.Second), Discovery: true, DiscoveryPrefix: "homeassistant"},
		HTTP:    HTTP{Enabled: true, Listen: "127.0.0.1:8080"},
		Archive: Archive{MaxItems: 10000, MaxMB: 1024},
	}
}

// Error is one problem in the file: the field's path, what is wrong and
// the line it is on (0 when the field is absent from the file).
type Error struct {
	Field string
	Msg   string
	Line  int
}

func (e Error) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s: %s (line %d)", e.Field, e.Msg, e.Line)
	}
	return fmt.Sprintf("%s: %s", e.Field, e.Msg)
}

// Errors are all the problems found, one per line.
type Errors []Error

func (es Errors) Error() string {
	s := make([]string, len(es))
	for i, e := range es {
		s[i] = e.Error()
	}
	return strings.Join(s, "\n")
}

// Load reads and checks a file, with SORTERD_<SECTION>_<KEY> variables
// of the environment applied over it (see ParseEnv).
func Load(path string) (Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Config{}, err
	}
	c, err := ParseEnv(b, os.Environ())
	if err != nil {
		return Config{}, fmt.Errorf("%s:\n%w", path, err)
	}
	return c, nil
}

var yamlLine = regexp.MustCompile(`line (\d+): field (\S+) not found in type config\.(\w+)`)

// Parse reads YAML over the defaults, strictly, and validates the result.
func Parse(b []byte) (Config, error) { return ParseEnv(b, nil) }

// decode reads YAML over c, strictly.
func decode(b []byte, c *Config) (*yaml.Node, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(b, &root); err != nil {
		return &root, fmt.Errorf("not valid YAML: %w", err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil && !errors.Is(err, io.EOF) {
		var te *yaml.TypeError
		if errors.As(err, &te) {
			var es Errors
			for _, m := range te.Errors {
				if sm := yamlLine.FindStringSubmatch(m); sm != nil {
					line, _ := strconv.Atoi(sm[1])
					es = append(es, Error{Field: pathAtLine(&root, line, sm[2]), Msg: "unknown key", Line: line})
					continue
				}
				es = append(es, lineError(&root, m))
			}
			return &root, es
		}
		return &root, Errors{lineError(&root, err.Error())}
	}
	return &root, nil
}

// lineOf finds the line of a dotted path ("camera.fps", "bins.2.pin").
func lineOf(root *yaml.Node, path string) int {
	n := root
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	line := 0
	for _, part := range strings.Split(path, ".") {
		switch n.Kind {
		case yaml.MappingNode:
			found := false
			for i := 0; i+1 < len(n.Content); i += 2 {
				if n.Content[i].Value == part {
					line = n.Content[i].Line
					n = n.Content[i+1]
					found = true
					break
				}
			}
			if !found {
				return line
			}
		case yaml.SequenceNode:
			i, err := strconv.Atoi(part)
			if err != nil || i >= len(n.Content) {
				return line
			}
			n = n.Content[i]
			line = n.Line
		default:
			return line
		}
	}
	return line
}

var yamlAtLine = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)

// lineError turns "line 6: cannot unmarshal ..." into an Error that names
// the field whose value is on that line.
func lineError(root *yaml.Node, msg string) Error {
	sm := yamlAtLine.FindStringSubmatch(msg)
	if sm == nil {
		return Error{Field: "config", Msg: msg}
	}
	line, _ := strconv.Atoi(sm[1])
	field := pathAtLine(root, line, "")
	if field == "" {
		field = "config"
	}
	return Error{Field: field, Msg: sm[2], Line: line}
}

// pathAtLine names the key at a line for an unknown-key message; with key
// "", the key whose scalar value is on that line.
func pathAtLine(root *yaml.Node, line int, key string) string {
	var walk func(n *yaml.Node, prefix string) string
	walk = func(n *yaml.Node, prefix string) string {
		switch n.Kind {
		case yaml.DocumentNode:
			for _, c := range n.Content {
				if p := walk(c, prefix); p != "" {
					return p
				}
			}
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				k := n.Content[i]
				p := k.Value
				if prefix != "" {
					p = prefix + "." + k.Value
				}
				if k.Line == line && (k.Value == key || key == "" && n.Content[i+1].Kind == yaml.ScalarNode && n.Content[i+1].Line == line) {
					return p
				}
				if r := walk(n.Content[i+1], p); r != "" {
					return r
				}
			}
		case yaml.SequenceNode:
			for i, c := range n.Content {
				if r := walk(c, fmt.Sprintf("%s.%d", prefix, i)); r != "" {
					return r
				}
			}
		}
		return ""
	}
	if p := walk(root, ""); p != "" {
		return p
	}
	return key
}

// checker collects the problems of one file, each with its line.
type checker struct {
	root  *yaml.Node
	given map[string]string // field path → value given in the environment
	es    Errors
}

func (k *checker) bad(field, format string, args ...any) {
	k.es = append(k.es, Error{Field: field, Msg: fmt.Sprintf(format, args...), Line: lineOf(k.root, field)})
}

// number refuses NaN and the infinities, which every range check below
// would let through (a comparison with NaN is false); it reports whether
// v is a finite number, so that a range check only follows then.
func (k *checker) number(field string, v float64) bool {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		k.bad(field, "%v is not a number the station can use", v)
		return false
	}
	return true
}

func (k *checker) oneOf(field, v string, allowed ...string) {
	for _, a := range allowed {
		if v == a {
			return
		}
	}
	k.bad(field, "%q is not one of %s", v, strings.Join(allowed, ", "))
}

// fillDefaults sets what a bin leaves out: a pulse flap of 300 ms.
func (c *Config) fillDefaults() {
	for i := range c.Bins {
		if c.Bins[i].Mode == "" {
			c.Bins[i].Mode = FlapPulse
		}
		if c.Bins[i].Pulse == 0 {
			c.Bins[i].Pulse = Duration(300 * time.Millisecond)
		}
	}
}

// topicID is what a name that becomes part of an MQTT topic may hold:
// the station (<prefix>/<station>/...) and each bin (Home Assistant's
// discovery topics, <prefix>/<component>/sorterd_<station>/items_<bin>/config,
// take only these in an id; a "/" would add a level, "+" and "#" are
// wildcards a broker refuses in a published topic).
var topicID = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// Slug turns a name into one topicID takes, for the error that refuses
// it: each run of other characters becomes one "_" ("brown glass/jars"
// → "brown_glass_jars"); "bin" when nothing is left.
func Slug(name string) string {
	var b strings.Builder
	gap := false
	for _, r := range name {
		if 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == '_' || r == '-' {
			if gap && b.Len() > 0 {
				b.WriteByte('_')
			}
			b.WriteRune(r)
			gap = false
		} else {
			gap = true
		}
	}
	if b.Len() == 0 {
		return "bin"
	}
	return b.String()
}

// validate checks every section; root gives the lines.
func (c *Config) validate(root *yaml.Node, given map[string]string) Errors {
	k := &checker{root: root, given: given}
	if !topicID.MatchString(c.Station) {
		k.bad("station", "must be letters, digits, - or _ (it is part of MQTT topics)")
	}
	k.oneOf("log_level", c.LogLevel, "debug", "info", "warn", "error")
	if c.StateDir == "" {
		k.bad("state_dir", "must be set")
	}
	c.Camera.check(k)
	c.checkItems(k)
	c.checkBins(k)
	k.oneOf("gpio.driver", c.GPIO.Driver, "periph", "dry-run")
	c.checkLinks(k)
	return k.es
}

func (cam Camera) check(k *checker) {
	if cam.Source == "" {
		k.bad("camera.source", "must be set")
	}
	if strings.Contains(cam.Source, "!") && !regexp.MustCompile(`!\s*appsink(\s|$)`).MatchString(cam.Source) {
		k.bad("camera.source", "a GStreamer pipeline (a source with \"!\") must end in \"! appsink\"")
	}
	if !cam.Rotate.Valid() {
		k.bad("camera.rotate", "%d is not one of 0, 90, 180, 270 (degrees clockwise)", cam.Rotate)
	}
	if !cam.Flip.Valid() {
		k.bad("camera.flip", "%q is not one of none, horizontal, vertical, both", cam.Flip)
	}
	if cam.Width <= 0 {
		k.bad("camera.width", "must be > 0")
	}
	if cam.Height <= 0 {
		k.bad("camera.height", "must be > 0")
	}
	if k.number("camera.fps", cam.FPS) {
		if cam.FPS <= 0 {
			k.bad("camera.fps", "must be > 0")
		} else if cam.FPS > MaxFPS {
			k.bad("camera.fps", "must be at most %d", MaxFPS)
		}
	}
	if cam.ReconnectMin <= 0 {
		k.bad("camera.reconnect_min", "must be > 0")
	}
	if cam.ReconnectMax < cam.ReconnectMin {
		k.bad("camera.reconnect_max", "must be >= camera.reconnect_min")
	}
	if cam.StallTimeout <= 0 {
		k.bad("camera.stall_timeout", "must be > 0")
	}
	if r := cam.ROI; r != (ROI{}) {
		// The ROI is in the frame's pixels after the mount's rotation.
		fw, fh := cam.Width, cam.Height
		if cam.Rotate == Rotate90 || cam.Rotate == Rotate270 {
			fw, fh = fh, fw
		}
		switch {
		case r.X < 0 || r.Y < 0:
			k.bad("camera.roi", "x and y must be >= 0")
		case r.Width <= 0 || r.Height <= 0:
			k.bad("camera.roi", "width and height must be > 0 (or all four 0: the whole frame)")
		case r.X+r.Width > fw || r.Y+r.Height > fh:
			k.bad("camera.roi", "x+width and y+height must fit in the frame (%dx%d, after camera.rotate)", fw, fh)
		}
	}
}

// checkItems checks how an item is found, classified and decided:
// locate, trigger, model and decision. The choices' names were read into
// the settings types; one that is not a name is reported here.
func (c *Config) checkItems(k *checker) {
	k.named("locate.method", c.Locate.Method, settings.MethodNames())
	k.named("locate.shape", c.Locate.Shape, settings.ShapeNames())
	k.named("locate.balance", c.Locate.Balance, balanceOrder)
	if k.number("locate.margin", c.Locate.Margin) && (c.Locate.Margin < 0 || c.Locate.Margin > 1) {
		k.bad("locate.margin", "must be in 0..1")
	}
	if k.number("locate.min_size", c.Locate.MinSize) && (c.Locate.MinSize < 0 || c.Locate.MinSize >= 1) {
		k.bad("locate.min_size", "must be in [0, 1)")
	}
	k.named("trigger.mode", c.Trigger.Mode, settings.TriggerModeNames())
	if c.Trigger.Every < 1 {
		k.bad("trigger.every", "must be >= 1")
	}
	if c.Trigger.Frames < 1 || c.Trigger.Frames > MaxFrames {
		k.bad("trigger.frames", "must be in 1..%d", MaxFrames)
	}
	if c.Trigger.Mode == settings.GPIO && c.Trigger.Pin == "" {
		k.bad("trigger.pin", "must be set when trigger.mode is gpio")
	}
	if c.Trigger.Pin != "" {
		k.pinName("trigger.pin", c.Trigger.Pin)
	}
	if k.number("trigger.motion_area", c.Trigger.MotionArea) && (c.Trigger.MotionArea <= 0 || c.Trigger.MotionArea > 1) {
		k.bad("trigger.motion_area", "must be in (0, 1]")
	}
	if c.Trigger.MotionDelta < 1 || c.Trigger.MotionDelta > 255 {
		k.bad("trigger.motion_delta", "must be in 1..255")
	}
	if c.Model.Path == "" {
		k.bad("model.path", "must be set")
	}
	k.oneOf("model.delegate", c.Model.Delegate, "cpu", "xnnpack", "edgetpu", "gpu")
	if c.Model.Threads < 0 || c.Model.Threads > MaxThreads {
		k.bad("model.threads", "must be in 0..%d (0: one per CPU)", MaxThreads)
	}
	// With no views (tta: []) there is nothing to share out: ignored.
	if (c.Model.TTAPerFrame < 0 && c.Model.TTAPerFrame != AutoViews) || (len(c.Model.TTA) > 0 && int(c.Model.TTAPerFrame) > len(c.Model.TTA)) {
		k.bad("model.tta_per_frame", "must be auto or in 0..%d (the number of views in model.tta; 0: all on every frame)", len(c.Model.TTA))
	}
	k.named("decision.vote", c.Decision.Vote, settings.VoteNames())
	k.named("decision.geometry", c.Decision.Geometry, settings.GeometryNames())
	if k.number("decision.threshold", c.Decision.Threshold) && (c.Decision.Threshold < 0 || c.Decision.Threshold >= 1) {
		k.bad("decision.threshold", "must be in [0, 1)")
	}
	if c.Decision.Cooldown < 0 {
		k.bad("decision.cooldown", "must be >= 0")
	}
}

// balanceOrder lists locate.balance's names as the example file does,
// the default first.
var balanceOrder = []string{settings.BalanceReference.String(), settings.BalanceTray.String(), settings.BalanceNone.String()}

func (c *Config) checkBins(k *checker) {
	if len(c.Bins) == 0 {
		k.bad("bins", "at least one bin is needed")
	}
	names := map[string]bool{}
	labels := map[string]string{}
	pins := map[string]string{} // pin → the bin (or trigger) on it
	if c.Trigger.Mode == settings.GPIO && c.Trigger.Pin != "" {
		pins[c.Trigger.Pin] = "the trigger's sensor (trigger.pin)"
	}
	rejects := 0
	for i, b := range c.Bins {
		p := fmt.Sprintf("bins.%d", i)
		if b.Name == "" {
			k.bad(p+".name", "must be set")
		} else if !topicID.MatchString(b.Name) {
			k.bad(p+".name", "%q must be letters, digits, - or _ (it names the bin's MQTT commands and Home Assistant entities); try %q", b.Name, Slug(b.Name))
		} else if names[b.Name] {
			k.bad(p+".name", "bin %q is defined twice", b.Name)
		}
		names[b.Name] = true
		if b.Reject {
			rejects++
		} else if len(b.Labels) == 0 {
			k.bad(p+".labels", "a sorting bin needs at least one label")
		}
		for _, l := range b.Labels {
			if other, ok := labels[l]; ok {
				k.bad(p+".labels", "label %q already goes to bin %q", l, other)
			}
			labels[l] = b.Name
		}
		if b.Pin == "" && c.GPIO.Driver != "dry-run" {
			k.bad(p+".pin", "must be set (or gpio.driver: dry-run)")
		}
		if b.Pin != "" && k.pinName(p+".pin", b.Pin) {
			if other, ok := pins[b.Pin]; ok {
				k.bad(p+".pin", "pin %s is already used by %s: one pin drives one flap", b.Pin, other)
			} else {
				pins[b.Pin] = fmt.Sprintf("bin %q", b.Name)
			}
		}
		b.checkFlap(k, p)
	}
	if rejects != 1 && len(c.Bins) > 0 {
		k.bad("bins", "exactly one bin must have reject: true (found %d)", rejects)
	}
}

// checkFlap checks how bin b's flap (at path p) moves, and its threshold.
func (b Bin) checkFlap(k *checker, p string) {
	k.oneOf(p+".mode", string(b.Mode), string(FlapPulse), string(FlapHold))
	// A pulse holds the station's loop, and a stop waits for it: it
	// must end well within the unit's TimeoutStopSec (15 s), after the
	// item in flight, a conveyor's delay and the outbox's drain.
	if b.Pulse < 0 || b.Pulse.D() > MaxPulse {
		k.bad(p+".pulse", "must be > 0 and at most %s (a stop waits for it)", MaxPulse)
	}
	if b.Delay < 0 || b.Delay.D() > MaxDelay {
		k.bad(p+".delay", "must be in 0..%s (a stop waits for a scheduled flap)", MaxDelay)
	}
	if !(b.Threshold >= 0 && b.Threshold < 1) {
		k.bad(p+".threshold", "must be in 0..1 (0: decision.threshold)")
	}
	if k.number(p+".open_angle", b.OpenAngle) && (b.OpenAngle < 0 || b.OpenAngle > 180) {
		k.bad(p+".open_angle", "must be in 0..180")
	}
	if k.number(p+".closed_angle", b.ClosedAngle) && (b.ClosedAngle < 0 || b.ClosedAngle > 180) {
		k.bad(p+".closed_angle", "must be in 0..180")
	}
}

// checkLinks checks the page, the archive and MQTT.
func (c *Config) checkLinks(k *checker) {
	if c.HTTP.Enabled {
		if _, port, err := net.SplitHostPort(c.HTTP.Listen); err != nil || port == "" {
			k.bad("http.listen", "%q must be host:port, like 127.0.0.1:8080 or :8080", c.HTTP.Listen)
		}
		if c.HTTP.Token != "" && c.HTTP.TokenFile != "" {
			k.bad("http.token_file", "token and token_file exclude each other")
		}
		if c.HTTP.TokenForAll && c.HTTP.Token == "" && c.HTTP.TokenFile == "" {
			k.bad("http.token_for_all", "needs http.token or http.token_file")
		}
		if c.HTTP.BeyondLoopback() && c.HTTP.Token == "" && c.HTTP.TokenFile == "" {
			// Anyone on the network could pause the station, fire flaps
			// and label items, which writes training samples: a poisoned
			// next retrain.
			k.bad("http.token", "needed: http.listen %q is reachable beyond this machine, and without a token anyone on the network can pause the station, fire flaps and label items; set http.token (or http.token_file), or listen on 127.0.0.1", c.HTTP.Listen)
		}
	}
	if c.Archive.Enabled && (c.Archive.MaxItems < 1 || c.Archive.MaxMB < 1) {
		k.bad("archive.max_items", "max_items and max_mb must be >= 1")
	}
	if !c.MQTT.Enabled {
		return
	}
	m := c.MQTT
	if !regexp.MustCompile(`^(tcp|ssl|tls|mqtt|mqtts|ws|wss)://`).MatchString(m.Broker) {
		k.bad("mqtt.broker", "%q needs a scheme, like tcp://host:1883 or ssl://host:8883", m.Broker)
	} else if u, err := url.Parse(m.Broker); err != nil {
		// The MQTT client drops a broker URL it cannot parse without a
		// word, and then never connects.
		k.bad("mqtt.broker", "%q is not a URL: %v", m.Broker, errors.Unwrap(err))
	} else if u.Hostname() == "" {
		k.bad("mqtt.broker", "%q names no host, like tcp://host:1883", m.Broker)
	}
	if m.Outbox < 1 {
		k.bad("mqtt.outbox", "must be >= 1")
	}
	if m.StatsInterval <= 0 {
		k.bad("mqtt.stats_interval", "must be > 0")
	}
	if m.Password != "" && m.PasswordFile != "" {
		k.bad("mqtt.password_file", "password and password_file exclude each other")
	}
	if (m.CertFile == "") != (m.KeyFile == "") {
		k.bad("mqtt.cert_file", "cert_file and key_file go together")
	}
	if m.TopicPrefix == "" || strings.ContainsAny(m.TopicPrefix, "#+") {
		k.bad("mqtt.topic_prefix", "must be set and contain no wildcard")
	}
}

// Limits of values the daemon can use.
const (
	// MaxThreads bounds model.threads: more interpreter threads than any
	// board has cores only cost memory and start-up time.
	MaxThreads = 64
	// MaxFrames bounds trigger.frames: an item is decided on this many
	// frames, and one must lie still for them all.
	MaxFrames = 50
	// MaxFPS bounds camera.fps: the frame period the station paces and
	// plans views by.
	MaxFPS = 1000
	// MaxPulse and MaxDelay bound a flap's pulse and a conveyor bin's
	// delay: a stop waits for both, the item in flight (2 s at most) and
	// the outbox's drain (about 6 s), and must end within the unit's
	// TimeoutStopSec=15s.
	MaxPulse = 2 * time.Second
	MaxDelay = 5 * time.Second
)

// pinName is periph's naming of a pin: a name (GPIO6) or a header alias
// (P1_31), a letter first and no spaces. A bare number ("6") or "GPIO 6"
// names no pin periph knows; the board itself is asked at start.
var pinName = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_-]*$`)

// pinName reports whether pin can be a periph pin name, and says why not.
func (k *checker) pinName(field, pin string) bool {
	if pinName.MatchString(pin) {
		return true
	}
	hint := ""
	if _, err := strconv.Atoi(strings.TrimSpace(pin)); err == nil {
		hint = fmt.Sprintf(" (a GPIO number is written GPIO%s)", strings.TrimSpace(pin))
	} else if s := strings.ReplaceAll(pin, " ", ""); pinName.MatchString(s) {
		hint = fmt.Sprintf(" (without spaces: %s)", s)
	}
	k.bad(field, "%q is not a pin name, like GPIO6 or P1_31%s", pin, hint)
	return false
}

// BeyondLoopback says whether http.listen takes connections from other
// machines: any address but a loopback one or localhost (a wildcard, a
// LAN address, a host name). A listen address that does not parse is
// reported by the checks, not here.
func (h HTTP) BeyondLoopback() bool {
	host, _, err := net.SplitHostPort(h.Listen)
	if err != nil || strings.EqualFold(host, "localhost") {
		return false
	}
	ip := net.ParseIP(host)
	return ip == nil || !ip.IsLoopback()
}

// PageURL is the web page's address as another machine reaches it (Home
// Assistant's "visit device" link): http.public_url when set; else
// http://<host>:<port>/ from http.listen, with this machine's name for a
// wildcard address; "" when the page is off or listens on loopback only.
func (h HTTP) PageURL(hostname string) string {
	if !h.Enabled {
		return ""
	}
	if h.PublicURL != "" {
		return h.PublicURL
	}
	host, port, err := net.SplitHostPort(h.Listen)
	if err != nil {
		return ""
	}
	switch ip := net.ParseIP(host); {
	case host == "localhost" || (ip != nil && ip.IsLoopback()):
		return ""
	case host == "" || (ip != nil && ip.IsUnspecified()):
		if hostname == "" {
			return ""
		}
		host = hostname
	}
	return "http://" + net.JoinHostPort(host, port) + "/"
}
