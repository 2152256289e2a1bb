package config

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/sorterd/sorterd/settings"

	"go.yaml.in/yaml/v3"
)

func examplePath() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "sorterd.example.yaml")
}

func TestExampleLoads(t *testing.T) {
	c, err := Load(examplePath())
	if err != nil {
		t.Fatal(err)
	}
	if c.Station != "station1" || len(c.Bins) != 5 || c.Camera.FPS != 15 || c.Bins[1].Pulse.D().Milliseconds() != 300 {
		t.Errorf("%+v", c)
	}
}

// Turning test-time views off must not trip over tta_per_frame's
// default: with no views there is nothing to share out.
func TestNoTTAWithPerFrame(t *testing.T) {
	base, err := os.ReadFile(examplePath())
	if err != nil {
		t.Fatal(err)
	}
	from := "  tta: [flip, rot180, rot90, rot270, vflip]"
	if !strings.Contains(string(base), from) {
		t.Fatal("example has no tta line")
	}
	c, err := Parse([]byte(strings.Replace(string(base), from, "  tta: []", 1)))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Model.TTA) != 0 || c.Model.TTAPerFrame != 2 {
		t.Errorf("tta %v, per frame %d", c.Model.TTA, c.Model.TTAPerFrame)
	}
	if d := Default(); len(d.Model.TTA) != 5 || d.Model.TTAPerFrame != 2 {
		t.Errorf("defaults: tta %v, per frame %d", d.Model.TTA, d.Model.TTAPerFrame)
	}
}

// tta_per_frame takes "auto" from the file and from the environment; a
// negative count is refused rather than taken for auto's -1.
func TestTTAPerFrameAuto(t *testing.T) {
	base, err := os.ReadFile(examplePath())
	if err != nil {
		t.Fatal(err)
	}
	from := "  tta_per_frame: 2 "
	if !strings.Contains(string(base), from) {
		t.Fatal("example has no tta_per_frame: 2 line")
	}
	c, err := Parse([]byte(strings.Replace(string(base), from, "  tta_per_frame: auto ", 1)))
	if err != nil {
		t.Fatal(err)
	}
	if c.Model.TTAPerFrame != AutoViews || c.Model.TTAPerFrame.String() != "auto" {
		t.Errorf("tta_per_frame: auto read as %d", c.Model.TTAPerFrame)
	}
	if c, err = ParseEnv(base, []string{"SORTERD_MODEL_TTA_PER_FRAME=auto"}); err != nil || c.Model.TTAPerFrame != AutoViews {
		t.Errorf("from the environment: %d, %v", c.Model.TTAPerFrame, err)
	}
	if c, err = ParseEnv(base, []string{"SORTERD_MODEL_TTA_PER_FRAME=3"}); err != nil || c.Model.TTAPerFrame != 3 {
		t.Errorf("3 from the environment: %d, %v", c.Model.TTAPerFrame, err)
	}
	for _, bad := range []string{"-1", "many"} {
		_, err := Parse([]byte(strings.Replace(string(base), from, "  tta_per_frame: "+bad+" ", 1)))
		if err == nil || !strings.Contains(err.Error(), "not a number of views (>= 0) or auto") {
			t.Errorf("tta_per_frame: %s: %v", bad, err)
		}
	}
	out, err := yaml.Marshal(c.Model)
	if err != nil || !strings.Contains(string(out), "tta_per_frame: 3") {
		t.Errorf("marshalled: %s %v", out, err)
	}
	c.Model.TTAPerFrame = AutoViews
	if out, _ = yaml.Marshal(c.Model); !strings.Contains(string(out), "tta_per_frame: auto") {
		t.Errorf("auto marshalled as: %s", out)
	}
}

