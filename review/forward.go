package review

import (
	"context"
	"encoding/json"
	"log/slog"
	"time"

	"github.com/sorterd/sorterd/pipeline"
)

// Snapshots publishes an item's images (*publish.Publisher: the MQTT
// snapshot topics).
type Snapshots interface {
	Snapshot(jpeg []byte) ([]byte, error)
	SnapshotFrame(jpeg []byte) ([]byte, error)
}

// Archive keeps an item's crop and event (*archive.Archive).
type Archive interface {
	Add(id string, jpeg, event []byte) error
}

// Forward takes each decided item's crop, off the pipeline's path, to the
// MQTT snapshot topics and the item archive: Add (the station's OnEvent)
// only queues the event, Run waits for its images and hands them on.
// Should the queue fill up, the oldest waiting item is skipped, and
// logged.
type Forward struct {
	events   chan pipeline.Event
	review   *Review
	snaps    Snapshots // nil: MQTT off
	archive  Archive   // nil: no archive
	log      *slog.Logger
	imageFor time.Duration
}

// Forwarding's limits.
const (
	// forwardQueue is how many items may wait for their images.
	forwardQueue = 64
	// imageGrace is how long an item's image is waited for: it is
	// encoded just after the flap, so only a stalled station takes this
	// long.
	imageGrace = 2 * time.Second
)

// NewForward forwards the items of rv to snaps and archive (either may be
// nil: not forwarded there).
func NewForward(rv *Review, snaps Snapshots, archive Archive, log *slog.Logger) *Forward {
	return &Forward{events: make(chan pipeline.Event, forwardQueue), review: rv, snaps: snaps, archive: archive, log: log, imageFor: imageGrace}
}

// Add queues a decided item; it never blocks.
func (q *Forward) Add(e pipeline.Event) {
	if q.snaps == nil && q.archive == nil {
		return
	}
	for {
		select {
		case q.events <- e:
			return
		default:
		}
		select { // full: drop the oldest
		case old := <-q.events:
			q.log.Warn("item image skipped: too many items waiting", "id", old.ID)
		default:
		}
	}
}

// Run hands queued items on until ctx ends.
func (q *Forward) Run(ctx context.Context) {
	for {
		var e pipeline.Event
		select {
		case <-ctx.Done():
			return
		case e = <-q.events:
		}
		wctx, cancel := context.WithTimeout(ctx, q.imageFor)
		img, err := q.review.WaitImage(wctx, e.ID, ImageCrop)
		cancel()
		if err != nil {
			q.log.Debug("no image for the item", "id", e.ID, "err", err)
			continue
		}
		q.forward(e, img)
	}
}

// forward publishes and archives one item's crop (and frame).
func (q *Forward) forward(e pipeline.Event, img []byte) {
	if q.snaps != nil {
		if _, err := q.snaps.Snapshot(img); err != nil {
			q.log.Warn("snapshot not published", "id", e.ID, "err", err)
		}
		if frame, err := q.review.Image(e.ID, ImageFrame); err == nil {
			if _, err := q.snaps.SnapshotFrame(frame); err != nil {
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
