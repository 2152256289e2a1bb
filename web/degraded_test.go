package web

import (
	"strings"
	"testing"
	"time"

	"github.com/sorterd/sorterd/links"
	"github.com/sorterd/sorterd/pipeline"
)

// healthyStation is a station whose pipeline progresses.
type healthyStation struct{ Station }

func (healthyStation) Health(time.Time, time.Duration) error { return nil }
func (healthyStation) Stats() pipeline.Stats                 { return pipeline.Stats{} }

// An outbox the disk refuses turns /healthz to 503 "degraded" with the
// reason, shows in /api/status, and is counted in /metrics.
func TestHealthzDegradedOutbox(t *testing.T) {
	c := classifier(t)
	problem := "outbox not on disk, events kept in memory: no space left on device"
	ts := server(t, Options{Classifier: c, Station: healthyStation{}, Links: func() links.State {
		return links.State{MQTT: &links.MQTT{Connected: true, Outbox: 2, Failed: 5, InMemory: 2, Quarantined: 1, Problem: problem}}
	}})
	code, b, _ := get(t, ts.URL+"/healthz")
	if code != 503 || !strings.Contains(string(b), `"degraded"`) || !strings.Contains(string(b), "no space left") {
		t.Errorf("healthz: %d %s", code, b)
	}
	ts2 := server(t, Options{Classifier: c, Station: healthyStation{}, Links: func() links.State {
		return links.State{MQTT: &links.MQTT{Connected: true}}
	}})
	if code, b, _ := get(t, ts2.URL+"/healthz"); code != 200 {
		t.Errorf("healthy outbox: %d %s", code, b)
	}
	_, m, _ := get(t, ts.URL+"/metrics")
	for _, want := range []string{"sorterd_mqtt_outbox_failed_total 5", "sorterd_mqtt_outbox_in_memory 2",
		"sorterd_mqtt_outbox_quarantined_total 1", "sorterd_mqtt_outbox_degraded 1"} {
		if !strings.Contains(string(m), want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

// driftedStation is a healthy station whose light changed beyond what
// the crop's colour correction undoes.
type driftedStation struct{ healthyStation }

func (driftedStation) Stats() pipeline.Stats { return pipeline.Stats{LightDrifted: true} }

// A light drifted beyond correction turns /healthz to 503 "degraded",
// saying to calibrate.
func TestHealthzLightDrifted(t *testing.T) {
	ts := server(t, Options{Classifier: classifier(t), Station: driftedStation{}, Links: func() links.State {
		return links.State{MQTT: &links.MQTT{Connected: true}}
	}})
	code, b, _ := get(t, ts.URL+"/healthz")
	if code != 503 || !strings.Contains(string(b), `"degraded"`) || !strings.Contains(string(b), "sorterd calibrate") {
		t.Errorf("healthz: %d %s", code, b)
	}
}

type occupiedStation struct{ healthyStation }

func (occupiedStation) Stats() pipeline.Stats { return pipeline.Stats{Occupied: true} }

// A tray occupied for far longer than an item lies is "degraded".
func TestHealthzTrayOccupied(t *testing.T) {
	ts := server(t, Options{Classifier: classifier(t), Station: occupiedStation{}, Links: func() links.State { return links.State{} }})
	code, b, _ := get(t, ts.URL+"/healthz")
	if code != 503 || !strings.Contains(string(b), "lain on the tray") {
		t.Errorf("healthz: %d %s", code, b)
	}
}
