package main

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sorterd/sorterd/internal/testenv"
	"github.com/sorterd/sorterd/pipeline"
	"github.com/sorterd/sorterd/review"
	"github.com/sorterd/sorterd/web"
)

// A SIGHUP reload keeps the counters and the recent items: an item decided
// before it is still listed and can be corrected after it, and no counter
// starts again from zero. The daemon used to build the new station with
// empty ones, so an item not yet reviewed could no longer be corrected.
func TestReloadKeepsCountersAndItems(t *testing.T) {
	b := testenv.StartBroker(t)
	s := stationConfig(t, b, "").start()
	var before []review.Item
	eventually(t, "a decided item", 30*time.Second, func() bool {
		code, body := s.get("/api/events")
		return code == 200 && json.Unmarshal([]byte(body), &before) == nil && len(before) > 0
	})
	item := before[len(before)-1] // the oldest listed
	stBefore := status(t, s)

	s.write(strings.Replace(s.text, "stats_interval: 200ms", "stats_interval: 300ms", 1))
	syscall.Kill(os.Getpid(), syscall.SIGHUP)
	eventually(t, "the reloaded station ready", 30*time.Second, func() bool {
		return strings.Count(s.logs.String(), "station ready") >= 2
	})
	var after []review.Item
	eventually(t, "the page of the reloaded station", 10*time.Second, func() bool {
		code, body := s.get("/api/events?limit=1000")
		return code == 200 && json.Unmarshal([]byte(body), &after) == nil
	})
	found := false
	for _, it := range after {
		found = found || it.ID == item.ID
	}
	if !found {
		t.Fatalf("item %s, decided before the reload, is gone after it (%d items listed)", item.ID, len(after))
	}
	code, body := s.post("/api/events/"+item.ID+"/label", `{"label":"glass"}`)
	if code != 200 {
		t.Fatalf("correcting item %s after the reload: %d %s", item.ID, code, body)
	}
	stAfter := status(t, s)
	if stAfter.Frames < stBefore.Frames || stAfter.UptimeS < stBefore.UptimeS {
		t.Errorf("counters restarted: frames %d → %d, uptime %.1f → %.1f s", stBefore.Frames, stAfter.Frames, stBefore.UptimeS, stAfter.UptimeS)
	}
	sum := func(m map[string]int) (n int) {
		for _, v := range m {
			n += v
		}
		return n
	}
	if sum(stAfter.ItemsPerBin) < sum(stBefore.ItemsPerBin) || stAfter.Corrections["glass"] != 1 {
		t.Errorf("items %v → %v, corrections %v", stBefore.ItemsPerBin, stAfter.ItemsPerBin, stAfter.Corrections)
	}
}

// post sends a JSON body to the station's page.
func (s *station) post(path, body string) (int, string) {
	res, err := http.Post("http://"+s.web+path, "application/json", strings.NewReader(body))
	if err != nil {
		return 0, err.Error()
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// status is the station's stats from /api/status.
func status(t *testing.T, s *station) pipeline.Stats {
	t.Helper()
	code, body := s.get("/api/status")
	var st web.Status
	if code != 200 || json.Unmarshal([]byte(body), &st) != nil || st.Station == nil {
		t.Fatalf("status: %d %s", code, body)
	}
	return *st.Station
}
