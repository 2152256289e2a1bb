package recording

import (
	"fmt"
	"io"
	"sort"
	"strings"
)

// Decision is one event of a station playing a recording: the frame it
// was decided in (the last frame read), and what was decided.
type Decision struct {
	Frame  int
	Label  string
	Bin    string
	Action string  // sort or reject
	Score  float64 // the decision's score, which the threshold compares
	// Binned: a bin collects the label (trash, into the reject bin, too),
	// so that over the threshold the item is sorted there.
	Binned bool
}

// Point is how many items a threshold would sort, and how many of those
// land in the right bin: the trade-off that chooses the threshold.
type Point struct {
	Threshold   float64 `json:"threshold"`
	Sorted      float64 `json:"sorted"`
	SortedRight float64 `json:"sorted_right"`
}

// Report is how a station did on a recording.
type Report struct {
	Name  string `json:"name"`
	Items int    `json:"items"`
	// Decided: items with a decision; Missed: items without; Extra:
	// decisions beyond the first for an item, or with no item there.
	Decided int `json:"decided"`
	Missed  int `json:"missed"`
	Extra   int `json:"extra"`
	// Accuracy: items whose first decision named their class (a missed
	// item counts as wrong).
	Accuracy float64 `json:"accuracy"`
	// Sorted: share of items sent to a sorting bin (not rejected);
	// SortedRight: share of those in their class's bin.
	Sorted      float64                   `json:"sorted"`
	SortedRight float64                   `json:"sorted_right"`
	Recall      map[string]float64        `json:"recall"`
	Confusion   map[string]map[string]int `json:"confusion"` // class → label ("" missed) → items
	// Curve is Sorted and SortedRight at other thresholds (0.5..0.95), from
	// the same decisions' scores.
	Curve []Point `json:"curve,omitempty"`
	// Scored is each decided item's first decision with the bins of its
	// label and its class: what BinThresholds chooses from.
	Scored []Scored `json:"scored,omitempty"`
}

// Scored is one item's first decision: the bin its label goes to (when a
// bin collects it), the bin its class belongs in, and the bin score.
type Scored struct {
	LabelBin string  `json:"label_bin"`
	ClassBin string  `json:"class_bin"`
	Binned   bool    `json:"binned"`
	Score    float64 `json:"score"`
}

// Score matches decisions to items: a decision belongs to the item lying
// on the tray in its frame, or taken away at most slack frames before.
// binOf gives a class's bin (its label's bin when the model names it
// right).
func Score(name string, items []Item, ds []Decision, slack int, binOf func(class string) string) Report {
	r := Report{Name: name, Items: len(items), Recall: map[string]float64{}, Confusion: map[string]map[string]int{}}
	first := make([]*Decision, len(items))
	for i := range ds {
		d := &ds[i]
		k := sort.Search(len(items), func(j int) bool { return items[j].Last >= d.Frame })
		if k == len(items) || d.Frame < items[k].First {
			// Not on the tray then: the item just taken away, if any.
			k = sort.Search(len(items), func(j int) bool { return items[j].Last+slack >= d.Frame })
		}
		if k == len(items) || d.Frame < items[k].First || first[k] != nil {
			r.Extra++
			continue
		}
		first[k] = d
	}
	perClass, rightClass := map[string]int{}, map[string]int{}
	right, sorted, sortedRight := 0, 0, 0
	for i, it := range items {
		perClass[it.Class]++
		if r.Confusion[it.Class] == nil {
			r.Confusion[it.Class] = map[string]int{}
		}
		d := first[i]
		if d == nil {
			r.Missed++
			r.Confusion[it.Class][""]++
			continue
		}
		r.Decided++
		r.Confusion[it.Class][d.Label]++
		r.Scored = append(r.Scored, Scored{LabelBin: binOf(d.Label), ClassBin: binOf(it.Class), Binned: d.Binned, Score: d.Score})
		if d.Label == it.Class {
			right++
			rightClass[it.Class]++
		}
		if d.Action == "sort" {
			sorted++
			if d.Bin == binOf(it.Class) {
				sortedRight++
			}
		}
	}
	if len(items) > 0 {
		r.Accuracy = float64(right) / float64(len(items))
		r.Sorted = float64(sorted) / float64(len(items))
	}
	if sorted > 0 {
		r.SortedRight = float64(sortedRight) / float64(sorted)
	}
	for c, n := range perClass {
		r.Recall[c] = float64(rightClass[c]) / float64(n)
	}
	r.Curve = curve(items, first, binOf)
	return r
}

