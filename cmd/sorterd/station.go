package main

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/sorterd/sorterd/actuator"
	"github.com/sorterd/sorterd/archive"
	"github.com/sorterd/sorterd/camera"
	"github.com/sorterd/sorterd/config"
	"github.com/sorterd/sorterd/infer"
	"github.com/sorterd/sorterd/links"
	"github.com/sorterd/sorterd/pipeline"
	"github.com/sorterd/sorterd/publish"
	"github.com/sorterd/sorterd/review"
	"github.com/sorterd/sorterd/settings"
	"github.com/sorterd/sorterd/trigger"
	"github.com/sorterd/sorterd/web"
)

// The constructors below build one part each from the configuration, for
// the daemon's runStation.

// newFlaps makes each bin's flap; on an error the ones made are closed.
func newFlaps(cfg config.Config, log *slog.Logger) (actuator.Bank, error) {
	flaps := actuator.Bank{}
	for _, b := range cfg.Bins {
		f, err := actuator.New(cfg.GPIO.Driver, actuator.Options{Name: b.Name, Pin: b.Pin, ActiveLow: b.ActiveLow,
			Hold: b.Mode == config.FlapHold, Pulse: b.Pulse.D(), Servo: b.Servo, OpenAngle: b.OpenAngle, ClosedAngle: b.ClosedAngle, Log: log})
		if err != nil {
			closeFlaps(flaps, log)
			return nil, err
		}
		flaps[b.Name] = f
	}
	return flaps, nil
}

func closeFlaps(flaps actuator.Bank, log *slog.Logger) {
	if err := flaps.CloseAll(); err != nil {
		log.Error("closing flaps", "err", err)
	}
}

// cameraLink is the reconnecting camera and its last reported state (for
// the links the page and stats show).
type cameraLink struct {
	*camera.Reconnecting
	state atomic.Pointer[camera.State]
}

// newCamera is the daemon's camera. With camera.exposure: locked each open
// logs what the lock achieved: the driver may refuse part of it, and a
// camera reopened after a loss is settled and locked anew.
func newCamera(c config.Camera, log *slog.Logger) *cameraLink {
	cam := &cameraLink{}
	cam.Reconnecting = &camera.Reconnecting{
		Open: func() (camera.Source, error) {
			src, lock, err := openCamera(c)
			if err == nil && c.Exposure == config.ExposureLocked {
				logLock(log, lock)
			}
			return src, err
		},
		Min: c.ReconnectMin.D(), Max: c.ReconnectMax.D(), Log: log,
		OnState: func(s camera.State) { cam.state.Store(&s) },
	}
	return cam
}

// newTrigger is the presence sensor's channel on the gpio trigger (nil
// otherwise); it is watched until ctx ends.
func newTrigger(ctx context.Context, t config.Trigger, log *slog.Logger) (<-chan time.Time, error) {
	if t.Mode != settings.GPIO {
		return nil, nil
	}
	return trigger.Presence(ctx, trigger.Options{Pin: t.Pin, Debounce: t.Debounce.D(), Log: log})
}

// newPublisher is the MQTT publisher (nil when MQTT is off); its commands
// go to ctl.
func newPublisher(ctx context.Context, cfg config.Config, modelSHA string, ctl *publish.Control, outbox *publish.Outbox, log *slog.Logger) (*publish.Publisher, error) {
	if !cfg.MQTT.Enabled {
		return nil, nil
	}
	password, err := cfg.MQTT.ReadPassword()
	if err != nil {
		return nil, err
	}
	var bins []string
	for _, b := range cfg.Bins {
		bins = append(bins, b.Name)
	}
	// The device's sw_version names the classifier: its file and the
	// sha256 prefix the events carry.
	model := filepath.Base(cfg.Model.Path)
	if len(modelSHA) >= 12 {
		model += " " + modelSHA[:12]
	}
	return publish.New(publish.Options{
		Broker: cfg.MQTT.Broker, ClientID: cfg.MQTT.ClientID, Username: cfg.MQTT.Username, Password: password,
		CAFile: cfg.MQTT.CAFile, CertFile: cfg.MQTT.CertFile, KeyFile: cfg.MQTT.KeyFile,
		Prefix: cfg.MQTT.TopicPrefix, Station: cfg.Station, OutboxDir: filepath.Join(cfg.StateDir, "outbox"),
		OutboxSize: cfg.MQTT.Outbox, Discovery: cfg.MQTT.Discovery, DiscoveryPrefix: cfg.MQTT.DiscoveryPrefix,
		Bins: bins, Model: model, Version: version, Log: log,
		ConfigURL: cfg.HTTP.PageURL(hostname()),
		OnCommand: func(c publish.Command) error { return ctl.Do(ctx, c) },
		Outbox:    outbox, KeepOutbox: true,
	})
}

// newArchive is the item archive (nil when off, or when its folder
// cannot be used: like the outbox, an archive the disk refuses does not
// stop sorting).
func newArchive(cfg config.Config, log *slog.Logger) review.Archive {
	if !cfg.Archive.Enabled {
		return nil
	}
	a, err := archive.Open(archive.Options{Dir: filepath.Join(cfg.StateDir, "items"),
		MaxItems: cfg.Archive.MaxItems, MaxBytes: int64(cfg.Archive.MaxMB) << 20})
	if err != nil {
		log.Error("item archive off: its folder cannot be used", "err", err)
		return nil
	}
	return a
}

// newWebServer is the operator's page for the station; closeUploads frees
// the upload classifier once the server stopped.
func newWebServer(cfg config.Config, p *parts, lk func() links.State, log *slog.Logger) (srv *web.Server, closeUploads func(), err error) {
	clf := p.clf
	up, err := uploadClassifier(cfg, clf, log)
	if err != nil {
		return nil, nil, err
	}
	closeUploads = func() {
		if up != clf {
			up.Close()
		}
	}
	token, err := cfg.HTTP.ReadToken()
	if err == nil {
		srv, err = web.New(web.Options{
			Listen: cfg.HTTP.Listen, Token: token, TokenAll: cfg.HTTP.TokenForAll, AllowedHosts: cfg.HTTP.AllowedHosts,
			Classifier: up, Station: p.station, Review: p.rv, Links: lk, Bins: pipeline.ConfiguredBins(cfg), Threshold: pipeline.ConfiguredThreshold(cfg, clf),
			Stall: cfg.Camera.StallTimeout.D(), Version: version, Log: log, Items: p.items, Model: modelInfo(clf),
			StationBusy: p.station.Busy,
		})
	}
	if err != nil {
		closeUploads()
		return nil, nil, err
	}
	return srv, closeUploads, nil
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
