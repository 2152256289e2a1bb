package main

import (
	"context"
	"fmt"
	"image/color"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sorterd/sorterd/internal/testenv"
)

// station is one daemon run by a fault test: its config file, web address,
// log and exit code.
type station struct {
	t      *testing.T
	dir    string
	cfg    string // the file
	text   string // what it holds
	web    string
	logs   *syncBuf
	code   chan int
	cancel context.CancelFunc
}

// stationConfig writes a configuration for a looping video of items, the
// real model, dry-run flaps, broker b and a web page on a free port.
func stationConfig(t *testing.T, b *testenv.Broker, stateDir string) *station {
	t.Helper()
	wd, _ := os.Getwd()
	model := need(t, filepath.Join(wd, "..", "..", "models", "garbage.tflite"))
	dir := t.TempDir()
	video := filepath.Join(dir, "tray.avi")
	testenv.ItemsVideo(t, video, []color.RGBA{{230, 230, 230, 0}, {40, 90, 200, 0}}, 8, 20)
	if stateDir == "" {
		stateDir = filepath.Join(dir, "state")
	}
	s := &station{t: t, dir: dir, cfg: filepath.Join(dir, "sorterd.yaml"), web: fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t)), logs: &syncBuf{}}
	s.text = fmt.Sprintf(`station: faults
log_level: info
state_dir: %s
camera:
  source: %s
  fps: 50
  loop: true
  reconnect_min: 50ms
  reconnect_max: 200ms
  stall_timeout: 2s
trigger:
  mode: motion
  frames: 3
  motion_area: 0.05
  motion_delta: 25
model:
  path: %s
  threads: 1
decision:
  cooldown: 0s
bins:
  - {name: glass, labels: [glass]}
  - {name: metal, labels: [metal]}
  - {name: paper, labels: [paper, cardboard]}
  - {name: plastic, labels: [plastic]}
  - {name: reject, labels: [trash], reject: true}
gpio:
  driver: dry-run
mqtt:
  broker: %s
  stats_interval: 200ms
http:
  listen: %s
`, stateDir, video, model, b.URL(), s.web)
	s.write(s.text)
	return s
}

func (s *station) write(text string) {
	if err := os.WriteFile(s.cfg, []byte(text), 0o644); err != nil {
		s.t.Fatal(err)
	}
}

// start runs the daemon until the test ends.
func (s *station) start() *station {
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel, s.code = cancel, make(chan int, 1)
	go func() { s.code <- cmdDaemon(ctx, []string{"--config", s.cfg}, s.logs) }()
	s.t.Cleanup(func() {
		cancel()
		select {
		case <-s.code:
		case <-time.After(15 * time.Second):
			s.t.Error("daemon did not stop")
		}
	})
	return s
}

func (s *station) get(path string) (int, string) {
	res, err := http.Get("http://" + s.web + path)
	if err != nil {
		return 0, err.Error()
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// readOnlyDir is a tmpfs mounted read-only, or "" where mounting is refused.
func readOnlyDir(t *testing.T) string {
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=1m,ro", "tmpfs", dir).CombinedOutput(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("mounting a tmpfs was refused: %v: %s", err, out)
		}
		t.Skipf("mounting a tmpfs was refused: %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", dir).Run() })
	return dir
}

// A read-only state dir at start used to be fatal (a restart loop). Now
// the daemon starts, sorts, delivers every event from memory, logs an
// ERROR and says "degraded" on /healthz and on systemd's STATUS line.
func TestDaemonStartsWithReadOnlyStateDir(t *testing.T) {
	b := testenv.StartBroker(t)
	rec := subscribe(t, b, "sorterd/faults/#")
	notes, sock := notifySocket(t)
	t.Setenv("NOTIFY_SOCKET", sock)
	s := stationConfig(t, b, readOnlyDir(t)).start()
	eventually(t, "two events", 30*time.Second, func() bool { return len(rec.get("sorterd/faults/event")) >= 2 })
	if !strings.Contains(s.logs.String(), "level=ERROR msg=\"outbox degraded") {
		t.Errorf("no loud log line:\n%s", s.logs.String())
	}
	eventually(t, "healthz degraded", 10*time.Second, func() bool {
		code, body := s.get("/healthz")
		return code == 503 && strings.Contains(body, "degraded") && strings.Contains(body, "read-only")
	})
	eventually(t, "systemd STATUS degraded", 10*time.Second, func() bool {
		for _, l := range notes.get("all") {
			if strings.HasPrefix(l, "STATUS=degraded: outbox") {
				return true
			}
		}
		return false
	})
	if code, body := s.get("/metrics"); code != 200 || !strings.Contains(body, "sorterd_mqtt_outbox_degraded 1") {
		t.Errorf("metrics: %d", code)
	}
}
