package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"flag"
	"hash/crc32"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/sorterd/sorterd/config"
	"github.com/sorterd/sorterd/internal/testenv"
	"github.com/sorterd/sorterd/stationbench"
)

var update = flag.Bool("update", false, "rewrite golden files and generated test images")

func model(t *testing.T) string { return testenv.Model(t, "tf2_mobilenet_v2_1.0_224_ptq.tflite") }

func photo(t *testing.T) string { return testenv.Photo(t, "glass", 1) }

func runCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

// exampleConfig writes sorterd.example.yaml with each edit's first
// string replaced by its second, and returns the file's path. An edit
// the example no longer matches fails the test, rather than testing the
// unedited example.
func exampleConfig(t *testing.T, edits ...[2]string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(testenv.Root(), "sorterd.example.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	for _, e := range edits {
		if !strings.Contains(s, e[0]) {
			t.Fatalf("sorterd.example.yaml has no %q", e[0])
		}
		s = strings.Replace(s, e[0], e[1], 1)
	}
	p := filepath.Join(t.TempDir(), "sorterd.yaml")
	if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// Synthetic images committed under testdata/images (make run uses red.png
// when ../shared is absent). -update regenerates them.
func TestGeneratedImages(t *testing.T) {
	dir := filepath.Join(testenv.Root(), "testdata", "images")
	red := image.NewRGBA(image.Rect(0, 0, 320, 240))
	scene := image.NewRGBA(image.Rect(0, 0, 640, 480))
	for y := 0; y < 480; y++ {
		for x := 0; x < 640; x++ {
			if x < 320 && y < 240 {
				red.Set(x, y, color.RGBA{255, 0, 0, 255})
			}
			c := color.RGBA{90, 100, 110, 255}
			if (x-320)*(x-320)+(y-240)*(y-240) < 110*110 {
				c = color.RGBA{30, 140, 60, 255}
			}
			scene.Set(x, y, c)
		}
	}
	var a, b bytes.Buffer
	if err := png.Encode(&a, red); err != nil {
		t.Fatal(err)
	}
	if err := jpeg.Encode(&b, scene, &jpeg.Options{Quality: 85}); err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{"red.png": a.Bytes(), "scene.jpg": b.Bytes()} {
		p := filepath.Join(dir, name)
		if *update {
			if err := os.WriteFile(p, data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		got, err := os.ReadFile(p)
		if err != nil || !bytes.Equal(got, data) {
			t.Errorf("%s is not what the generator makes (run go test -update): %v", p, err)
		}
	}
}

var timings = regexp.MustCompile(`\(decode [^)]*\)`)

// The binary's human output for the committed synthetic images, timings
// masked, diffed against a golden file.
func TestOnceGolden(t *testing.T) {
	testenv.Slow(t, "classifies every test image")
	imgs := []string{"testdata/images/red.png", "testdata/images/scene.jpg"}
	wd, _ := os.Getwd()
	if err := os.Chdir(testenv.Root()); err != nil {
		t.Fatal(err)
	}
	defer os.Chdir(wd)
	model(t)
	code, out, errs := runCLI(t, append([]string{"--once", "--top", "3", "--delegate", "cpu"}, imgs...)...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	got := timings.ReplaceAllString(out, "(timings)")
	golden := filepath.Join("cmd", "sorterd", "testdata", "once.golden")
	if *update {
		os.MkdirAll(filepath.Dir(golden), 0o755)
		os.WriteFile(golden, []byte(got), 0o644)
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Errorf("output differs from %s:\n--- got\n%s--- want\n%s", golden, got, want)
	}
}

func TestOnceJSON(t *testing.T) {
	m, img := model(t), photo(t)
	code, out, errs := runCLI(t, "--once", img, "--json", "--model", m, "--top", "3")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var r struct {
		Image, Label string
		Score        float64
		Top          []struct {
			Label string
			Score float64
		}
		Model    struct{ Path, SHA256 string }
		Delegate struct{ Requested, Active, Coverage string }
		Latency  map[string]float64 `json:"latency_ms"`
	}
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	data, _ := os.ReadFile(m)
	sum := sha256.Sum256(data)
	if r.Image != img || r.Label == "" || r.Score <= 0 || r.Score > 1 || len(r.Top) != 3 || r.Top[0].Label != r.Label {
		t.Errorf("result %+v", r)
	}
	if r.Model.Path != m || r.Model.SHA256 != hex.EncodeToString(sum[:]) {
		t.Errorf("model %+v", r.Model)
	}
	if r.Delegate.Requested != "xnnpack" || r.Delegate.Active != "xnnpack" {
		t.Errorf("delegate %+v", r.Delegate)
	}
	for _, k := range []string{"decode", "preprocess", "invoke", "total"} {
		if r.Latency[k] <= 0 {
			t.Errorf("latency_ms.%s = %v", k, r.Latency[k])
		}
	}
}

// Bad images: each named on one stderr line with its cause; good ones in
// the same call still get their result; the exit status says something failed.
func TestOnceBadImages(t *testing.T) {
	m, img := model(t), photo(t)
	dir := t.TempDir()
	good, _ := os.ReadFile(img)
	files := map[string][]byte{
		"empty.jpg":     nil,
		"truncated.jpg": good[:len(good)/2],
		"notes.jpg":     []byte("shopping list: milk, eggs"),
		"huge.png":      hugePNGHeader(),
	}
	args := []string{"--once", "--model", m, img}
	for name, data := range files {
		p := filepath.Join(dir, name)
		os.WriteFile(p, data, 0o644)
		args = append(args, p)
	}
	args = append(args, filepath.Join(dir, "missing.jpg"))
	code, out, errs := runCLI(t, args...)
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	if !strings.HasPrefix(out, img+": ") {
		t.Errorf("good image not classified: %q", out)
	}
	lines := strings.Split(strings.TrimSpace(errs), "\n")
	if len(lines) != 5 {
		t.Fatalf("want 5 error lines, got %q", errs)
	}
	for name, cause := range map[string]string{
		"empty.jpg": "empty", "truncated.jpg": "truncated", "notes.jpg": "not a JPEG or PNG",
		"huge.png": "too large", "missing.jpg": "no such file",
	} {
		if !strings.Contains(errs, name+": ") || !regexp.MustCompile(regexp.QuoteMeta(name)+`: .*`+cause).MatchString(errs) {
			t.Errorf("no line naming %s with %q:\n%s", name, cause, errs)
		}
	}
}

func hugePNGHeader() []byte {
	// A real 1×1 PNG, its IHDR rewritten to claim 60000×60000.
	var b bytes.Buffer
	png.Encode(&b, image.NewGray(image.Rect(0, 0, 1, 1)))
	data := b.Bytes()
	copy(data[16:24], []byte{0, 0, 0xea, 0x60, 0, 0, 0xea, 0x60})
	binary.BigEndian.PutUint32(data[29:33], crc32.ChecksumIEEE(data[12:29]))
	return data
}

func TestOnceBadModelAndUsage(t *testing.T) {
	img := photo(t)
	p := filepath.Join(t.TempDir(), "m.tflite")
	os.WriteFile(p, []byte("not a model"), 0o644)
	code, _, errs := runCLI(t, "--once", "--model", p, img)
	if code != 2 || !strings.Contains(errs, p) || strings.Count(strings.TrimSpace(errs), "\n") != 0 {
		t.Errorf("bad model: exit %d, stderr %q", code, errs)
	}
	if code, _, _ := runCLI(t, "--once"); code != 2 {
		t.Errorf("no image: exit %d", code)
	}
	if code, _, _ := runCLI(t, "--once", img, "--delegate", "abacus"); code != 2 {
		t.Errorf("bad delegate: exit %d", code)
	}
}

func TestVersion(t *testing.T) {
	code, out, _ := runCLI(t, "version")
	if code != 0 {
		t.Fatal(code)
	}
	for _, want := range []string{"sorterd ", "go      go1.", "tflite  2.", "opencv  4."} {
		if !strings.Contains(out, want) {
			t.Errorf("version output lacks %q:\n%s", want, out)
		}
	}
}

func TestBenchJSON(t *testing.T) {
	testenv.Slow(t, "benchmarks the model")
	m := model(t)
	code, out, errs := runCLI(t, "bench", "--model", m, "-n", "5", "--json", "--image", photo(t))
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var r stationbench.ComputeReport
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"decode", "locate", "preprocess", "invoke", "postprocess", "total"} {
		q, ok := r.Stages[s]
		if !ok || q.P50 <= 0 || q.P99 < q.P50 {
			t.Errorf("stage %s: %+v", s, q)
		}
	}
	if r.N != 5 || r.FPS <= 0 || r.RawInvoke.P50 <= 0 || r.Delegate.Active != "xnnpack" {
		t.Errorf("report %+v", r)
	}
	// MobileNetV2 1.0 at 224 px: ~300M MACs (the published figure).
	if r.Size != 224 || r.MACs < 290e6 || r.MACs > 310e6 || r.AutoFPS != 15 || r.AutoViews < 0 || r.AutoViews > 5 {
		t.Errorf("input %d px, %d MACs, auto %d views at %g fps", r.Size, r.MACs, r.AutoViews, r.AutoFPS)
	}
	if r.Views != 1 || r.PerView.P50 != r.Stages["total"].P50 {
		t.Errorf("one view: views %d, per view %+v, total %+v", r.Views, r.PerView, r.Stages["total"])
	}
	// With two TTA views each frame is three classifications: the time
	// per view is the total's third.
	code, out, errs = runCLI(t, "bench", "--model", m, "-n", "3", "--json", "--tta", "flip,rot180")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	r = stationbench.ComputeReport{}
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatal(err)
	}
	if tot := r.Stages["total"].P50; r.Views != 3 || r.PerView.P50 <= 0 || r.PerView.P50 < tot/3-0.01 || r.PerView.P50 > tot/3+0.01 {
		t.Errorf("three views: views %d, per view p50 %.3f, total p50 %.3f", r.Views, r.PerView.P50, tot)
	}
}

// config check loads the model and its labels: the example (pointed at the
// repository's model) passes; a bad field, a missing model and a bin
// label the model lacks fail, each named.
func TestConfigCheck(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(testenv.Root(), "sorterd.example.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	model := testenv.Need(t, filepath.Join(testenv.Root(), "models", "garbage.tflite"))
	text := strings.Replace(string(b), config.DefaultModelPath, model, 1)
	write := func(s string) string {
		p := filepath.Join(t.TempDir(), "sorterd.yaml")
		os.WriteFile(p, []byte(s), 0o644)
		return p
	}
	code, out, errs := runCLI(t, "config", "check", write(text))
	if code != 0 || !strings.Contains(out, ": ok (station station1, 5 bins") {
		t.Errorf("example: exit %d %q %q", code, out, errs)
	}
	for _, tc := range []struct{ from, to, want string }{
		{"  fps: 15", "  fps: -1", "camera.fps: must be > 0 (line 13)"},
		{model, "/nonexistent/garbage.tflite", "model.path: load model /nonexistent/garbage.tflite"},
		{"labels: [glass]", "labels: [glass, unobtainium]", `label "unobtainium" is not one of the model's labels`},
	} {
		if !strings.Contains(text, tc.from) {
			t.Fatalf("the example has no %q", tc.from)
		}
		code, _, errs = runCLI(t, "config", "check", write(strings.Replace(text, tc.from, tc.to, 1)))
		if code != 1 || !strings.Contains(errs, tc.want) {
			t.Errorf("%s: exit %d %q, want %q", tc.to, code, errs, tc.want)
		}
	}
}

// version reports the gocv module actually linked (go.mod's), not the
// constant in gocv's source; --version is the same command.
func TestVersionGocvFromBuildInfo(t *testing.T) {
	mod, err := os.ReadFile(filepath.Join(testenv.Root(), "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`gocv\.io/x/gocv (v\S+)`).FindSubmatch(mod)
	if m == nil {
		t.Fatal("go.mod has no gocv")
	}
	for _, arg := range []string{"version", "--version"} {
		code, out, _ := runCLI(t, arg)
		if code != 0 || !strings.Contains(out, "(gocv "+string(m[1])+")") {
			t.Errorf("%s: exit %d, want gocv %s:\n%s", arg, code, m[1], out)
		}
	}
}

// Without --model, a command run outside a checkout reads the installed
// default model; inside one, models/garbage.tflite.
func TestResolveModel(t *testing.T) {
	if got := resolveModel("x.tflite"); got != "x.tflite" {
		t.Errorf("given: %s", got)
	}
	t.Chdir(t.TempDir())
	if got := resolveModel(""); got != config.DefaultModelPath {
		t.Errorf("outside a checkout: %s, want %s", got, config.DefaultModelPath)
	}
	code, _, errs := runCLI(t, "--once", "--tta", "", filepath.Join(testenv.Root(), "testdata", "images", "red.png"))
	if _, err := os.Stat(config.DefaultModelPath); err != nil && (code != 2 || !strings.Contains(errs, config.DefaultModelPath)) {
		t.Errorf("--once without the installed model: exit %d, error should name %s: %s", code, config.DefaultModelPath, errs)
	}
	os.MkdirAll("models", 0o755)
	os.WriteFile(defaultModel, []byte("x"), 0o644)
	if got := resolveModel(""); got != defaultModel {
		t.Errorf("in a checkout: %s", got)
	}
}

// camera snapshot grabs a frame through the configured GStreamer pipeline
// and orientation: a 320x200 test pattern turned 90 degrees is 200x320.
func TestCameraSnapshot(t *testing.T) {
	testenv.NeedGlob(t, "/usr/lib/*/gstreamer-1.0/libgstvideotestsrc.so", "make gstreamer")
	cfg := exampleConfig(t, [2]string{`  source: "0" `, `  source: "videotestsrc num-buffers=20 ! video/x-raw,width=320,height=200 ! videoconvert ! appsink" `},
		[2]string{"  rotate: 0 ", "  rotate: 90 "})
	out := filepath.Join(t.TempDir(), "snap.jpg")
	code, stdout, errs := runCLI(t, "camera", "snapshot", "--config", cfg, out)
	if code != 0 || !strings.Contains(stdout, "rotate 90") {
		t.Fatalf("exit %d: %s %s", code, stdout, errs)
	}
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := jpeg.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	if b := img.Bounds(); b.Dx() != 200 || b.Dy() != 320 {
		t.Errorf("snapshot %dx%d, want 200x320 (rotated)", b.Dx(), b.Dy())
	}
	if code, _, _ := runCLI(t, "camera", "snapshot", "--config", cfg); code != 2 {
		t.Errorf("no output file: exit %d", code)
	}
}

// The CLI's conventions: help and --version succeed, an unknown command
// or argument is a usage error (2) that says what is known, and help text
// lists only the flags a user can give.
func TestCLIConventions(t *testing.T) {
	cases := []struct {
		args      []string
		code      int
		out, errs string // substrings expected on stdout / stderr
		notOut    string // must not appear on stdout or stderr
	}{
		{args: []string{"--version"}, code: 0, out: "sorterd "},
		{args: []string{"-version"}, code: 0, out: "opencv  "},
		{args: []string{"-h"}, code: 0, out: "sorterd serve"},
		{args: []string{"--help"}, code: 0, out: "sorterd config check"},
		{args: []string{"help"}, code: 0, out: "sorterd camera snapshot"},
		{args: []string{"help", "bench"}, code: 0, out: "Usage: sorterd bench"},
		{args: []string{"help", "once"}, code: 0, out: "Usage: sorterd --once"},
		{args: []string{"help", "bogus"}, code: 2, errs: `unknown command "bogus"`},
		{args: []string{"version", "stray"}, code: 2, errs: `unexpected argument "stray"`},
		{args: []string{"version", "--json"}, code: 2, errs: `unexpected argument "--json"`},
		{args: []string{"--version", "stray"}, code: 2, errs: `unexpected argument "stray"`},
		{args: []string{"version", "-h"}, code: 0, out: "Usage: sorterd version"},
		// Before: `sorterd bogus` ran the daemon with the default config.
		{args: []string{"bogus"}, code: 2, errs: `unknown command "bogus"`},
		{args: []string{"bogus"}, code: 2, errs: "sorterd eval"},
		{args: []string{"--once", "-h"}, code: 0, errs: "-top", notOut: "  -once"},
		{args: []string{"-h", "--once"}, code: 0, out: "sorterd --once IMG"},
		{args: []string{"--once", "--help"}, code: 0, errs: "-max-pixels"},
		{args: []string{"bench", "-h"}, code: 0, errs: "-image"},
		{args: []string{"bench", "stray"}, code: 2, errs: `unexpected argument "stray"`},
		{args: []string{"train", "--help"}, code: 0, errs: "-finetune"},
		{args: []string{"eval", "-h"}, code: 0, errs: "-station"},
		{args: []string{"export", "-h"}, code: 0, errs: "-head"},
		{args: []string{"export", "stray"}, code: 2, errs: `unexpected argument "stray"`},
		{args: []string{"serve", "-h"}, code: 0, errs: `(default "info")`},
		{args: []string{"serve", "stray"}, code: 2, errs: `unexpected argument "stray"`},
		{args: []string{"config", "-h"}, code: 0, out: "config check|show"},
		{args: []string{"config", "check", "--help"}, code: 0, out: "config check|show"},
		{args: []string{"config"}, code: 2, errs: "usage: sorterd config"},
		{args: []string{"camera", "--help"}, code: 0, out: "camera snapshot"},
		{args: []string{"camera", "snapshot", "-h"}, code: 0, errs: "-skip"},
		{args: []string{"camera"}, code: 2, errs: "usage: sorterd camera snapshot"},
		{args: []string{"--config", "x.yaml", "-h"}, code: 0, errs: "-config"},
		{args: []string{"--config", "x.yaml", "stray"}, code: 2, errs: `unexpected argument "stray"`},
		{args: []string{"--no-such-flag"}, code: 2, errs: "flag provided but not defined"},
		{args: []string{"bench", "--no-such-flag"}, code: 2, errs: "flag provided but not defined"},
		// Flags are never silently ignored or reinterpreted.
		{args: []string{"--once", "--top", "0", "x.jpg"}, code: 2, errs: "--top 0: must be at least 1"},
		{args: []string{"eval", "--data", "d", "--scenes", "light:0.5", "--limit", "3"}, code: 2, errs: "--limit, --scenes: only with --station"},
		{args: []string{"eval", "--station", "--data", "d", "--tta", "flip"}, code: 2, errs: "--tta: only without --station"},
		{args: []string{"train", "--data", "d", "--finetune-epochs", "3"}, code: 2, errs: "--finetune-epochs: only with --finetune"},
		{args: []string{"train", "--data", "d", "--finetune-smooth", "0.2"}, code: 2, errs: "--finetune-smooth: only with --finetune"},
		{args: []string{"train", "--data", "d", "--finetune", "--finetune-smooth", "1"}, code: 2, errs: "--finetune-smooth 1: need 0 <= smoothing < 1"},
		{args: []string{"train", "--data", "d", "--finetune", "--finetune-smooth", "-0.1"}, code: 2, errs: "--finetune-smooth -0.1: need 0 <= smoothing < 1"},
	}
	for _, c := range cases {
		code, out, errs := runCLI(t, c.args...)
		if code != c.code || !strings.Contains(out, c.out) || !strings.Contains(errs, c.errs) ||
			(c.notOut != "" && (strings.Contains(out, c.notOut) || strings.Contains(errs, c.notOut))) {
			t.Errorf("sorterd %s: exit %d (want %d)\nstdout:\n%s\nstderr:\n%s", strings.Join(c.args, " "), code, c.code, out, errs)
		}
	}
}

// serve's --log-level is what its help says: info by default (the
// startup line), and warn really is warn (it used to be turned into info).
func TestServeLogLevel(t *testing.T) {
	m := testenv.Model(t, "garbage.tflite")
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // serve listens, logs its startup line, and returns at once
	for _, c := range []struct {
		level string
		want  bool
	}{{"", true}, {"info", true}, {"warn", false}, {"error", false}} {
		args := []string{"serve", "--model", m, "--threads", "1", "--listen", "127.0.0.1:0"}
		if c.level != "" {
			args = append(args, "--log-level", c.level)
		}
		var out, errb bytes.Buffer
		code := run(ctx, args, &out, &errb)
		if code != 0 || strings.Contains(errb.String(), "web page") != c.want {
			t.Errorf("--log-level %q: exit %d, startup line logged %v (want %v):\n%s", c.level, code, !c.want, c.want, errb.String())
		}
	}
}

// "sorterd help COMMAND" prints that command's help on stdout and exits 0,
// for every command the usage lists; only an unknown one is an error.
func TestHelpOnStdout(t *testing.T) {
	for _, cmd := range helpTopics {
		code, out, errs := runCLI(t, "help", cmd)
		if code != 0 || !strings.Contains(out, "sorterd") || errs != "" {
			t.Errorf("sorterd help %s: exit %d (want 0), stdout %d bytes, stderr %d bytes", cmd, code, len(out), len(errs))
		}
	}
	for _, cmd := range []string{"bench", "serve", "--once", "train", "eval", "export"} {
		_, out, _ := runCLI(t, "help", cmd)
		if !strings.Contains(out, "Flags:") {
			t.Errorf("sorterd help %s: no flags on stdout:\n%s", cmd, out)
		}
	}
	// Every command of the usage has its help.
	for _, m := range regexp.MustCompile(`(?m)^  sorterd ([a-z-]+)`).FindAllStringSubmatch(usage, -1) {
		if !slices.Contains(helpTopics, m[1]) {
			t.Errorf("the usage lists sorterd %s, which help does not know", m[1])
		}
	}
	if code, out, errs := runCLI(t, "help", "bogus"); code != 2 || out != "" || !strings.Contains(errs, `unknown command "bogus"`) {
		t.Errorf("sorterd help bogus: exit %d, stdout %q, stderr %q", code, out, errs)
	}
}

// export and train refuse to replace the default model (models/garbage.tflite
// here) without --force, before any work; another --out is written as asked.
func TestExportKeepsDefaultModel(t *testing.T) {
	head := filepath.Join(testenv.Root(), "heads", "garbage.head.json")
	base := testenv.Model(t, "mobilenet_v2_1.0_224_quant.tflite")
	t.Chdir(t.TempDir())
	os.MkdirAll("models", 0o755)
	old := []byte("the station's model")
	os.WriteFile(defaultModel, old, 0o644)

	for _, args := range [][]string{
		{"export", "--head", head, "--base", base},
		{"export", "--head", head, "--base", base, "--out", "./models/../models/garbage.tflite"},
		{"train", "--data", "no-such-dir", "--base", base},
	} {
		code, out, errs := runCLI(t, args...)
		if code != 2 || out != "" || !strings.Contains(errs, "is the default model: pass --force") {
			t.Errorf("sorterd %s: exit %d (want 2), stdout %q, stderr %q", strings.Join(args, " "), code, out, errs)
		}
		if b, _ := os.ReadFile(defaultModel); !bytes.Equal(b, old) {
			t.Fatalf("sorterd %s replaced the default model", strings.Join(args, " "))
		}
	}

	other := filepath.Join(t.TempDir(), "other.tflite")
	os.WriteFile(other, old, 0o644)
	if code, _, errs := runCLI(t, "export", "--head", head, "--base", base, "--out", other); code != 0 {
		t.Fatalf("export --out another existing file: exit %d: %s", code, errs)
	}
	if code, out, errs := runCLI(t, "export", "--force", "--head", head, "--base", base); code != 0 || !strings.Contains(out, "wrote "+defaultModel) {
		t.Fatalf("export --force: exit %d: %s%s", code, out, errs)
	}
	if b, _ := os.ReadFile(defaultModel); bytes.Equal(b, old) {
		t.Error("export --force left the default model as it was")
	}
}

// --once --json gives every image a JSON line: the failed ones as
// {"image", "error"}, in the order given, beside their stderr line.
func TestOnceJSONErrorRecord(t *testing.T) {
	m, img := model(t), photo(t)
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty.jpg")
	os.WriteFile(empty, nil, 0o644)
	missing := filepath.Join(dir, "missing.jpg")
	code, out, errs := runCLI(t, "--once", "--json", "--model", m, empty, img, missing)
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	var recs []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var r map[string]any
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("stdout line %q: %v", line, err)
		}
		recs = append(recs, r)
	}
	if len(recs) != 3 {
		t.Fatalf("want 3 JSON lines (one per image), got %d:\n%s", len(recs), out)
	}
	for i, c := range []struct{ image, err string }{{empty, "empty"}, {img, ""}, {missing, "no such file"}} {
		r := recs[i]
		if r["image"] != c.image {
			t.Errorf("line %d: image %v, want %s", i, r["image"], c.image)
		}
		e, _ := r["error"].(string)
		switch {
		case c.err == "" && (e != "" || r["label"] == nil):
			t.Errorf("line %d: want a result, got %v", i, r)
		case c.err != "" && (!strings.Contains(e, c.err) || r["label"] != nil):
			t.Errorf("line %d: want an error containing %q, got %v", i, c.err, r)
		}
	}
	if strings.Count(strings.TrimSpace(errs), "\n") != 1 {
		t.Errorf("want one stderr line per failed image:\n%s", errs)
	}
}
