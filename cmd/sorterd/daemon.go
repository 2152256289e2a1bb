package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/sorterd/sorterd/config"
	"github.com/sorterd/sorterd/infer"
	"github.com/sorterd/sorterd/internal/cli"
	"github.com/sorterd/sorterd/internal/liblog"
	"github.com/sorterd/sorterd/internal/sdnotify"
	"github.com/sorterd/sorterd/internal/statelock"
	"github.com/sorterd/sorterd/links"
	"github.com/sorterd/sorterd/locate"
	"github.com/sorterd/sorterd/pipeline"
	"github.com/sorterd/sorterd/publish"
	"github.com/sorterd/sorterd/review"
	"github.com/sorterd/sorterd/web"
)

// cmdDaemon runs the station until SIGTERM/SIGINT; SIGHUP (or the MQTT
// "reload" command) reloads the configuration, keeping the running one
// when the new file does not validate.
func cmdDaemon(ctx context.Context, args []string, stderr io.Writer) int {
	fs := cli.NewFlagSet("sorterd", "sorterd [--config FILE]   (run the station; sorterd help lists the commands)", stderr)
	path := fs.String("config", config.DefaultPath, "configuration `file`")
	if err := fs.Parse(args); err != nil {
		return cli.FlagExit(err)
	}
	if !cli.NoArgs(fs, fs.Args()) {
		return 2
	}
	cfg, err := config.Load(*path)
	if err != nil {
		fmt.Fprintln(stderr, err)
		if errors.Is(err, os.ErrNotExist) {
			fmt.Fprintf(stderr, "sorterd: the station needs a configuration (start from sorterd.example.yaml, or --config FILE); for one photo: sorterd --once IMG. See sorterd help.\n")
		}
		return 2
	}
	lock, err := statelock.Take(cfg.StateDir)
	if errors.Is(err, statelock.ErrLocked) {
		fmt.Fprintln(stderr, "sorterd:", err)
		return 1
	}
	if err != nil {
		// No state dir at all: the station still sorts (the outbox says
		// it is degraded), but nothing keeps a second daemon out.
		fmt.Fprintf(stderr, "sorterd: %v; running without the state_dir lock\n", err)
	}
	defer lock.Close()
	stderr, libs := routeLibLog(stderr)
	defer libs.Stop()
	d := &daemon{path: *path, stderr: stderr, libs: libs, hup: make(chan os.Signal, 1), reload: make(chan struct{}, 1),
		kept: kept{counters: pipeline.NewCounters(), recent: review.NewRecent(0)}}
	signal.Notify(d.hup, syscall.SIGHUP)
	defer signal.Stop(d.hup)
	code := d.run(ctx, cfg)
	if d.kept.outbox != nil {
		// Every publisher has stopped: what is still only in memory is
		// written to disk for the next start, or counted as lost.
		d.kept.outbox.Keep()
	}
	return code
}

// daemon runs one configuration after another: a reload builds the next
// station once the running one stopped, and hands it what is kept.
type daemon struct {
	path   string
	stderr io.Writer
	libs   *liblog.Capture // OpenCV's and the libraries' lines on fd 2, logged
	hup    chan os.Signal
	reload chan struct{} // the MQTT "reload" command
	kept   kept
}

// kept is what outlives a station across reloads: the counters and the
// recent items (so an item decided before a reload can still be
// corrected after it) and the items-by-label metrics.
type kept struct {
	counters *pipeline.Counters
	recent   *review.Recent
	items    *web.ItemMetrics
	labels   []string // the labels items was made for
	// outbox is the MQTT outbox, with the events the disk refused held
	// in memory: a reload hands it to the next publisher rather than
	// dropping them (nil until a publisher opened it).
	outbox *publish.Outbox
}

// itemMetrics are the kept ones while the model's labels stay; a model
// with other labels starts them anew.
func (k *kept) itemMetrics(labels []string) *web.ItemMetrics {
	if k.items == nil || !slices.Equal(k.labels, labels) {
		k.items, k.labels = web.NewItemMetrics(labels), labels
	}
	return k.items
}

// ending is how one station's run ended: a reload was accepted (next), or
// the station stopped (err; nil when ctx ended).
type ending struct {
	next  *config.Config
	err   error
	built bool // every part was built before it ended
}

