package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/sorterd/sorterd/actuator"
	"github.com/sorterd/sorterd/archive"
	"github.com/sorterd/sorterd/camera"
	"github.com/sorterd/sorterd/config"
	"github.com/sorterd/sorterd/infer"
	"github.com/sorterd/sorterd/pipeline"
	"github.com/sorterd/sorterd/publish"
	"github.com/sorterd/sorterd/web"
	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpioreg"
	"periph.io/x/host/v3"
)

// cmdDaemon runs the station until SIGTERM/SIGINT; SIGHUP (or the MQTT
// "reload" command) reloads the configuration, keeping the running one
// when the new file does not validate.
func cmdDaemon(ctx context.Context, args []string, stderr io.Writer) int {
	fs := newFlagSet("sorterd", "sorterd [--config FILE]   (run the station; sorterd help lists the commands)", stderr)
	path := fs.String("config", config.DefaultPath, "configuration `file`")
	if err := fs.Parse(args); err != nil {
		return flagExit(err)
	}
	if !noArgs(fs, fs.Args()) {
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
	lock, err := lockStateDir(cfg.StateDir)
	if errors.Is(err, errStateLocked) {
		fmt.Fprintln(stderr, "sorterd:", err)
		return 1
	}
	if err != nil {
		// No state dir at all: the station still sorts (the outbox says
		// it is degraded), but nothing keeps a second daemon out.
		fmt.Fprintf(stderr, "sorterd: %v; running without the state_dir lock\n", err)
	}
	defer lock.Close()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	reload := make(chan struct{}, 1)
	var prev *config.Config // the configuration before a reload, until the new one is built
run:
	for {
		log, _ := newLogger(stderr, cfg.LogLevel)
		slog.SetDefault(log)
		runCtx, stop := context.WithCancel(ctx)
		done := make(chan error, 1)
		built, isBuilt := make(chan struct{}), false
		go func(cfg config.Config, built chan<- struct{}) { done <- runStation(runCtx, cfg, log, reload, built) }(cfg, built)
		var next *config.Config
	wait:
		for {
			select {
			case err := <-done:
				stop()
				if err == nil {
					return 0
				}
				if !isBuilt && prev != nil && ctx.Err() == nil {
					// The checks passed but the station still could not be
					// built (a camera or pin it cannot have): the previous
					// configuration goes back into service.
					log.Error("reloaded configuration failed to start; the previous one runs again", "err", err)
					sdNotify("RELOADING=1")
					cfg, prev = *prev, nil
					continue run
				}
				log.Error("station stopped", "err", err)
				return 1
			case <-built:
				built, isBuilt = nil, true // a nil channel: this case fires once
				prev = nil
				continue
			case <-hup:
			case <-reload:
			}
			c, err := config.Load(*path)
			if err != nil {
				log.Error("reload refused: the running configuration stays", "err", err)
				continue
			}
			if c.StateDir != cfg.StateDir {
				log.Error("reload refused: the running configuration stays", "err",
					fmt.Sprintf("state_dir changed (%s → %s): the lock and outbox belong to the running one; restart to move it", cfg.StateDir, c.StateDir))
				continue
			}
			// Build and check what the new station needs (the model, its
			// labels, the bins' labels) while the old one still sorts.
			if err := checkStation(c, &cfg, log); err != nil {
				log.Error("reload refused: the running configuration stays", "err", err)
				continue
			}
			next = &c
			break wait
		}
		log.Info("reloading configuration", "file", *path)
		sdNotify("RELOADING=1")
		stop()
		if err := <-done; err != nil {
			log.Error("station stopped during reload", "err", err)
		}
		old := cfg
		cfg, prev = *next, &old
	}
}

// runStation wires one configuration and runs it until ctx ends; built is
// closed once every part is built (an error before that is a build error).
func runStation(ctx context.Context, cfg config.Config, log *slog.Logger, reload chan<- struct{}, built chan<- struct{}) error {
	clf, err := infer.New(infer.Options{
		Model: cfg.Model.Path, Labels: cfg.Model.Labels, Delegate: cfg.Model.Delegate,
		Fallback: cfg.Model.Fallback, Threads: cfg.Model.Threads, EdgeTPUDevice: cfg.Model.EdgeTPUDevice, Logger: log,
		TTA: cfg.Model.TTA,
	})
	if err != nil {
		return err
	}
	defer clf.Close()
	flaps := actuator.Bank{}
	defer func() {
		if err := flaps.CloseAll(); err != nil {
			log.Error("closing flaps", "err", err)
		}
	}()
	var binNames []string
	for _, b := range cfg.Bins {
		f, err := actuator.New(cfg.GPIO.Driver, actuator.Options{Name: b.Name, Pin: b.Pin, ActiveLow: b.ActiveLow,
			Hold: b.Mode == "hold", Pulse: b.Pulse.D(), Servo: b.Servo, OpenAngle: b.OpenAngle, ClosedAngle: b.ClosedAngle, Log: log})
		if err != nil {
			return err
		}
		flaps[b.Name] = f
		binNames = append(binNames, b.Name)
	}

	var camState sync.Map
	src := &camera.Reconnecting{
		Open: func() (camera.Source, error) { return openCamera(cfg.Camera) },
		Min:  cfg.Camera.ReconnectMin.D(), Max: cfg.Camera.ReconnectMax.D(), Log: log,
		OnState: func(s camera.State) { camState.Store("s", s) },
	}
	defer src.Close()

	opts, err := stationOptions(cfg, clf)
	if opts.Tray != nil {
		defer opts.Tray.Close()
	}
	if err != nil {
		return err
	}
	opts.Source, opts.Flaps, opts.Log, opts.SamplesDir = src, flaps, log, filepath.Join(cfg.StateDir, "samples")
	bins, threshold := opts.Bins, opts.Threshold
	switch cfg.Trigger.Mode {
	case pipeline.GPIO:
		ch, err := presenceSensor(ctx, cfg.Trigger.Pin, cfg.Trigger.Debounce.D(), log)
		if err != nil {
			return err
		}
		opts.Presence = ch
	}

	var pub *publish.Publisher
	var station *pipeline.Station
	items := web.NewItemMetrics(clf.Labels())
	snaps := &itemImages{ids: make(chan pipeline.Event, 64), log: log}
	if cfg.Archive.Enabled {
		// Like the outbox, an archive the disk refuses does not stop sorting.
		snaps.archive, err = archive.Open(archive.Options{Dir: filepath.Join(cfg.StateDir, "items"),
			MaxItems: cfg.Archive.MaxItems, MaxBytes: int64(cfg.Archive.MaxMB) << 20})
		if err != nil {
			log.Error("item archive off: its folder cannot be used", "err", err)
			snaps.archive = nil
		}
	}
	opts.OnEvent = func(e pipeline.Event) {
		items.Observe(e)
		if pub != nil {
			b, _ := json.Marshal(e)
			if err := pub.Event(b); err != nil {
				log.Error("event not written to the outbox; kept in memory until the broker takes it", "id", e.ID, "err", err)
			}
		}
		snaps.add(e)
	}
	if cfg.MQTT.Enabled {
		password, err := mqttPassword(cfg.MQTT)
		if err != nil {
			return err
		}
		pub, err = publish.New(publish.Options{
			Broker: cfg.MQTT.Broker, ClientID: cfg.MQTT.ClientID, Username: cfg.MQTT.Username, Password: password,
			CAFile: cfg.MQTT.CAFile, CertFile: cfg.MQTT.CertFile, KeyFile: cfg.MQTT.KeyFile,
			Prefix: cfg.MQTT.TopicPrefix, Station: cfg.Station, OutboxDir: filepath.Join(cfg.StateDir, "outbox"),
			OutboxSize: cfg.MQTT.Outbox, Discovery: cfg.MQTT.Discovery, DiscoveryPrefix: cfg.MQTT.DiscoveryPrefix,
			Bins: binNames, Model: filepath.Base(cfg.Model.Path), Version: version, Log: log,
			ConfigURL: cfg.HTTP.PageURL(hostname()),
			OnCommand: func(c publish.Command) error { return command(ctx, station, c, reload) },
		})
		if err != nil {
			return err
		}
	}
	station, err = pipeline.New(opts)
	if err != nil {
		return err
	}

	var wg sync.WaitGroup
	pubCtx, stopPub := context.WithCancel(context.Background())
	// The goroutines below end with ctx; a build error after they start
	// (the upload classifier, the web server) must end them too, or
	// wg.Wait would wait for ever.
	ctx, stopLocal := context.WithCancel(ctx)
	defer func() { stopLocal(); stopPub(); wg.Wait() }()
	snaps.station, snaps.pub = station, pub
	wg.Add(1)
	go func() { defer wg.Done(); snaps.run(ctx) }()
	if pub != nil {
		wg.Add(1)
		go func() { defer wg.Done(); pub.Run(pubCtx, 3*time.Second) }()
		wg.Add(1)
		go func() {
			defer wg.Done()
			t := time.NewTicker(cfg.MQTT.StatsInterval.D())
			defer t.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-t.C:
					b, _ := json.Marshal(stationStats{station.Stats(), links(&camState, pub)})
					pub.Stats(b)
				}
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		watchdog(ctx, station, cfg.Camera.StallTimeout.D(), func() string { return linksProblem(links(&camState, pub)) }, log)
	}()
	if cfg.HTTP.Enabled {
		up, err := uploadClassifier(cfg, clf, log)
		if err != nil {
			return err
		}
		if up != clf {
			defer up.Close()
		}
		token, err := httpToken(cfg.HTTP)
		if err != nil {
			return err
		}
		srv, err := web.New(web.Options{
			Listen: cfg.HTTP.Listen, Token: token, TokenAll: cfg.HTTP.TokenForAll, AllowedHosts: cfg.HTTP.AllowedHosts,
			Classifier: up, Station: station, Links: func() web.Links { return links(&camState, pub) },
			Bins: bins, Threshold: threshold, Stall: cfg.Camera.StallTimeout.D(), Version: version, Log: log,
			Items: items, Model: modelInfo(clf),
		})
		if err != nil {
			return err
		}
		// A page that cannot listen (port taken) is reported; the station
		// sorts on without it.
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := srv.Run(ctx); err != nil {
				log.Error("web page not served; the station goes on without it", "err", err)
			}
		}()
	}

	close(built)
	// READY once the model is loaded and the camera gave a frame; a camera
	// still missing after a few seconds is reported, and the daemon keeps
	// retrying it rather than failing its start.
	status := "sorting"
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	if f, err := src.Read(wctx); err == nil {
		f.Close()
	} else if ctx.Err() == nil {
		status = "waiting for the camera: " + src.State().LastError
		log.Warn("camera not available yet; retrying", "camera", cfg.Camera.Source, "err", src.State().LastError)
	}
	cancel()
	log.Info("station ready", "station", cfg.Station, "model", cfg.Model.Path, "delegate", clf.Delegate().String(),
		"camera", cfg.Camera.Source, "trigger", cfg.Trigger.Mode, "locate", cfg.Locate.Method, "threshold", threshold, "status", status)
	sdNotify("READY=1\nSTATUS=" + status)
	err = station.Run(ctx)
	sdNotify("STOPPING=1")
	return err
}

