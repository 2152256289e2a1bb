package main

import (
	"context"
	"log/slog"
	"os"
	"time"

	"github.com/sorterd/sorterd/infer"
	"github.com/sorterd/sorterd/pipeline"
	"github.com/sorterd/sorterd/publish"
	"github.com/sorterd/sorterd/web"
)

// itemImages hands each decided item's crop to the MQTT snapshot topic,
// off the pipeline's path: OnEvent only queues the id; when items come
// faster than the images are sent, the older ids are skipped (only the
// last item's image is retained anyway).
type itemImages struct{ ids chan string }

func newItemImages() *itemImages { return &itemImages{ids: make(chan string, 4)} }

func (q *itemImages) add(id string) {
	for {
		select {
		case q.ids <- id:
			return
		default:
		}
		select { // full: drop the oldest
		case <-q.ids:
		default:
		}
	}
}

// run publishes the crop of each queued item until ctx ends.
func (q *itemImages) run(ctx context.Context, s *pipeline.Station, pub *publish.Publisher, log *slog.Logger) {
	for {
		var id string
		select {
		case <-ctx.Done():
			return
		case id = <-q.ids:
		}
		wctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		img, err := s.WaitImage(wctx, id, pipeline.ImageCrop)
		cancel()
		if err != nil {
			log.Debug("no image for the snapshot", "id", id, "err", err)
			continue
		}
		if _, err := pub.Snapshot(img); err != nil {
			log.Warn("snapshot not published", "id", id, "err", err)
		}
	}
}

func hostname() string {
	h, err := os.Hostname()
	if err != nil {
		return ""
	}
	return h
}

func modelInfo(clf *infer.Classifier) web.ModelInfo {
	w, h := clf.InputSize()
	d := clf.Delegate()
	return web.ModelInfo{SHA256: clf.SHA256(), InputW: w, InputH: h, Delegate: d.Active, Coverage: d.Coverage}
}