// run runs cfg, then each configuration a reload accepts, until the
// station stops; it returns the exit code.
func (d *daemon) run(ctx context.Context, cfg config.Config) int {
	var prev *config.Config // the configuration before a reload, until the new one is built
	for {
		log, _ := newLogger(d.stderr, cfg.LogLevel)
		slog.SetDefault(log)
		d.libs.SetLogger(log)
		runCtx, stop := context.WithCancel(ctx)
		done, built := make(chan error, 1), make(chan struct{})
		go func(cfg config.Config) { done <- d.runStation(runCtx, cfg, log, built) }(cfg)
		e := d.wait(done, built, cfg, log)
		if e.built {
			prev = nil
		}
		if e.next == nil {
			stop()
			switch {
			case e.err == nil:
				return 0
			case !e.built && prev != nil && ctx.Err() == nil:
				// The checks passed but the station still could not be
				// built (a camera or pin it cannot have): the previous
				// configuration goes back into service.
				log.Error("reloaded configuration failed to start; the previous one runs again", "err", e.err)
				notify(log, sdnotify.Reloading)
				cfg, prev = *prev, nil
				continue
			}
			if !e.built && ctx.Err() == nil {
				// A model, pin or file the configuration names that the
				// daemon cannot use: a restart would fail the same way, so
				// exit 2, which the unit does not restart
				// (RestartPreventExitStatus=2).
				log.Error("station cannot start with this configuration; fix it and start again", "file", d.path, "err", e.err)
				return 2
			}
			log.Error("station stopped", "err", e.err)
			return 1
		}
		log.Info("reloading configuration", "file", d.path)
		notify(log, sdnotify.Reloading)
		stop()
		if err := <-done; err != nil {
			log.Error("station stopped during reload", "err", err)
		}
		old := cfg
		cfg, prev = *e.next, &old
	}
}

// wait waits for the station to stop or a reload to be accepted.
func (d *daemon) wait(done <-chan error, built <-chan struct{}, cfg config.Config, log *slog.Logger) ending {
	isBuilt := false
	for {
		select {
		case err := <-done:
			return ending{err: err, built: isBuilt}
		case <-built:
			built, isBuilt = nil, true // a nil channel: this case fires once
			continue
		case <-d.hup:
		case <-d.reload:
		}
		if next := d.check(cfg, log); next != nil {
			return ending{next: next, built: isBuilt}
		}
	}
}

// check loads the file again and checks it (the model, its labels, the
// bins' labels) while the running station still sorts; nil: refused.
func (d *daemon) check(cfg config.Config, log *slog.Logger) *config.Config {
	c, err := config.Load(d.path)
	if err == nil && c.StateDir != cfg.StateDir {
		err = fmt.Errorf("state_dir changed (%s → %s): the lock and outbox belong to the running one; restart to move it", cfg.StateDir, c.StateDir)
	}
	if err == nil {
		err = pipeline.Check(c, &cfg, log)
	}
	if err != nil {
		log.Error("reload refused: the running configuration stays", "err", err)
		return nil
	}
	return &c
}

// parts are one configuration's station and what it is built from; close
// frees them in the reverse order.
type parts struct {
	clf     *infer.Classifier
	cam     *cameraLink
	pub     *publish.Publisher // nil: MQTT off
	rv      *review.Review
	forward *review.Forward
	items   *web.ItemMetrics
	station *pipeline.Station
	opts    pipeline.Options
	closers []func()
}

func (p *parts) onClose(f func()) { p.closers = append(p.closers, f) }

func (p *parts) close() {
	for i := len(p.closers) - 1; i >= 0; i-- {
		p.closers[i]()
	}
}

// Timing of a station's start and stop.
const (
	// publishFlush is how long the publisher goes on after the station
	// stopped, to deliver what the outbox holds.
	publishFlush = 3 * time.Second
	// cameraWait is how long the start waits for the camera's first
	// frame before it says it is ready without one.
	cameraWait = 10 * time.Second
)