// mqttPassword is mqtt.password, or the content of mqtt.password_file, or
// of the systemd credential mqtt_password (LoadCredential=), in that
// order; a trailing newline is not part of it.
func mqttPassword(m config.MQTT) (string, error) {
	path := m.PasswordFile
	if m.Password != "" {
		return m.Password, nil
	}
	if path == "" {
		dir := os.Getenv("CREDENTIALS_DIRECTORY")
		if dir == "" {
			return "", nil
		}
		path = filepath.Join(dir, "mqtt_password")
		if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
			return "", nil
		}
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("mqtt password: %w", err)
	}
	return strings.TrimRight(string(b), "\r\n"), nil
}

// httpToken is http.token, or the content of http.token_file (a trailing
// newline is not part of it).
func httpToken(h config.HTTP) (string, error) {
	if h.Token != "" || h.TokenFile == "" {
		return h.Token, nil
	}
	b, err := os.ReadFile(h.TokenFile)
	if err != nil {
		return "", fmt.Errorf("http token: %w", err)
	}
	t := strings.TrimRight(string(b), "\r\n")
	if t == "" {
		return "", fmt.Errorf("http token: %s is empty", h.TokenFile)
	}
	return t, nil
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
	up, err := infer.New(infer.Options{
		Model: cfg.Model.Path, Labels: cfg.Model.Labels, Delegate: cfg.Model.Delegate,
		Fallback: cfg.Model.Fallback, Threads: 1, Interpreters: 1, Logger: log.With("for", "uploads"),
		TTA: cfg.Model.TTA,
	})
	if err != nil {
		return nil, fmt.Errorf("upload classifier: %w", err)
	}
	return up, nil
}

