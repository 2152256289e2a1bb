package train

import (
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"os"
	"strings"

	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"
)

// ClassMetrics are one class's precision, recall and F1.
type ClassMetrics struct {
	Class     string  `json:"class"`
	Support   int     `json:"support"`
	Precision float64 `json:"precision"`
	Recall    float64 `json:"recall"`
	F1        float64 `json:"f1"`
}

// ThresholdPoint is the accuracy among accepted items at a confidence
// threshold, and the share of items accepted (the rest go to reject).
type ThresholdPoint struct {
	Threshold float64 `json:"threshold"`
	Coverage  float64 `json:"coverage"`
	Accuracy  float64 `json:"accuracy"`
}

// Metrics of a classifier on a labelled set.
type Metrics struct {
	N          int              `json:"n"`
	Accuracy   float64          `json:"accuracy"`
	Classes    []string         `json:"classes"`
	PerClass   []ClassMetrics   `json:"per_class"`
	Confusion  [][]int          `json:"confusion"` // [true][predicted]
	Thresholds []ThresholdPoint `json:"thresholds"`
}

// Thresholds reported by eval.
var reportThresholds = []float64{0, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95}

// score computes metrics from true classes, predicted classes and the
// predicted class's probability.
func score(classes []string, truth, pred []int, conf []float64) Metrics {
	k := len(classes)
	m := Metrics{N: len(truth), Classes: classes, Confusion: make([][]int, k)}
	for i := range m.Confusion {
		m.Confusion[i] = make([]int, k)
	}
	ok := 0
	for i := range truth {
		m.Confusion[truth[i]][pred[i]]++
		if truth[i] == pred[i] {
			ok++
		}
	}
	if m.N > 0 {
		m.Accuracy = float64(ok) / float64(m.N)
	}
	for c := 0; c < k; c++ {
		tp, col, row := m.Confusion[c][c], 0, 0
		for j := 0; j < k; j++ {
			col += m.Confusion[j][c]
			row += m.Confusion[c][j]
		}
		cm := ClassMetrics{Class: classes[c], Support: row}
		if col > 0 {
			cm.Precision = float64(tp) / float64(col)
		}
		if row > 0 {
			cm.Recall = float64(tp) / float64(row)
		}
		if cm.Precision+cm.Recall > 0 {
			cm.F1 = 2 * cm.Precision * cm.Recall / (cm.Precision + cm.Recall)
		}
		m.PerClass = append(m.PerClass, cm)
	}
	for _, t := range reportThresholds {
		m.Thresholds = append(m.Thresholds, thresholdPoint(truth, pred, conf, t))
	}
	return m
}

func thresholdPoint(truth, pred []int, conf []float64, t float64) ThresholdPoint {
	p := ThresholdPoint{Threshold: t}
	acc, ok := 0, 0
	for i := range truth {
		if conf[i] >= t {
			acc++
			if truth[i] == pred[i] {
				ok++
			}
		}
	}
	if len(truth) > 0 {
		p.Coverage = float64(acc) / float64(len(truth))
	}
	if acc > 0 {
		p.Accuracy = float64(ok) / float64(acc)
	}
	return p
}

// suggestThreshold is the lowest confidence threshold at which the items
// accepted are at least target accurate on this (validation) set; items
// below it go to the reject bin. 0 when every item already meets it.
func suggestThreshold(truth, pred []int, conf []float64, target float64) float64 {
	for t := 0.0; t < 0.99; t += 0.01 {
		p := thresholdPoint(truth, pred, conf, t)
		if p.Accuracy >= target && p.Coverage > 0 {
			return float64(int(t*100+0.5)) / 100
		}
	}
	return 0.99
}

// Write prints the metrics as text tables.
func (m Metrics) Write(w io.Writer) {
	fmt.Fprintf(w, "accuracy %.2f%% on %d images\n\n", 100*m.Accuracy, m.N)
	fmt.Fprintf(w, "%-12s %9s %9s %9s %8s\n", "class", "precision", "recall", "f1", "support")
	for _, c := range m.PerClass {
		fmt.Fprintf(w, "%-12s %9.3f %9.3f %9.3f %8d\n", c.Class, c.Precision, c.Recall, c.F1, c.Support)
	}
	fmt.Fprintf(w, "\nconfusion (rows: true, columns: predicted)\n%-12s", "")
	for _, c := range m.Classes {
		fmt.Fprintf(w, " %9.9s", c)
	}
	fmt.Fprintln(w)
	for i, row := range m.Confusion {
		fmt.Fprintf(w, "%-12s", m.Classes[i])
		for _, v := range row {
			fmt.Fprintf(w, " %9d", v)
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "\nreject threshold  coverage  accuracy of accepted\n")
	for _, p := range m.Thresholds {
		fmt.Fprintf(w, "%16.2f  %7.1f%%  %7.2f%%\n", p.Threshold, 100*p.Coverage, 100*p.Accuracy)
	}
}

// PlotConfusion writes the confusion matrix as a PNG heat map with counts.
func (m Metrics) PlotConfusion(path string) error {
	k := len(m.Classes)
	const cell, left, top = 64, 110, 40
	img := image.NewRGBA(image.Rect(0, 0, left+k*cell+10, top+k*cell+30))
	for i := range img.Pix {
		img.Pix[i] = 255
	}
	d := &font.Drawer{Dst: img, Src: image.NewUniform(color.Black), Face: basicfont.Face7x13}
	text := func(x, y int, s string, c color.Color) {
		d.Src = image.NewUniform(c)
		d.Dot = fixed.P(x, y)
		d.DrawString(s)
	}
	text(left, 14, fmt.Sprintf("confusion: rows true, columns predicted (accuracy %.1f%%)", 100*m.Accuracy), color.Black)
	for i, row := range m.Confusion {
		total := 0
		for _, v := range row {
			total += v
		}
		text(4, top+i*cell+cell/2+4, trunc(m.Classes[i], 14), color.Black)
		for j, v := range row {
			frac := 0.0
			if total > 0 {
				frac = float64(v) / float64(total)
			}
			shade := uint8(255 - 200*frac)
			c := color.RGBA{shade, shade, 255, 255}
			if i != j && v > 0 {
				c = color.RGBA{255, shade, shade, 255}
			}
			for y := top + i*cell + 1; y < top+(i+1)*cell; y++ {
				for x := left + j*cell + 1; x < left+(j+1)*cell; x++ {
					img.Set(x, y, c)
				}
			}
			text(left+j*cell+cell/2-3*len(fmt.Sprint(v)), top+i*cell+cell/2+4, fmt.Sprint(v), color.Black)
		}
	}
	for j, c := range m.Classes {
		text(left+j*cell+4, top+k*cell+16, trunc(c, 8), color.Black)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := png.Encode(f, img); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func trunc(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.TrimSpace(s[:n])
}
