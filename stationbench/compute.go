package stationbench

import (
	"context"
	"fmt"
	"image"
	"image/color"
	"io"
	"os"
	"sort"
	"time"

	"github.com/sorterd/sorterd/infer"
	"github.com/sorterd/sorterd/locate"
	"github.com/sorterd/sorterd/settings"
	"gocv.io/x/gocv"
)

// ComputeOptions say what Compute measures.
type ComputeOptions struct {
	Image string // the photo Frame was made from ("": synthetic)
	N     int    // frames timed
	// Views is the frame plus the classifier's test-time views.
	Views int
	// FPS and AutoHave: tta_per_frame auto's choice is shown for a camera
	// at FPS frames/s sharing out AutoHave views.
	FPS      float64
	AutoHave int
}

// Compute measures the camera path on this machine: frame (a decoded
// BGR frame, from Frame) through locate (the item's box against the
// learned empty tray, and its crop), preprocess, invoke and postprocess;
// the JPEG decode of encoded as its own stage; and TFLite's bare Invoke
// on the same interpreter.
func Compute(ctx context.Context, c *infer.Classifier, encoded []byte, frame gocv.Mat, o ComputeOptions) (ComputeReport, error) {
	st, err := stages(ctx, c, encoded, frame, o.N)
	if err != nil {
		return ComputeReport{}, err
	}
	var sum time.Duration
	perView := make([]time.Duration, len(st.total))
	for i, d := range st.total {
		sum += d
		perView[i] = d / time.Duration(o.Views)
	}
	rep := ComputeReport{
		Model: c.ModelPath(), Delegate: c.Delegate(), Threads: c.Threads(), N: len(st.total), Image: o.Image,
		Stages: map[string]Quantiles{
			"decode": QuantilesOf(st.decode), "locate": QuantilesOf(st.loc), "preprocess": QuantilesOf(st.pre), "invoke": QuantilesOf(st.inv),
			"postprocess": QuantilesOf(st.post), "total": QuantilesOf(st.total),
		},
		RawInvoke: QuantilesOf(st.raw),
		FPS:       float64(len(st.total)) / sum.Seconds(),
		Views:     o.Views,
		PerView:   QuantilesOf(perView),
		MACs:      c.Info().MACs(),
		AutoFPS:   o.FPS,
	}
	rep.Size, _ = c.InputSize()
	rep.AutoViews = infer.AutoViews(time.Duration(rep.PerView.P50*float64(time.Millisecond)), time.Duration(float64(time.Second)/o.FPS), o.AutoHave)
	if rep.Image == "" {
		rep.Image = "synthetic " + frameSize
	}
	return rep, nil
}

// frameSize is the benchmark's frame, the camera's default size.
var frameSize = fmt.Sprintf("%dx%d", settings.DefaultFrameWidth, settings.DefaultFrameHeight)

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// Quantiles of a stage's times, in ms.
type Quantiles struct {
	P50 float64 `json:"p50_ms"`
	P90 float64 `json:"p90_ms"`
	P99 float64 `json:"p99_ms"`
}

// QuantilesOf are the p50, p90 and p99 of d.
func QuantilesOf(d []time.Duration) Quantiles {
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	at := func(p float64) float64 {
		if len(s) == 0 {
			return 0
		}
		i := int(p*float64(len(s))+0.5) - 1
		i = max(0, min(i, len(s)-1))
		return ms(s[i])
	}
	return Quantiles{P50: at(0.50), P90: at(0.90), P99: at(0.99)}
}

// ComputeReport is what sorterd bench measured (bench --json).
type ComputeReport struct {
	Model     string               `json:"model"`
	Delegate  infer.DelegateReport `json:"delegate"`
	Threads   int                  `json:"threads"`
	N         int                  `json:"n"`
	Image     string               `json:"image"`
	Stages    map[string]Quantiles `json:"stages"`
	RawInvoke Quantiles            `json:"raw_invoke"`
	FPS       float64              `json:"fps"`
	// Views is the frame plus its TTA views; PerView is frame→scores
	// divided by it: what one more view costs on this machine, to size
	// model.tta / tta_per_frame to the camera's frame period.
	Views   int       `json:"views"`
	PerView Quantiles `json:"per_view"`
	// Size is the model's input (px); MACs the multiply-accumulates of one
	// view, counted from the model's graph (convolutions and fully
	// connected layers, which are nearly all of a MobileNet's work).
	Size int   `json:"input_px"`
	MACs int64 `json:"macs_per_view"`
	// AutoViews is what tta_per_frame: auto would choose from this run's
	// median per view at AutoFPS frames/s (the default model.tta's views).
	AutoFPS   float64 `json:"auto_fps"`
	AutoViews int     `json:"auto_views"`
}

