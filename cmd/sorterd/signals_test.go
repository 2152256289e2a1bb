package main

import (
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sorterd/sorterd/internal/testenv"
	"github.com/sorterd/sorterd/internal/testenv/livecam"
)

// The real binary under real signals, with the live camera, during a
// broker outage (issue 33: most daemon tests ran cmdDaemon in-process):
// SIGHUP reloads it while the broker is away, SIGTERM stops it while the
// broker is still away. Nothing decided is lost: the items shown are
// decided before and after the reload (none missed, as fast as before the
// outage), the stop says how many events wait in the outbox for the next
// start (and that none was lost), and the next start, with the broker
// back, publishes every decided item, within QoS 1's bound.
func TestBinarySignalsDuringBrokerOutage(t *testing.T) {
	testenv.Slow(t, "builds and runs the binary")
	bin := sorterdBinary(t)
	b := testenv.StartBroker(t)
	rec := testenv.Subscribe(t, b, "sorterd/faults/event")
	s := stationConfig(t, b, "")
	p := runBinary(t, bin, s.cfg, s.logs)
	calm := quiet(t, rec, "sorterd/faults/event")
	n0 := len(rec.Get("sorterd/faults/event"))

	b.Stop()
	from := time.Now()
	s.live.waitShown(t, from, 2)
	hup := time.Now()
	p.signal(syscall.SIGHUP)
	ready := func() int { return strings.Count(s.logs.String(), `msg="station ready"`) }
	eventuallyLog(t, s.logs, "the reloaded station", 60*time.Second, func() bool { return ready() >= 2 })
	reloaded := time.Now()
	if !strings.Contains(s.logs.String(), `msg="reloading configuration"`) {
		t.Fatalf("SIGHUP did not reload:\n%s", s.logs)
	}
	s.live.waitShown(t, reloaded, 2)
	term := time.Now()
	waiting := unpublished(t, s.logs.String(), rec, "sorterd/faults/event", nil)
	p.stop()
	if len(rec.Get("sorterd/faults/event")) != n0 {
		t.Errorf("events arrived while the broker was stopped")
	}

	// The stop says what it keeps for the next start and that it lost none.
	exit := s.logs.String()
	if strings.Contains(exit, "events not kept") {
		t.Errorf("events said not kept, with the disk taking every event:\n%s", exit)
	}
	m := regexp.MustCompile(`msg="events wait in the outbox for the next start" count=(\d+)`).FindAllStringSubmatch(exit, -1)
	if len(m) == 0 {
		t.Fatalf("the stop did not say what waits in the outbox:\n%s", exit)
	}
	// Events decided between the count above and the stop wait too.
	if n, _ := strconv.Atoi(m[len(m)-1][1]); n < len(waiting) || n != len(unpublished(t, exit, rec, "sorterd/faults/event", nil)) {
		t.Errorf("the stop said %d events wait in the outbox; %d decided items were not published (%d before the SIGTERM):\n%s",
			n, len(unpublished(t, exit, rec, "sorterd/faults/event", nil)), len(waiting), exit)
	}

	// The next start, the broker back: the outbox is sent.
	b.Start()
	again := &syncBuf{}
	p2 := runBinary(t, bin, s.cfg, again)
	both := func() string { return s.logs.String() + again.String() }
	eventuallyLog(t, again, "every decided item published after the restart", 60*time.Second, func() bool {
		return len(unpublished(t, both(), rec, "sorterd/faults/event", nil)) == 0
	})
	p2.stop()
	checkPublished(t, "SIGHUP and SIGTERM during a broker outage", both, rec, "sorterd/faults/event", nil)
	// The items shown while the broker was away, before the SIGHUP and
	// after the reload, were decided, as fast as before the outage. (The
	// reload closes and reopens the camera: what is shown meanwhile is not
	// asserted.)
	all := rec.Get("sorterd/faults/event")
	s.live.checkNoneMissed(t, "broker away, before the SIGHUP", all, livecam.Window{From: from, To: hup})
	s.live.checkNoneMissed(t, "broker away, after the reload", all, livecam.Window{From: reloaded, To: term})
	var during []decision
	for _, d := range s.live.decisions(t, all[n0:]) {
		if (d.TS.After(from) && d.TS.Before(hup)) || (d.TS.After(reloaded) && d.TS.Before(term)) {
			during = append(during, d)
		}
	}
	checkLatency(t, "broker away, SIGHUP", s.live.decisions(t, calm), during)
	t.Logf("%d events waited in the outbox across the restart", len(waiting))
}
