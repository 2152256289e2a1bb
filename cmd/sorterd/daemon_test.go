package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/sorterd/sorterd/internal/testenv"
	"github.com/sorterd/sorterd/recording"
)

// syncBuf is a daemon's log.
type syncBuf = testenv.LogBuffer

// recorder keeps what sd_notify sent (under "all").
type recorder struct {
	mu   sync.Mutex
	msgs map[string][]string
}

func (r *recorder) get(topic string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.msgs[topic]...)
}

func eventually(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	testenv.Eventually(t, what, d, cond)
}

// notifySocket listens where sd_notify writes and records the lines.
func notifySocket(t *testing.T) (*recorder, string) {
	path := filepath.Join(t.TempDir(), "notify.sock")
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	r := &recorder{msgs: map[string][]string{}}
	go func() {
		buf := make([]byte, 1024)
		for {
			n, err := c.Read(buf)
			if err != nil {
				return
			}
			r.mu.Lock()
			for _, l := range strings.Split(string(buf[:n]), "\n") {
				r.msgs["all"] = append(r.msgs["all"], l)
			}
			r.mu.Unlock()
		}
	}()
	t.Cleanup(func() { c.Close() })
	return r, path
}

func (r *recorder) count(line string) int {
	n := 0
	for _, l := range r.get("all") {
		if l == line {
			n++
		}
	}
	return n
}

