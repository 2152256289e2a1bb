package main

import (
	"context"
	"fmt"
	"image"
	"log/slog"

	"github.com/sorterd/sorterd/config"
	"github.com/sorterd/sorterd/infer"
	"github.com/sorterd/sorterd/locate"
	"github.com/sorterd/sorterd/pipeline"
)

// stationOptions are the pipeline options a configuration gives, for the
// daemon and for the station benchmark alike (so the benchmark plays
// recordings through the daemon's own path): decision, views, locate and
// trigger settings. The caller adds the source, flaps, presence sensor
// and event sink, and closes o.Tray when it is not nil.
func stationOptions(cfg config.Config, clf *infer.Classifier) (pipeline.Options, error) {
	o := pipeline.Options{
		Station: cfg.Station, ModelSHA: clf.SHA256(), Classify: clf, Bins: pipelineBins(cfg),
		Trigger: cfg.Trigger.Mode, Every: cfg.Trigger.Every, Frames: cfg.Trigger.Frames,
		Vote: cfg.Decision.Vote, Threshold: threshold(cfg, clf), Conveyor: cfg.Decision.Geometry == "conveyor",
		Cooldown: cfg.Decision.Cooldown.D(),
	}
	perFrame := int(cfg.Model.TTAPerFrame)
	if cfg.Model.TTAPerFrame == config.AutoViews && len(cfg.Model.TTA) > 0 {
		n, none, err := resolveAutoViews(context.Background(), cfg, clf, slog.Default(), nil)
		if err != nil {
			return o, fmt.Errorf("model.tta_per_frame auto: %w", err)
		}
		if perFrame = n; none {
			o.Classify = frameOnly{clf}
		}
	}
	if perFrame > 0 && len(cfg.Model.TTA) > 0 {
		views, err := infer.ViewsByName(cfg.Model.TTA)
		if err != nil {
			return o, fmt.Errorf("model.tta: %w", err)
		}
		o.Views, o.ViewsPerFrame = views, perFrame
	}
	m, err := locate.ParseMethod(cfg.Locate.Method)
	if err != nil {
		return o, fmt.Errorf("locate.method: %w", err)
	}
	r := cfg.Camera.ROI
	o.Locate, o.ROI = m, image.Rect(r.X, r.Y, r.X+r.Width, r.Y+r.Height)
	if m == locate.Background || cfg.Trigger.Mode == pipeline.Motion {
		o.Tray = locate.New(locate.Options{ROI: o.ROI, Delta: float64(cfg.Trigger.MotionDelta),
			Area: cfg.Trigger.MotionArea, MinSize: cfg.Locate.MinSize, Margin: cfg.Locate.Margin,
			Tight: cfg.Locate.Shape == "tight"})
	}
	return o, nil
}

// pipelineBins are the configured bins as the pipeline takes them.
func pipelineBins(cfg config.Config) []pipeline.Bin {
	var bins []pipeline.Bin
	for _, b := range cfg.Bins {
		bins = append(bins, pipeline.Bin{Name: b.Name, Labels: b.Labels, Reject: b.Reject, Delay: b.Delay.D()})
	}
	return bins
}

// threshold is the configured one, or the one train stored in the model.
func threshold(cfg config.Config, clf *infer.Classifier) float64 {
	t := cfg.Decision.Threshold
	if t == 0 && clf.Info().Sorterd != nil {
		t = clf.Info().Sorterd.Threshold
	}
	return t
}
