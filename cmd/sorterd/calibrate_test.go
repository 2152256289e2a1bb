package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/sorterd/sorterd/internal/testenv"
	"github.com/sorterd/sorterd/locate"
	"github.com/sorterd/sorterd/recording"
)

// calibrate records the empty tray the camera shows as the reference the
// daemon corrects to; a tray that never stays empty is refused, and no
// reference is written.
func TestCalibrate(t *testing.T) {
	testenv.Slow(t, "plays recordings through calibrate")
	photos := []recording.Photo{{Path: testenv.Photo(t, "metal", 10), Class: "metal"}}
	dir := t.TempDir()
	calm := filepath.Join(dir, "calm.avi")
	if _, err := recording.Write(calm, recording.Options{Photos: photos, Tray: recording.Dark, Gap: 45, Light: -1, Step: -1, Seed: 1}); err != nil {
		t.Fatal(err)
	}
	busy := filepath.Join(dir, "busy.avi")
	if _, err := recording.Write(busy, recording.Options{Photos: append(append(photos, photos...), photos...), Tray: recording.Dark, Gap: 4, Seed: 1}); err != nil {
		t.Fatal(err)
	}
	state := t.TempDir()
	cfgFor := func(video string) string {
		return exampleConfig(t, [2]string{`  source: "0" `, `  source: "` + video + `" `},
			[2]string{"state_dir: /var/lib/sorterd", "state_dir: " + state})
	}
	code, stdout, errs := runCLI(t, "calibrate", "--config", cfgFor(busy))
	if code != 1 || !strings.Contains(errs, "did not stay empty") {
		t.Errorf("busy tray: exit %d, %q %q; want 1 and why", code, stdout, errs)
	}
	ref := filepath.Join(state, locate.ReferenceFile)
	if _, err := locate.LoadReference(ref); err == nil {
		t.Error("busy tray: a reference was written")
	}
	code, stdout, errs = runCLI(t, "calibrate", "--config", cfgFor(calm))
	if code != 0 {
		t.Fatalf("exit %d: %s %s", code, stdout, errs)
	}
	r, err := locate.LoadReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	// The recording's dark tray (52, 56, 60 as reflectance) under a lamp
	// with the camera fixed for white paper at 235: about 55..75.
	for c, v := range r.Tray {
		if v < 40 || v > 85 {
			t.Errorf("reference %v: channel %d is not the dark tray", r.Tray, c)
		}
	}
	if code, _, _ := runCLI(t, "calibrate", "--config", cfgFor(calm), "extra"); code != 2 {
		t.Errorf("stray argument: exit %d, want 2", code)
	}
}
