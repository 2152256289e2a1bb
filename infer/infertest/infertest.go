// Package infertest is a fake classifier for pure-logic tests: it gives
// fixed scores per image, chosen by the colour of the item in it, with no
// model and no TFLite. It satisfies the classifier interfaces that pipeline and web
// define (Classify, Labels; NewReport).
//
// Tests of classification itself, and end-to-end tests, use the real
// infer.Classifier on the real models: this fake is for the logic around
// it (voting, routing, thresholds, the web handlers), where the model's
// answer is an input, not the thing under test.
package infertest

import (
	"context"
	"fmt"
	"image/color"
	"sync/atomic"
	"time"

	"github.com/sorterd/sorterd/infer"
	"gocv.io/x/gocv"
)

// Rule gives Scores to the images in which Colour (RGB; the BGR order of
// gocv's Mats is taken care of) covers the most pixels.
type Rule struct {
	Colour color.RGBA
	Scores []float32 // one per label
}

// Classifier is the fake: each image gets the scores of the rule whose
// colour the most of its pixels match (each channel within Tolerance), so
// a crop's margin of tray does not matter; an image matching no rule gets
// Default. Safe for concurrent use.
type Classifier struct {
	labels  []string
	rules   []Rule
	def     []float32
	tol     int
	calls   atomic.Int64
	invoked time.Duration
}

// Options configure a Classifier.
type Options struct {
	Labels []string
	Rules  []Rule
	// Default scores images that match no rule (default: uniform).
	Default []float32
	// Tolerance is how far (0..255, per channel) a pixel may be from a
	// rule's colour and match it (default 40: JPEG and light noise).
	Tolerance int
	// Invoke is the time each Classify reports as its invoke stage (it
	// does not sleep).
	Invoke time.Duration
}

// New checks that every score vector has one score per label.
func New(o Options) (*Classifier, error) {
	if len(o.Labels) == 0 {
		return nil, fmt.Errorf("infertest: no labels")
	}
	if o.Default == nil {
		o.Default = make([]float32, len(o.Labels))
		for i := range o.Default {
			o.Default[i] = 1 / float32(len(o.Labels))
		}
	}
	if len(o.Default) != len(o.Labels) {
		return nil, fmt.Errorf("infertest: default has %d scores for %d labels", len(o.Default), len(o.Labels))
	}
	for i, r := range o.Rules {
		if len(r.Scores) != len(o.Labels) {
			return nil, fmt.Errorf("infertest: rule %d has %d scores for %d labels", i, len(r.Scores), len(o.Labels))
		}
	}
	if o.Tolerance <= 0 {
		o.Tolerance = 40
	}
	return &Classifier{labels: o.Labels, rules: o.Rules, def: o.Default, tol: o.Tolerance, invoked: o.Invoke}, nil
}

// OneHot is a score vector giving label score p and the rest what is
// left, evenly.
func OneHot(labels []string, label string, p float32) []float32 {
	s := make([]float32, len(labels))
	for i, l := range labels {
		if l == label {
			s[i] = p
		} else if len(labels) > 1 {
			s[i] = (1 - p) / float32(len(labels)-1)
		}
	}
	return s
}

// Labels are the classes, in score order.
func (c *Classifier) Labels() []string { return c.labels }

// Calls counts Classify calls.
func (c *Classifier) Calls() int { return int(c.calls.Load()) }

// Scores returns the scores of the rule the most of pixels match
// (pixels: 8-bit BGR triplets), or Default.
func (c *Classifier) Scores(pixels []byte) []float32 {
	counts := make([]int, len(c.rules))
	near := func(a uint8, b byte) bool { d := int(a) - int(b); return d <= c.tol && -d <= c.tol }
	for p := 0; p+2 < len(pixels); p += 3 {
		for i, r := range c.rules {
			if near(r.Colour.B, pixels[p]) && near(r.Colour.G, pixels[p+1]) && near(r.Colour.R, pixels[p+2]) {
				counts[i]++
				break
			}
		}
	}
	best := -1
	for i, n := range counts {
		if n > 0 && (best < 0 || n > counts[best]) {
			best = i
		}
	}
	if best < 0 {
		return c.def
	}
	return c.rules[best].Scores
}

// Classify scores img (8-bit, 3 channels) by its item's colour.
func (c *Classifier) Classify(ctx context.Context, img gocv.Mat, k int) (infer.Result, error) {
	if err := ctx.Err(); err != nil {
		return infer.Result{}, err
	}
	if img.Empty() {
		return infer.Result{}, fmt.Errorf("infertest: %w", infer.ErrImageEmpty)
	}
	if img.Type() != gocv.MatTypeCV8UC3 {
		return infer.Result{}, fmt.Errorf("infertest: want an 8-bit BGR image, have type %v", img.Type())
	}
	c.calls.Add(1)
	scores := append([]float32(nil), c.Scores(img.ToBytes())...)
	top := infer.TopK(scores, c.labels, k)
	return infer.Result{Score: top[0], Top: top, Scores: scores, Timing: infer.Timing{Invoke: c.invoked}}, nil
}

// NewReport is the --once/upload report of r, naming no model file.
func (c *Classifier) NewReport(image string, r infer.Result, decode time.Duration) infer.Report {
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	return infer.Report{Image: image, Label: r.Label, Score: r.Score.Score, Top: r.Top,
		Model:     infer.ModelRef{Path: "infertest", SHA256: "0000000000000000000000000000000000000000000000000000000000000000"},
		LatencyMS: infer.Latency{Decode: ms(decode), Invoke: ms(r.Timing.Invoke), Total: ms(decode + r.Timing.Invoke)}}
}
