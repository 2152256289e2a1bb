package publish

import (
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/sorterd/sorterd/internal/testenv"
)

// lateStats is what a subscriber that comes now gets on the stats topic:
// nil when nothing is retained there.
func lateStats(t *testing.T, b *testenv.Broker) mqtt.Message {
	t.Helper()
	got := make(chan mqtt.Message, 1)
	c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(b.URL()).SetClientID("late-" + time.Now().Format("150405.000000000")))
	if tok := c.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatal("cannot connect", tok.Error())
	}
	defer c.Disconnect(100)
	c.Subscribe("sorterd/t1/stats", 1, func(_ mqtt.Client, m mqtt.Message) {
		select {
		case got <- m:
		default:
		}
	})
	select {
	case m := <-got:
		return m
	case <-time.After(time.Second):
		return nil
	}
}

// Stats are retained at QoS 1: a subscriber that comes after they were
// published (Home Assistant after a restart) gets the last at once. While
// the broker is away only the last is kept, and published when it is back
// (the broker here keeps nothing across its restart).
func TestStatsRetained(t *testing.T) {
	b := testenv.StartBroker(t)
	p, stop := runPub(t, Options{Broker: b.URL(), Prefix: "sorterd", Station: "t1"})
	defer stop()
	p.Stats([]byte(`{"paused":false}`))
	p.Stats([]byte(`{"paused":true}`))
	var m mqtt.Message
	waitFor(t, "retained stats", func() bool { m = lateStats(t, b); return m != nil })
	if !m.Retained() || m.Qos() != 1 || string(m.Payload()) != `{"paused":true}` {
		t.Errorf("late subscriber got %q retained=%v qos=%d, want the last stats retained at QoS 1", m.Payload(), m.Retained(), m.Qos())
	}

	b.Stop()
	waitFor(t, "disconnected", func() bool { return !p.Connected() })
	p.Stats([]byte(`{"paused":false,"n":1}`))
	p.Stats([]byte(`{"paused":false,"n":2}`))
	b.Start()
	waitFor(t, "reconnected", p.Connected)
	waitFor(t, "the last stats retained after the outage", func() bool {
		m = lateStats(t, b)
		return m != nil && string(m.Payload()) == `{"paused":false,"n":2}`
	})
}
