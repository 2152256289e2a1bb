package pipeline

import (
	"context"
	"log/slog"
	"testing"

	"github.com/sorterd/sorterd/config"
	"github.com/sorterd/sorterd/infer"
	"github.com/sorterd/sorterd/internal/testenv"
	"github.com/sorterd/sorterd/locate"
	"github.com/sorterd/sorterd/settings"
)

// Configure with tta_per_frame auto times the real model and wires what
// it chose: some views per frame, or the frame alone (infer.FrameOnly).
func TestConfigureAutoViews(t *testing.T) {
	testenv.Slow(t, "times the model")
	clf, err := infer.New(infer.Options{Model: testenv.Model(t, "tf2_mobilenet_v2_1.0_224_ptq.tflite"), TTA: []string{"flip", "rot180", "rot90", "rot270", "vflip"}})
	if err != nil {
		t.Fatal(err)
	}
	defer clf.Close()
	cfg := config.Default()
	cfg.Trigger.Mode = settings.Motion
	cfg.Bins = []config.Bin{{Name: "rest", Labels: []string{"trash"}, Reject: true}}
	cfg.Model.TTAPerFrame = config.AutoViews
	o, err := Configure(context.Background(), cfg, clf, locate.Reference{}, slog.New(slog.DiscardHandler))
	if o.Tray != nil {
		defer o.Tray.Close()
	}
	if err != nil {
		t.Fatal(err)
	}
	_, isFrameOnly := o.Classify.(infer.FrameOnly)
	switch {
	case o.ViewsPerFrame < 0 || o.ViewsPerFrame > 5:
		t.Errorf("auto chose %d views per frame", o.ViewsPerFrame)
	case o.ViewsPerFrame == 0 && !isFrameOnly, o.ViewsPerFrame > 0 && (isFrameOnly || len(o.Views) != 5):
		t.Errorf("auto: %d views per frame, frame only %v, views %d", o.ViewsPerFrame, isFrameOnly, len(o.Views))
	}
	t.Logf("auto chose %d views per frame", o.ViewsPerFrame)
}
