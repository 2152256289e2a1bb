//go:build matprofile

// Leak checks need gocv's Mat profile, compiled in only with the
// matprofile tag (make test sets it).
package infer

import (
	"context"
	"fmt"
	"os"
	"testing"

	"github.com/sorterd/sorterd/internal/testenv"
	"gocv.io/x/gocv"
)

// rssBytes is the process's resident set size.
func rssBytes(t *testing.T) int64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		t.Skip("no /proc/self/statm")
	}
	var size, rss int64
	if _, err := fmt.Sscan(string(b), &size, &rss); err != nil {
		t.Fatal(err)
	}
	return rss * int64(os.Getpagesize())
}

// Loading and closing a Classifier 100 times leaks no Mat, crashes on no
// double free, and does not grow the process by leaked interpreters.
func TestLoadCloseNoLeak(t *testing.T) {
	testenv.Slow(t, "loads and closes models many times")
	model := modelPath(t, ptqModel)
	photo := solid(640, 480, 10, 200, 30)
	defer photo.Close()
	cycle := func() {
		c, err := New(Options{Model: model, Interpreters: 2, Threads: 1})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Classify(context.Background(), photo, 1); err != nil {
			t.Fatal(err)
		}
		c.Close()
	}
	for i := 0; i < 5; i++ { // let allocators reach their steady state
		cycle()
	}
	mats := gocv.MatProfile.Count()
	rss := rssBytes(t)
	for i := 0; i < 100; i++ {
		cycle()
	}
	if n := gocv.MatProfile.Count(); n != mats {
		t.Errorf("gocv Mats: %d before, %d after 100 load/close cycles", mats, n)
	}
	// One leaked interpreter pair holds several MB of tensor arena and
	// packed XNNPACK weights; 100 of them would be hundreds of MB.
	if grow := rssBytes(t) - rss; grow > 64<<20 {
		t.Errorf("RSS grew by %d MB over 100 load/close cycles", grow>>20)
	}
}
