package publish

import (
	"context"
	"time"

	"github.com/sorterd/sorterd/links"
)

// Link is the broker connection's and the outbox's state, as the web
// page and the stats show it.
func (p *Publisher) Link() *links.MQTT {
	return &links.MQTT{Connected: p.Connected(), Outbox: p.OutboxDepth(), Dropped: p.Dropped(),
		Failed: p.OutboxFailed(), InMemory: p.OutboxInMemory(), Quarantined: p.Quarantined(), Problem: p.OutboxProblem(),
		BrokerProblem: p.LinkProblem(), Conflicts: p.Conflicts()}
}

// StatsGap is the least time between two stats published on change:
// soon enough for a pause to show at once, and a burst of items is not
// a burst of messages.
const StatsGap = 100 * time.Millisecond

// RunStats publishes stats() (Stats: retained) until ctx ends: at once,
// when changed signals (a pause or resume, an item, a correction), at
// most every StatsGap, and every interval besides, as a heartbeat for what
// changes with each frame and is not signalled (frames, fps, uptime, the
// camera and MQTT links).
func (p *Publisher) RunStats(ctx context.Context, stats func() []byte, changed <-chan struct{}, every time.Duration) {
	p.Stats(stats()) // the state a reload or a start begins with
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-changed:
			// A burst (items back to back, a flood of commands) is one
			// message per StatsGap; the change that came meanwhile is
			// the pending signal, so the last state is always sent.
			select {
			case <-ctx.Done():
				return
			case <-time.After(StatsGap):
			}
		}
		p.Stats(stats())
	}
}
