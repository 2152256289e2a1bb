package main

import (
	"encoding/json"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sorterd/sorterd/internal/testenv"
)

// decided = published (issue 33): after a fault and its recovery, every
// item the daemon decided reaches a persistent QoS 1 subscriber, with
// copies only within QoS 1's bound. The daemon logs one INFO line per
// decided item (`msg=item id=…`) once its flap fired, before the event is
// queued: the log is the list of what was decided.

var decidedRE = regexp.MustCompile(`msg=item id=(\S+)`)

// decidedIDs are the items a daemon's log says it decided, in order.
func decidedIDs(logs string) []string {
	var ids []string
	for _, m := range decidedRE.FindAllStringSubmatch(logs, -1) {
		ids = append(ids, m[1])
	}
	return ids
}

// copies counts the events a subscriber got on topic, by id.
func copies(t testing.TB, rec *testenv.Messages, topic string) map[string]int {
	t.Helper()
	n := map[string]int{}
	for _, m := range rec.Get(topic) {
		var ev struct {
			ID string `json:"id"`
		}
		if err := json.Unmarshal([]byte(m), &ev); err != nil || ev.ID == "" {
			t.Fatalf("not an event on %s: %.200s (%v)", topic, m, err)
		}
		n[ev.ID]++
	}
	return n
}

// unpublished are the decided ids (less notKept) not received yet.
func unpublished(t testing.TB, logs string, rec *testenv.Messages, topic string, notKept []string) []string {
	got := copies(t, rec, topic)
	var out []string
	for _, id := range decidedIDs(logs) {
		if got[id] == 0 && !slices.Contains(notKept, id) {
			out = append(out, id)
		}
	}
	return out
}

// qos1Bound is how many copies of one event QoS 1 allows here: one, plus
// one for each new connection of the daemon after its first (paho sends
// the event in flight again, marked DUP, on reconnecting; a reload's new
// publisher publishes the outbox's head anew) and for each reconnection
// of the subscriber (the broker delivers again what the subscriber had not
// acknowledged). docs/reliability.md: "at most one copy per reconnection".
func qos1Bound(logs string, rec *testenv.Messages) int {
	return 1 + max(strings.Count(logs, `msg="mqtt connected"`)-1, 0) + max(rec.Connects()-1, 0)
}

// checkPublished waits for every item the daemon decided (logs: every
// run's log), except notKept (the ids its stop said it could not keep),
// to reach the subscriber rec on topic, then asserts that nothing else
// came and that no event came more often than qos1Bound. It returns how
// many were decided and how many copies beyond the first came.
func checkPublished(t *testing.T, what string, logs func() string, rec *testenv.Messages, topic string, notKept []string) (decided, extra int) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for len(unpublished(t, logs(), rec, topic, notKept)) > 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	l := logs()
	ids := decidedIDs(l)
	if miss := unpublished(t, l, rec, topic, notKept); len(miss) > 0 {
		t.Errorf("%s: decided ≠ published: %d of %d decided items never reached the subscriber: %v\n%s", what, len(miss), len(ids), miss, l)
	}
	bound := qos1Bound(l, rec)
	for id, n := range copies(t, rec, topic) {
		switch {
		case !slices.Contains(ids, id):
			t.Errorf("%s: event %s published, never decided", what, id)
		case slices.Contains(notKept, id):
			t.Errorf("%s: event %s said not kept at the stop, yet published", what, id)
		case n > bound:
			t.Errorf("%s: event %s arrived %d times: over QoS 1's bound of %d (one copy per connection)", what, id, n, bound)
		}
		extra += n - 1
	}
	t.Logf("%s: %d decided, %d said not kept, every other one published; %d copies beyond the first (bound %d per event)",
		what, len(ids), len(notKept), extra, bound)
	return len(ids), extra
}
