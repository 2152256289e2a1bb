package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestEnvOverrides(t *testing.T) {
	base, err := os.ReadFile(examplePath())
	if err != nil {
		t.Fatal(err)
	}
	file, err := Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	c, err := ParseEnv(base, []string{
		"SORTERD_MQTT_BROKER=tcp://broker.lan:1883",
		"SORTERD_MQTT_DISCOVERY=false",
		"SORTERD_MQTT_STATS_INTERVAL=5s",
		"SORTERD_HTTP_LISTEN=0.0.0.0:9090",
		"SORTERD_HTTP_TOKEN=s3cret", // beyond loopback: a token is needed
		"SORTERD_STATION=line2",
		"SORTERD_LOG_LEVEL=debug",
		"SORTERD_CAMERA_FPS=7.5",
		"SORTERD_TRIGGER_FRAMES=5",
		"SORTERD_MODEL_TTA=[flip, rot180]",
		"SORTERD_SHARED=/work/shared", // not a section: not ours
		"PATH=/usr/bin",
	})
	if err != nil {
		t.Fatal(err)
	}
	if c.MQTT.Broker != "tcp://broker.lan:1883" || c.MQTT.Discovery || c.MQTT.StatsInterval.D() != 5*time.Second ||
		c.HTTP.Listen != "0.0.0.0:9090" || c.Station != "line2" || c.LogLevel != "debug" || c.Camera.FPS != 7.5 ||
		c.Trigger.Frames != 5 || strings.Join(c.Model.TTA, ",") != "flip,rot180" {
		t.Errorf("overrides not applied: %+v", c)
	}
	// What no variable names stays as the file says.
	if c.MQTT.TopicPrefix != file.MQTT.TopicPrefix || len(c.Bins) != len(file.Bins) || c.Camera.Source != file.Camera.Source {
		t.Errorf("untouched keys changed: %+v", c)
	}
}

func TestEnvErrorsNameTheVariable(t *testing.T) {
	base, err := os.ReadFile(examplePath())
	if err != nil {
		t.Fatal(err)
	}
	for env, want := range map[string]string{
		"SORTERD_MQTT_BROKR=x":             "SORTERD_MQTT_BROKR: mqtt has no key \"brokr\"",
		"SORTERD_CAMERA_FPS=fast":          "SORTERD_CAMERA_FPS (camera.fps): \"fast\" is not a valid number",
		"SORTERD_MQTT_STATS_INTERVAL=5":    "SORTERD_MQTT_STATS_INTERVAL (mqtt.stats_interval)",
		"SORTERD_MQTT_DISCOVERY=maybe":     "SORTERD_MQTT_DISCOVERY (mqtt.discovery): \"maybe\" is not a valid bool",
		"SORTERD_BINS=[]":                  "SORTERD_BINS: bins is a list of sections",
		"SORTERD_MQTT_BROKER=broker:1883":  "needs a scheme, like tcp://host:1883 or ssl://host:8883 (from SORTERD_MQTT_BROKER)", // validated after the override, no file line
		"SORTERD_CAMERA_FPS=0":             "camera.fps: must be > 0 (from SORTERD_CAMERA_FPS)",
		"SORTERD_TRIGGER_MODE=sometimes":   "trigger.mode",
		"SORTERD_DECISION_VOTE=average":    `decision.vote: "average" is not one of mean, majority (from SORTERD_DECISION_VOTE)`,
		"SORTERD_HTTP_ALLOWED_HOSTS=[a, b": "SORTERD_HTTP_ALLOWED_HOSTS (http.allowed_hosts)",
	} {
		_, err := ParseEnv(base, []string{env})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want it to say %q", env, err, want)
		}
	}
}

// Load (what the daemon reads) applies the process environment.
func TestLoadAppliesEnvironment(t *testing.T) {
	b, err := os.ReadFile(examplePath())
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "sorterd.yaml")
	os.WriteFile(path, b, 0o644)
	t.Setenv("SORTERD_MQTT_CLIENT_ID", "sorterd-line2")
	c, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if c.MQTT.ClientID != "sorterd-line2" {
		t.Errorf("client id %q", c.MQTT.ClientID)
	}
	t.Setenv("SORTERD_MQTT_OUTBOX", "none")
	if _, err := Load(path); err == nil || !strings.Contains(err.Error(), "SORTERD_MQTT_OUTBOX") {
		t.Errorf("bad variable: %v", err)
	}
}

func TestPageURL(t *testing.T) {
	for _, tc := range []struct {
		h    HTTP
		want string
	}{
		{HTTP{Enabled: true, Listen: "127.0.0.1:8080"}, ""},
		{HTTP{Enabled: true, Listen: "localhost:8080"}, ""},
		{HTTP{Enabled: true, Listen: ":8080"}, "http://sorter1:8080/"},
		{HTTP{Enabled: true, Listen: "0.0.0.0:8080"}, "http://sorter1:8080/"},
		{HTTP{Enabled: true, Listen: "192.168.1.20:80"}, "http://192.168.1.20:80/"},
		{HTTP{Enabled: true, Listen: "[::]:8080"}, "http://sorter1:8080/"},
		{HTTP{Enabled: true, Listen: "127.0.0.1:8080", PublicURL: "https://sorter.example/"}, "https://sorter.example/"},
		{HTTP{Enabled: false, Listen: ":8080"}, ""},
	} {
		if got := tc.h.PageURL("sorter1"); got != tc.want {
			t.Errorf("%+v: %q, want %q", tc.h, got, tc.want)
		}
	}
}
