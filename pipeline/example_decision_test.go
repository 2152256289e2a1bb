package pipeline_test

import (
	"fmt"

	"github.com/sorterd/sorterd/pipeline"
	"github.com/sorterd/sorterd/settings"
)

// Three frames of an item, voted on and routed: the mean says paper, sure
// enough to sort it; under a higher threshold it would be rejected.
func ExampleRouter_Route() {
	labels := []string{"glass", "paper", "trash"}
	var t pipeline.Tally
	t.Add([]float32{.2, .7, .1}, 1)
	t.Add([]float32{.5, .4, .1}, 0)
	t.Add([]float32{.1, .8, .1}, 1)
	best, mean := pipeline.Decide(settings.VoteMean, t)

	bins := []pipeline.Bin{
		{Name: "glass", Labels: []string{"glass"}},
		{Name: "paper", Labels: []string{"paper"}},
		{Name: "rest", Labels: []string{"trash"}, Reject: true},
	}
	for _, threshold := range []float64{0.5, 0.7} {
		r, err := pipeline.NewRouter(bins, threshold)
		if err != nil {
			fmt.Println(err)
			return
		}
		bin, action := r.Route(labels[best], mean[best])
		fmt.Printf("threshold %.1f: %s %.2f -> %s (%s)\n", threshold, labels[best], mean[best], bin.Name, action)
	}
	// Output:
	// threshold 0.5: paper 0.63 -> paper (sort)
	// threshold 0.7: paper 0.63 -> rest (reject)
}
