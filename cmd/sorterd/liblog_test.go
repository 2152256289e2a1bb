package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sorterd/sorterd/internal/testenv"
)

// OpenCV's own lines about a camera that cannot be opened (no device at
// index 99) reach the command's log as slog records with their level, and
// nothing of them raw on the process's stderr: from camera snapshot, and
// from the daemon, which retries the camera.
func TestOpenCVLogRouted(t *testing.T) {
	testenv.Slow(t, "runs the full daemon")
	const want = `level=WARN msg=opencv line="VIDEOIO(V4L2:/dev/video99): can't open camera by index" src=cap_v4l.cpp:`
	cfg := exampleConfig(t, [2]string{`  source: "0" `, `  source: "99" `})
	var code int
	var errs string
	raw := testenv.StderrFile(t, func() {
		code, _, errs = runCLI(t, "camera", "snapshot", "--config", cfg, filepath.Join(t.TempDir(), "x.jpg"))
	})
	if code != 1 || !strings.Contains(errs, want) || !strings.Contains(errs, "sorterd: open camera 99: Error opening device: 99") {
		t.Errorf("camera snapshot: exit %d, stderr:\n%s", code, errs)
	}
	if raw != "" {
		t.Errorf("camera snapshot: raw on stderr: %q", raw)
	}

	dir := t.TempDir()
	path := filepath.Join(dir, "sorterd.yaml")
	daemonConfig{Station: "cv", StateDir: filepath.Join(dir, "state"), Video: "99", Broker: "tcp://127.0.0.1:1"}.write(t, path)
	logs := &syncBuf{}
	raw = testenv.StderrFile(t, func() {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan int, 1)
		go func() { done <- cmdDaemon(ctx, []string{"--config", path}, logs) }()
		eventuallyLog(t, logs, "OpenCV's line logged", 20*time.Second, func() bool { return strings.Contains(logs.String(), want) })
		cancel()
		<-done
	})
	if raw != "" {
		t.Errorf("daemon: raw on stderr: %q", raw)
	}
}
