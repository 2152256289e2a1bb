package pipeline

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/sorterd/sorterd/settings"
)

// The vote, without video: frames' scores in, the winner and means out.
func TestDecide(t *testing.T) {
	cases := []struct {
		name   string
		vote   settings.Vote
		frames [][]float32
		best   int
		mean   []float32
	}{
		{"one frame", settings.VoteMean, [][]float32{{.1, .7, .2}}, 1, []float32{.1, .7, .2}},
		{"mean over frames", settings.VoteMean, [][]float32{{.6, .4}, {.2, .8}}, 1, []float32{.4, .6}},
		// Two frames say 0 by a little, one says 1 by a lot: the mean
		// picks 1, the majority 0.
		{"mean: confident frame wins", settings.VoteMean, [][]float32{{.55, .45}, {.55, .45}, {.0, 1}}, 1, []float32{.55 * 2 / 3, (.45*2 + 1) / 3}},
		{"majority: frequent top-1 wins", settings.VoteMajority, [][]float32{{.55, .45}, {.55, .45}, {.0, 1}}, 0, []float32{.55 * 2 / 3, (.45*2 + 1) / 3}},
		{"majority tie: higher mean", settings.VoteMajority, [][]float32{{.9, .1, 0}, {.1, .2, .7}}, 0, []float32{.5, .15, .35}},
		{"mean tie: lower index", settings.VoteMean, [][]float32{{.5, .5}}, 0, []float32{.5, .5}},
		{"majority tie in both: lower index", settings.VoteMajority, [][]float32{{.5, .5}, {.5, .5}}, 0, []float32{.5, .5}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var tl Tally
			for _, f := range tc.frames {
				top := 0
				for i, v := range f {
					if v > f[top] {
						top = i
					}
				}
				tl.Add(f, top)
			}
			best, mean := Decide(tc.vote, tl)
			if best != tc.best {
				t.Errorf("best %d, want %d", best, tc.best)
			}
			if len(mean) != len(tc.mean) {
				t.Fatalf("mean %v, want %v", mean, tc.mean)
			}
			for i := range mean {
				if d := mean[i] - tc.mean[i]; d > 1e-6 || d < -1e-6 {
					t.Errorf("mean %v, want %v", mean, tc.mean)
					break
				}
			}
		})
	}
}

var routeBins = []Bin{
	{Name: "paper", Labels: []string{"paper", "cardboard"}},
	{Name: "glass", Labels: []string{"glass"}, Threshold: 0.7},
	{Name: "rest", Labels: []string{"trash"}, Reject: true},
}

// Where a label goes, and why.
func TestRoute(t *testing.T) {
	r, err := NewRouter(routeBins, 0.5)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		label  string
		score  float32
		bin    string
		action Action
	}{
		{"paper", .9, "paper", Sort},
		{"cardboard", .5, "paper", Sort}, // at the threshold: sorted
		{"cardboard", .49, "rest", Reject},
		{"glass", .6, "rest", Reject}, // under glass's own threshold
		{"glass", .7, "glass", Sort},
		{"glass", .99, "glass", Sort},
		{"trash", .9, "rest", Sort}, // the reject bin collects trash on purpose
		{"trash", .1, "rest", Reject},
		{"metal", .99, "rest", Reject}, // no bin
	}
	for _, tc := range cases {
		b, a := r.Route(tc.label, tc.score)
		if b.Name != tc.bin || a != tc.action {
			t.Errorf("Route(%s, %.2f) = %s %s, want %s %s", tc.label, tc.score, b.Name, a, tc.bin, tc.action)
		}
	}
	// BinOf ignores the score: cardboard's bin is paper even when unsure.
	for label, want := range map[string]string{"cardboard": "paper", "glass": "glass", "trash": "rest", "metal": "rest"} {
		if got := r.BinOf(label).Name; got != want {
			t.Errorf("BinOf(%s) = %s, want %s", label, got, want)
		}
	}
	// Collects: a bin lists the label (trash, the reject bin's, too).
	for label, want := range map[string]bool{"cardboard": true, "trash": true, "metal": false} {
		if got := r.Collects(label); got != want {
			t.Errorf("Collects(%s) = %v, want %v", label, got, want)
		}
	}
	if r.RejectBin().Name != "rest" || r.Threshold() != 0.5 || len(r.Bins()) != 3 {
		t.Errorf("reject %s, threshold %v, bins %v", r.RejectBin().Name, r.Threshold(), r.Bins())
	}
	if !r.Can(routeBins[2], Reject) || r.Can(routeBins[0], Reject) || !r.Can(routeBins[0], Sort) {
		t.Error("Can: a reject happens at the reject bin only, a sort anywhere")
	}
	unbinned, unknown := r.Check([]string{"paper", "glass", "metal", "trash"})
	if !reflect.DeepEqual(unbinned, []string{"metal"}) || !reflect.DeepEqual(unknown, []string{"cardboard"}) {
		t.Errorf("Check: unbinned %v, unknown %v", unbinned, unknown)
	}
}

