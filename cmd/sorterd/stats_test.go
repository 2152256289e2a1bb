package main

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/sorterd/sorterd/internal/testenv"
	"github.com/sorterd/sorterd/internal/testenv/testvideo"
)

// The stats a running daemon publishes are retained, so a subscriber
// that comes later (Home Assistant after a restart) has the station's
// state at once; and a pause or resume is published when it happens, not
// at the next interval (an hour here).
func TestDaemonStatsOnChange(t *testing.T) {
	b := testenv.StartBroker(t)
	rec := testenv.Subscribe(t, b, "sorterd/st/#")
	dir := t.TempDir()
	video := filepath.Join(dir, "tray.avi")
	testvideo.Items(t, video, nil, 0, 40) // the empty tray, looped
	cfgPath := filepath.Join(dir, "sorterd.yaml")
	daemonConfig{Station: "st", StateDir: filepath.Join(dir, "state"), Video: video, Broker: b.URL(), Loop: true, FPS: 20,
		Bins: threeBins(), Stats: "1h"}.write(t, cfgPath)
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
	eventually(t, "online", 30*time.Second, func() bool { return len(rec.Get("sorterd/st/status")) > 0 })

	paused := func(m mqtt.Message) bool {
		var s struct{ Paused *bool }
		if err := json.Unmarshal(m.Payload(), &s); err != nil || s.Paused == nil {
			t.Fatalf("stats %q: %v", m.Payload(), err)
		}
		return *s.Paused
	}
	m := lateStats(t, b, "sorterd/st/stats")
	if !m.Retained() || m.Qos() != 1 || paused(m) {
		t.Errorf("late subscriber: retained %v, QoS %d, %s; want the running state retained at QoS 1", m.Retained(), m.Qos(), m.Payload())
	}

	cc := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(b.URL()).SetClientID("st-cmd"))
	cc.Connect().Wait()
	defer cc.Disconnect(100)
	for _, c := range []struct {
		cmd  string
		want string
	}{{"pause", `"paused":true`}, {"resume", `"paused":false`}, {"pause", `"paused":true`}} {
		before := len(rec.Get("sorterd/st/stats"))
		sent := time.Now()
		cc.Publish("sorterd/st/cmd", 1, false, `{"cmd":"`+c.cmd+`"}`).Wait()
		eventually(t, c.cmd+" in stats", 10*time.Second, func() bool {
			s := rec.Get("sorterd/st/stats")
			return len(s) > before && strings.Contains(s[len(s)-1], c.want)
		})
		// Well within a second on an idle machine; the bound leaves room
		// for a loaded one, and is still far from the interval.
		if d := time.Since(sent); d > 3*time.Second {
			t.Errorf("%s took %s to reach the stats topic", c.cmd, d.Round(time.Millisecond))
		} else {
			t.Logf("%s in stats after %s", c.cmd, d.Round(time.Millisecond))
		}
	}
	if m := lateStats(t, b, "sorterd/st/stats"); !m.Retained() || !paused(m) {
		t.Errorf("late subscriber after the pause: %s", m.Payload())
	}
}

// lateStats is the retained message a subscriber coming now gets on topic.
func lateStats(t *testing.T, b *testenv.Broker, topic string) mqtt.Message {
	t.Helper()
	got := make(chan mqtt.Message, 1)
	c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(b.URL()).SetClientID("late-stats"))
	if tok := c.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatal("cannot connect")
	}
	defer c.Disconnect(100)
	c.Subscribe(topic, 1, func(_ mqtt.Client, m mqtt.Message) {
		select {
		case got <- m:
		default:
		}
	})
	select {
	case m := <-got:
		return m
	case <-time.After(5 * time.Second):
		t.Fatalf("nothing retained on %s", topic)
		return nil
	}
}