// curve is the threshold trade-off: at each threshold, an item is sorted
// when its decision's score reaches it and a bin collects its label, as
// the station routes (Report.Sorted at the station's threshold).
func curve(items []Item, first []*Decision, binOf func(class string) string) []Point {
	if len(items) == 0 {
		return nil
	}
	var pts []Point
	for k := 10; k <= 19; k++ {
		t := float64(k) / 20
		sorted, right := 0, 0
		for i, it := range items {
			d := first[i]
			if d == nil || d.Score < t || !d.Binned {
				continue
			}
			sorted++
			if binOf(d.Label) == binOf(it.Class) {
				right++
			}
		}
		p := Point{Threshold: t, Sorted: float64(sorted) / float64(len(items))}
		if sorted > 0 {
			p.SortedRight = float64(right) / float64(sorted)
		}
		pts = append(pts, p)
	}
	return pts
}

// Write prints the report for a person.
func (r Report) Write(w io.Writer) {
	fmt.Fprintf(w, "%s: %d items, %d decided, %d missed, %d extra\n", r.Name, r.Items, r.Decided, r.Missed, r.Extra)
	fmt.Fprintf(w, "  item accuracy %.1f%%; sorted %.1f%% of items, %.1f%% of them in the right bin\n",
		100*r.Accuracy, 100*r.Sorted, 100*r.SortedRight)
	classes := make([]string, 0, len(r.Recall))
	for c := range r.Recall {
		classes = append(classes, c)
	}
	sort.Strings(classes)
	var parts []string
	for _, c := range classes {
		parts = append(parts, fmt.Sprintf("%s %.0f%%", c, 100*r.Recall[c]))
	}
	fmt.Fprintf(w, "  recall: %s\n", strings.Join(parts, ", "))
	if len(r.Curve) > 0 {
		var pts []string
		for _, p := range r.Curve {
			pts = append(pts, fmt.Sprintf("%.2f: %.0f%% at %.1f%%", p.Threshold, 100*p.Sorted, 100*p.SortedRight))
		}
		fmt.Fprintf(w, "  threshold: sorted at right bin: %s\n", strings.Join(pts, ", "))
	}
	labels := map[string]bool{}
	for _, row := range r.Confusion {
		for l := range row {
			labels[l] = true
		}
	}
	var cols []string
	for l := range labels {
		cols = append(cols, l)
	}
	sort.Strings(cols)
	fmt.Fprintf(w, "  %-10s", "class\\said")
	for _, l := range cols {
		if l == "" {
			l = "(missed)"
		}
		fmt.Fprintf(w, " %9s", l)
	}
	fmt.Fprintln(w)
	for _, c := range classes {
		fmt.Fprintf(w, "  %-10s", c)
		for _, l := range cols {
			fmt.Fprintf(w, " %9d", r.Confusion[c][l])
		}
		fmt.Fprintln(w)
	}
}

// BinThresholds chooses each bin's threshold for purity: the lowest, in
// steps of 0.01 from 0.5, at which the items the reports' stations would
// sort into that bin are at least target in the right bin (0.99 when no
// step gets there). Bins with no decision get none. Choose on recordings
// of training photos and measure on others: chosen and measured on the
// same items, the share right is met by construction.
func BinThresholds(reports []Report, target float64) map[string]float64 {
	byBin := map[string][]Scored{}
	for _, r := range reports {
		for _, s := range r.Scored {
			if s.Binned {
				byBin[s.LabelBin] = append(byBin[s.LabelBin], s)
			}
		}
	}
	out := map[string]float64{}
	for bin, ss := range byBin {
		out[bin] = 0.99
		for k := 50; k < 99; k++ {
			t := float64(k) / 100
			n, right := 0, 0
			for _, s := range ss {
				if s.Score >= t {
					n++
					if s.ClassBin == bin {
						right++
					}
				}
			}
			if n > 0 && float64(right) >= target*float64(n) {
				out[bin] = t
				break
			}
		}
	}
	return out
}
