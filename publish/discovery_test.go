package publish

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/sorterd/sorterd/internal/testenv"
)

var update = flag.Bool("update", false, "rewrite the discovery golden files in testdata/discovery")

// The keys Home Assistant's MQTT discovery documents for each component
// we announce (home-assistant.io/integrations/<component>.mqtt, "Configuration
// Variables"; long names, no abbreviations). A key outside these is
// ignored by Home Assistant at best, so the test refuses it.
var (
	haCommon = []string{"availability", "availability_mode", "availability_template", "availability_topic",
		"device", "enabled_by_default", "encoding", "entity_category", "entity_picture", "icon",
		"json_attributes_template", "json_attributes_topic", "name", "object_id", "default_entity_id", "origin",
		"payload_available", "payload_not_available", "qos", "unique_id", "platform"}
	haKeys = map[string][]string{
		"sensor": {"device_class", "expire_after", "force_update", "last_reset_value_template", "options",
			"state_class", "state_topic", "suggested_display_precision", "unit_of_measurement", "value_template"},
		"binary_sensor": {"device_class", "expire_after", "force_update", "off_delay", "payload_off", "payload_on",
			"state_topic", "value_template"},
		"button": {"command_template", "command_topic", "device_class", "payload_press", "retain"},
		"event":  {"device_class", "event_types", "state_topic", "value_template"},
		"image":  {"content_type", "image_encoding", "image_topic", "url_template", "url_topic"},
	}
	haRequired = map[string][]string{
		"sensor":        {"state_topic"},
		"binary_sensor": {"state_topic"},
		"button":        {"command_topic"},
		"event":         {"state_topic", "event_types"},
		"image":         {"image_topic"},
	}
	haDevice = []string{"configuration_url", "connections", "hw_version", "identifiers", "manufacturer", "model",
		"model_id", "name", "serial_number", "suggested_area", "sw_version", "via_device"}
	haOrigin = []string{"name", "sw_version", "support_url"}
)

func goldenOptions() Options {
	return Options{Prefix: "sorterd", Station: "t1", Discovery: true, DiscoveryPrefix: "homeassistant",
		Bins: []string{"glass", "reject"}, Model: "garbage.tflite 642c87e30504", Version: "1.2.3", ConfigURL: "http://sorter.local:8080/"}
}

