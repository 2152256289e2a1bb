package publish

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// Two daemons that share a station name share its topics. Were they to
// share an MQTT client id too, the broker would close the older
// connection each time the other one connects, and the two would take
// turns being online, losing whatever each sends while it is away, with
// nothing in either log but "connection lost: EOF". So:
//
//   - the default client id names the station and the machine and state
//     directory it runs from (DefaultClientID), so two daemons never
//     share one unless mqtt.client_id says so;
//   - each publisher announces itself on <prefix>/<station>/instance
//     (retained, QoS 1) whenever it connects, and watches that topic: a
//     claim from another publisher, live or left while this one was
//     disconnected, is logged as an error and counted (Conflicts).
//
// A retained claim found on the first connection is a predecessor's (a
// restart, a reload, the station moved to a new machine), not a
// conflict. The daemon that sees another's live claim answers once with
// its own (marked reply, which is never answered), so both log it.

// claim is the payload on <prefix>/<station>/instance.
type claim struct {
	Instance string `json:"instance"` // random per publisher
	ClientID string `json:"client_id"`
	Host     string `json:"host"`
	PID      int    `json:"pid"`
	Reply    bool   `json:"reply,omitempty"`
}

func (c claim) String() string {
	return fmt.Sprintf("client id %s on %s (pid %d)", c.ClientID, c.Host, c.PID)
}

// instanceState is the publisher's side of the claim protocol.
type instanceState struct {
	self      claim
	connects  atomic.Int64 // connections made; retained claims after the first are conflicts
	conflicts atomic.Int64
	mu        sync.Mutex
	last      string // the last conflicting publisher, for logs and status
}

func newInstance(clientID string) (*instanceState, error) {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, fmt.Errorf("publisher instance id: %w", err)
	}
	host, _ := os.Hostname()
	return &instanceState{self: claim{Instance: hex.EncodeToString(b[:]), ClientID: clientID, Host: host, PID: os.Getpid()}}, nil
}

// machineID identifies this machine: its machine id (machine-id(5);
// dbus keeps a copy on systems without systemd), else its host name.
func machineID() string {
	for _, f := range []string{"/etc/machine-id", "/var/lib/dbus/machine-id"} {
		if b, err := os.ReadFile(f); err == nil && len(strings.TrimSpace(string(b))) > 0 {
			return strings.TrimSpace(string(b))
		}
	}
	host, _ := os.Hostname()
	return host
}

// DefaultClientID is the client id used when none is configured:
// sorterd-<station>-<8 hex digits> from the machine id and the absolute
// state (outbox) directory. It is stable across restarts, so broker logs
// and ACLs can name it, and differs between machines and between daemons
// of one machine (each has its own state directory: the daemon locks it).
func DefaultClientID(station, outboxDir string) string {
	if abs, err := filepath.Abs(outboxDir); err == nil {
		outboxDir = abs
	}
	sum := sha256.Sum256([]byte(machineID() + "\x00" + outboxDir))
	return "sorterd-" + station + "-" + hex.EncodeToString(sum[:4])
}

// announce subscribes to the instance topic and claims it; it runs on
// every connection, from onConnect.
func (p *Publisher) announce(c mqtt.Client) {
	p.inst.connects.Add(1)
	c.Subscribe(p.Topic("instance"), 1, p.onClaim)
	p.sendClaim(c, p.inst.self, true)
}

func (p *Publisher) sendClaim(c mqtt.Client, cl claim, retain bool) {
	b, _ := json.Marshal(cl)
	c.Publish(p.Topic("instance"), 1, retain, b) // not waited for: paho's handler must return
}

func (p *Publisher) onClaim(c mqtt.Client, m mqtt.Message) {
	var other claim
	if err := json.Unmarshal(m.Payload(), &other); err != nil || other.Instance == "" {
		p.log.Warn("mqtt: not a sorterd claim on the instance topic", "topic", m.Topic(), "payload", truncate(m.Payload(), maxEcho))
		return
	}
	if other.Instance == p.inst.self.Instance {
		return
	}
	if m.Retained() && p.inst.connects.Load() <= 1 {
		// Left by whoever ran this station before us.
		p.log.Info("mqtt: station previously run by another publisher", "station", p.o.Station, "previous", other.String())
		return
	}
	p.inst.conflicts.Add(1)
	p.inst.mu.Lock()
	p.inst.last = other.String()
	p.inst.mu.Unlock()
	how := "is running now"
	if m.Retained() {
		how = "connected while this one was disconnected"
	}
	p.log.Error("mqtt: another sorterd publishes as this station: events, status and commands of the two are mixed; give each its own station name",
		"station", p.o.Station, "other", other.String(), "self", p.inst.self.String(), "how", how)
	if !m.Retained() && !other.Reply {
		r := p.inst.self
		r.Reply = true
		p.sendClaim(c, r, false)
	}
}

// ClientID is the MQTT client id in use.
func (p *Publisher) ClientID() string { return p.o.ClientID }

// Conflicts counts the times another publisher was seen on this
// station's topics (see DefaultClientID and the instance topic).
func (p *Publisher) Conflicts() int { return int(p.inst.conflicts.Load()) }

// LastConflict describes the last publisher seen on this station's
// topics ("" if none).
func (p *Publisher) LastConflict() string {
	p.inst.mu.Lock()
	defer p.inst.mu.Unlock()
	return p.inst.last
}
