package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"gocv.io/x/gocv"

	"github.com/sorterd/sorterd/internal/testenv"
	"github.com/sorterd/sorterd/recording"
	"github.com/sorterd/sorterd/stationbench"
)

// The station benchmark end to end: held-out photos laid on a tray,
// played through the daemon's path with the shipped model, scored. A
// scene's recording depends on its name, not its place in --scenes, so
// a scene run alone gives the figures it gives in the whole set.
func TestStationEval(t *testing.T) {
	testenv.Slow(t, "plays station recordings")
	model := testenv.Model(t, "garbage.tflite")
	data := testenv.Need(t, filepath.Join(testenv.Shared(), "data", "trashnet"))
	run := func(scenes string) stationbench.Report {
		t.Helper()
		code, stdout, errs := runCLI(t, "eval", "--station", "--data", data, "--model", model,
			"--scenes", scenes, "--limit", "12", "--json")
		if code != 0 {
			t.Fatalf("eval --station --scenes %s: exit %d: %s", scenes, code, errs)
		}
		var rep stationbench.Report
		if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
			t.Fatalf("eval --station --json: %v\n%s", err, stdout)
		}
		return rep
	}
	alone := run("light:0.5")
	both := run("dark:0.3-0.7,light:0.5")
	if alone.Photos != 12 || len(alone.Scenes) != 1 || len(both.Scenes) != 2 {
		t.Fatalf("photos %d, scenes %d and %d; want 12 photos, 1 and 2 scenes", alone.Photos, len(alone.Scenes), len(both.Scenes))
	}
	light := alone.Scenes[0]
	if light.Name != "light:0.5" || both.Scenes[0].Name != "dark:0.3-0.7" {
		t.Errorf("scene names %q, %q", light.Name, both.Scenes[0].Name)
	}
	if !reflect.DeepEqual(light, both.Scenes[1]) {
		t.Errorf("light:0.5 alone and after dark differ:\n%+v\n%+v", light, both.Scenes[1])
	}
	for _, sc := range both.Scenes {
		checkScene(t, sc)
	}
}

// checkScene holds a scene's report to what 12 items on a tray should
// give: every item decided once, most of them right, and figures that
// add up.
func checkScene(t *testing.T, sc recording.Report) {
	t.Helper()
	if sc.Items != 12 || sc.Decided+sc.Missed != sc.Items || sc.Missed > 1 || sc.Extra != 0 {
		t.Errorf("%s: items %d, decided %d, missed %d, extra %d", sc.Name, sc.Items, sc.Decided, sc.Missed, sc.Extra)
	}
	if sc.Accuracy < 0.6 {
		t.Errorf("%s: item accuracy %.2f, want ≥ 0.6 (labels: %v)", sc.Name, sc.Accuracy, sc.Confusion)
	}
	right, n := 0, 0
	for class, row := range sc.Confusion {
		for label, k := range row {
			n += k
			if label == class {
				right += k
			}
		}
	}
	if n != sc.Items || float64(right)/float64(n) != sc.Accuracy {
		t.Errorf("%s: confusion holds %d items, %d right; report says %d items, accuracy %.3f", sc.Name, n, right, sc.Items, sc.Accuracy)
	}
	if len(sc.Curve) == 0 || sc.SortedRight < 0.5 {
		t.Errorf("%s: sorted %.2f, right bin %.2f, curve %v", sc.Name, sc.Sorted, sc.SortedRight, sc.Curve)
	}
}

// Without --model the station benchmark reads the default model, as its
// help promises (it tried to load model "": "open : no such file").
func TestStationEvalDefaultModel(t *testing.T) {
	testenv.Slow(t, "plays station recordings")
	model := testenv.Model(t, "garbage.tflite")
	data := testenv.Need(t, filepath.Join(testenv.Shared(), "data", "trashnet"))
	t.Chdir(t.TempDir()) // a checkout: models/garbage.tflite here
	if err := os.Mkdir("models", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(model, defaultModel); err != nil {
		t.Fatal(err)
	}
	code, stdout, errs := runCLI(t, "eval", "--station", "--data", data, "--scenes", "light:0.5", "--limit", "3", "--json")
	if code != 0 {
		t.Fatalf("eval --station without --model: exit %d: %s", code, errs)
	}
	var rep stationbench.Report
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatalf("eval --station --json: %v\n%s", err, stdout)
	}
	if rep.Model != defaultModel || len(rep.Scenes) != 1 || rep.Scenes[0].Decided == 0 {
		t.Errorf("model %q, scenes %+v: want %s, one scene with items decided", rep.Model, rep.Scenes, defaultModel)
	}
}

// The recordings are made at the configured camera's frame size: a
// station with a finer camera is measured with the pixels it would get.
func TestStationEvalCameraSize(t *testing.T) {
	testenv.Slow(t, "plays station recordings")
	model := testenv.Model(t, "garbage.tflite")
	data := testenv.Need(t, filepath.Join(testenv.Shared(), "data", "trashnet"))
	cfg := exampleConfig(t, [2]string{"  width: 640", "  width: 960"}, [2]string{"  height: 480", "  height: 720"},
		[2]string{"mode: continuous", "mode: motion"})
	keep := filepath.Join(t.TempDir(), "rec")
	code, stdout, errs := runCLI(t, "eval", "--station", "--data", data, "--model", model, "--config", cfg,
		"--scenes", "light:0.5", "--limit", "12", "--keep", keep, "--json")
	if code != 0 {
		t.Fatalf("eval --station --config (960×720): exit %d: %s", code, errs)
	}
	var rep stationbench.Report
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatalf("eval --station --json: %v\n%s", err, stdout)
	}
	if len(rep.Scenes) != 1 {
		t.Fatalf("%d scenes, want 1", len(rep.Scenes))
	}
	checkScene(t, rep.Scenes[0])
	vc, err := gocv.VideoCaptureFile(filepath.Join(keep, "00-light-05.avi"))
	if err != nil {
		t.Fatal(err)
	}
	defer vc.Close()
	if w, h := vc.Get(gocv.VideoCaptureFrameWidth), vc.Get(gocv.VideoCaptureFrameHeight); w != 960 || h != 720 {
		t.Errorf("recording is %v×%v, want the configured camera's 960×720", w, h)
	}
}