// Every discovery payload, byte for byte, against testdata/discovery
// (refresh with go test ./publish -run TestDiscoveryGolden -update), and
// every key against what Home Assistant documents for its component.
func TestDiscoveryGolden(t *testing.T) {
	msgs := goldenOptions().DiscoveryConfigs()
	dir := filepath.Join("testdata", "discovery")
	if *update {
		old, _ := filepath.Glob(filepath.Join(dir, "*.json"))
		for _, f := range old {
			os.Remove(f)
		}
	}
	want := map[string]bool{}
	for _, m := range msgs {
		name := m.Component + "." + m.Object + ".json"
		want[name] = true
		var pretty bytes.Buffer
		if err := json.Indent(&pretty, m.Payload, "", "  "); err != nil {
			t.Fatalf("%s: not JSON: %v", m.Topic, err)
		}
		pretty.WriteString("\n")
		path := filepath.Join(dir, name)
		if *update {
			if err := os.WriteFile(path, pretty.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		golden, err := os.ReadFile(path)
		if err != nil {
			t.Errorf("%s: %v (run with -update to write it)", m.Topic, err)
			continue
		}
		if !bytes.Equal(golden, pretty.Bytes()) {
			t.Errorf("%s differs from %s:\n%s", m.Topic, path, pretty.String())
		}
		if wantTopic := "homeassistant/" + m.Component + "/sorterd_t1/" + m.Object + "/config"; m.Topic != wantTopic {
			t.Errorf("topic %s, want %s", m.Topic, wantTopic)
		}
		checkHAKeys(t, m)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.json"))
	for _, f := range files {
		if !want[filepath.Base(f)] {
			t.Errorf("stale golden file %s: no such discovery payload any more", f)
		}
	}
	// The entities the issue asks for, by component.
	var got []string
	for _, m := range msgs {
		got = append(got, m.Component+"/"+m.Object)
	}
	sort.Strings(got)
	wantObjs := "binary_sensor/paused button/pause button/resume button/test_flap_glass button/test_flap_reject event/item " +
		"image/snapshot sensor/inference_ms sensor/items_glass sensor/items_reject sensor/last_label sensor/reject_rate"
	if strings.Join(got, " ") != wantObjs {
		t.Errorf("entities\n %s\nwant\n %s", strings.Join(got, " "), wantObjs)
	}
	// Home Assistant shows an entity by its name: no two alike. The
	// device says what it is, and its software which classifier it runs.
	names := map[string]string{}
	for _, m := range msgs {
		var cfg struct {
			Name   string
			Device map[string]any
		}
		json.Unmarshal(m.Payload, &cfg)
		if other, ok := names[strings.ToLower(cfg.Name)]; ok {
			t.Errorf("%s and %s are both named %q", other, m.Object, cfg.Name)
		}
		names[strings.ToLower(cfg.Name)] = m.Object
		if cfg.Device["model"] != "sorterd waste-sorting station" || cfg.Device["sw_version"] != "1.2.3, model garbage.tflite 642c87e30504" {
			t.Errorf("%s: device model %q, sw_version %q", m.Object, cfg.Device["model"], cfg.Device["sw_version"])
		}
	}
}

// A station or bin name that is not one topic level is refused: it
// would make discovery topics Home Assistant ignores ("/" adds a level)
// or that the broker refuses ("+", "#").
func TestBadIDsRefused(t *testing.T) {
	for _, o := range []Options{
		{Station: "t1", Bins: []string{"glass", "brown glass/jars"}},
		{Station: "t1", Bins: []string{"a+b"}},
		{Station: "my station", Bins: []string{"glass"}},
	} {
		o.Broker, o.Prefix, o.OutboxDir, o.Log = "tcp://127.0.0.1:1", "sorterd", t.TempDir(), slogDiscard()
		if p, err := New(o); err == nil {
			p.outbox.Keep()
			t.Errorf("station %q, bins %q: accepted", o.Station, o.Bins)
		}
	}
}

func checkHAKeys(t *testing.T, m DiscoveryMessage) {
	t.Helper()
	var cfg map[string]any
	if err := json.Unmarshal(m.Payload, &cfg); err != nil {
		t.Fatal(err)
	}
	allowed, ok := haKeys[m.Component]
	if !ok {
		t.Fatalf("%s: component %q not checked", m.Topic, m.Component)
	}
	for k := range cfg {
		if !slices.Contains(allowed, k) && !slices.Contains(haCommon, k) {
			t.Errorf("%s: key %q is not documented for %s", m.Topic, k, m.Component)
		}
	}
	for _, k := range append(haRequired[m.Component], "unique_id", "device", "origin", "availability_topic") {
		if _, ok := cfg[k]; !ok {
			t.Errorf("%s: missing %q", m.Topic, k)
		}
	}
	for k := range cfg["device"].(map[string]any) {
		if !slices.Contains(haDevice, k) {
			t.Errorf("%s: device key %q is not documented", m.Topic, k)
		}
	}
	for k := range cfg["origin"].(map[string]any) {
		if !slices.Contains(haOrigin, k) {
			t.Errorf("%s: origin key %q is not documented", m.Topic, k)
		}
	}
	if cfg["origin"].(map[string]any)["name"] == nil {
		t.Errorf("%s: origin needs a name", m.Topic)
	}
	if dc, ok := cfg["device_class"]; ok && m.Component == "sensor" && dc == "duration" {
		if u := cfg["unit_of_measurement"]; !slices.Contains([]any{"d", "h", "min", "s", "ms"}, u) {
			t.Errorf("%s: duration in %v", m.Topic, u)
		}
	}
}

// retained reads what the broker retains under topic (a wildcard) with a
// fresh client: each topic's retained payload, empty ones left out.
func retained(t *testing.T, b *testenv.Broker, topic string) map[string]string {
	t.Helper()
	got := map[string]string{}
	msgs := make(chan mqtt.Message, 256)
	c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(b.URL()).SetClientID("retained-" + time.Now().Format("150405.000000000")))
	if tok := c.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatal("cannot connect", tok.Error())
	}
	defer c.Disconnect(100)
	if tok := c.Subscribe(topic, 1, func(_ mqtt.Client, m mqtt.Message) { msgs <- m }); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatal("cannot subscribe", tok.Error())
	}
	for {
		select {
		case m := <-msgs:
			if m.Retained() && len(m.Payload()) > 0 {
				got[m.Topic()] = string(m.Payload())
			}
		case <-time.After(500 * time.Millisecond):
			return got
		}
	}
}

func runPub(t *testing.T, o Options) (*Publisher, func()) {
	t.Helper()
	if o.OutboxDir == "" {
		o.OutboxDir = t.TempDir()
	}
	o.Log = slogDiscard()
	p, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { p.Run(ctx, time.Second); close(done) }()
	waitFor(t, "connect", p.Connected)
	return p, func() { cancel(); <-done }
}

