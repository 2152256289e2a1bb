package review

import (
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sorterd/sorterd/internal/testenv"
	"github.com/sorterd/sorterd/pipeline"
)

// sink records what Forward hands on; done closes once want items are
// archived.
type sink struct {
	mu            sync.Mutex
	crops, frames []string
	archived      map[string]string
	done          chan struct{}
	want          int
}

func (s *sink) Snapshot(b []byte) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.crops = append(s.crops, string(b))
	return b, nil
}

func (s *sink) SnapshotFrame(b []byte) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.frames = append(s.frames, string(b))
	return b, nil
}

func (s *sink) Add(id string, jpeg, event []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var e pipeline.Event
	json.Unmarshal(event, &e)
	s.archived[id] = string(jpeg) + " " + e.Label
	if len(s.archived) == s.want {
		close(s.done)
	}
	return nil
}

// Each queued item's crop and frame are published and archived with its
// event; an item whose image never comes is skipped; a full queue drops
// the oldest waiting item, saying so.
func TestForward(t *testing.T) {
	rv := New(Options{Log: slog.New(slog.DiscardHandler)})
	for _, id := range []string{"a", "b"} {
		rv.Fired(pipeline.Event{ID: id, Label: "glass"})
		rv.recent.frame(pipeline.Event{ID: id}, []byte("frame-"+id), []byte("crop-"+id), nil)
	}
	rv.Fired(pipeline.Event{ID: "noframe"})
	s := &sink{archived: map[string]string{}, done: make(chan struct{}), want: 2}
	logs := &testenv.LogBuffer{}
	q := NewForward(rv, s, s, logs.Logger())
	q.imageFor = 10 * time.Millisecond
	q.Add(pipeline.Event{ID: "noframe"})
	q.Add(pipeline.Event{ID: "a", Label: "glass"})
	q.Add(pipeline.Event{ID: "b", Label: "glass"})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); q.Run(ctx) }()
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		t.Fatal("items not forwarded")
	}
	cancel()
	<-done
	if len(s.crops) != 2 || s.crops[0] != "crop-a" || s.frames[1] != "frame-b" || s.archived["b"] != "crop-b glass" || s.archived["noframe"] != "" {
		t.Errorf("crops %v, frames %v, archived %v", s.crops, s.frames, s.archived)
	}

	full := NewForward(rv, s, nil, logs.Logger())
	for range forwardQueue + 1 {
		full.Add(pipeline.Event{ID: "x"})
	}
	if len(full.events) != forwardQueue || !strings.Contains(logs.String(), "item image skipped") {
		t.Errorf("queue %d, log %s", len(full.events), logs.String())
	}
	none := NewForward(rv, nil, nil, logs.Logger())
	none.Add(pipeline.Event{ID: "a"})
	if len(none.events) != 0 {
		t.Error("queued with nowhere to forward to")
	}
}