// Frame returns the encoded image (for the decode stage) and a 640×480
// BGR frame made from it, or a synthetic scene when path is empty.
func Frame(path string) ([]byte, gocv.Mat, error) {
	var src gocv.Mat
	var encoded []byte
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, gocv.Mat{}, err
		}
		if src, err = infer.DecodeImage(b, infer.ImageLimits{}); err != nil {
			return nil, gocv.Mat{}, fmt.Errorf("%s: %w", path, err)
		}
		encoded = b
	} else {
		src = gocv.NewMatWithSizeFromScalar(gocv.NewScalar(90, 110, 100, 0), settings.DefaultFrameHeight, settings.DefaultFrameWidth, gocv.MatTypeCV8UC3)
		gocv.Circle(&src, image.Pt(320, 240), 120, color.RGBA{200, 40, 40, 0}, -1)
		gocv.Rectangle(&src, image.Rect(60, 60, 200, 400), color.RGBA{30, 160, 220, 0}, -1)
		buf, err := gocv.IMEncode(gocv.JPEGFileExt, src)
		if err != nil {
			src.Close()
			return nil, gocv.Mat{}, err
		}
		encoded = append([]byte(nil), buf.GetBytes()...)
		buf.Close()
	}
	frame := gocv.NewMat()
	gocv.Resize(src, &frame, image.Pt(settings.DefaultFrameWidth, settings.DefaultFrameHeight), 0, 0, gocv.InterpolationArea)
	src.Close()
	return encoded, frame, nil
}

// samples are the per-iteration times of each stage.
type samples struct {
	decode, loc, pre, inv, post, total, raw []time.Duration
}

// stages times n frames through the camera path, then n bare invokes on
// the same interpreter.
func stages(ctx context.Context, c *infer.Classifier, encoded []byte, frame gocv.Mat, n int) (samples, error) {
	var st samples
	// The station locates the item before classifying: the tray learned
	// from an empty frame of the scene's background colour.
	tray := locate.New(locate.Options{Margin: settings.DefaultMargin, Balance: settings.BalanceReference})
	defer tray.Close()
	crop := gocv.NewMat()
	defer crop.Close()
	empty := gocv.NewMatWithSizeFromScalar(frame.Mean(), frame.Rows(), frame.Cols(), gocv.MatTypeCV8UC3)
	tray.Observe(empty)
	empty.Close()
	for i := 0; i < 5; i++ { // warm-up: first invokes allocate and pack weights
		if _, err := c.Classify(ctx, frame, 5); err != nil {
			return st, err
		}
	}
	for i := 0; i < n && ctx.Err() == nil; i++ {
		t0 := time.Now()
		m, err := infer.DecodeImage(encoded, infer.ImageLimits{})
		if err != nil {
			return st, err
		}
		st.decode = append(st.decode, time.Since(t0))
		m.Close()
		tl := time.Now()
		tray.Crop(frame, tray.Observe(frame), &crop) // balanced, as the daemon's
		st.loc = append(st.loc, time.Since(tl))
		t1 := time.Now()
		r, err := c.Classify(ctx, frame, 5)
		if err != nil {
			return st, err
		}
		st.total = append(st.total, time.Since(t1))
		st.pre = append(st.pre, r.Timing.Preprocess)
		st.inv = append(st.inv, r.Timing.Invoke)
		st.post = append(st.post, r.Timing.Postprocess)
	}
	for i := 0; i < n && ctx.Err() == nil; i++ {
		d, err := c.RawInvoke(ctx)
		if err != nil {
			return st, err
		}
		st.raw = append(st.raw, d)
	}
	return st, nil
}

// Write prints the report for a person.
func (rep ComputeReport) Write(w io.Writer) {
	fmt.Fprintf(w, "model     %s\ndelegate  %s\nthreads   %d   n %d   frame %s (%s BGR)\ninput     %d px, %.0fM MACs per view (counted from the graph)\n\n",
		rep.Model, rep.Delegate, rep.Threads, rep.N, rep.Image, frameSize, rep.Size, float64(rep.MACs)/1e6)
	fmt.Fprintf(w, "%-22s %8s %8s %8s\n", "stage (ms)", "p50", "p90", "p99")
	row := func(name string, q Quantiles) {
		fmt.Fprintf(w, "%-22s %8.2f %8.2f %8.2f\n", name, q.P50, q.P90, q.P99)
	}
	row("decode (JPEG file)", rep.Stages["decode"])
	row("locate + crop", rep.Stages["locate"])
	row("preprocess", rep.Stages["preprocess"])
	row("invoke", rep.Stages["invoke"])
	row("postprocess", rep.Stages["postprocess"])
	row("total (frame→scores)", rep.Stages["total"])
	row("raw TFLite Invoke", rep.RawInvoke)
	row(fmt.Sprintf("per view (total / %d)", rep.Views), rep.PerView)
	fmt.Fprintf(w, "\nthroughput %.1f frames/s (one stream, frame→scores, %d view(s) each)\n", rep.FPS, rep.Views)
	fmt.Fprintf(w, "tta_per_frame auto at %g frames/s: %d view(s) per frame besides the frame (from the p50 per view; the daemon times its own at start)\n",
		rep.AutoFPS, rep.AutoViews)
}
