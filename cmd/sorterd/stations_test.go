package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sorterd/sorterd/internal/testenv"
	"github.com/sorterd/sorterd/recording"
)

// Two stations on one host and one broker, sharing the model file (as
// sorterd@a and sorterd@b would): each keeps its own client id (both stay
// connected: the broker would drop one of two equal ids), topics, Home
// Assistant device and state, and both sort their own items.
func TestTwoStationsOneBroker(t *testing.T) {
	b := testenv.StartBroker(t)
	rec := testenv.Subscribe(t, b, "#")
	dir := t.TempDir()
	photos := map[string]recording.Photo{
		"a": {Path: testenv.Photo(t, "glass", 12), Class: "glass"},
		"b": {Path: testenv.Photo(t, "metal", 5), Class: "metal"},
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	codes := make(chan int, 2)
	logs := map[string]*syncBuf{}
	for i, st := range []string{"a", "b"} {
		video := filepath.Join(dir, st+".avi")
		if _, err := recording.Write(video, recording.Options{Photos: []recording.Photo{photos[st]}, Camera: recording.Tinted, Hold: 8, Gap: 20, Seed: int64(i + 2)}); err != nil {
			t.Fatal(err)
		}
		cfg := filepath.Join(dir, st+".yaml")
		daemonConfig{Station: st, StateDir: filepath.Join(dir, "state-"+st), Video: video, Broker: b.URL(),
			FPS: 30, Stall: "3s", Bins: threeBins()}.write(t, cfg)
		logs[st] = &syncBuf{}
		go func(cfg string, l *syncBuf) { codes <- cmdDaemon(ctx, []string{"--config", cfg}, l) }(cfg, logs[st])
	}
	eventually(t, "an event from each station", 40*time.Second, func() bool {
		return len(rec.Get("sorterd/a/event")) >= 1 && len(rec.Get("sorterd/b/event")) >= 1
	})
	for _, st := range []string{"a", "b"} {
		var ev struct{ Station string }
		json.Unmarshal([]byte(rec.Get("sorterd/" + st + "/event")[0]), &ev)
		if ev.Station != st {
			t.Errorf("event on sorterd/%s/event is from station %q", st, ev.Station)
		}
		if len(rec.Get("homeassistant/event/sorterd_"+st+"/item/config")) == 0 {
			t.Errorf("station %s: no Home Assistant device", st)
		}
		if s := rec.Get("sorterd/" + st + "/status"); len(s) != 1 || s[0] != "online" {
			t.Errorf("station %s status %v: want online once (a reconnect means the ids clashed)", st, s)
		}
		if _, err := os.Stat(filepath.Join(dir, "state-"+st, "outbox")); err != nil {
			t.Errorf("station %s: own outbox: %v", st, err)
		}
	}
	cancel()
	for i := 0; i < 2; i++ {
		select {
		case c := <-codes:
			if c != 0 {
				t.Errorf("exit %d\na:\n%s\nb:\n%s", c, logs["a"], logs["b"])
			}
		case <-time.After(15 * time.Second):
			t.Fatal("a daemon did not stop")
		}
	}
	for _, st := range []string{"a", "b"} {
		eventually(t, st+" offline", 5*time.Second, func() bool {
			s := rec.Get("sorterd/" + st + "/status")
			return len(s) >= 2 && s[len(s)-1] == "offline"
		})
	}
}
