package pipeline

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/sorterd/sorterd/settings"
)

// The decision unit: how an item's frames become one label (Decide, Tally),
// and where a label goes (Router). It is pure: the station, the web page's
// upload answer, metrics and the station benchmark all ask it, so the rule
// exists once.

// enumNames is the name table behind Action: String, MarshalText and
// UnmarshalText read it. The configuration's choices are the settings
// package's.
type enumNames []string

func (n enumNames) name(kind string, i uint8) string {
	if int(i) < len(n) {
		return n[i]
	}
	return fmt.Sprintf("%s(%d)", kind, i)
}

func (n enumNames) parse(kind string, b []byte) (uint8, error) {
	for i, s := range n {
		if s == string(b) {
			return uint8(i), nil
		}
	}
	return 0, fmt.Errorf("%w %s %q (one of %s)", ErrUnknownName, kind, b, strings.Join(n, ", "))
}

func (n enumNames) marshal(kind string, i uint8) ([]byte, error) {
	if int(i) >= len(n) {
		return nil, fmt.Errorf("%w %s %d", ErrUnknownName, kind, i)
	}
	return []byte(n[i]), nil
}

// ErrUnknownName is wrapped by Action's UnmarshalText for a name not in
// its table.
var ErrUnknownName = errors.New("unknown")

// Action is what happened to an item at its bin.
type Action uint8

// Actions.
const (
	// Sort: the label's own bin took it (trash into the reject bin, when
	// that bin lists it, is a sort too).
	Sort Action = iota
	// Reject: the label has no bin, the score was under the threshold, or
	// a sensor saw an item the camera could not find.
	Reject
)

var actionNames = enumNames{"sort", "reject"}

// Actions are every action, in order (metrics make a series for each).
func Actions() []Action { return []Action{Sort, Reject} }

func (a Action) String() string { return actionNames.name("Action", uint8(a)) }

// MarshalText writes the action's name (events carry it as a string).
func (a Action) MarshalText() ([]byte, error) { return actionNames.marshal("action", uint8(a)) }

// UnmarshalText reads an action's name.
func (a *Action) UnmarshalText(b []byte) error {
	x, err := actionNames.parse("action", b)
	*a = Action(x)
	return err
}

// Tally is an item's frames so far: the summed scores and how often each
// class was the top-1.
type Tally struct {
	Sum    []float32
	Top    map[int]int
	Frames int
}

// Add counts one frame's scores, whose best class is top.
func (t *Tally) Add(scores []float32, top int) {
	if t.Sum == nil {
		t.Sum = make([]float32, len(scores))
	}
	if t.Top == nil {
		t.Top = map[int]int{}
	}
	for i, v := range scores {
		t.Sum[i] += v
	}
	t.Top[top]++
	t.Frames++
}

// Decide is the vote: the winning class's index, and the mean scores over
// the frames (the winner's mean is the score the threshold applies to).
// settings.VoteMajority breaks ties by the higher mean, then the lower index.
func Decide(v settings.Vote, t Tally) (best int, mean []float32) {
	mean = make([]float32, len(t.Sum))
	for i, s := range t.Sum {
		mean[i] = s / float32(max(t.Frames, 1))
	}
	for i := range mean {
		switch v {
		case settings.VoteMajority:
			n, nb := t.Top[i], t.Top[best]
			if n > nb || (n == nb && mean[i] > mean[best]) {
				best = i
			}
		default:
			if mean[i] > mean[best] {
				best = i
			}
		}
	}
	return best, mean
}

// Bin is one output of the station.
type Bin struct {
	Name   string
	Labels []string
	Reject bool
	Delay  time.Duration // conveyor: camera → flap
	// Threshold is this bin's own: an item for it with a lower BinScore
	// is rejected (0: the router's). A bin whose mistakes cost more (glass
	// in paper) can ask for more confidence.
	Threshold float64
}

// Router sends a (label, score) to a bin with an action. It is built from
// the bins, which it checks: one reject bin, a label in at most one bin.
type Router struct {
	bins      []Bin
	binOf     map[string]int // label → index into bins
	reject    int
	threshold float64
}

