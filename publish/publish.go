// Package publish reports the station over MQTT: one event per decided
// item (through an on-disk outbox, so none is lost while the broker is
// away), a retained online/offline status with a last will, retained
// stats, commands, and Home Assistant discovery. It knows nothing of the
// pipeline: it takes plain JSON values.
package publish

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"regexp"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// Options configure a Publisher.
type Options struct {
	Broker string
	// ClientID is the MQTT client id; "" means DefaultClientID(Station,
	// OutboxDir), which no other daemon shares.
	ClientID           string
	Username, Password string
	CAFile             string
	CertFile, KeyFile  string
	Prefix, Station    string // topics: <Prefix>/<Station>/...
	OutboxDir          string
	OutboxSize         int
	// Outbox, when set, is the queue to deliver from instead of opening
	// OutboxDir: the one an earlier publisher of this daemon used (a
	// reload), with the events it still holds in memory. It takes
	// OutboxSize and Log.
	Outbox *Outbox
	// KeepOutbox: the caller keeps the outbox past Run for the next
	// publisher (Publisher.Outbox), and calls Outbox.Keep when the
	// process stops. Run's end then only writes the events held in memory
	// to disk if the disk takes them, and counts none as lost.
	KeepOutbox      bool
	Discovery       bool
	DiscoveryPrefix string
	Bins            []string // for the per-bin discovery sensors and flap-test buttons
	// Model is the classifier the station runs ("garbage.tflite
	// 642c87e30504"), named in the discovery device's sw_version.
	Model     string
	Version   string // sorterd's version: the discovery device's sw_version and the origin's
	ConfigURL string // the web page, as the device's configuration_url ("" if none)
	// SnapshotLimit bounds the retained JPEG on <prefix>/<station>/snapshot
	// (default 256 KiB): a larger one is re-encoded smaller.
	SnapshotLimit int
	// OnCommand handles a command from <prefix>/<station>/cmd; its error
	// (or nil) is answered on cmd/result. Commands run one at a time, in
	// order, outside paho's handler (a slow one delays the next command,
	// never event delivery); CommandQueue (default 16) may wait, and a
	// command beyond those is answered "busy" at once.
	OnCommand    func(Command) error
	CommandQueue int
	Log          *slog.Logger
}

// Commands larger than this are refused unread, and errors echoed in
// results and logs are cut to maxEcho bytes: a 1 MB command makes neither
// a 1 MB log line nor a 2 MB result.
const (
	maxCommand = 4 << 10
	maxEcho    = 200
)

// Command is a JSON command: {"cmd": "pause"} or {"cmd": "test_flap", "bin": "glass"}.
type Command struct {
	Cmd string `json:"cmd"`
	Bin string `json:"bin,omitempty"`
	ID  string `json:"id,omitempty"` // echoed in the result
}

// Publisher owns the MQTT connection.
type Publisher struct {
	o         Options
	client    mqtt.Client
	outbox    *Outbox
	connected atomic.Bool
	log       *slog.Logger
	cmds      chan []byte // commands waiting for the command worker
	busy      atomic.Int64
	inst      *instanceState // this publisher's claim on the station's topics
	flight    *inflight      // the head event awaiting its acknowledgement (deliver)
	// link is why the broker cannot be reached or refuses the login,
	// since the last failed attempt and until the next connection.
	linkMu sync.Mutex
	link   linkState
	// The last item's crop and frame, republished on reconnect.
	snapshot, snapshotFrame atomic.Pointer[[]byte]
	stats                   atomic.Pointer[[]byte] // the last stats, republished on reconnect
}

// Topic returns <prefix>/<station>/<name>.
func (p *Publisher) Topic(name string) string {
	return p.o.Prefix + "/" + p.o.Station + "/" + name
}

// New prepares the client and opens the outbox; Run connects.
func New(o Options) (*Publisher, error) {
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.ClientID == "" {
		o.ClientID = DefaultClientID(o.Station, o.OutboxDir)
	}
	if o.OutboxSize <= 0 {
		o.OutboxSize = 10000
	}
	if o.SnapshotLimit <= 0 {
		o.SnapshotLimit = DefaultSnapshotLimit
	}
	if o.CommandQueue <= 0 {
		o.CommandQueue = 16
	}
	if err := o.checkIDs(); err != nil {
		return nil, err
	}
	ob, err := o.Outbox, error(nil)
	if ob != nil {
		if ob.dir != o.OutboxDir {
			return nil, fmt.Errorf("outbox of %s given for %s", ob.dir, o.OutboxDir)
		}
		ob.adopt(o.OutboxSize, o.Log)
	} else if ob, err = OpenOutbox(o.OutboxDir, o.OutboxSize, o.Log); ob == nil {
		return nil, err
	}
	if err != nil {
		// The station still sorts and still publishes: events wait in
		// memory until the broker takes them, and /healthz says so.
		o.Log.Error("outbox degraded: events are kept in memory only and a crash or restart loses the undelivered ones", "dir", o.OutboxDir, "err", err)
	}
	inst, err := newInstance(o.ClientID)
	if err != nil {
		return nil, err
	}
	p := &Publisher{o: o, outbox: ob, log: o.Log, cmds: make(chan []byte, o.CommandQueue), inst: inst}
	co, err := p.clientOptions()
	if err != nil {
		return nil, err
	}
	p.client = mqtt.NewClient(co)
	return p, nil
}

