package publish

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sorterd/sorterd/internal/testenv"
)

func TestDefaultClientID(t *testing.T) {
	a := DefaultClientID("line1", "/var/lib/sorterd/outbox")
	for _, tc := range []struct {
		name        string
		station     string
		dir         string
		sameAsFirst bool
	}{
		{"same station and state dir: stable across restarts", "line1", "/var/lib/sorterd/outbox", true},
		{"same station, another state dir (a second unit)", "line1", "/var/lib/sorterd-b/outbox", false},
		{"another station", "line2", "/var/lib/sorterd/outbox", false},
		{"relative dir is made absolute", "line1", "outbox", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id := DefaultClientID(tc.station, tc.dir)
			if !strings.HasPrefix(id, "sorterd-"+tc.station+"-") || len(id) != len("sorterd-"+tc.station+"-")+8 {
				t.Errorf("client id %q: want sorterd-%s-<8 hex digits>", id, tc.station)
			}
			if (id == a) != tc.sameAsFirst {
				t.Errorf("client id %q vs %q: same %v, want %v", id, a, id == a, tc.sameAsFirst)
			}
		})
	}
}

// runDup runs a publisher for station "dup" with its own outbox and log.
func runDup(t *testing.T, b *testenv.Broker, clientID string) (*Publisher, *testenv.LogBuffer, context.CancelFunc) {
	t.Helper()
	logs := &testenv.LogBuffer{}
	p, err := New(Options{Broker: b.URL(), ClientID: clientID, Prefix: "sorterd", Station: "dup", OutboxDir: t.TempDir(),
		OutboxSize: 100, Log: logs.Logger()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); p.Run(ctx, time.Second) }()
	stop := func() { cancel(); <-done }
	t.Cleanup(stop)
	return p, logs, stop
}

// Two daemons given one station name (another host, or a second unit on
// one host) used to share the client id sorterd-<station>: the broker
// closed one connection each time the other connected and each lost what
// it sent while away, with only "connection lost: EOF" in the logs. Now
// both stay connected, every event of both arrives, and both say loudly
// that the station is published twice.
func TestSecondDaemonSameStationName(t *testing.T) {
	b := testenv.StartBroker(t)
	w := testenv.Subscribe(t, b, "sorterd/dup/event")
	a, alog, _ := runDup(t, b, "")
	waitFor(t, "a connected", a.Connected)
	c, clog, _ := runDup(t, b, "")
	waitFor(t, "c connected", c.Connected)
	if a.ClientID() == c.ClientID() {
		t.Fatalf("both default to client id %s", a.ClientID())
	}
	for i := 0; i < 10; i++ {
		a.Event([]byte(fmt.Sprintf(`{"id":"a%d"}`, i)))
		c.Event([]byte(fmt.Sprintf(`{"id":"c%d"}`, i)))
	}
	waitFor(t, "20 events", func() bool { return len(w.Get("sorterd/dup/event")) >= 20 })
	waitFor(t, "both report the conflict", func() bool { return a.Conflicts() > 0 && c.Conflicts() > 0 })
	for name, l := range map[string]*testenv.LogBuffer{"a": alog, "c": clog} {
		if !strings.Contains(l.String(), "level=ERROR msg=\"mqtt: another sorterd publishes as this station") {
			t.Errorf("%s logged no error about the other daemon:\n%s", name, l)
		}
		if strings.Contains(l.String(), "connection lost") {
			t.Errorf("%s lost its connection:\n%s", name, l)
		}
	}
	if !strings.Contains(a.LastConflict(), c.ClientID()) || !strings.Contains(c.LastConflict(), a.ClientID()) {
		t.Errorf("last conflicts %q / %q do not name the other client id", a.LastConflict(), c.LastConflict())
	}
	// The reply is not answered: the count settles.
	time.Sleep(500 * time.Millisecond)
	if n := a.Conflicts() + c.Conflicts(); n > 2 {
		t.Errorf("%d conflicts counted for one meeting: the claims ping-pong", n)
	}
}

// Two daemons configured with one explicit mqtt.client_id take turns on
// the broker; each finds the other's claim when it comes back.
func TestSecondDaemonSameClientID(t *testing.T) {
	b := testenv.StartBroker(t)
	a, alog, _ := runDup(t, b, "sorterd-shared")
	waitFor(t, "a connected", a.Connected)
	c, clog, _ := runDup(t, b, "sorterd-shared")
	waitFor(t, "the takeover reported", func() bool { return a.Conflicts()+c.Conflicts() > 0 })
	if !strings.Contains(alog.String()+clog.String(), "connected while this one was disconnected") {
		t.Errorf("no takeover logged:\n%s\n%s", alog, clog)
	}
}

// A restart (a new publisher after the old one stopped) finds its
// predecessor's retained claim: that is not a conflict.
func TestRestartIsNoConflict(t *testing.T) {
	b := testenv.StartBroker(t)
	a, _, stopA := runDup(t, b, "")
	waitFor(t, "a connected", a.Connected)
	stopA()
	c, clog, _ := runDup(t, b, "")
	waitFor(t, "c saw the predecessor's claim", func() bool {
		return strings.Contains(clog.String(), "station previously run by another publisher")
	})
	// c's own claim comes back to it too; give it time to be (not) counted.
	time.Sleep(300 * time.Millisecond)
	if c.Conflicts() != 0 {
		t.Errorf("restart counted as %d conflicts: %s", c.Conflicts(), c.LastConflict())
	}
}