// A GStreamer pipeline with its appsink, and the mounting keys, load.
func TestPipelineSourceAndOrientation(t *testing.T) {
	base, err := os.ReadFile(examplePath())
	if err != nil {
		t.Fatal(err)
	}
	s := strings.Replace(string(base), `  source: "0" `, `  source: "libcamerasrc ! video/x-raw,width=1280,height=720,format=NV12 ! videoconvert ! appsink drop=true max-buffers=1" `, 1)
	s = strings.Replace(s, "  rotate: 0 ", "  rotate: 270 ", 1)
	s = strings.Replace(s, "  flip: none ", "  flip: horizontal ", 1)
	c, err := Parse([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	if c.Camera.Rotate != Rotate270 || c.Camera.Flip != FlipHorizontal || !strings.HasPrefix(c.Camera.Source, "libcamerasrc !") {
		t.Errorf("camera %+v", c.Camera)
	}
	if d := Default(); d.Camera.Rotate != Rotate0 || d.Camera.Flip != FlipNone {
		t.Errorf("defaults %+v", d.Camera)
	}
}

// The station's choices, written by name, are read typed; a bin without
// a mode pulses for 300 ms.
func TestTypedModes(t *testing.T) {
	base, err := os.ReadFile(examplePath())
	if err != nil {
		t.Fatal(err)
	}
	s := strings.Replace(string(base), "  mode: continuous ", "  mode: motion ", 1)
	s = strings.Replace(s, "  vote: mean ", "  vote: majority ", 1)
	s = strings.Replace(s, "  geometry: chute ", "  geometry: conveyor ", 1)
	s = strings.Replace(s, "    mode: pulse ", "    mode: hold ", 1)
	c, err := Parse([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	if c.Trigger.Mode != settings.Motion || c.Decision.Vote != settings.VoteMajority ||
		c.Decision.Geometry != settings.Conveyor || c.Bins[0].Mode != FlapHold {
		t.Errorf("trigger %v, vote %v, geometry %v, bin mode %v", c.Trigger.Mode, c.Decision.Vote, c.Decision.Geometry, c.Bins[0].Mode)
	}
	d, err := Parse([]byte("gpio: {driver: dry-run}\nbins:\n  - {name: r, reject: true}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if d.Trigger.Mode != settings.Continuous || d.Decision.Vote != settings.VoteMean ||
		d.Decision.Geometry != settings.Chute || d.Bins[0].Mode != FlapPulse || d.Bins[0].Pulse.D() != 300*time.Millisecond {
		t.Errorf("defaults: %+v %+v %+v", d.Trigger, d.Decision, d.Bins[0])
	}
}

// camera.exposure is read by name, defaults to auto (the driver left
// alone), comes from the environment too, and is written back by name.
func TestCameraExposure(t *testing.T) {
	base, err := os.ReadFile(examplePath())
	if err != nil {
		t.Fatal(err)
	}
	from := "  exposure: auto "
	if !strings.Contains(string(base), from) {
		t.Fatal("example has no exposure: auto line")
	}
	if d := Default(); d.Camera.Exposure != ExposureAuto {
		t.Errorf("default exposure %v, want auto", d.Camera.Exposure)
	}
	c, err := Parse([]byte(strings.Replace(string(base), from, "  exposure: locked ", 1)))
	if err != nil {
		t.Fatal(err)
	}
	if c.Camera.Exposure != ExposureLocked || c.Camera.Exposure.String() != "locked" {
		t.Errorf("exposure: locked read as %v", c.Camera.Exposure)
	}
	if c, err = ParseEnv(base, []string{"SORTERD_CAMERA_EXPOSURE=locked"}); err != nil || c.Camera.Exposure != ExposureLocked {
		t.Errorf("from the environment: %v, %v", c.Camera.Exposure, err)
	}
	if _, err = ParseEnv(base, []string{"SORTERD_CAMERA_EXPOSURE=fixed"}); err == nil || !strings.Contains(err.Error(), `"fixed" is not one of auto, locked`) {
		t.Errorf("a bad name from the environment: %v", err)
	}
	out, err := yaml.Marshal(c.Camera)
	if err != nil || !strings.Contains(string(out), "exposure: locked") {
		t.Errorf("marshalled: %s %v", out, err)
	}
	for _, name := range ExposureNames() {
		e, err := ParseExposure(name)
		if err != nil || e.String() != name {
			t.Errorf("ParseExposure(%q) = %v, %v", name, e, err)
		}
	}
	if _, err := ParseExposure("Locked"); err == nil {
		t.Error("names are case-sensitive, like every other name in the file")
	}
	if s := Exposure(7).String(); s != "Exposure(7)" {
		t.Errorf("an unnamed exposure prints as %q", s)
	}
}

func TestEmptyFileIsDefaultsButNeedsBins(t *testing.T) {
	_, err := Parse(nil)
	if err == nil || !strings.Contains(err.Error(), "bins: at least one bin") {
		t.Errorf("empty file: %v", err)
	}
}

// Slug suggests a bin name Home Assistant's topics take.
func TestSlug(t *testing.T) {
	for in, want := range map[string]string{"brown glass/jars": "brown_glass_jars", "glass": "glass", "Glas-Weiß": "Glas-Wei",
		" a  b ": "a_b", "a+b#c": "a_b_c", "////": "bin", "glas_1": "glas_1"} {
		if got := Slug(in); got != want || !topicID.MatchString(got) {
			t.Errorf("Slug(%q) = %q, want %q", in, got, want)
		}
	}
}

// Each broken field gives its own message with the field and the line.
func TestInvalidFields(t *testing.T) {
	base, err := os.ReadFile(examplePath())
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct{ from, to, want string }{
		{"  fps: 15\n", "  fps: 0\n", "camera.fps: must be > 0 (line 13)"},
		{"  fps: 15\n", "  fps: 15\n  fsp: 3\n", "camera.fsp: unknown key (line 14)"},
		{"  mode: continuous ", "  mode: sometimes ", `trigger.mode: "sometimes" is not one of continuous, gpio, motion (line 24)`},
		{"  delegate: xnnpack ", "  delegate: npu ", `model.delegate: "npu" is not one of cpu, xnnpack, edgetpu, gpu`},
		{"  reconnect_min: 500ms", "  reconnect_min: soon", `camera.reconnect_min: "soon" is not a duration (like 250ms or 2s) (line 15)`},
		{"  fps: 15\n", "  fps: fast\n", "camera.fps: cannot unmarshal !!str `fast` into float64 (line 13)"},
		{"    pin: GPIO6\n", "    pin: \"\"\n", "bins.1.pin: must be set (or gpio.driver: dry-run) (line 68)"},
		{"    labels: [plastic]\n", "    labels: [glass]\n", `bins.3.labels: label "glass" already goes to bin "glass"`},
		{"    reject: true ", "    reject: false ", "bins: exactly one bin must have reject: true (found 0)"},
		{"  password: \"\" ", "  password: secret\n  password_file: /etc/sorterd/pw ", "mqtt.password_file: password and password_file exclude each other"},
		{"broker: tcp://127.0.0.1:1883", "broker: 127.0.0.1:1883", "mqtt.broker: \"127.0.0.1:1883\" needs a scheme"},
		{"station: station1 ", "station: \"my station\" ", "station: must be letters"},
		{"  - name: metal\n", "  - name: brown glass/jars\n", `bins.1.name: "brown glass/jars" must be letters, digits, - or _ (it names the bin's MQTT commands and Home Assistant entities); try "brown_glass_jars" (line 66)`},
		{"  - name: metal\n", "  - name: \"a+b\"\n", `bins.1.name: "a+b" must be letters`},
		{"  tta_per_frame: 2 ", "  tta_per_frame: 6 ", "model.tta_per_frame: must be auto or in 0..5 (the number of views in model.tta; 0: all on every frame) (line 47)"},
		{"  method: background ", "  method: magic ", `locate.method: "magic" is not one of background, roi, none (line 33)`},
		{"  shape: square ", "  shape: round ", `locate.shape: "round" is not one of square, tight (line 36)`},
		{"  balance: reference ", "  balance: auto ", `locate.balance: "auto" is not one of reference, tray, none (line 37)`},
		{"    pin: GPIO5\n", "    pin: GPIO5\n    threshold: 1.2\n", "bins.0.threshold: must be in 0..1 (0: decision.threshold) (line 59)"},
		{"    pin: GPIO5\n", "    pin: GPIO5\n    threshold: .nan\n", "bins.0.threshold: must be in 0..1"},
		{"  roi: {x: 0, y: 0, width: 0, height: 0}", "  roi: {x: 600, y: 0, width: 100, height: 100}", "camera.roi: x+width and y+height must fit in the frame (640x480, after camera.rotate) (line 18)"},
		{"  roi: {x: 0, y: 0, width: 0, height: 0}", "  roi: {x: 10, y: 0, width: 0, height: 100}", "camera.roi: width and height must be > 0"},
		{"  listen: 127.0.0.1:8080", "  listen: 8080", `http.listen: "8080" must be host:port, like 127.0.0.1:8080 or :8080 (line 100)`},
		{"  vote: mean ", "  vote: average ", `decision.vote: "average" is not one of mean, majority (line 50)`},
		{"  geometry: chute ", "  geometry: belt ", `decision.geometry: "belt" is not one of chute, conveyor (line 52)`},
		{"    mode: pulse ", "    mode: toggle ", `bins.0.mode: "toggle" is not one of pulse, hold (line 59)`},
		{"  rotate: 0 ", "  rotate: 45 ", "camera.rotate: 45 is not one of 0, 90, 180, 270 (degrees clockwise) (line 19)"},
		{"  rotate: 0 ", "  rotate: left ", "camera.rotate: cannot unmarshal !!str `left` into config.Rotation (line 19)"},
		{"  flip: none ", "  flip: sideways ", `camera.flip: "sideways" is not one of none, horizontal, vertical, both (line 20)`},
		{"  exposure: auto ", "  exposure: manual ", `camera.exposure: "manual" is not one of auto, locked (line 21)`},
		{`  source: "0" `, `  source: "videotestsrc ! videoconvert" `, `camera.source: a GStreamer pipeline (a source with "!") must end in "! appsink" (line 10)`},
	}
	for _, tc := range cases {
		t.Run(tc.want, func(t *testing.T) {
			if !strings.Contains(string(base), tc.from) {
				t.Fatalf("example lacks %q", tc.from)
			}
			_, err := Parse([]byte(strings.Replace(string(base), tc.from, tc.to, 1)))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v\nwant %q", err, tc.want)
			}
		})
	}
}

// Values the daemon cannot use are refused, each naming its field and
// line: NaN and infinite numbers (every range check let NaN through),
// counts beyond what a board can run, pulses and delays a stop cannot
// wait for within TimeoutStopSec, two flaps on one pin, broker URLs the
// MQTT client cannot parse and pin names periph cannot have.
func TestUnusableValues(t *testing.T) {
	base, err := os.ReadFile(examplePath())
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct{ from, to, want string }{
		{"  threshold: 0 ", "  threshold: .nan ", "decision.threshold: NaN is not a number the station can use (line 51)"},
		{"  threshold: 0 ", "  threshold: .inf ", "decision.threshold: +Inf is not a number the station can use (line 51)"},
		{"  fps: 15\n", "  fps: .nan\n", "camera.fps: NaN is not a number the station can use (line 13)"},
		{"  fps: 15\n", "  fps: .inf\n", "camera.fps: +Inf is not a number the station can use (line 13)"},
		{"  fps: 15\n", "  fps: 100000\n", "camera.fps: must be at most 1000 (line 13)"},
		{"  motion_area: 0.005 ", "  motion_area: .nan ", "trigger.motion_area: NaN is not a number the station can use (line 29)"},
		{"  margin: 0.15 ", "  margin: .nan ", "locate.margin: NaN is not a number the station can use (line 34)"},
		{"  min_size: 0.08 ", "  min_size: -.inf ", "locate.min_size: -Inf is not a number the station can use (line 35)"},
		{"    open_angle: 90\n", "    open_angle: .nan\n", "bins.0.open_angle: NaN is not a number the station can use (line 64)"},
		{"  threads: 0 ", "  threads: 100000 ", "model.threads: must be in 0..64 (0: one per CPU) (line 43)"},
		{"  frames: 3 ", "  frames: 100000 ", "trigger.frames: must be in 1..50 (line 26)"},
		{"    pulse: 300ms\n", "    pulse: 20s\n", "bins.0.pulse: must be > 0 and at most 2s (a stop waits for it) (line 60)"},
		{"    delay: 0s ", "    delay: 1m ", "bins.0.delay: must be in 0..5s (a stop waits for a scheduled flap) (line 62)"},
		{"    pin: GPIO6\n", "    pin: GPIO5\n", `bins.1.pin: pin GPIO5 is already used by bin "glass": one pin drives one flap (line 68)`},
		{"    pin: GPIO6\n", "    pin: \"29\"\n", `bins.1.pin: "29" is not a pin name, like GPIO6 or P1_31 (a GPIO number is written GPIO29) (line 68)`},
		{"    pin: GPIO6\n", "    pin: GPIO 6\n", `bins.1.pin: "GPIO 6" is not a pin name, like GPIO6 or P1_31 (without spaces: GPIO6) (line 68)`},
		{"  pin: \"\" ", "  pin: \"17\" ", `trigger.pin: "17" is not a pin name, like GPIO6 or P1_31 (a GPIO number is written GPIO17) (line 27)`},
		{"broker: tcp://127.0.0.1:1883", "broker: \"tcp://[::1\"", `mqtt.broker: "tcp://[::1" is not a URL: missing ']' in host (line 85)`},
		{"broker: tcp://127.0.0.1:1883", "broker: \"tcp://:1883\"", `mqtt.broker: "tcp://:1883" names no host, like tcp://host:1883 (line 85)`},
		{"broker: tcp://127.0.0.1:1883", "broker: \"tcp://host:port\"", `mqtt.broker: "tcp://host:port" is not a URL: invalid port ":port" after host (line 85)`},
	}
	for _, tc := range cases {
		t.Run(tc.want, func(t *testing.T) {
			if !strings.Contains(string(base), tc.from) {
				t.Fatalf("example lacks %q", tc.from)
			}
			_, err := Parse([]byte(strings.Replace(string(base), tc.from, tc.to, 1)))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v\nwant %q", err, tc.want)
			}
		})
	}
	// The trigger's sensor and a flap cannot share a pin either.
	s := strings.Replace(string(base), "  mode: continuous ", "  mode: gpio ", 1)
	s = strings.Replace(s, "  pin: \"\" ", "  pin: GPIO26 ", 1)
	if _, err := Parse([]byte(s)); err == nil || !strings.Contains(err.Error(),
		"bins.4.pin: pin GPIO26 is already used by the trigger's sensor (trigger.pin): one pin drives one flap (line 78)") {
		t.Errorf("trigger and reject bin on GPIO26: %v", err)
	}
	// The limits themselves are usable.
	s = strings.Replace(string(base), "  threads: 0 ", "  threads: 64 ", 1)
	s = strings.Replace(s, "  frames: 3 ", "  frames: 50 ", 1)
	s = strings.Replace(s, "    pulse: 300ms\n", "    pulse: 2s\n", 1)
	s = strings.Replace(s, "    delay: 0s ", "    delay: 5s ", 1)
	s = strings.Replace(s, "    pin: GPIO6\n", "    pin: P1_31\n", 1)
	s = strings.Replace(s, "broker: tcp://127.0.0.1:1883", "broker: \"tcp://[::1]:1883\"", 1)
	if _, err := Parse([]byte(s)); err != nil {
		t.Errorf("values at the limits refused: %v", err)
	}
}

func FuzzParse(f *testing.F) {
	if b, err := os.ReadFile(examplePath()); err == nil {
		f.Add(b)
	}
	f.Add([]byte("camera: [1, 2]\nbins: 7\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		Parse(b) // must not panic
	})
}

// http.listen beyond loopback without a token is a configuration error
// naming http.token: it was only a warning at start, and anyone on the
// network could pause the station, fire flaps and label items.
func TestOpenListenNeedsToken(t *testing.T) {
	base, err := os.ReadFile(examplePath())
	if err != nil {
		t.Fatal(err)
	}
	const from = "  listen: 127.0.0.1:8080 "
	if !strings.Contains(string(base), from) {
		t.Fatalf("example lacks %q", from)
	}
	for _, tc := range []struct {
		listen, token string
		refused       bool
	}{
		{":8080", "", true}, {"0.0.0.0:8080", "", true}, {"[::]:8080", "", true},
		{"192.168.1.5:8080", "", true}, {"station.lan:8080", "", true},
		{":8080", "  token: s3cret ", false}, {":8080", "  token_file: /run/credentials/sorterd/http_token ", false},
		{"127.0.0.1:8080", "", false}, {"[::1]:8080", "", false}, {"localhost:8080", "", false},
	} {
		s := strings.Replace(string(base), from, "  listen: \""+tc.listen+"\" ", 1)
		if tc.token != "" {
			s = strings.Replace(s, "  token: \"\" ", tc.token, 1)
		}
		_, err := Parse([]byte(s))
		if refused := err != nil && strings.Contains(err.Error(), "http.token: needed: http.listen"); refused != tc.refused {
			t.Errorf("listen %q %q: err %v, want refused %v", tc.listen, tc.token, err, tc.refused)
		}
	}
}

// A choice's bad name is reported with its field and line beside the
// file's other problems; the sections holding choices stay strict about
// unknown and repeated keys; the choices are written back by name.
func TestChoicesInTheirSections(t *testing.T) {
	base, err := os.ReadFile(examplePath())
	if err != nil {
		t.Fatal(err)
	}
	s := strings.Replace(string(base), "  vote: mean ", "  vote: average ", 1)
	s = strings.Replace(s, "  fps: 15\n", "  fps: 0\n", 1)
	_, err = Parse([]byte(s))
	for _, want := range []string{`decision.vote: "average" is not one of mean, majority (line 50)`, "camera.fps: must be > 0 (line 13)"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("got %v\nwant %q", err, want)
		}
	}
	for from, want := range map[string]string{
		"  vote: mean ":         "decision.vots: unknown key (line 50)",
		"  every: 15 ":          "trigger.every: mapping key \"every\" already defined at line 25",
		"  method: background ": "cannot unmarshal !!seq into settings.Method (line 33)",
	} {
		to := strings.Replace(from, "vote", "vots", 1)
		switch {
		case strings.Contains(from, "every"):
			to = from + "\n  every: 3 "
		case strings.Contains(from, "method"):
			to = "  method: [background] "
		}
		_, err := Parse([]byte(strings.Replace(string(base), from, to, 1)))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q → %q: got %v\nwant %q", from, to, err, want)
		}
	}
	if _, err := Parse([]byte(strings.Replace(string(base), "  every: 15 ", "  every: often ", 1))); err == nil ||
		!strings.Contains(err.Error(), "trigger.every: cannot unmarshal !!str `often` into int (line 25)") {
		t.Errorf("a type error in a section with choices: %v", err)
	}
	c, err := Parse([]byte(strings.Replace(string(base), "  shape: square ", "  shape: tight ", 1)))
	if err != nil {
		t.Fatal(err)
	}
	out, err := yaml.Marshal(c)
	if err != nil || !strings.Contains(string(out), "shape: tight") || !strings.Contains(string(out), "balance: reference") {
		t.Errorf("marshalled: %v\n%s", err, out)
	}
	if c.Locate.Shape != settings.Tight {
		t.Errorf("shape %v", c.Locate.Shape)
	}
}
