package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image/jpeg"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/sorterd/sorterd/internal/testenv"
)

// What an operator's tools see of a running daemon (real OpenCV, the real
// model, a real mosquitto): the broker and page address from the
// environment; Home Assistant discovery with the version and page link;
// one event per item and the last item's crop retained on snapshot; and a
// /metrics scrape that has every metric the Grafana dashboard queries,
// with the latency histogram, items by label and the model info.
func TestDaemonOperatorTools(t *testing.T) {
	dash, err := os.ReadFile(filepath.Join(testenv.Root(), "docs", "grafana", "sorterd.json"))
	if err != nil {
		t.Fatal(err)
	}
	b := testenv.StartBroker(t)
	rec := testenv.Subscribe(t, b, "#")
	dir := t.TempDir()
	video, _ := glassMetalTray(t, dir)
	cfgPath := filepath.Join(dir, "sorterd.yaml")
	web := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	daemonConfig{Station: "ops", StateDir: filepath.Join(dir, "state"), Video: video, Listen: web, Bins: threeBins(),
		Broker: "tcp://nowhere.invalid:1883", Stats: "100ms", Extra: "archive: {enabled: true, max_items: 1}\n"}.write(t, cfgPath)
	// The file's broker is wrong: the environment's wins.
	t.Setenv("SORTERD_MQTT_BROKER", b.URL())
	t.Setenv("SORTERD_HTTP_PUBLIC_URL", "http://sorter.test:8080/")

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	logs := &syncBuf{}
	code := make(chan int, 1)
	go func() { code <- cmdDaemon(ctx, []string{"--config", cfgPath}, logs) }()
	defer func() {
		cancel()
		select {
		case <-code:
		case <-time.After(10 * time.Second):
			t.Error("daemon did not stop")
		}
	}()

	eventually(t, "two events", 30*time.Second, func() bool { return len(rec.Get("sorterd/ops/event")) >= 2 })
	// Discovery: every entity, with the version and the page link.
	disc := rec.Get("homeassistant/event/sorterd_ops/item/config")
	if len(disc) == 0 {
		t.Fatal("no event entity announced")
	}
	var cfg struct {
		Device map[string]any `json:"device"`
		Origin map[string]any `json:"origin"`
	}
	json.Unmarshal([]byte(disc[len(disc)-1]), &cfg)
	// The device says what it is; its software, the daemon's version and
	// the classifier the events name (file and sha256 prefix).
	sw, _ := cfg.Device["sw_version"].(string)
	if cfg.Device["configuration_url"] != "http://sorter.test:8080/" || cfg.Device["model"] != "sorterd waste-sorting station" ||
		!regexp.MustCompile(`^`+regexp.QuoteMeta(version)+`, model garbage\.tflite [0-9a-f]{12}$`).MatchString(sw) ||
		cfg.Origin["name"] != "sorterd" || cfg.Origin["sw_version"] != version {
		t.Errorf("device %v origin %v", cfg.Device, cfg.Origin)
	}
	for _, topic := range []string{"button/sorterd_ops/pause", "button/sorterd_ops/test_flap_metal", "image/sorterd_ops/snapshot",
		"binary_sensor/sorterd_ops/paused", "sensor/sorterd_ops/reject_rate", "sensor/sorterd_ops/items_reject"} {
		if len(rec.Get("homeassistant/"+topic+"/config")) == 0 {
			t.Errorf("%s not announced", topic)
		}
	}
	// The snapshot: the last item's crop, a JPEG, retained for a late subscriber.
	eventually(t, "snapshot", 5*time.Second, func() bool { return len(rec.Get("sorterd/ops/snapshot")) >= 2 })
	snap := lateRetained(t, b, "sorterd/ops/snapshot")
	if c, err := jpeg.DecodeConfig(bytes.NewReader(snap)); err != nil || len(snap) > 256<<10 {
		t.Errorf("snapshot %d bytes: %v", len(snap), err)
	} else {
		t.Logf("snapshot %d bytes, %dx%d", len(snap), c.Width, c.Height)
	}
	// The same crop at /api/events/{id}/image?kind=crop, the frame too.
	var ev struct{ ID string }
	evs := rec.Get("sorterd/ops/event")
	json.Unmarshal([]byte(evs[len(evs)-1]), &ev)
	eventually(t, "crop served", 5*time.Second, func() bool {
		st, body := get(t, "http://"+web+"/api/events/"+ev.ID+"/image?kind=crop")
		return st == 200 && body == string(snap)
	})
	frame := lateRetained(t, b, "sorterd/ops/snapshot/frame")
	if st, body := get(t, "http://"+web+"/api/events/"+ev.ID+"/image?kind=frame"); st != 200 || body != string(frame) {
		t.Errorf("retained frame (%d bytes) is not the item's frame (%d, %d bytes)", len(frame), st, len(body))
	}
	if c, err := jpeg.DecodeConfig(bytes.NewReader(frame)); err != nil || c.Width <= 510 {
		t.Errorf("frame: %+v %v", c, err)
	}

	// The archive holds the last item only (max_items: 1): its crop and event.
	itemsDir := filepath.Join(dir, "state", "items")
	eventually(t, "archived", 5*time.Second, func() bool {
		b, err := os.ReadFile(filepath.Join(itemsDir, ev.ID+".jpg"))
		return err == nil && bytes.Equal(b, snap)
	})
	if des, _ := os.ReadDir(itemsDir); len(des) != 2 {
		t.Errorf("archive holds %d files, want the last item's 2", len(des))
	}
	if b, err := os.ReadFile(filepath.Join(itemsDir, ev.ID+".json")); err != nil || !strings.Contains(string(b), `"label"`) {
		t.Errorf("archived event: %s %v", b, err)
	}

	// /metrics has every metric the dashboard queries.
	st, scrape := get(t, "http://"+web+"/metrics")
	if st != 200 {
		t.Fatalf("/metrics %d", st)
	}
	have := map[string]bool{}
	for _, l := range strings.Split(scrape, "\n") {
		if l == "" || l[0] == '#' {
			continue
		}
		have[regexp.MustCompile(`^[a-zA-Z_:][a-zA-Z0-9_:]*`).FindString(l)] = true
	}
	used := dashboardMetrics(t, dash)
	if len(used) < 10 {
		t.Fatalf("dashboard uses only %v", used)
	}
	for _, m := range used {
		if !have[m] {
			t.Errorf("dashboard queries %s, which /metrics does not have", m)
		}
	}
	// Items by label and action as the events say, and the latency of each.
	evs = rec.Get("sorterd/ops/event")
	byLabel := map[string]int{}
	for _, e := range evs {
		var ev struct{ Label, Action string }
		json.Unmarshal([]byte(e), &ev)
		byLabel[fmt.Sprintf(`sorterd_items_by_label_total{action=%q,label=%q}`, ev.Action, ev.Label)]++
	}
	wants := []string{
		fmt.Sprintf("sorterd_item_latency_seconds_count %d", len(evs)),
		`sorterd_items_by_label_total{action="reject",label="paper"} 0`,
	}
	if mi := regexp.MustCompile(`sorterd_model_info\{coverage="[a-z]+",delegate="[a-z]+",input="\d+x\d+",sha256="[0-9a-f]{12}"\} 1`).FindString(scrape); mi == "" {
		t.Errorf("/metrics: no model info:\n%s", grepLines(scrape, "model_info"))
	} else {
		t.Log(mi)
	}
	for series, n := range byLabel {
		wants = append(wants, fmt.Sprintf("%s %d", series, n))
	}
	for _, want := range wants {
		if !strings.Contains(scrape, want) {
			t.Errorf("/metrics lacks %s:\n%s", want, grepLines(scrape, "sorterd_"))
		}
	}
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// lateRetained is what a subscriber coming now gets on topic: the retained message.
func lateRetained(t *testing.T, b *testenv.Broker, topic string) []byte {
	t.Helper()
	got := make(chan []byte, 1)
	c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(b.URL()).SetClientID("late"))
	if tok := c.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatal("cannot connect")
	}
	defer c.Disconnect(100)
	c.Subscribe(topic, 1, func(_ mqtt.Client, m mqtt.Message) {
		if m.Retained() {
			select {
			case got <- m.Payload():
			default:
			}
		}
	})
	select {
	case p := <-got:
		return p
	case <-time.After(5 * time.Second):
		t.Fatalf("nothing retained on %s", topic)
		return nil
	}
}

