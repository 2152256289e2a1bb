// Package infertest is a fake classifier for pure-logic tests: it gives
// fixed scores per image, chosen by the image's colour, with no model and
// no TFLite. It satisfies the classifier interfaces that pipeline and web
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

// Rule scores the images whose mean colour is nearest Colour (RGB; the
// BGR order of gocv's Mats is taken care of).
type Rule struct {
	Colour color.RGBA
	Scores []float32 // one per label
}

// Classifier is the fake: each image gets the scores of the rule whose
// colour is nearest its mean colour; with no rules, Default. Safe for
// concurrent use.
type Classifier struct {
	labels  []string
	rules   []Rule
	def     []float32
	calls   atomic.Int64
	invoked time.Duration
}

// Options configure a Classifier.
type Options struct {
	Labels []string
	Rules  []Rule
	// Default scores images when there are no rules (default: uniform).
	Default []float32
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
	return &Classifier{labels: o.Labels, rules: o.Rules, def: o.Default, invoked: o.Invoke}, nil
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

// Scores returns the scores an image of mean colour m (RGB) gets.
func (c *Classifier) Scores(m color.RGBA) []float32 {
	if len(c.rules) == 0 {
		return c.def
	}
	best, bestD := 0, -1
	for i, r := range c.rules {
		dr, dg, db := int(r.Colour.R)-int(m.R), int(r.Colour.G)-int(m.G), int(r.Colour.B)-int(m.B)
		if d := dr*dr + dg*dg + db*db; bestD < 0 || d < bestD {
			best, bestD = i, d
		}
	}
	return c.rules[best].Scores
}

// Classify scores img by its mean colour.
func (c *Classifier) Classify(ctx context.Context, img gocv.Mat, k int) (infer.Result, error) {
	if err := ctx.Err(); err != nil {
		return infer.Result{}, err
	}
	if img.Empty() {
		return infer.Result{}, fmt.Errorf("infertest: %w", infer.ErrImageEmpty)
	}
	c.calls.Add(1)
	mean := img.Mean() // B, G, R
	scores := append([]float32(nil), c.Scores(color.RGBA{R: uint8(mean.Val3), G: uint8(mean.Val2), B: uint8(mean.Val1), A: 255})...)
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