// stationStats is what the stats topic carries: the station's own
// snapshot plus the camera and MQTT state the station does not know.
type stationStats struct {
	pipeline.Stats
	web.Links
}

func links(cam *sync.Map, pub *publish.Publisher) web.Links {
	var l web.Links
	if v, ok := cam.Load("s"); ok {
		cs := v.(camera.State)
		l.Camera = &web.CameraLink{Connected: cs.Connected, Reconnects: cs.Reconnects, LastError: cs.LastError}
	}
	if pub != nil {
		l.MQTT = &web.MQTTLink{Connected: pub.Connected(), Outbox: pub.OutboxDepth(), Dropped: pub.Dropped(),
			Failed: pub.OutboxFailed(), InMemory: pub.OutboxInMemory(), Quarantined: pub.Quarantined(), Problem: pub.OutboxProblem()}
	}
	return l
}

// command carries out an MQTT command on the station's control surface.
func command(ctx context.Context, s *pipeline.Station, c publish.Command, reload chan<- struct{}) error {
	if s == nil {
		return errors.New("station is starting")
	}
	switch c.Cmd {
	case "pause":
		s.Pause()
	case "resume":
		s.Resume()
	case "test_flap":
		if c.Bin == "" {
			return errors.New(`test_flap needs "bin"`)
		}
		tctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		return s.TestFlap(tctx, c.Bin)
	case "reload":
		select {
		case reload <- struct{}{}:
		default:
		}
	default:
		return fmt.Errorf("unknown command %q (pause, resume, test_flap, reload)", c.Cmd)
	}
	return nil
}