// NewRouter checks the bins and builds their router; below threshold an
// item goes to the reject bin.
func NewRouter(bins []Bin, threshold float64) (*Router, error) {
	r := &Router{bins: append([]Bin(nil), bins...), binOf: map[string]int{}, reject: -1, threshold: threshold}
	for i, b := range bins {
		if b.Reject {
			if r.reject >= 0 {
				return nil, fmt.Errorf("two reject bins: %s and %s", bins[r.reject].Name, b.Name)
			}
			r.reject = i
		}
		for _, l := range b.Labels {
			if j, ok := r.binOf[l]; ok {
				return nil, fmt.Errorf("label %q is in bins %s and %s", l, bins[j].Name, b.Name)
			}
			r.binOf[l] = i
		}
	}
	if r.reject < 0 {
		return nil, errors.New("no reject bin")
	}
	return r, nil
}

// BinScore is the confidence the threshold compares for an item whose
// best label is label: the summed score of every label in label's bin
// (label's own score when it has no bin). The station decides a bin, not
// a label: an item scored paper 0.5, cardboard 0.45 is surely for the
// paper bin, and rejecting it as unsure would be wrong.
func (r *Router) BinScore(label string, labels []string, scores []float32) float32 {
	i, ok := r.binOf[label]
	var sum float32
	for j, l := range labels {
		if j >= len(scores) {
			break
		}
		if k, in := r.binOf[l]; l == label || (ok && in && k == i) {
			sum += scores[j]
		}
	}
	return sum
}

// RouteScores is the whole rule for an item whose best label is label,
// given every label's score: its bin and action by its BinScore, which it
// returns too (events and the upload answer carry it).
func (r *Router) RouteScores(label string, labels []string, scores []float32) (Bin, Action, float32) {
	score := r.BinScore(label, labels, scores)
	bin, action := r.Route(label, score)
	return bin, action, score
}

// Route is where an item with this label and confidence (its BinScore)
// goes. A label the reject bin collects on purpose (trash) is a Sort; a
// label without a bin, or a score under the threshold, a Reject.
func (r *Router) Route(label string, score float32) (Bin, Action) {
	i, ok := r.binOf[label]
	if !ok {
		return r.RejectBin(), Reject
	}
	t := r.threshold
	if b := r.bins[i].Threshold; b > 0 {
		t = b
	}
	if score < float32(t) {
		return r.RejectBin(), Reject
	}
	return r.bins[i], Sort
}

// BinOf is the bin that collects label, whatever the score: the reject
// bin for a label no bin lists. The station benchmark scores a decision
// against the bin of the item's true class with it.
func (r *Router) BinOf(label string) Bin {
	if i, ok := r.binOf[label]; ok {
		return r.bins[i]
	}
	return r.RejectBin()
}

// Collects reports whether a bin collects label (trash: the reject bin):
// over the threshold, such an item is sorted.
func (r *Router) Collects(label string) bool {
	_, ok := r.binOf[label]
	return ok
}

// RejectBin is the bin for rejected items.
func (r *Router) RejectBin() Bin { return r.bins[r.reject] }

// Bins are the bins, in their configured order.
func (r *Router) Bins() []Bin { return append([]Bin(nil), r.bins...) }

// Threshold is the score under which items are rejected.
func (r *Router) Threshold() float64 { return r.threshold }

// Can reports whether an action can happen at a bin: a sort at every bin,
// a reject only at the reject bin (metrics make these series up front).
func (r *Router) Can(bin Bin, a Action) bool { return a == Sort || bin.Reject }

// Check compares the bins with a model's labels: unbinned are the labels
// that have no bin (their items are rejected), unknown the bins' labels
// that are not among labels.
func (r *Router) Check(labels []string) (unbinned, unknown []string) {
	known := map[string]bool{}
	for _, l := range labels {
		known[l] = true
		if _, ok := r.binOf[l]; !ok {
			unbinned = append(unbinned, l)
		}
	}
	for _, b := range r.bins {
		for _, l := range b.Labels {
			if !known[l] {
				unknown = append(unknown, l)
			}
		}
	}
	return unbinned, unknown
}