// The station end to end: a video of items → the daemon (real OpenCV, the
// real model, dry-run flaps) with a real mosquitto → one event per item,
// retained status online then offline, camera loss and recovery, a bad
// reload refused, systemd notify and watchdog.
func TestDaemonEndToEnd(t *testing.T) {
	b := testenv.StartBroker(t)
	rec := testenv.Subscribe(t, b, "sorterd/e2e/#")
	dir := t.TempDir()
	video := filepath.Join(dir, "tray.avi")
	// Items lying on a light tray, as the camera sees them; each event
	// must name its item.
	items := []recording.Photo{
		{Path: testenv.Photo(t, "glass", 12), Class: "glass"},
		{Path: testenv.Photo(t, "metal", 5), Class: "metal"},
		{Path: testenv.Photo(t, "plastic", 5), Class: "plastic"},
	}
	if _, err := recording.Write(video, recording.Options{Photos: items[:2], Camera: recording.Tinted, Hold: 8, Gap: 20, Seed: 2}); err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(dir, "sorterd.yaml")
	web := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	cfg := daemonConfig{Station: "e2e", StateDir: filepath.Join(dir, "state"), Video: video, Broker: b.URL(), Listen: web,
		FastReconnect: true, Stall: "400ms", Stats: "100ms"}.write(t, cfgPath)
	notes, sock := notifySocket(t)
	t.Setenv("NOTIFY_SOCKET", sock)
	t.Setenv("WATCHDOG_USEC", "200000")

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	logs := &syncBuf{}
	code := make(chan int, 1)
	go func() { code <- cmdDaemon(ctx, []string{"--config", cfgPath}, logs) }()

	eventually(t, "two events", 20*time.Second, func() bool { return len(rec.Get("sorterd/e2e/event")) >= 2 })
	// The daemon serves the page and API on http.listen: the same items,
	// the links, and metrics that count them.
	httpGet := func(path string) (int, string) {
		res, err := http.Get("http://" + web + path)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	// An item is listed once its frame is encoded, which may come just
	// after its MQTT event.
	var evCode int
	var evBody string
	eventually(t, "two items listed", 5*time.Second, func() bool {
		evCode, evBody = httpGet("/api/events")
		return evCode == 200 && strings.Count(evBody, `"id"`) == 2
	})
	if code, body := httpGet("/api/status"); code != 200 || !strings.Contains(body, `"mqtt": {`) || !strings.Contains(body, `"camera": {`) {
		t.Errorf("/api/status: %d %s", code, body)
	}
	if code, body := httpGet("/metrics"); code != 200 || !strings.Contains(body, "sorterd_mqtt_connected 1") || !strings.Contains(body, `sorterd_items_total{action="sort",bin="glass"}`) {
		t.Errorf("/metrics: %d %s", code, body)
	}
	if code, body := httpGet("/healthz"); code != 200 {
		t.Errorf("/healthz while sorting: %d %s", code, body)
	}
	// The video ends and its file is gone: the camera is lost, the daemon
	// keeps running and says so.
	os.Remove(video)
	// Commands over MQTT reach the control surface; bad ones are answered.
	cc := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(b.URL()).SetClientID("e2e-cmd"))
	cc.Connect().Wait()
	defer cc.Disconnect(100)
	for _, m := range []string{`{"cmd":"pause"}`, `{"cmd":"test_flap","bin":"glass"}`, `{"cmd":"fly"}`, `}{`, `{"cmd":"test_flap","bin":"attic"}`} {
		cc.Publish("sorterd/e2e/cmd", 1, false, m).Wait()
	}
	eventually(t, "command results", 5*time.Second, func() bool { return len(rec.Get("sorterd/e2e/cmd/result")) == 5 })
	res := rec.Get("sorterd/e2e/cmd/result")
	for i, want := range []string{`"ok":true`, `"ok":true`, `unknown command`, `invalid command`, `no bin \"attic\"`} {
		if !strings.Contains(res[i], want) {
			t.Errorf("command result %d = %s, want %s", i, res[i], want)
		}
	}
	eventually(t, "paused in stats", 5*time.Second, func() bool {
		s := rec.Get("sorterd/e2e/stats")
		return len(s) > 0 && strings.Contains(s[len(s)-1], `"paused":true`)
	})
	if !strings.Contains(logs.String(), "flap open (dry run)") {
		t.Error("test_flap did not move the flap")
	}
	cc.Publish("sorterd/e2e/cmd", 1, false, `{"cmd":"resume"}`).Wait()
	eventually(t, "camera lost in stats", 10*time.Second, func() bool {
		s := rec.Get("sorterd/e2e/stats")
		return len(s) > 0 && strings.Contains(s[len(s)-1], `"connected":false`) && strings.Contains(logs.String(), "camera")
	})
	eventually(t, "healthz 503 without frames", 5*time.Second, func() bool {
		code, body := httpGet("/healthz")
		return code == 503 && strings.Contains(body, "no camera frame")
	})
	if n := len(rec.Get("sorterd/e2e/event")); n != 2 {
		t.Fatalf("%d events for 2 items", n)
	}
	if notes.count("READY=1") != 1 {
		t.Errorf("READY sent %d times", notes.count("READY=1"))
	}
	// Without frames the watchdog pings stop.
	pings := notes.count("WATCHDOG=1")
	if pings == 0 {
		t.Error("no watchdog ping while frames flowed")
	}
	// Each failed check is logged: past the first two (a ping sent before
	// them has arrived by then), two more come without a ping.
	failed := func() int { return strings.Count(logs.String(), "watchdog: station not progressing") }
	eventuallyLog(t, logs, "two failed watchdog checks", 5*time.Second, func() bool { return failed() >= 2 })
	stalled, n := notes.count("WATCHDOG=1"), failed()
	eventuallyLog(t, logs, "two more failed watchdog checks", 5*time.Second, func() bool { return failed() >= n+2 })
	if notes.count("WATCHDOG=1") != stalled {
		t.Error("watchdog pings go on with a stalled camera")
	}
	// A reload with a broken file keeps the running configuration.
	os.WriteFile(cfgPath, []byte(strings.Replace(cfg, "  fps: 50", "  fps: 0", 1)), 0o644)
	syscall.Kill(os.Getpid(), syscall.SIGHUP)
	eventuallyLog(t, logs, "reload refused", 5*time.Second, func() bool {
		return strings.Contains(logs.String(), "reload refused") && strings.Contains(logs.String(), "camera.fps: must be > 0 (line 6)")
	})
	// The camera comes back: frames flow again and the new item is sorted.
	if _, err := recording.Write(video, recording.Options{Photos: items[2:], Camera: recording.Tinted, Hold: 8, Gap: 10, Seed: 3}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "third event", 20*time.Second, func() bool { return len(rec.Get("sorterd/e2e/event")) >= 3 })
	time.Sleep(300 * time.Millisecond)
	os.Remove(video)
	cancel()
	select {
	case c := <-code:
		if c != 0 {
			t.Errorf("exit %d\n%s", c, logs.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("daemon did not stop within 10 s of SIGTERM")
	}
	events := rec.Get("sorterd/e2e/event")
	if len(events) != 3 {
		t.Errorf("%d events, want 3", len(events))
	}
	for i, e := range events {
		var ev map[string]any
		if err := json.Unmarshal([]byte(e), &ev); err != nil {
			t.Fatal(err)
		}
		if i < len(items) && ev["label"] != items[i].Class {
			t.Errorf("event %d labels %s (%v) as %v", i, items[i].Path, ev["score"], ev["label"])
		}
		for _, k := range []string{"id", "ts", "station", "label", "score", "top", "bin", "action", "frames", "latency_ms", "model", "box"} {
			if _, ok := ev[k]; !ok {
				t.Errorf("event lacks %q: %s", k, e)
			}
		}
	}
	eventually(t, "status online then offline", 5*time.Second, func() bool {
		st := rec.Get("sorterd/e2e/status")
		return len(st) >= 2 && st[0] == "online" && st[len(st)-1] == "offline"
	})
	if notes.count("STOPPING=1") < 1 {
		t.Error("no STOPPING=1")
	}
}

func eventuallyLog(t *testing.T, logs *syncBuf, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s; log:\n%s", what, logs.String())
		}
		time.Sleep(25 * time.Millisecond)
	}
}
