// Package links is the state of the station's connections, which the
// station itself does not know: the camera's and the MQTT broker's, with
// its outbox. The daemon fills it in from the camera and the publisher;
// the web page shows it (/api/status, /healthz, /metrics) and the MQTT
// stats carry it, so web and publish share these types without knowing
// each other. No cgo.
package links

// State is the state of the station's connections, which the station
// itself does not know (the daemon fills it in).
type State struct {
	Camera *Camera `json:"camera,omitempty"`
	MQTT   *MQTT   `json:"mqtt,omitempty"`
}

// Camera is the camera's state.
type Camera struct {
	Connected  bool   `json:"connected"`
	Reconnects int    `json:"reconnects"`
	LastError  string `json:"last_error"`
}

// MQTT is the broker connection's state.
type MQTT struct {
	Connected bool `json:"connected"`
	Outbox    int  `json:"outbox"`
	Dropped   int  `json:"dropped"`
	// Failed counts events the disk refused (kept in memory instead);
	// InMemory is how many of those still wait; Quarantined counts outbox
	// files that were not an event.
	Failed      int `json:"failed"`
	InMemory    int `json:"in_memory"`
	Quarantined int `json:"quarantined"`
	// Problem is why the outbox is degraded ("" when it is not): /healthz
	// answers 503 "degraded" with it.
	Problem string `json:"problem,omitempty"`
	// BrokerProblem is why the broker cannot be reached or refuses the
	// login ("" when connected): /healthz answers 503 "degraded" with it.
	BrokerProblem string `json:"broker_problem,omitempty"`
	// Conflicts counts times another sorterd was seen publishing as this
	// station (same station name on another host or state dir).
	Conflicts int `json:"conflicts"`
}

// Degraded is why the link makes the station degraded: the outbox's
// problem and the broker's, "" when neither has one.
func (m *MQTT) Degraded() string {
	switch {
	case m == nil:
		return ""
	case m.Problem != "" && m.BrokerProblem != "":
		return m.Problem + "; " + m.BrokerProblem
	case m.Problem != "":
		return m.Problem
	}
	return m.BrokerProblem
}

// Degraded is why the links make the station degraded, as systemd's
// status line says it ("" when they do not).
func (s State) Degraded() string {
	if p := s.MQTT.Degraded(); p != "" {
		return "degraded: " + p
	}
	return ""
}
