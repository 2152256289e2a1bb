package sdnotify

import (
	"context"
	"log/slog"
	"time"
)

// Watch is what RunWatchdog watches.
type Watch struct {
	// Health says whether the daemon progresses at now: nil, or why not.
	Health func(now time.Time) error
	// Problem is why the daemon is degraded ("" when it is not).
	Problem func() string
	Log     *slog.Logger
}

// problemCheck is how often Problem is asked when systemd wants no
// watchdog ping.
const problemCheck = time.Second

// RunWatchdog pings systemd (WATCHDOG=1) as often as it asks, but only while
// w.Health says the daemon progresses: a stuck daemon stops the pings and
// systemd restarts it. A degraded daemon (w.Problem) keeps the pings,
// since a restart would not mend what is wrong, but each change of its
// problem sets systemd's STATUS line and is logged. It returns when ctx
// ends.
func RunWatchdog(ctx context.Context, w Watch) {
	period := WatchdogPeriod()
	ping := period > 0
	if !ping {
		period = problemCheck // still watch the problem
	}
	t := time.NewTicker(period)
	defer t.Stop()
	last := ""
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			if p := w.Problem(); p != last {
				w.problemChanged(p)
				last = p
			}
			if !ping {
				continue
			}
			if err := w.Health(now); err != nil {
				w.Log.Warn("watchdog: station not progressing", "err", err)
				continue
			}
			NotifyLogged(w.Log, Watchdog)
		}
	}
}

func (w Watch) problemChanged(p string) {
	if p != "" {
		w.Log.Error("station degraded", "problem", p)
		NotifyLogged(w.Log, Status+p)
		return
	}
	w.Log.Info("station no longer degraded")
	NotifyLogged(w.Log, Status+"sorting")
}

// NotifyLogged is Notify whose failure is logged (at debug level): a
// failure only costs the message, and systemd's own timeouts catch a
// daemon that cannot reach it.
func NotifyLogged(log *slog.Logger, states ...string) {
	if err := Notify(states...); err != nil {
		log.Debug("systemd notify", "err", err)
	}
}