// runStation wires one configuration and runs it until ctx ends; built is
// closed once every part is built (an error before that is a build error).
func (d *daemon) runStation(ctx context.Context, cfg config.Config, log *slog.Logger, built chan<- struct{}) error {
	p := &parts{}
	defer p.close()
	if err := d.build(ctx, p, cfg, log); err != nil {
		return err
	}
	var wg sync.WaitGroup
	// The publisher outlives the station by its flush; the others end
	// with ctx, and a build error after they start (the upload
	// classifier, the web server) must end them too, or wg.Wait would
	// wait for ever.
	pubCtx, stopPub := context.WithCancel(context.Background())
	ctx, stopLocal := context.WithCancel(ctx)
	defer func() { stopLocal(); stopPub(); wg.Wait() }()
	if err := startServices(ctx, pubCtx, &wg, p, cfg, log); err != nil {
		return err
	}
	close(built)
	status := awaitCamera(ctx, p.cam, cfg.Camera, log)
	log.Info("station ready", "station", cfg.Station, "model", cfg.Model.Path, "delegate", p.clf.Delegate().String(),
		"camera", cfg.Camera.Source, "trigger", cfg.Trigger.Mode, "locate", cfg.Locate.Method, "threshold", p.opts.Threshold, "status", status)
	notify(log, sdnotify.Ready, sdnotify.Status+status)
	err := p.station.Run(ctx)
	notify(log, sdnotify.Stopping)
	return err
}

// build makes the station's parts, in order: classifier, flaps, camera,
// the pipeline's options, presence sensor, publisher, review, station.
func (d *daemon) build(ctx context.Context, p *parts, cfg config.Config, log *slog.Logger) error {
	var err error
	if p.clf, err = infer.New(pipeline.ClassifierOptions(cfg.Model, log)); err != nil {
		return err
	}
	p.onClose(func() { p.clf.Close() })
	flaps, err := newFlaps(cfg, log)
	if err != nil {
		return err
	}
	p.onClose(func() { closeFlaps(flaps, log) })
	p.cam = newCamera(cfg.Camera, log)
	p.onClose(func() { p.cam.Close() })
	refPath := filepath.Join(cfg.StateDir, locate.ReferenceFile)
	p.opts, err = pipeline.Configure(ctx, cfg, p.clf, loadReference(refPath, log), log)
	p.opts.ReferencePath = refPath
	if p.opts.Tray != nil {
		p.onClose(p.opts.Tray.Close)
	}
	if err != nil {
		return err
	}
	if p.opts.Presence, err = newTrigger(ctx, cfg.Trigger, log); err != nil {
		return err
	}
	ctl := publish.NewControl(d.reload)
	if p.pub, err = newPublisher(ctx, cfg, p.clf.SHA256(), ctl, d.kept.outbox, log); err != nil {
		return err
	}
	if p.pub != nil {
		d.kept.outbox = p.pub.Outbox()
	}
	p.opts.Source, p.opts.Flaps, p.opts.Log, p.opts.Counters = p.cam, flaps, log, d.kept.counters
	if err := d.buildStation(p, cfg, log); err != nil {
		return err
	}
	ctl.Set(p.station)
	return nil
}

// buildStation makes the station with its review, and what its events go
// to: the item metrics, the MQTT outbox, the snapshots and the archive.
func (d *daemon) buildStation(p *parts, cfg config.Config, log *slog.Logger) error {
	p.items = d.kept.itemMetrics(p.clf.Labels())
	p.rv = review.New(review.Options{Recent: d.kept.recent, SamplesDir: filepath.Join(cfg.StateDir, "samples"),
		Labels: p.clf.Labels(), Log: log,
		State:     func() (bool, bool) { return p.station.Classifying(), p.station.Paused() },
		OnCorrect: func(class string) { p.station.Corrected(class) }})
	// Closed once the station stopped and the web page with it.
	p.onClose(p.rv.Close)
	var snaps review.Snapshots
	if p.pub != nil {
		snaps = p.pub
	}
	p.forward = review.NewForward(p.rv, snaps, newArchive(cfg, log), log)
	p.opts.Review = p.rv
	p.opts.OnEvent = func(e pipeline.Event) { p.items.Observe(e); publishEvent(p.pub, e, log); p.forward.Add(e) }
	var err error
	p.station, err = pipeline.New(p.opts)
	return err
}

// loadReference is the tray recorded at setup, or none (it is then taken
// from the first quiet frames), saying which.
func loadReference(path string, log *slog.Logger) locate.Reference {
	ref, err := locate.LoadReference(path)
	switch {
	case err == nil:
		log.Info("colour reference loaded", "path", path, "taken", ref.Taken)
	case errors.Is(err, locate.ErrNoReference):
		log.Info("no colour reference yet: the empty tray is recorded as one from the first frames", "path", path)
	default:
		log.Warn("colour reference unreadable: the empty tray is recorded anew", "err", err)
	}
	return ref
}

