package publish

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/sorterd/sorterd/internal/testenv"
)

// A command handler that blocks (a slow test_flap) no longer blocks paho:
// events are delivered and acknowledged meanwhile; commands beyond the
// queue are answered "busy" at once; the queued ones all run, in order,
// once the handler is free.
func TestSlowCommandsDoNotStallEvents(t *testing.T) {
	b := testenv.StartBroker(t)
	w := watch(t, b, "sorterd/t1/#")
	gate := make(chan struct{})
	started := make(chan struct{}, 1)
	var mu sync.Mutex
	var order []string
	p, err := New(Options{Broker: b.URL(), Prefix: "sorterd", Station: "t1", OutboxDir: t.TempDir(), CommandQueue: 4, Log: slogDiscard(),
		OnCommand: func(c Command) error {
			select {
			case started <- struct{}{}:
			default:
			}
			<-gate
			mu.Lock()
			order = append(order, c.ID)
			mu.Unlock()
			return nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { p.Run(ctx, time.Second); close(done) }()
	defer func() { cancel(); <-done }()
	waitFor(t, "connect", p.Connected)
	c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(b.URL()).SetClientID("sender"))
	c.Connect().Wait()
	defer c.Disconnect(100)
	c.Publish("sorterd/t1/cmd", 1, false, `{"cmd":"test_flap","bin":"glass","id":"0"}`).Wait()
	<-started // the worker holds command 0
	for i := 1; i <= 10; i++ {
		c.Publish("sorterd/t1/cmd", 1, false, fmt.Sprintf(`{"cmd":"test_flap","bin":"glass","id":"%d"}`, i)).Wait()
	}
	// 4 wait in the queue, 6 are answered busy while the handler still blocks.
	waitFor(t, "6 busy answers", func() bool { return len(w.Get("sorterd/t1/cmd/result")) == 6 })
	for _, r := range w.Get("sorterd/t1/cmd/result") {
		if !strings.Contains(r, `"busy`) {
			t.Errorf("result while blocked: %s", r)
		}
	}
	// Events go out and are acknowledged while the command still blocks.
	for i := 0; i < 3; i++ {
		p.Event([]byte(fmt.Sprintf(`{"id":"e%d"}`, i)))
	}
	waitFor(t, "events delivered during a slow command", func() bool {
		return len(w.Get("sorterd/t1/event")) == 3 && p.OutboxDepth() == 0
	})
	if p.CommandsBusy() != 6 {
		t.Errorf("busy %d", p.CommandsBusy())
	}
	close(gate)
	waitFor(t, "11 results", func() bool { return len(w.Get("sorterd/t1/cmd/result")) == 11 })
	mu.Lock()
	defer mu.Unlock()
	if got := strings.Join(order, ","); got != "0,1,2,3,4" {
		t.Errorf("ran %s, want 0,1,2,3,4 in order", got)
	}
}

// A 1 MB command is refused without echoing it: the result stays small.
func TestHugeCommandNotEchoed(t *testing.T) {
	b := testenv.StartBroker(t)
	w := watch(t, b, "sorterd/t1/cmd/result")
	p := newPub(t, b, func(c Command) error { return fmt.Errorf("unknown command %q", c.Cmd) })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go p.Run(ctx, time.Second)
	waitFor(t, "connect", p.Connected)
	c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(b.URL()).SetClientID("sender"))
	c.Connect().Wait()
	defer c.Disconnect(100)
	huge := strings.Repeat("é", 2000) // 4000 bytes: under the size limit, over the echo limit
	c.Publish("sorterd/t1/cmd", 1, false, `{"cmd":"`+strings.Repeat("x", 1<<20)+`"}`).Wait()
	c.Publish("sorterd/t1/cmd", 1, false, `{"cmd":"`+huge+`","id":"`+huge+`"}`).Wait()
	waitFor(t, "2 results", func() bool { return len(w.Get("sorterd/t1/cmd/result")) == 2 })
	res := w.Get("sorterd/t1/cmd/result")
	if !strings.Contains(res[0], "command too large") {
		t.Errorf("1 MB command: %.200s", res[0])
	}
	for i, r := range res {
		if len(r) > 1000 {
			t.Errorf("result %d is %d bytes", i, len(r))
		}
		if !strings.Contains(r, `"ok":false`) {
			t.Errorf("result %d: %.200s", i, r)
		}
	}
}