// The threshold compares the bin's summed score: labels that share a bin
// add up, others do not, and a label without a bin counts alone.
func TestBinScore(t *testing.T) {
	r, err := NewRouter(routeBins, 0.5)
	if err != nil {
		t.Fatal(err)
	}
	labels := []string{"cardboard", "glass", "metal", "paper", "trash"}
	scores := []float32{.3, .25, .1, .3, .05}
	cases := []struct {
		label  string
		want   float32
		bin    string
		action Action
	}{
		{"paper", .6, "paper", Sort}, // paper + cardboard: sorted though neither reaches 0.5
		{"cardboard", .6, "paper", Sort},
		{"glass", .25, "rest", Reject},
		{"trash", .05, "rest", Reject},
		{"metal", .1, "rest", Reject}, // no bin: its own score
	}
	for _, tc := range cases {
		got := r.BinScore(tc.label, labels, scores)
		if d := got - tc.want; d > 1e-6 || d < -1e-6 {
			t.Errorf("BinScore(%s) = %.3f, want %.3f", tc.label, got, tc.want)
		}
		if b, a := r.Route(tc.label, got); b.Name != tc.bin || a != tc.action {
			t.Errorf("Route(%s, %.2f) = %s %s, want %s %s", tc.label, got, b.Name, a, tc.bin, tc.action)
		}
	}
	if got := r.BinScore("paper", labels, scores[:1]); got != .3 {
		t.Errorf("BinScore with fewer scores than labels = %v, want the scores there are (0.3)", got)
	}
}

// Every check of the bins is the router's.
func TestNewRouterRefuses(t *testing.T) {
	cases := map[string][]Bin{
		"no reject bin":   {{Name: "a", Labels: []string{"x"}}},
		"two reject bins": {{Name: "a", Reject: true}, {Name: "b", Reject: true}},
		"is in bins a and b": {{Name: "a", Labels: []string{"x"}, Reject: true},
			{Name: "b", Labels: []string{"x"}}},
	}
	for want, bins := range cases {
		if _, err := NewRouter(bins, 0); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%v: %v, want %q", bins, err, want)
		}
	}
}

// An event carries its action as the word (the configuration's choices
// are tested in settings).
func TestActionNames(t *testing.T) {
	if _, err := json.Marshal(Action(7)); err == nil {
		t.Error("an action out of range marshalled")
	}
	b, err := json.Marshal(Event{Bin: "rest", Action: Reject})
	if err != nil || !strings.Contains(string(b), `"action":"reject"`) {
		t.Fatalf("event JSON %s %v", b, err)
	}
	var e Event
	if err := json.Unmarshal(b, &e); err != nil || e.Action != Reject {
		t.Errorf("event back: %+v %v", e, err)
	}
}