// clientOptions are the MQTT client's: the broker, the login, reconnects,
// the last will, the handlers, TLS.
func (p *Publisher) clientOptions() (*mqtt.ClientOptions, error) {
	o := p.o
	co := mqtt.NewClientOptions().
		AddBroker(o.Broker).
		SetClientID(o.ClientID).
		SetUsername(o.Username).
		SetPassword(o.Password).
		SetCleanSession(true).
		SetAutoReconnect(true).
		SetConnectRetry(true).
		SetConnectRetryInterval(time.Second).
		SetMaxReconnectInterval(10*time.Second).
		SetConnectTimeout(5*time.Second).
		SetKeepAlive(10*time.Second).
		SetWill(p.Topic("status"), "offline", 1, true).
		SetOnConnectHandler(p.onConnect).
		SetConnectionLostHandler(func(_ mqtt.Client, err error) {
			p.connected.Store(false)
			p.log.Warn("mqtt connection lost", "broker", o.Broker, "err", err)
		}).
		SetConnectionNotificationHandler(p.onNotification)
	if o.CAFile != "" || o.CertFile != "" {
		tc, err := tlsConfig(o)
		if err != nil {
			return nil, err
		}
		co.SetTLSConfig(tc)
	}
	return co, nil
}

// idPattern is what Home Assistant takes in a discovery topic's node and
// object ids, and what keeps a name one MQTT topic level.
var idPattern = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// checkIDs refuses a station or bin name that would not make one topic
// level (config refuses them first, with the field and line).
func (o Options) checkIDs() error {
	if !idPattern.MatchString(o.Station) {
		return fmt.Errorf("mqtt: station %q: want letters, digits, - or _", o.Station)
	}
	for _, b := range o.Bins {
		if !idPattern.MatchString(b) {
			return fmt.Errorf("mqtt: bin %q: want letters, digits, - or _", b)
		}
	}
	return nil
}

