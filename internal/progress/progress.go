// Package progress draws a long step's progress on a terminal, for the
// commands that train and measure.
package progress

import (
	"fmt"
	"os"
	"time"
)

// redraw is the least time between two drawings of a bar.
const redraw = 100 * time.Millisecond

// Bar draws a one-line progress bar on a terminal (w), at most every
// redraw; on anything else it stays quiet (nil).
func Bar(w *os.File, label string) func(done, total int) {
	st, err := w.Stat()
	if err != nil || st.Mode()&os.ModeCharDevice == 0 {
		return nil
	}
	var last time.Time
	start := time.Now()
	return func(done, total int) {
		if done != total && time.Since(last) < redraw {
			return
		}
		last = time.Now()
		const width = 30 // characters
		n := done * width / max(total, 1)
		bar := make([]byte, width)
		for i := range bar {
			bar[i] = '.'
			if i < n {
				bar[i] = '#'
			}
		}
		rate := float64(done) / time.Since(start).Seconds()
		fmt.Fprintf(w, "\r%-14s [%s] %d/%d  %.0f img/s ", label, bar, done, total, rate)
		if done == total {
			fmt.Fprintln(w)
		}
	}
}
