package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/sorterd/sorterd/actuator"
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
	fs := flag.NewFlagSet("sorterd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", config.DefaultPath, "configuration `file`")
	if err := fs.Parse(args); err != nil {
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
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	reload := make(chan struct{}, 1)
	for {
		log, _ := newLogger(stderr, cfg.LogLevel)
		slog.SetDefault(log)
		runCtx, stop := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- runStation(runCtx, cfg, log, reload) }()
		var next *config.Config
	wait:
		for {
			select {
			case err := <-done:
				stop()
				if err != nil {
					log.Error("station stopped", "err", err)
					return 1
				}
				return 0
			case <-hup:
			case <-reload:
			}
			c, err := config.Load(*path)
			if err != nil {
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
		cfg = *next
	}
}

// runStation wires one configuration and runs it until ctx ends.
func runStation(ctx context.Context, cfg config.Config, log *slog.Logger, reload chan<- struct{}) error {
	clf, err := infer.New(infer.Options{
		Model: cfg.Model.Path, Labels: cfg.Model.Labels, Delegate: cfg.Model.Delegate,
		Fallback: cfg.Model.Fallback, Threads: cfg.Model.Threads, EdgeTPUDevice: cfg.Model.EdgeTPUDevice, Logger: log,
		TTA: cfg.Model.TTA,
	})
	if err != nil {
		return err
	}
	defer clf.Close()
	threshold := cfg.Decision.Threshold
	if threshold == 0 && clf.Info().Sorterd != nil {
		threshold = clf.Info().Sorterd.Threshold
	}

	flaps := actuator.Bank{}
	defer func() {
		if err := flaps.CloseAll(); err != nil {
			log.Error("closing flaps", "err", err)
		}
	}()
	var bins []pipeline.Bin
	var binNames []string
	for _, b := range cfg.Bins {
		f, err := actuator.New(cfg.GPIO.Driver, actuator.Options{Name: b.Name, Pin: b.Pin, ActiveLow: b.ActiveLow,
			Hold: b.Mode == "hold", Pulse: b.Pulse.D(), Servo: b.Servo, OpenAngle: b.OpenAngle, ClosedAngle: b.ClosedAngle, Log: log})
		if err != nil {
			return err
		}
		flaps[b.Name] = f
		bins = append(bins, pipeline.Bin{Name: b.Name, Labels: b.Labels, Reject: b.Reject, Delay: b.Delay.D()})
		binNames = append(binNames, b.Name)
	}

	var camState sync.Map
	src := &camera.Reconnecting{
		Open: func() (camera.Source, error) { return openCamera(cfg.Camera) },
		Min:  cfg.Camera.ReconnectMin.D(), Max: cfg.Camera.ReconnectMax.D(), Log: log,
		OnState: func(s camera.State) { camState.Store("s", s) },
	}
	defer src.Close()

	opts := pipeline.Options{
		Station: cfg.Station, ModelSHA: clf.SHA256(), Source: src, Classify: clf, Flaps: flaps, Bins: bins,
		Trigger: cfg.Trigger.Mode, Every: cfg.Trigger.Every, Frames: cfg.Trigger.Frames,
		Vote: cfg.Decision.Vote, Threshold: threshold, Conveyor: cfg.Decision.Geometry == "conveyor",
		Cooldown: cfg.Decision.Cooldown.D(), Log: log, SamplesDir: filepath.Join(cfg.StateDir, "samples"),
	}
	if cfg.Model.TTAPerFrame > 0 && len(cfg.Model.TTA) > 0 {
		// The classifier checked the names when it loaded.
		opts.Views, _ = infer.ViewsByName(cfg.Model.TTA)
		opts.ViewsPerFrame = cfg.Model.TTAPerFrame
	}
	switch cfg.Trigger.Mode {
	case pipeline.Motion:
		opts.Motion = camera.NewMotion(cfg.Trigger.MotionArea, float64(cfg.Trigger.MotionDelta))
		defer opts.Motion.Close()
	case pipeline.GPIO:
		ch, err := presenceSensor(ctx, cfg.Trigger.Pin, cfg.Trigger.Debounce.D(), log)
		if err != nil {
			return err
		}
		opts.Presence = ch
	}

	var pub *publish.Publisher
	var station *pipeline.Station
	if cfg.MQTT.Enabled {
		pub, err = publish.New(publish.Options{
			Broker: cfg.MQTT.Broker, ClientID: cfg.MQTT.ClientID, Username: cfg.MQTT.Username, Password: cfg.MQTT.Password,
			CAFile: cfg.MQTT.CAFile, CertFile: cfg.MQTT.CertFile, KeyFile: cfg.MQTT.KeyFile,
			Prefix: cfg.MQTT.TopicPrefix, Station: cfg.Station, OutboxDir: filepath.Join(cfg.StateDir, "outbox"),
			OutboxSize: cfg.MQTT.Outbox, Discovery: cfg.MQTT.Discovery, DiscoveryPrefix: cfg.MQTT.DiscoveryPrefix,
			Bins: binNames, Model: filepath.Base(cfg.Model.Path), Log: log,
			OnCommand: func(c publish.Command) error { return command(ctx, station, c, reload) },
		})
		if err != nil {
			return err
		}
		opts.OnEvent = func(e pipeline.Event) {
			b, _ := json.Marshal(e)
			if err := pub.Event(b); err != nil {
				log.Error("event not queued", "id", e.ID, "err", err)
			}
		}
	}
	station, err = pipeline.New(opts)
	if err != nil {
		return err
	}

	var wg sync.WaitGroup
	pubCtx, stopPub := context.WithCancel(context.Background())
	defer func() { stopPub(); wg.Wait() }()
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
	go func() { defer wg.Done(); watchdog(ctx, station, cfg.Camera.StallTimeout.D(), log) }()
	if cfg.HTTP.Enabled {
		srv, err := web.New(web.Options{
			Listen: cfg.HTTP.Listen, Token: cfg.HTTP.Token, TokenAll: cfg.HTTP.TokenForAll,
			Classifier: clf, Station: station, Links: func() web.Links { return links(&camState, pub) },
			Bins: bins, Threshold: threshold, Stall: cfg.Camera.StallTimeout.D(), Version: version, Log: log,
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
		"camera", cfg.Camera.Source, "trigger", cfg.Trigger.Mode, "threshold", threshold, "status", status)
	sdNotify("READY=1\nSTATUS=" + status)
	err = station.Run(ctx)
	sdNotify("STOPPING=1")
	return err
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
		l.MQTT = &web.MQTTLink{Connected: pub.Connected(), Outbox: pub.OutboxDepth(), Dropped: pub.Dropped()}
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

// watchdog pings systemd (WATCHDOG=1) at half of WATCHDOG_USEC, but only
// while frames arrive and no inference hangs: a stuck pipeline stops the
// pings and systemd restarts the service.
func watchdog(ctx context.Context, s *pipeline.Station, stall time.Duration, log *slog.Logger) {
	usec, err := strconv.ParseInt(os.Getenv("WATCHDOG_USEC"), 10, 64)
	if err != nil || usec <= 0 {
		return
	}
	period := time.Duration(usec) * time.Microsecond / 2
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
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