// dashboardMetrics lists the metric names the dashboard's queries use
// (panel targets and template variables).
func dashboardMetrics(t *testing.T, b []byte) []string {
	t.Helper()
	var d struct {
		UID    string `json:"uid"`
		Panels []struct {
			ID      int    `json:"id"`
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
		Templating struct {
			List []struct {
				Definition string `json:"definition"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("dashboard: %v", err)
	}
	if d.UID == "" || len(d.Panels) == 0 {
		t.Fatal("dashboard has no uid or no panels")
	}
	name := regexp.MustCompile(`\bsorterd_[a-z0-9_]+`)
	seen := map[string]bool{}
	ids := map[int]bool{}
	var exprs []string
	for _, p := range d.Panels {
		if ids[p.ID] {
			t.Errorf("panel id %d twice", p.ID)
		}
		ids[p.ID] = true
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			if !name.MatchString(tg.Expr) {
				t.Errorf("panel %q: query %q uses no sorterd metric", p.Title, tg.Expr)
			}
			exprs = append(exprs, tg.Expr)
		}
	}
	for _, v := range d.Templating.List {
		exprs = append(exprs, v.Definition)
	}
	for _, e := range exprs {
		for _, m := range name.FindAllString(e, -1) {
			seen[m] = true
		}
	}
	var out []string
	for m := range seen {
		out = append(out, m)
	}
	sort.Strings(out)
	return out
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// config show prints the configuration in effect: the environment's
// overrides applied, the secrets masked.
func TestConfigShow(t *testing.T) {
	p := exampleConfig(t, [2]string{`  password: ""`, `  password: "s3cret"`})
	t.Setenv("SORTERD_MQTT_BROKER", "tcp://broker.lan:1883")
	t.Setenv("SORTERD_HTTP_TOKEN", "t0ken")
	code, out, errs := runCLI(t, "config", "show", p)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	for _, want := range []string{"broker: tcp://broker.lan:1883", "password: '********'", "token: '********'", "stats_interval: 30s", "name: glass"} {
		if !strings.Contains(out, want) {
			t.Errorf("config show lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "s3cret") || strings.Contains(out, "t0ken") {
		t.Error("a secret is shown")
	}
	t.Setenv("SORTERD_MQTT_OUTBOX", "lots")
	if code, _, errs := runCLI(t, "config", "show", p); code != 1 || !strings.Contains(errs, "SORTERD_MQTT_OUTBOX") {
		t.Errorf("bad variable: exit %d %s", code, errs)
	}
}