func tlsConfig(o Options) (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if o.CAFile != "" {
		pem, err := os.ReadFile(o.CAFile)
		if err != nil {
			return nil, fmt.Errorf("mqtt ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("mqtt ca_file %s: no PEM certificate", o.CAFile)
		}
		tc.RootCAs = pool
	}
	if o.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(o.CertFile, o.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("mqtt client certificate: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

// onConnect runs on every (re)connection: status, subscriptions and
// discovery are set up here, so a broker restart keeps them.
func (p *Publisher) onConnect(c mqtt.Client) {
	p.log.Info("mqtt connected", "broker", p.o.Broker, "client_id", p.o.ClientID)
	c.Publish(p.Topic("status"), 1, true, "online")
	p.announce(c)
	c.Subscribe(p.Topic("cmd"), 1, p.onCommand)
	p.discovery(c) // with discovery off, it empties what an earlier run announced
	p.republishSnapshot(c)
	if b := p.stats.Load(); b != nil {
		c.Publish(p.Topic("stats"), 1, true, *b)
	}
	p.connected.Store(true)
	select { // wake the sender
	case p.outbox.notify <- struct{}{}:
	default:
	}
}

// linkState is the broker connection's trouble: the last failed attempt's
// error, since when attempts fail, and how many did.
type linkState struct {
	err      error
	since    time.Time
	attempts int
}

// onNotification records each failed attempt to connect (the broker
// unreachable, or refusing the login: paho retries them quietly, so a
// wrong password or an address nobody answers went unnoticed). The first
// failure, and each change of reason, is an ERROR; a connection clears it.
func (p *Publisher) onNotification(_ mqtt.Client, n mqtt.ConnectionNotification) {
	switch n := n.(type) {
	case mqtt.ConnectionNotificationFailed:
		p.linkMu.Lock()
		first := p.link.err == nil
		changed := first || p.link.err.Error() != n.Reason.Error()
		if first {
			p.link.since = time.Now()
		}
		p.link.err = n.Reason
		p.link.attempts++
		attempts := p.link.attempts
		p.linkMu.Unlock()
		if changed {
			p.log.Error("mqtt broker cannot be reached or refuses the login; retrying, events wait in the outbox",
				"broker", p.o.Broker, "client_id", p.o.ClientID, "err", n.Reason)
		} else {
			p.log.Debug("mqtt connect failed again", "broker", p.o.Broker, "attempts", attempts, "err", n.Reason)
		}
	case mqtt.ConnectionNotificationConnected:
		p.linkMu.Lock()
		p.link = linkState{}
		p.linkMu.Unlock()
	}
}

// LinkProblem says why the broker cannot be reached or refuses the login
// ("" when connected, or while no attempt has failed yet).
func (p *Publisher) LinkProblem() string {
	p.linkMu.Lock()
	defer p.linkMu.Unlock()
	if p.link.err == nil || p.connected.Load() {
		return ""
	}
	// No changing count or duration in it: the watchdog logs each change.
	return fmt.Sprintf("mqtt broker %s: cannot connect since %s: %v", p.o.Broker,
		p.link.since.UTC().Format(time.RFC3339), p.link.err)
}

// onCommand runs inside paho's ordered message handler, which must return
// at once (while it runs, no acknowledgement of our events is read): it
// only queues the command for runCommands, or answers "busy".
func (p *Publisher) onCommand(c mqtt.Client, m mqtt.Message) {
	select {
	case p.cmds <- append([]byte(nil), m.Payload()...):
	default:
		p.busy.Add(1)
		p.log.Warn("mqtt command refused: queue full", "payload", truncate(m.Payload(), maxEcho), "queued", cap(p.cmds))
		p.result(c, map[string]any{"ok": false, "error": fmt.Sprintf("busy: %d commands waiting; try again", cap(p.cmds))})
	}
}

// runCommands carries out queued commands, one at a time and in order,
// until ctx ends.
func (p *Publisher) runCommands(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case b := <-p.cmds:
			p.command(p.client, b)
		}
	}
}

// command carries out one command and answers it on cmd/result.
func (p *Publisher) command(c mqtt.Client, payload []byte) {
	var cmd Command
	res := map[string]any{"ok": true}
	var err error
	if len(payload) > maxCommand {
		err = fmt.Errorf("command too large: %d bytes, limit %d", len(payload), maxCommand)
	} else {
		err = json.Unmarshal(payload, &cmd)
	}
	switch {
	case err != nil:
		if len(payload) <= maxCommand {
			err = fmt.Errorf("invalid command: %v", err)
		}
	case cmd.Cmd == "":
		err = errors.New(`invalid command: no "cmd"`)
	case p.o.OnCommand == nil:
		err = errors.New("commands are not accepted")
	default:
		res["cmd"] = truncate([]byte(cmd.Cmd), maxEcho)
		if cmd.ID != "" {
			res["id"] = truncate([]byte(cmd.ID), maxEcho)
		}
		err = safeCall(p.o.OnCommand, cmd)
	}
	if err != nil {
		msg := truncate([]byte(err.Error()), maxEcho)
		res["ok"] = false
		res["error"] = msg
		p.log.Warn("mqtt command refused", "payload", truncate(payload, maxEcho), "err", msg)
	}
	p.result(c, res)
}

func (p *Publisher) result(c mqtt.Client, res map[string]any) {
	b, _ := json.Marshal(res)
	c.Publish(p.Topic("cmd/result"), 1, false, b) // not waited for: the broker may be away
}

// CommandsBusy counts commands answered "busy" because the queue was full.
func (p *Publisher) CommandsBusy() int { return int(p.busy.Load()) }

// safeCall keeps a panicking handler from taking the daemon down.
func safeCall(f func(Command) error, c Command) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("command %q failed: %v", c.Cmd, r)
		}
	}()
	return f(c)
}

// truncate cuts b to at most n bytes, at a rune boundary, marking the cut.
func truncate(b []byte, n int) string {
	if len(b) <= n {
		return string(b)
	}
	for n > 0 && !utf8.RuneStart(b[n]) {
		n--
	}
	return string(b[:n]) + fmt.Sprintf("…(%d bytes)", len(b))
}

// Event queues one item's event (JSON). It is written to the outbox first
// and delivered in order whenever the broker is reachable.
// A non-nil error means the disk refused it: the event is then kept in
// memory, still delivered, and counted (OutboxFailed).
func (p *Publisher) Event(payload []byte) error { return p.outbox.Put(payload) }

// Stats publishes a stats snapshot, retained (QoS 1), so that a
// subscriber coming later (Home Assistant after its restart) has the
// station's state at once. Stats are not queued: while the broker is away
// only the last is kept, and published on reconnection.
func (p *Publisher) Stats(payload []byte) {
	b := append([]byte(nil), payload...)
	p.stats.Store(&b)
	if p.connected.Load() {
		p.client.Publish(p.Topic("stats"), 1, true, b) // not waited for: the broker may be away
	}
}

