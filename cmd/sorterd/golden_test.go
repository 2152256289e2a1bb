package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/sorterd/sorterd/internal/testenv"
)

// TestGoldenMetricsAndPayloads is node_exporter's end-to-end pattern: a
// real daemon sorts a short tray recording (fixed seed: the same frames,
// hence the same items, scores and counts on every run), then its
// /metrics and what it published on a real mosquitto (events, stats,
// status, Home Assistant discovery, the instance claim) are compared with
// testdata/golden. What cannot repeat (timings, timestamps, ids, the
// version, ports, host and pid) is normalised first; Go's and the
// process's own metrics are left out (they change with the Go release).
// A renamed metric, a changed label or a new payload field fails here;
// when the change is meant, `go test ./cmd/sorterd/ -run Golden -update`
// rewrites the files, and the diff is the review.
func TestGoldenMetricsAndPayloads(t *testing.T) {
	b := testenv.StartBroker(t)
	msgs := testenv.Subscribe(t, b, "#")
	dir := t.TempDir()
	video, items := glassMetalTray(t, dir)
	web := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	cfg := filepath.Join(dir, "sorterd.yaml")
	// Reopen 1h: the file is played once, so every count is the recording's.
	daemonConfig{Station: "golden", StateDir: filepath.Join(dir, "state"), Video: video, Broker: b.URL(), Listen: web,
		Reopen: "1h", Stall: "1h", Stats: "100ms"}.write(t, cfg)
	ctx, cancel := context.WithCancel(context.Background())
	logs := &syncBuf{}
	code := make(chan int, 1)
	go func() { code <- cmdDaemon(ctx, []string{"--config", cfg}, logs) }()
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case <-code:
		case <-time.After(15 * time.Second):
			t.Error("daemon did not stop")
		}
	}
	defer stop()

	// The recording has ended (the camera is being reopened) and both
	// items are delivered.
	eventually(t, "the recording sorted and ended", 60*time.Second, func() bool {
		st := msgs.Get("sorterd/golden/stats")
		if len(st) == 0 || len(msgs.Get("sorterd/golden/event")) < len(items) {
			return false
		}
		var s struct {
			Camera struct{ Reconnects int } `json:"camera"`
			MQTT   struct{ Outbox int }     `json:"mqtt"`
		}
		json.Unmarshal([]byte(st[len(st)-1]), &s)
		return s.Camera.Reconnects >= 1 && s.MQTT.Outbox == 0
	})
	res, err := http.Get("http://" + web + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	golden(t, "metrics.txt", normaliseMetrics(string(body)))

	// The last stats (taken after the end), then the daemon stops, so the
	// payloads include the retained status going offline.
	lastStats := msgs.Get("sorterd/golden/stats")
	stop()
	eventually(t, "offline", 10*time.Second, func() bool {
		s := msgs.Get("sorterd/golden/status")
		return len(s) > 0 && s[len(s)-1] == "offline"
	})
	payloads := map[string]any{}
	for _, topic := range msgs.Topics() {
		var vs []any
		list := msgs.Get(topic)
		switch {
		case topic == "sorterd/golden/stats":
			list = lastStats[len(lastStats)-1:]
		case topic == "sorterd/golden/snapshot" || topic == "sorterd/golden/snapshot/frame":
			// JPEG bytes: their size, not their bytes, is the payload's shape.
			vs = append(vs, fmt.Sprintf("<jpeg, %d messages>", len(list)))
			list = nil
		}
		for _, m := range list {
			vs = append(vs, normaliseJSON(m))
		}
		payloads[topic] = vs
	}
	var out strings.Builder
	enc := json.NewEncoder(&out)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(payloads); err != nil {
		t.Fatal(err)
	}
	golden(t, "mqtt.json", out.String())
}

// normaliseMetrics keeps the sorterd_ families of a Prometheus text
// exposition, with timings, versions and the daemon's own scrape counts
// replaced by placeholders.
func normaliseMetrics(text string) string {
	var out []string
	keep := false
	timing := regexp.MustCompile(`^(sorterd_(inference_seconds|item_latency_seconds|classify_upload_seconds)_(bucket|sum|count)(\{[^}]*\})?) .*$`)
	build := regexp.MustCompile(`^sorterd_build_info\{.*\}`)
	model := regexp.MustCompile(`sha256="[0-9a-f]+"`)
	for _, l := range strings.Split(strings.TrimSpace(text), "\n") {
		if strings.HasPrefix(l, "# HELP ") || strings.HasPrefix(l, "# TYPE ") {
			keep = strings.HasPrefix(strings.Fields(l)[2], "sorterd_")
		}
		if !keep {
			continue
		}
		switch {
		case build.MatchString(l):
			l = `sorterd_build_info{goversion="<go>",version="<version>"} 1`
		case timing.MatchString(l):
			// The counts of a latency histogram are items; the buckets they
			// fall in are timing.
			m := timing.FindStringSubmatch(l)
			if m[3] == "count" {
				break
			}
			l = m[1] + " <timing>"
		}
		l = model.ReplaceAllString(l, `sha256="<sha256>"`)
		out = append(out, l)
	}
	return strings.Join(out, "\n") + "\n"
}

// normaliseJSON replaces the values that differ between runs in a JSON
// payload (ids, times, timings, the version, addresses) and returns the
// value; a payload that is not JSON is returned as a string.
func normaliseJSON(payload string) any {
	var v any
	if err := json.Unmarshal([]byte(payload), &v); err != nil {
		return payload
	}
	varying := map[string]bool{
		"id": true, "ts": true, "latency_ms": true, "last_frame": true, "since": true,
		"uptime_s": true, "fps": true, "inference_p50_ms": true, "inference_p99_ms": true,
		"sw_version": true, "configuration_url": true,
		"instance": true, "host": true, "pid": true, "client_id": true,
	}
	sha := regexp.MustCompile(`^[0-9a-f]{12,64}$`)
	var walk func(any) any
	walk = func(v any) any {
		switch x := v.(type) {
		case string:
			if sha.MatchString(x) {
				return "<sha256>" // the model's, in events
			}
		case float64:
			// Scores: XNNPACK may round the last bits differently on
			// another CPU; two decimals are the model's answer.
			return math.Round(x*100) / 100
		case map[string]any:
			keys := make([]string, 0, len(x))
			for k := range x {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				if varying[k] && x[k] != nil && x[k] != "" {
					x[k] = "<" + k + ">"
					continue
				}
				x[k] = walk(x[k])
			}
		case []any:
			for i := range x {
				x[i] = walk(x[i])
			}
		}
		return v
	}
	return walk(v)
}

// golden compares got with testdata/golden/name, or rewrites it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test -run Golden -update writes it)", err)
	}
	if string(want) != got {
		t.Errorf("%s differs from the golden file (go test -run Golden -update rewrites it after a meant change):\n%s", path, lineDiff(string(want), got))
	}
}

// lineDiff lists the lines only in want (-) or only in got (+).
func lineDiff(want, got string) string {
	in := func(s string) map[string]int {
		m := map[string]int{}
		for _, l := range strings.Split(s, "\n") {
			m[l]++
		}
		return m
	}
	w, g := in(want), in(got)
	var d []string
	for _, l := range strings.Split(want, "\n") {
		if g[l] == 0 {
			d = append(d, "- "+l)
		}
	}
	for _, l := range strings.Split(got, "\n") {
		if w[l] == 0 {
			d = append(d, "+ "+l)
		}
	}
	return strings.Join(d, "\n")
}
