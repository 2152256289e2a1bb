package testenv

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// Messages records what a subscriber received, per topic, in order.
type Messages struct {
	mu       sync.Mutex
	msgs     map[string][]string
	connects int
}

// Connects is how many times the subscriber connected: each connection
// after the first (a broker restart) may bring a QoS 1 message it had
// not acknowledged again.
func (m *Messages) Connects() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.connects
}

// Get returns the payloads received on topic so far.
func (m *Messages) Get(topic string) []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]string(nil), m.msgs[topic]...)
}

// Topics returns every topic a message came on.
func (m *Messages) Topics() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var ts []string
	for t := range m.msgs {
		ts = append(ts, t)
	}
	return ts
}

func (m *Messages) add(topic string, payload []byte) {
	m.mu.Lock()
	m.msgs[topic] = append(m.msgs[topic], string(payload))
	m.mu.Unlock()
}

// Subscribe records every message on filter (QoS 1) until the test ends.
// Its session is persistent, so what is published while it reconnects
// after a broker restart is kept for it; it is subscribed when
// Subscribe returns.
func Subscribe(t testing.TB, b *Broker, filter string) *Messages {
	t.Helper()
	m := &Messages{msgs: map[string][]string{}}
	subscribed := make(chan struct{}, 1)
	o := mqtt.NewClientOptions().AddBroker(b.URL()).
		SetClientID(fmt.Sprintf("testenv-sub-%x", rand.Uint64())).
		SetCleanSession(false).SetResumeSubs(true).
		SetAutoReconnect(true).SetConnectRetry(true).SetConnectRetryInterval(100 * time.Millisecond).
		SetOnConnectHandler(func(c mqtt.Client) {
			m.mu.Lock()
			m.connects++
			m.mu.Unlock()
			tok := c.Subscribe(filter, 1, func(_ mqtt.Client, msg mqtt.Message) { m.add(msg.Topic(), msg.Payload()) })
			go func() {
				tok.WaitTimeout(5 * time.Second)
				select {
				case subscribed <- struct{}{}:
				default:
				}
			}()
		})
	c := mqtt.NewClient(o)
	if tok := c.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("subscriber cannot connect to %s: %v", b.URL(), tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(100) })
	select {
	case <-subscribed:
	case <-time.After(5 * time.Second):
		t.Fatalf("subscriber not subscribed to %s", filter)
	}
	return m
}
