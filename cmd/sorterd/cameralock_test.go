package main

import (
	"bytes"
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sorterd/sorterd/config"
	"gocv.io/x/gocv"
)

// grayVideo writes an MJPEG .avi of n plain grey 160x120 frames.
func grayVideo(t *testing.T, n int) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "tray.avi")
	w, err := gocv.VideoWriterFile(path, "MJPG", 15, 160, 120, true)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	for i := 0; i < n; i++ {
		m := gocv.NewMatWithSizeFromScalar(gocv.NewScalar(120, 120, 120, 0), 120, 160, gocv.MatTypeCV8UC3)
		if err := w.Write(m); err != nil {
			t.Fatal(err)
		}
		m.Close()
	}
	return path
}

// camera lock on a video file runs (exit 0) and says it cannot lock this
// source, and that camera.exposure: auto keeps the daemon from locking; a
// missing camera is exit 1; usage and configuration errors are exit 2.
func TestCameraLockCommand(t *testing.T) {
	video := grayVideo(t, 4)
	cfg := exampleConfig(t, [2]string{`  source: "0" `, `  source: "` + video + `" `})
	code, out, errs := runCLI(t, "camera", "lock", "--config", cfg)
	if code != 0 || !strings.Contains(out, video+": not supported by this source (a video file") ||
		!strings.Contains(out, "camera.exposure: auto, so the daemon will not lock") || strings.Contains(out, "settled over") {
		t.Errorf("exit %d\nstdout: %s\nstderr: %s", code, out, errs)
	}
	locked := exampleConfig(t, [2]string{`  source: "0" `, `  source: "` + video + `" `}, [2]string{"  exposure: auto ", "  exposure: locked "})
	if code, out, errs := runCLI(t, "camera", "lock", "--config", locked); code != 0 || strings.Contains(out, "note:") {
		t.Errorf("with exposure: locked: exit %d\nstdout: %s\nstderr: %s", code, out, errs)
	}
	missing := exampleConfig(t, [2]string{`  source: "0" `, `  source: "` + filepath.Join(t.TempDir(), "none.avi") + `" `})
	if code, _, errs := runCLI(t, "camera", "lock", "--config", missing); code != 1 || !strings.Contains(errs, "open camera") {
		t.Errorf("a camera that cannot open: exit %d: %s", code, errs)
	}
	bad := exampleConfig(t, [2]string{"  exposure: auto ", "  exposure: fixed "})
	if code, _, errs := runCLI(t, "camera", "lock", "--config", bad); code != 2 || !strings.Contains(errs, `camera.exposure: "fixed" is not one of auto, locked (line 21)`) {
		t.Errorf("a bad camera.exposure: exit %d: %s", code, errs)
	}
	for _, args := range [][]string{{"camera", "lock", "--config", cfg, "stray"}, {"camera", "lock", "--settle", "0", "--config", cfg}, {"camera", "lock", "--bogus"}} {
		if code, _, errs := runCLI(t, args...); code != 2 {
			t.Errorf("%v: exit %d, want 2: %s", args, code, errs)
		}
	}
	if code, _, errs := runCLI(t, "camera", "lock", "-h"); code != 0 || !strings.Contains(errs, "-settle") {
		t.Errorf("camera lock -h: exit %d: %s", code, errs)
	}
	for _, args := range [][]string{{"help"}, {"camera", "--help"}} {
		if code, out, _ := runCLI(t, args...); code != 0 || !strings.Contains(out, "sorterd camera lock [--config FILE]") {
			t.Errorf("%v does not list camera lock: exit %d\n%s", args, code, out)
		}
	}
}

// The daemon's camera logs what camera.exposure: locked achieved at each
// open (here: a file, which cannot be locked, as a warning), and nothing
// about locking with exposure: auto; frames come either way.
func TestNewCameraLogsLock(t *testing.T) {
	video := grayVideo(t, 3)
	for _, exp := range []config.Exposure{config.ExposureLocked, config.ExposureAuto} {
		c := config.Default().Camera
		c.Source, c.Exposure = video, exp
		var logs bytes.Buffer
		cam := newCamera(c, slog.New(slog.NewTextHandler(&logs, nil)))
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		f, err := cam.Read(ctx)
		cancel()
		if err != nil {
			t.Fatalf("exposure %v: %v", exp, err)
		}
		f.Close()
		cam.Close()
		got := logs.String()
		if exp == config.ExposureLocked {
			if !strings.Contains(got, "level=WARN") || !strings.Contains(got, "not fully locked") || !strings.Contains(got, "lock.supported=false") ||
				!strings.Contains(got, `lock.reason="not supported by this source (a video file`) {
				t.Errorf("exposure locked, logs:\n%s", got)
			}
		} else if strings.Contains(got, "lock") {
			t.Errorf("exposure auto logged a lock:\n%s", got)
		}
	}
}