// linksProblem is why a link makes the station degraded ("" if none).
func linksProblem(l web.Links) string {
	if l.MQTT != nil && l.MQTT.Problem != "" {
		return "degraded: " + l.MQTT.Problem
	}
	return ""
}

// watchdog pings systemd (WATCHDOG=1) at half of WATCHDOG_USEC, but only
// while frames arrive and no inference hangs: a stuck pipeline stops the
// pings and systemd restarts the service. A degraded link (an outbox the
// disk refuses) keeps the pings, since a restart would not mend the disk,
// but sets systemd's STATUS line and logs each change.
func watchdog(ctx context.Context, s *pipeline.Station, stall time.Duration, problem func() string, log *slog.Logger) {
	period := time.Second
	usec, err := strconv.ParseInt(os.Getenv("WATCHDOG_USEC"), 10, 64)
	ping := err == nil && usec > 0
	if ping {
		period = time.Duration(usec) * time.Microsecond / 2
	}
	t := time.NewTicker(period)
	defer t.Stop()
	last := ""
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			if p := problem(); p != last {
				if p != "" {
					log.Error("station degraded", "problem", p)
					sdNotify("STATUS=" + p)
				} else {
					log.Info("station no longer degraded")
					sdNotify("STATUS=sorting")
				}
				last = p
			}
			if !ping {
				continue
			}
			if err := s.Health(now, stall); err != nil {
				log.Warn("watchdog: station not progressing", "err", err)
				continue
			}
			sdNotify("WATCHDOG=1")
		}
	}
}

// sdNotify sends a state line to systemd when it runs the daemon
// (Type=notify); elsewhere it does nothing.
func sdNotify(state string) {
	sock := os.Getenv("NOTIFY_SOCKET")
	if sock == "" {
		return
	}
	if sock[0] == '@' {
		sock = "\x00" + sock[1:]
	}
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		return
	}
	defer c.Close()
	c.Write([]byte(state))
}

// presenceSensor watches an input pin (an IR break-beam) and sends one
// value per item: the rising edge, debounced.
func presenceSensor(ctx context.Context, name string, debounce time.Duration, log *slog.Logger) (<-chan time.Time, error) {
	if _, err := host.Init(); err != nil {
		return nil, fmt.Errorf("trigger.pin: GPIO host: %w", err)
	}
	p := gpioreg.ByName(name)
	if p == nil {
		return nil, fmt.Errorf("trigger.pin: no GPIO pin named %q", name)
	}
	if err := p.In(gpio.PullDown, gpio.RisingEdge); err != nil {
		return nil, fmt.Errorf("trigger.pin %s: %w", name, err)
	}
	ch := make(chan time.Time, 1)
	go func() {
		var last time.Time
		for ctx.Err() == nil {
			if !p.WaitForEdge(500 * time.Millisecond) {
				continue
			}
			now := time.Now()
			if now.Sub(last) < debounce {
				continue
			}
			last = now
			select {
			case ch <- now:
			default:
				log.Warn("presence edge while an item is being classified; ignored")
			}
		}
	}()
	return ch, nil
}