// Connected reports the broker connection.
func (p *Publisher) Connected() bool { return p.connected.Load() }

// OutboxDepth is the number of events waiting.
func (p *Publisher) OutboxDepth() int { return p.outbox.Len() }

// Dropped counts events lost because the outbox was full.
func (p *Publisher) Dropped() int { return p.outbox.Dropped() }

// OutboxFailed counts events the disk did not take (kept in memory).
func (p *Publisher) OutboxFailed() int { return p.outbox.Failed() }

// OutboxInMemory is the number of waiting events held only in memory.
func (p *Publisher) OutboxInMemory() int { return p.outbox.InMemory() }

// Quarantined counts outbox files that were not an event.
func (p *Publisher) Quarantined() int { return p.outbox.Quarantined() }

// OutboxProblem says why the outbox is degraded ("" when it is not).
func (p *Publisher) OutboxProblem() string { return p.outbox.Problem() }

// Run connects and delivers queued events until ctx ends; then it sends
// what it can within drain, publishes "offline" and disconnects.
func (p *Publisher) Run(ctx context.Context, drain time.Duration) error {
	cctx, stopCmds := context.WithCancel(ctx)
	cmdsDone := make(chan struct{})
	go func() { defer close(cmdsDone); p.runCommands(cctx) }()
	defer func() { stopCmds(); <-cmdsDone }()
	p.client.Connect() // retries in the background (SetConnectRetry)
	for {
		p.deliver(ctx)
		select {
		case <-ctx.Done():
			dctx, cancel := context.WithTimeout(context.Background(), drain)
			p.deliver(dctx)
			cancel()
			if p.client.IsConnectionOpen() {
				t := p.client.Publish(p.Topic("status"), 1, true, "offline")
				t.WaitTimeout(2 * time.Second)
			}
			p.client.Disconnect(500)
			p.connected.Store(false)
			if p.o.KeepOutbox {
				p.handOver()
			} else {
				p.outbox.Keep()
			}
			return nil
		case <-p.outbox.Wait():
		case <-time.After(time.Second):
		}
	}
}

// handOver ends Run for a caller that keeps the outbox (KeepOutbox): the
// events held in memory are written to disk if the disk takes them now;
// the rest stay in memory, for the next publisher after a reload, or for
// the caller's Outbox.Keep at a stop.
func (p *Publisher) handOver() {
	written, notKept := p.outbox.Persist()
	if written > 0 {
		p.log.Info("events held in memory written to the outbox", "count", written)
	}
	if len(notKept) > 0 {
		p.log.Info("events held only in memory left to the daemon: a reload hands them to the next publisher, a stop counts them", "count", len(notKept))
	}
}

// Outbox is the queue the publisher delivers from (for Options.Outbox).
func (p *Publisher) Outbox() *Outbox { return p.outbox }

// inflight is the outbox's head event, published and not yet
// acknowledged (Run's goroutine only).
type inflight struct {
	seq    uint64
	tok    mqtt.Token
	since  time.Time
	warned bool // "not acknowledged yet" was logged
}

// ackWait is how long deliver waits for an acknowledgement before it
// returns to Run's loop (which calls it again): the event stays in flight.
const ackWait = 5 * time.Second

// deliver sends queued events oldest first, each acknowledged (QoS 1)
// before it leaves the outbox. An event is published once and then left
// in flight until its acknowledgement or an error: paho sends it again,
// marked DUP, on each reconnection, with its own backoff, so a broker that
// stops answering (kill -STOP, a stalled link) gets no new copy every few
// seconds from here. Only a failed publish (its token's error) is
// published anew, on a later pass.
func (p *Publisher) deliver(ctx context.Context) {
	for ctx.Err() == nil {
		if p.flight == nil {
			if !p.connected.Load() {
				return
			}
			seq, msg, ok := p.outbox.Peek()
			if !ok {
				return
			}
			p.flight = &inflight{seq: seq, tok: p.client.Publish(p.Topic("event"), 1, false, msg), since: time.Now()}
		}
		f := p.flight
		wait := time.NewTimer(ackWait)
		select {
		case <-f.tok.Done():
			wait.Stop()
		case <-ctx.Done():
			wait.Stop()
			return
		case <-wait.C:
			if !f.warned {
				f.warned = true
				p.log.Warn("mqtt event not acknowledged yet; kept in the outbox and in flight (not sent again)",
					"waiting", time.Since(f.since).Round(time.Second))
			}
			return
		}
		p.flight = nil
		if err := f.tok.Error(); err != nil {
			p.log.Warn("mqtt event not acknowledged; kept in the outbox", "err", err)
			return
		}
		if f.warned {
			p.log.Info("mqtt event acknowledged after a wait", "waited", time.Since(f.since).Round(time.Millisecond))
		}
		p.outbox.Done(f.seq)
	}
}
