package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"time"

	"github.com/sorterd/sorterd/archive"
	"github.com/sorterd/sorterd/infer"
	"github.com/sorterd/sorterd/pipeline"
	"github.com/sorterd/sorterd/publish"
	"github.com/sorterd/sorterd/review"
	"github.com/sorterd/sorterd/web"
)

// itemImages takes each decided item's crop, off the pipeline's path, to
// the MQTT snapshot topic (pub, when MQTT is on) and the item archive
// (archive, when on): OnEvent only queues the event. Should the queue
// fill up, the oldest waiting item is skipped, and logged.
type itemImages struct {
	ids     chan pipeline.Event
	review  *review.Review
	pub     *publish.Publisher
	archive *archive.Archive
	log     *slog.Logger
}

func (q *itemImages) add(e pipeline.Event) {
	if q.pub == nil && q.archive == nil {
		return
	}
	for {
		select {
		case q.ids <- e:
			return
		default:
		}
		select { // full: drop the oldest
		case old := <-q.ids:
			q.log.Warn("item image skipped: too many items waiting", "id", old.ID)
		default:
		}
	}
}

// run handles queued items until ctx ends.
func (q *itemImages) run(ctx context.Context) {
	for {
		var e pipeline.Event
		select {
		case <-ctx.Done():
			return
		case e = <-q.ids:
		}
		wctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		img, err := q.review.WaitImage(wctx, e.ID, review.ImageCrop)
		cancel()
		if err != nil {
			q.log.Debug("no image for the item", "id", e.ID, "err", err)
			continue
		}
		if q.pub != nil {
			if _, err := q.pub.Snapshot(img); err != nil {
				q.log.Warn("snapshot not published", "id", e.ID, "err", err)
			}
			if frame, err := q.review.Image(e.ID, review.ImageFrame); err == nil {
				if _, err := q.pub.SnapshotFrame(frame); err != nil {
					q.log.Warn("snapshot frame not published", "id", e.ID, "err", err)
				}
			}
		}
		if q.archive != nil {
			b, _ := json.Marshal(e)
			if err := q.archive.Add(e.ID, img, b); err != nil {
				q.log.Warn("item not archived", "id", e.ID, "err", err)
			}
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
