package train

import "github.com/sorterd/sorterd/infer"

// DefaultRecipe is the training recipe sorterd ships: `sorterd train`'s
// flags default to it, and `make train` runs it with fine-tuning
// (FineTune, --finetune) on every photo outside validation (NoTest,
// --test-fraction 0) to make the model to ship. Run's own
// zero values are not this recipe (a zero there means none: no station
// views, no smoothing); start from DefaultRecipe and set Data, Out, Base
// and what differs. docs/station.md has the measurements behind each
// choice.
func DefaultRecipe() Config {
	return Config{
		Seed:    1,
		Augment: 5,
		// Station views per training photo (see stationViews).
		StationViews: 9,
		TestFraction: 0.2,
		ValFraction:  0.1,
		// The input size, chosen by cross-validation (0 would be the base
		// model's 224).
		Size:     384,
		Delegate: infer.DelegateXNNPACK,
		FT: FineTuneOptions{
			Epochs: 5,
			Layers: 1,
			LR:     1e-2,
			// Label smoothing: without it fine-tuning memorises the
			// training crops.
			Smooth: 0.1,
		},
	}
}