// The configs reach the broker retained, as built; a bin taken out of the
// configuration has its entities emptied on the next start, and turning
// discovery off empties them all.
func TestDiscoveryRetainedAndRemoved(t *testing.T) {
	b := testenv.StartBroker(t)
	o := goldenOptions()
	o.Broker = b.URL()
	sub := "homeassistant/+/sorterd_t1/+/config"

	_, stop := runPub(t, o)
	stop()
	got := retained(t, b, sub)
	want := o.DiscoveryConfigs()
	if len(got) != len(want) {
		t.Errorf("retained %d configs, want %d", len(got), len(want))
	}
	for _, m := range want {
		if got[m.Topic] != string(m.Payload) {
			t.Errorf("%s retained %q, want %q", m.Topic, got[m.Topic], m.Payload)
		}
	}

	o.Bins = []string{"glass"}
	_, stop = runPub(t, o)
	waitFor(t, "reject entities emptied", func() bool {
		got = retained(t, b, sub)
		_, a := got["homeassistant/button/sorterd_t1/test_flap_reject/config"]
		_, s := got["homeassistant/sensor/sorterd_t1/items_reject/config"]
		return !a && !s
	})
	stop()
	if len(got) != len(want)-2 || got["homeassistant/button/sorterd_t1/test_flap_glass/config"] == "" {
		t.Errorf("after removing a bin: %d configs retained, want %d", len(got), len(want)-2)
	}

	// A config an older sorterd left one level too deep (a bin named
	// "brown glass/jars"), which a one-level wildcard never matched.
	legacy := "homeassistant/sensor/sorterd_t1/items_brown glass/jars/config"
	seed := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(b.URL()).SetClientID("legacy"))
	seed.Connect().Wait()
	seed.Publish(legacy, 1, true, `{"name":"Items brown glass/jars"}`).Wait()
	seed.Disconnect(100)
	if len(retained(t, b, "homeassistant/sensor/sorterd_t1/#")) != 5 { // last_label, items_glass, reject_rate, inference_ms and it
		t.Fatalf("legacy config not retained: %v", retained(t, b, "homeassistant/sensor/sorterd_t1/#"))
	}
	_, stop = runPub(t, o)
	waitFor(t, "legacy config emptied", func() bool { _, ok := retained(t, b, "homeassistant/#")[legacy]; return !ok })
	stop()

	o.Discovery = false
	_, stop = runPub(t, o)
	waitFor(t, "all entities emptied", func() bool { return len(retained(t, b, "homeassistant/#")) == 0 })
	stop()
	// Another station's configs are left alone.
	o2 := goldenOptions()
	o2.Broker, o2.Station, o2.ClientID = b.URL(), "t2", "sorterd-t2"
	_, stop = runPub(t, o2)
	waitFor(t, "t2 announced", func() bool { return len(retained(t, b, "homeassistant/+/sorterd_t2/+/config")) == len(want) })
	stop()
	o.Discovery = false
	_, stop = runPub(t, o)
	time.Sleep(500 * time.Millisecond)
	stop()
	if n := len(retained(t, b, "homeassistant/+/sorterd_t2/+/config")); n != len(want) {
		t.Errorf("t1 with discovery off left t2 %d configs, want %d", n, len(want))
	}
}

// Pressing each button (publishing its payload_press on its command_topic,
// as Home Assistant does) reaches the command handler as that command.
func TestDiscoveryButtonsAreCommands(t *testing.T) {
	b := testenv.StartBroker(t)
	got := make(chan Command, 16)
	o := goldenOptions()
	o.Broker = b.URL()
	o.OnCommand = func(c Command) error { got <- c; return nil }
	_, stop := runPub(t, o)
	defer stop()
	c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(b.URL()).SetClientID("ha"))
	c.Connect().Wait()
	defer c.Disconnect(100)
	want := map[string]Command{
		"pause": {Cmd: "pause"}, "resume": {Cmd: "resume"},
		"test_flap_glass": {Cmd: "test_flap", Bin: "glass"}, "test_flap_reject": {Cmd: "test_flap", Bin: "reject"},
	}
	n := 0
	for _, m := range o.DiscoveryConfigs() {
		if m.Component != "button" {
			continue
		}
		n++
		var cfg struct{ CommandTopic, PayloadPress string }
		var raw map[string]string
		json.Unmarshal(m.Payload, &raw) // string fields only; device/origin do not decode
		cfg.CommandTopic, cfg.PayloadPress = raw["command_topic"], raw["payload_press"]
		c.Publish(cfg.CommandTopic, 1, false, cfg.PayloadPress).Wait()
		select {
		case cmd := <-got:
			if cmd != want[m.Object] {
				t.Errorf("button %s sent %+v, want %+v", m.Object, cmd, want[m.Object])
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("button %s (%s on %s): no command", m.Object, cfg.PayloadPress, cfg.CommandTopic)
		}
	}
	if n != len(want) {
		t.Errorf("%d buttons, want %d", n, len(want))
	}
}
