package pipeline

import (
	"context"
	"errors"
	"fmt"
	"image"
	"log/slog"
	"slices"

	"github.com/sorterd/sorterd/config"
	"github.com/sorterd/sorterd/infer"
	"github.com/sorterd/sorterd/locate"
	"github.com/sorterd/sorterd/settings"
)

// Configure gives the Options a configuration sets, for the daemon and
// for the station benchmark alike (so the benchmark plays recordings
// through the daemon's own path): decision, views, locate and trigger
// settings. The caller adds the source, flaps, presence sensor and event
// sink, and closes o.Tray when it is not nil (also after an error).
//
// ref is the tray recorded at setup (zero: the tray takes it from its
// first quiet frames). With model.tta_per_frame: auto one view is timed
// on clf (ctx bounds it) and the choice is logged on log.
func Configure(ctx context.Context, cfg config.Config, clf *infer.Classifier, ref locate.Reference, log *slog.Logger) (Options, error) {
	o := Options{
		Station: cfg.Station, ModelSHA: clf.SHA256(), Classify: clf, Bins: ConfiguredBins(cfg),
		Trigger: cfg.Trigger.Mode, Every: cfg.Trigger.Every, Frames: cfg.Trigger.Frames,
		Vote: cfg.Decision.Vote, Threshold: ConfiguredThreshold(cfg, clf), Geometry: cfg.Decision.Geometry,
		Cooldown: cfg.Decision.Cooldown.D(),
	}
	perFrame := int(cfg.Model.TTAPerFrame)
	if cfg.Model.TTAPerFrame == config.AutoViews && len(cfg.Model.TTA) > 0 {
		n, none, err := clf.ResolveAutoViews(ctx, infer.ViewBudget{FPS: cfg.Camera.FPS, Width: cfg.Camera.Width,
			Height: cfg.Camera.Height, Views: len(cfg.Model.TTA)}, log)
		if err != nil {
			return o, fmt.Errorf("model.tta_per_frame auto: %w", err)
		}
		if perFrame = n; none {
			o.Classify = infer.FrameOnly{Classifier: clf}
		}
	}
	if perFrame > 0 && len(cfg.Model.TTA) > 0 {
		views, err := infer.ViewsByName(cfg.Model.TTA)
		if err != nil {
			return o, fmt.Errorf("model.tta: %w", err)
		}
		o.Views, o.ViewsPerFrame = views, perFrame
	}
	o.Locate, o.ROI = cfg.Locate.Method, roiOf(cfg.Camera.ROI)
	if o.Locate == settings.Background || o.Trigger == settings.Motion {
		o.Tray = locate.New(TrayOptions(cfg, ref))
	}
	return o, nil
}

// ClassifierOptions are the classifier's options model gives, logging
// on log.
func ClassifierOptions(m config.Model, log *slog.Logger) infer.Options {
	return infer.Options{Model: m.Path, Labels: m.Labels, Delegate: m.Delegate, Fallback: m.Fallback, Threads: m.Threads,
		EdgeTPUDevice: m.EdgeTPUDevice, TTA: m.TTA, Logger: log}
}

// TrayOptions are the tray's settings a configuration gives, with the
// reference tray ref.
func TrayOptions(cfg config.Config, ref locate.Reference) locate.Options {
	return locate.Options{ROI: roiOf(cfg.Camera.ROI), Delta: float64(cfg.Trigger.MotionDelta),
		Area: cfg.Trigger.MotionArea, MinSize: cfg.Locate.MinSize, Margin: cfg.Locate.Margin,
		Shape: cfg.Locate.Shape, Balance: cfg.Locate.Balance, Reference: ref}
}

func roiOf(r config.ROI) image.Rectangle { return image.Rect(r.X, r.Y, r.X+r.Width, r.Y+r.Height) }

// ConfiguredBins are the configured bins as the pipeline (and the web
// page's upload answer) takes them.
func ConfiguredBins(cfg config.Config) []Bin {
	var bins []Bin
	for _, b := range cfg.Bins {
		bins = append(bins, Bin{Name: b.Name, Labels: b.Labels, Reject: b.Reject, Delay: b.Delay.D(), Threshold: b.Threshold})
	}
	return bins
}

// ConfiguredThreshold is decision.threshold, or when it is 0 the one
// `sorterd train` stored in the model.
func ConfiguredThreshold(cfg config.Config, clf *infer.Classifier) float64 {
	t := cfg.Decision.Threshold
	if t == 0 && clf.Info().Sorterd != nil {
		t = clf.Info().Sorterd.Threshold
	}
	return t
}

// Check checks what config.Load cannot: the model loads (with its
// delegate, or its fallback) and has labels, the TTA views exist, and
// every bin's labels are labels of the model. `config check` and a reload
// (before the running station is stopped) both run it.
//
// running is the configuration in service during a reload, nil otherwise:
// an Edge TPU that the running station holds cannot take a second
// interpreter, so there the model is parsed and its labels checked
// without one.
func Check(c config.Config, running *config.Config, log *slog.Logger) error {
	if _, err := infer.ViewsByName(c.Model.TTA); err != nil {
		return fmt.Errorf("model.tta: %w", err)
	}
	delegate := c.Model.Delegate
	if delegate == infer.DelegateEdgeTPU && running != nil && running.Model.Delegate == infer.DelegateEdgeTPU {
		delegate = "" // see above: checked below without an interpreter
	}
	var labels []string
	if delegate == "" {
		l, err := infer.ModelLabels(c.Model.Path, c.Model.Labels)
		if err != nil {
			return fmt.Errorf("model.path: %w", err)
		}
		labels = l
	} else {
		o := ClassifierOptions(c.Model, log)
		o.Delegate, o.Threads, o.Interpreters = delegate, 1, 1
		clf, err := infer.New(o)
		if err != nil {
			return fmt.Errorf("model.path: %w", err)
		}
		labels = clf.Labels()
		clf.Close()
	}
	var errs []error
	for i, b := range c.Bins {
		for _, l := range b.Labels {
			if !slices.Contains(labels, l) {
				errs = append(errs, fmt.Errorf("bins[%d] (%s): label %q is not one of the model's labels %v", i, b.Name, l, labels))
			}
		}
	}
	return errors.Join(errs...)
}
