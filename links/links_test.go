package links

import "testing"

// A link is degraded by the outbox's problem, the broker's, or both.
func TestDegraded(t *testing.T) {
	for _, tc := range []struct {
		m    *MQTT
		want string
	}{
		{nil, ""},
		{&MQTT{Connected: true}, ""},
		{&MQTT{Problem: "disk full"}, "disk full"},
		{&MQTT{BrokerProblem: "login refused"}, "login refused"},
		{&MQTT{Problem: "disk full", BrokerProblem: "login refused"}, "disk full; login refused"},
	} {
		if got := tc.m.Degraded(); got != tc.want {
			t.Errorf("%+v: %q, want %q", tc.m, got, tc.want)
		}
		if got := (State{MQTT: tc.m}).Degraded(); (got == "") != (tc.want == "") || (got != "" && got != "degraded: "+tc.want) {
			t.Errorf("state with %+v: %q", tc.m, got)
		}
	}
}
