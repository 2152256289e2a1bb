package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sorterd/sorterd/internal/testenv"
	"github.com/sorterd/sorterd/recording"
)

// daemonConfig builds the configuration file of a daemon under test: a
// video camera, the shipped model on one thread, motion trigger, dry-run
// flaps and a broker. The tests that run the whole daemon (end to end,
// faults, operator tools, two stations) differ only in the fields below.
type daemonConfig struct {
	Station  string
	StateDir string
	Video    string
	Broker   string
	Listen   string // http.listen; "" turns the page off
	FPS      int    // default 50
	Loop     bool
	Stall    string // camera.stall_timeout, default 2s
	// FastReconnect reopens a lost camera within 50–200 ms instead of the
	// default 0.5–30 s.
	FastReconnect bool
	// Reopen, when set, is both reconnect_min and reconnect_max: "1h"
	// keeps a file that ended from being played again.
	Reopen string
	Motion string   // extra trigger lines, e.g. "motion_area: 0.05"
	Bins   []string // bins lines; default fiveBins()
	Stats  string   // mqtt.stats_interval, default 200ms
	Extra  string   // further top-level YAML
}

// fiveBins are the shipped model's classes in four bins and a reject.
func fiveBins() []string {
	return []string{
		"{name: glass, labels: [glass]}",
		"{name: metal, labels: [metal]}",
		"{name: paper, labels: [paper, cardboard]}",
		"{name: plastic, labels: [plastic]}",
		"{name: reject, labels: [trash], reject: true}",
	}
}

// threeBins leave paper and plastic to the reject bin's default.
func threeBins() []string {
	return []string{
		"{name: glass, labels: [glass]}",
		"{name: metal, labels: [metal]}",
		"{name: reject, labels: [trash], reject: true}",
	}
}

// text renders c in block style, one key a line, so that tests may
// rewrite single lines ("  mode: motion\n", "  threads: 1\n").
func (c daemonConfig) text(t testing.TB) string {
	t.Helper()
	model := testenv.Model(t, "garbage.tflite")
	if c.FPS == 0 {
		c.FPS = 50
	}
	if c.Stall == "" {
		c.Stall = "2s"
	}
	if c.Bins == nil {
		c.Bins = fiveBins()
	}
	if c.Stats == "" {
		c.Stats = "200ms"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "station: %s\nlog_level: info\nstate_dir: %s\n", c.Station, c.StateDir)
	fmt.Fprintf(&b, "camera:\n  source: %s\n  fps: %d\n", c.Video, c.FPS)
	if c.Loop {
		b.WriteString("  loop: true\n")
	}
	if c.FastReconnect {
		b.WriteString("  reconnect_min: 50ms\n  reconnect_max: 200ms\n")
	}
	if c.Reopen != "" {
		fmt.Fprintf(&b, "  reconnect_min: %s\n  reconnect_max: %s\n", c.Reopen, c.Reopen)
	}
	fmt.Fprintf(&b, "  stall_timeout: %s\ntrigger:\n  mode: motion\n  frames: 3\n", c.Stall)
	for _, l := range strings.Split(strings.TrimSpace(c.Motion), "\n") {
		if l != "" {
			fmt.Fprintf(&b, "  %s\n", strings.TrimSpace(l))
		}
	}
	fmt.Fprintf(&b, "model:\n  path: %s\n  threads: 1\ndecision:\n  cooldown: 0s\nbins:\n", model)
	for _, l := range c.Bins {
		fmt.Fprintf(&b, "  - %s\n", l)
	}
	fmt.Fprintf(&b, "gpio:\n  driver: dry-run\nmqtt:\n  broker: %s\n  stats_interval: %s\n", c.Broker, c.Stats)
	if c.Listen == "" {
		b.WriteString("http:\n  enabled: false\n")
	} else {
		fmt.Fprintf(&b, "http:\n  listen: %s\n", c.Listen)
	}
	b.WriteString(c.Extra)
	return b.String()
}

// write renders c into path and returns the text.
func (c daemonConfig) write(t testing.TB, path string) string {
	t.Helper()
	text := c.text(t)
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return text
}

// glassMetalTray writes dir/tray.avi: a glass, then a metal item on the
// light tray (fixed seed: the same frames on every run), and returns its
// path and photos.
func glassMetalTray(t testing.TB, dir string) (string, []recording.Photo) {
	t.Helper()
	video := filepath.Join(dir, "tray.avi")
	items := []recording.Photo{
		{Path: testenv.Photo(t, "glass", 12), Class: "glass"},
		{Path: testenv.Photo(t, "metal", 5), Class: "metal"},
	}
	if _, err := recording.Write(video, recording.Options{Photos: items, Camera: recording.Tinted, Hold: 8, Gap: 20, Seed: 2}); err != nil {
		t.Fatal(err)
	}
	return video, items
}