// startServices starts what runs beside the station until ctx ends: the
// items' images forwarded, the watchdog, the MQTT publisher (until pubCtx
// ends) and its stats, the web page.
func startServices(ctx, pubCtx context.Context, wg *sync.WaitGroup, p *parts, cfg config.Config, log *slog.Logger) error {
	lk := func() links.State { return linkState(p.cam, p.pub) }
	start(wg, func() { p.forward.Run(ctx) })
	stall := cfg.Camera.StallTimeout.D()
	start(wg, func() {
		sdnotify.RunWatchdog(ctx, sdnotify.Watch{Health: func(now time.Time) error { return p.station.Health(now, stall) },
			Problem: func() string { return lk().Degraded() }, Log: log})
	})
	if p.pub != nil {
		stats := func() []byte { b, _ := json.Marshal(stationStats{p.station.Stats(), lk()}); return b }
		start(wg, func() { p.pub.Run(pubCtx, publishFlush) })
		start(wg, func() { p.pub.RunStats(ctx, stats, p.station.Changes(), cfg.MQTT.StatsInterval.D()) })
	}
	if cfg.HTTP.Enabled {
		return startWeb(ctx, wg, cfg, p, lk, log)
	}
	return nil
}

// startWeb serves the operator's page until ctx ends. A page that cannot
// listen (port taken) is reported; the station sorts on without it. The
// upload classifier is freed once the server stopped.
func startWeb(ctx context.Context, wg *sync.WaitGroup, cfg config.Config, p *parts, lk func() links.State, log *slog.Logger) error {
	srv, closeUploads, err := newWebServer(cfg, p, lk, log)
	if err != nil {
		return err
	}
	start(wg, func() {
		defer closeUploads()
		if err := srv.Run(ctx); err != nil {
			log.Error("web page not served; the station goes on without it", "err", err)
		}
	})
	return nil
}

// start runs f in a goroutine wg waits for.
func start(wg *sync.WaitGroup, f func()) {
	wg.Add(1)
	go func() { defer wg.Done(); f() }()
}

// awaitCamera waits cameraWait for the camera's first frame, so READY
// means the model is loaded and the camera gives frames; a camera still
// missing is reported in the status, and the daemon keeps retrying it
// rather than failing its start.
func awaitCamera(ctx context.Context, cam *cameraLink, c config.Camera, log *slog.Logger) string {
	if cam.FirstFrame(ctx, cameraWait) == nil {
		return "sorting"
	}
	log.Warn("camera not available yet; retrying", "camera", c.Source, "err", cam.State().LastError)
	return "waiting for the camera: " + cam.State().LastError
}

// publishEvent writes an event to the outbox (pub nil: MQTT off).
func publishEvent(pub *publish.Publisher, e pipeline.Event, log *slog.Logger) {
	if pub == nil {
		return
	}
	b, _ := json.Marshal(e)
	if err := pub.Event(b); err != nil {
		log.Error("event not written to the outbox; kept in memory until the broker takes it", "id", e.ID, "err", err)
	}
}

// uploadClassifier is the classifier for photos uploaded to the page: an
// interpreter of its own (one thread), so that an upload never holds the
// one the station's frames need. The Edge TPU belongs to one interpreter
// of one process: there, uploads share the station's (one at a time, the
// web server's queue bounds how many wait).
func uploadClassifier(cfg config.Config, clf *infer.Classifier, log *slog.Logger) (*infer.Classifier, error) {
	if cfg.Model.Delegate == infer.DelegateEdgeTPU {
		return clf, nil
	}
	o := pipeline.ClassifierOptions(cfg.Model, log.With("for", "uploads"))
	o.Threads, o.Interpreters = 1, 1
	up, err := infer.New(o)
	if err != nil {
		return nil, fmt.Errorf("upload classifier: %w", err)
	}
	return up, nil
}

// stationStats is what the stats topic carries: the station's own
// snapshot plus the camera and MQTT state the station does not know.
type stationStats struct {
	pipeline.Stats
	links.State
}

// linkState is the camera's and the broker's state (pub nil: MQTT off).
func linkState(cam *cameraLink, pub *publish.Publisher) links.State {
	var l links.State
	if cs := cam.state.Load(); cs != nil {
		l.Camera = &links.Camera{Connected: cs.Connected, Reconnects: cs.Reconnects, LastError: cs.LastError}
	}
	if pub != nil {
		l.MQTT = pub.Link()
	}
	return l
}

// notify tells systemd (sdnotify.NotifyLogged).
func notify(log *slog.Logger, states ...string) { sdnotify.NotifyLogged(log, states...) }
