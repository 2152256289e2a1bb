package web

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sorterd/sorterd/internal/testenv"
)

type lockedBuf = testenv.LogBuffer

// DNS rebinding: a same-origin request whose Host is a foreign name is
// refused on every endpoint (it got 200 on /api/frame and the flap test);
// IP addresses, localhost and configured names pass.
func TestHostAllowList(t *testing.T) {
	c := classifier(t)
	ts := server(t, Options{Classifier: c, Station: healthyStation{}, AllowedHosts: []string{"sorter.lan"}})
	req := func(method, path, host string) int {
		r, _ := http.NewRequest(method, ts.URL+path, nil)
		r.Host = host
		r.Header.Set("Sec-Fetch-Site", "same-origin")
		code, _, _ := do(t, r)
		return code
	}
	for _, tc := range []struct {
		method, path string
	}{{"GET", "/api/frame"}, {"POST", "/api/flaps/glass/test"}, {"POST", "/api/pause"}, {"GET", "/api/status"}, {"GET", "/"}} {
		if code := req(tc.method, tc.path, "evil.example:8080"); code != http.StatusMisdirectedRequest {
			t.Errorf("%s %s with Host evil.example: %d", tc.method, tc.path, code)
		}
	}
	for _, host := range []string{"127.0.0.1:8080", "192.168.1.20:8080", "[::1]:8080", "localhost:8080", "Sorter.LAN:8080", "sorter.lan."} {
		if code := req("GET", "/healthz", host); code != 200 {
			t.Errorf("Host %s: %d", host, code)
		}
	}
}

// Serving beyond loopback without a token is refused, naming the token
// (it only logged a warning, and anyone on the network could pause the
// station, fire flaps and label items); with a token, or on loopback, the
// page is served.
func TestOpenListenNeedsToken(t *testing.T) {
	logs := &lockedBuf{}
	log := slog.New(slog.NewTextHandler(logs, nil))
	for _, tc := range []struct {
		addr, token string
		refused     bool
	}{{"0.0.0.0:0", "", true}, {"0.0.0.0:0", "secret", false}, {"127.0.0.1:0", "", false}} {
		logs.Reset()
		s, err := New(Options{Classifier: classifier(t), Token: tc.token, Log: log})
		if err != nil {
			t.Fatal(err)
		}
		l, err := net.Listen("tcp", tc.addr)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- s.Serve(ctx, l) }()
		if tc.refused {
			select {
			case err := <-done:
				if err == nil || !strings.Contains(err.Error(), "set http.token") {
					t.Errorf("%s without a token: %v, want an error naming http.token", tc.addr, err)
				}
			case <-time.After(10 * time.Second):
				t.Errorf("%s without a token: served", tc.addr)
			}
			cancel()
			continue
		}
		eventually(t, "serving", 10*time.Second, func() bool { return strings.Contains(logs.String(), "web page") })
		cancel()
		if err := <-done; err != nil {
			t.Errorf("%s token %q: %v", tc.addr, tc.token, err)
		}
	}
}
