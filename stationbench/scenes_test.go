package stationbench

import (
	"bytes"
	"strings"
	"testing"

	"github.com/sorterd/sorterd/recording"
)

// Scenes are read as tray:width[:camera]; a bad one is refused naming it.
func TestParseScenes(t *testing.T) {
	sc, err := ParseScenes(DefaultScenes)
	if err != nil || len(sc) != 12 {
		t.Fatalf("default scenes: %d, %v", len(sc), err)
	}
	sc, err = ParseScenes(" light:0.5 , dark:0.3-0.7:auto,")
	if err != nil || len(sc) != 2 {
		t.Fatalf("%+v %v", sc, err)
	}
	if sc[0].Name != "light:0.5" || sc[0].Width != [2]float64{0.5, 0.5} || sc[0].Camera != recording.Fixed ||
		sc[1].Tray != recording.Dark || sc[1].Width != [2]float64{0.3, 0.7} || sc[1].Camera != recording.Auto {
		t.Errorf("%+v", sc)
	}
	for in, want := range map[string]string{
		"":              "no scenes",
		"light":         `scene "light": want tray:width[:camera]`,
		"light:1.5":     `scene "light:1.5": width must be a share of the frame in (0, 1], or lo-hi`,
		"light:0.7-0.3": `scene "light:0.7-0.3": width must be`,
		"shiny:0.5":     `scene "shiny:0.5": `,
		"light:0.5:odd": `scene "light:0.5:odd": `,
	} {
		if _, err := ParseScenes(in); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", in, err, want)
		}
	}
}

// A scene's seed follows its name, not its place in the list.
func TestSceneSeed(t *testing.T) {
	if sceneSeed(1, "light:0.5") != sceneSeed(1, "light:0.5") || sceneSeed(1, "light:0.5") == sceneSeed(1, "dark:0.5") ||
		sceneSeed(1, "light:0.5") == sceneSeed(2, "light:0.5") {
		t.Error("scene seeds do not follow seed and name")
	}
}

// The summary puts the worst scene first and lists the bins' thresholds
// in name order.
func TestSummary(t *testing.T) {
	var b bytes.Buffer
	writeSummary(&b, Report{Scenes: []recording.Report{{Name: "good", Items: 10, Accuracy: 0.9, Sorted: 0.8, SortedRight: 1},
		{Name: "bad", Items: 10, Missed: 2, Accuracy: 0.5, Sorted: 0.5, SortedRight: 0.8}},
		BinThresholds: map[string]float64{"paper": 0.5, "glass": 0.25}})
	want := `
all scenes, worst first:
| scene | items | missed / extra | item accuracy | sorted | right bin of sorted |
|---|---|---|---|---|---|
| bad | 10 | 2 / 0 | 50.0% | 50.0% | 80.0% |
| good | 10 | 0 / 0 | 90.0% | 80.0% | 100.0% |

per-bin thresholds for 97% right on these scenes (bins[].threshold; choose with --split train): glass 0.25 paper 0.50
`
	if b.String() != want {
		t.Errorf("summary:\n%s\nwant:\n%s", b.String(), want)
	}
}
