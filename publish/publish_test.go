package publish

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/sorterd/sorterd/internal/testenv"
)

// watch records every message on topic (testenv.Subscribe: a persistent
// session, so nothing published while it reconnects after a broker
// restart is lost).
func watch(t *testing.T, b *testenv.Broker, topic string) *testenv.Messages {
	return testenv.Subscribe(t, b, topic)
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testenv.Eventually(t, what, 15*time.Second, cond)
}

func newPub(t *testing.T, b *testenv.Broker, onCmd func(Command) error) *Publisher {
	p, err := New(Options{Broker: b.URL(), Prefix: "sorterd", Station: "t1", OutboxDir: t.TempDir(),
		OutboxSize: 100, Discovery: true, DiscoveryPrefix: "homeassistant", Bins: []string{"glass", "reject"},
		OnCommand: onCmd})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestEventsStatusDiscovery(t *testing.T) {
	b := testenv.StartBroker(t)
	w := watch(t, b, "#")
	p := newPub(t, b, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { p.Run(ctx, time.Second); close(done) }()
	for i := 0; i < 5; i++ {
		p.Event([]byte(fmt.Sprintf(`{"id":"%d"}`, i)))
	}
	waitFor(t, "5 events", func() bool { return len(w.Get("sorterd/t1/event")) == 5 })
	for i, m := range w.Get("sorterd/t1/event") {
		if m != fmt.Sprintf(`{"id":"%d"}`, i) {
			t.Errorf("event %d = %s", i, m)
		}
	}
	waitFor(t, "discovery", func() bool {
		return len(w.Get("homeassistant/sensor/sorterd_t1/items_glass/config")) == 1 &&
			len(w.Get("homeassistant/sensor/sorterd_t1/last_label/config")) == 1
	})
	var cfg map[string]any
	json.Unmarshal([]byte(w.Get("homeassistant/sensor/sorterd_t1/last_label/config")[0]), &cfg)
	if cfg["availability_topic"] != "sorterd/t1/status" || cfg["state_topic"] != "sorterd/t1/event" {
		t.Errorf("discovery config %v", cfg)
	}
	cancel()
	<-done
	waitFor(t, "offline", func() bool {
		st := w.Get("sorterd/t1/status")
		return len(st) >= 2 && st[0] == "online" && st[len(st)-1] == "offline"
	})
}

// Events put while the broker is down wait in the outbox and all arrive,
// in order, after it comes back.
func TestBrokerOutageLosesNothing(t *testing.T) {
	b := testenv.StartBroker(t)
	w := watch(t, b, "sorterd/t1/event")
	p := newPub(t, b, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go p.Run(ctx, time.Second)
	for i := 0; i < 3; i++ {
		p.Event(idEvent(i))
	}
	waitFor(t, "first events", func() bool { return len(w.Get("sorterd/t1/event")) == 3 })
	b.Stop()
	waitFor(t, "disconnect", func() bool { return !p.Connected() })
	for i := 3; i < 10; i++ {
		p.Event(idEvent(i))
	}
	if p.OutboxDepth() != 7 {
		t.Errorf("outbox holds %d, want 7", p.OutboxDepth())
	}
	b.Start()
	deadline := time.Now().Add(15 * time.Second)
	for len(w.Get("sorterd/t1/event")) < 10 {
		if time.Now().After(deadline) {
			t.Fatalf("after the restart: watcher got %v, outbox holds %d, publisher connected %v", w.Get("sorterd/t1/event"), p.OutboxDepth(), p.Connected())
		}
		time.Sleep(20 * time.Millisecond)
	}
	// A last event, delivered after every copy of the ten (in order):
	// once it is there, so is any repeat.
	p.Event([]byte(`{"id":"last"}`))
	waitFor(t, "the last event", func() bool { return slices.Contains(w.Get("sorterd/t1/event"), `{"id":"last"}`) })
	// MQTT QoS 1 is at-least-once: a message whose acknowledgement was cut
	// by the restart may come twice (consumers dedupe by event id). None
	// may be lost or come out of order.
	got := w.Get("sorterd/t1/event")
	got = got[:slices.Index(got, `{"id":"last"}`)]
	var first []string
	seen := map[string]bool{}
	for i, m := range got {
		if seen[m] {
			if got[i-1] != m {
				t.Errorf("event %s repeated out of order: %v", m, got)
			}
			continue
		}
		seen[m] = true
		first = append(first, m)
	}
	var want []string
	for i := range 10 {
		want = append(want, string(idEvent(i)))
	}
	if strings.Join(first, " ") != strings.Join(want, " ") || len(got) > 12 {
		t.Errorf("events %v, want %v in order", got, want)
	}
	if p.OutboxDepth() != 0 {
		t.Errorf("outbox still holds %d", p.OutboxDepth())
	}
}

func TestCommands(t *testing.T) {
	b := testenv.StartBroker(t)
	w := watch(t, b, "sorterd/t1/cmd/result")
	var mu sync.Mutex
	var got []Command
	p := newPub(t, b, func(c Command) error {
		mu.Lock()
		got = append(got, c)
		mu.Unlock()
		switch c.Cmd {
		case "pause", "resume", "test_flap", "reload":
			return nil
		case "boom":
			panic("handler bug")
		}
		return fmt.Errorf("unknown command %q", c.Cmd)
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go p.Run(ctx, time.Second)
	waitFor(t, "connect", p.Connected)
	c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(b.URL()).SetClientID("sender"))
	c.Connect().Wait()
	defer c.Disconnect(100)
	for _, m := range []string{`{"cmd":"pause"}`, `not json`, `{"cmd":"fly"}`, `{"cmd":"boom"}`, `{"cmd":"test_flap","bin":"glass","id":"42"}`} {
		c.Publish("sorterd/t1/cmd", 1, false, m).Wait()
	}
	waitFor(t, "5 results", func() bool { return len(w.Get("sorterd/t1/cmd/result")) == 5 })
	res := w.Get("sorterd/t1/cmd/result")
	for i, want := range []string{`"ok":true`, `invalid command`, `unknown command \"fly\"`, `handler bug`, `"id":"42"`} {
		if !strings.Contains(res[i], want) {
			t.Errorf("result %d = %s, want %s", i, res[i], want)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 4 || got[3].Bin != "glass" {
		t.Errorf("handler saw %+v", got)
	}
}

func idEvent(i int) []byte { return []byte(fmt.Sprintf(`{"id":"%d"}`, i)) }

func TestOutboxBoundAndRestart(t *testing.T) {
	dir := t.TempDir()
	o, err := OpenOutbox(dir, 3, slogDiscard())
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5; i++ {
		o.Put(idEvent(i))
	}
	if o.Len() != 3 || o.Dropped() != 2 {
		t.Fatalf("len %d dropped %d", o.Len(), o.Dropped())
	}
	o2, err := OpenOutbox(dir, 3, slogDiscard()) // a restart keeps the queue and its order
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for {
		seq, m, ok := o2.Peek()
		if !ok {
			break
		}
		got = append(got, string(m))
		o2.Done(seq)
	}
	if strings.Join(got, ",") != `{"id":"2"},{"id":"3"},{"id":"4"}` {
		t.Errorf("after restart: %v", got)
	}
	o2.Put(idEvent(5))
	if _, m, _ := o2.Peek(); string(m) != `{"id":"5"}` {
		t.Errorf("sequence not continued: %s", m)
	}
}

type fakeMsg struct{ payload []byte }

func (m fakeMsg) Duplicate() bool   { return false }
func (m fakeMsg) Qos() byte         { return 1 }
func (m fakeMsg) Retained() bool    { return false }
func (m fakeMsg) Topic() string     { return "sorterd/t1/cmd" }
func (m fakeMsg) MessageID() uint16 { return 1 }
func (m fakeMsg) Payload() []byte   { return m.payload }
func (m fakeMsg) Ack()              {}

type nopClient struct{ mqtt.Client }

func (nopClient) Publish(string, byte, bool, any) mqtt.Token { return &mqtt.DummyToken{} }

// Random command payloads never crash the handler path.
func FuzzCommand(f *testing.F) {
	for _, s := range []string{`{"cmd":"pause"}`, `{"cmd":"test_flap","bin":"x"}`, `{`, `null`, `[]`, `{"cmd":7}`} {
		f.Add([]byte(s))
	}
	p := &Publisher{o: Options{Prefix: "sorterd", Station: "t1", OnCommand: func(c Command) error {
		if c.Cmd == "test_flap" && c.Bin == "" {
			return fmt.Errorf("no bin")
		}
		return nil
	}}}
	p.log = slogDiscard()
	f.Fuzz(func(t *testing.T, b []byte) {
		p.command(nopClient{}, b)
	})
}

// A broker that stops answering (kill -STOP) while an event is in flight
// gets it once: the event waits for its acknowledgement, paho owns the
// retries, and it arrives once after the broker goes on. It was published
// anew every 5 s (one event arrived 6 times after a 60 s stop).
func TestStoppedBrokerNoRedelivery(t *testing.T) {
	b := testenv.StartBroker(t)
	w := watch(t, b, "sorterd/t1/event")
	p := newPub(t, b, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); p.Run(ctx, time.Second) }()
	defer func() { cancel(); <-done }()
	waitFor(t, "connected", p.Connected)
	p.Event([]byte(`{"id":"before"}`))
	waitFor(t, "the first event", func() bool { return len(w.Get("sorterd/t1/event")) == 1 })

	b.Pause()
	p.Event([]byte(`{"id":"held"}`))
	p.Event([]byte(`{"id":"next"}`))
	time.Sleep(13 * time.Second) // over two of the 5 s waits for an acknowledgement
	b.Resume()
	waitFor(t, "the held events", func() bool { return len(w.Get("sorterd/t1/event")) >= 3 && p.OutboxDepth() == 0 })
	// A last event, delivered after any copy still on its way.
	p.Event([]byte(`{"id":"last"}`))
	waitFor(t, "the last event", func() bool { return slices.Contains(w.Get("sorterd/t1/event"), `{"id":"last"}`) })
	n := map[string]int{}
	for _, m := range w.Get("sorterd/t1/event") {
		n[m]++
	}
	if n[`{"id":"held"}`] != 1 || n[`{"id":"next"}`] != 1 {
		t.Errorf("received %v: want each event once", n)
	}
}
