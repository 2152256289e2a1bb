package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/sorterd/sorterd/camera"
	"github.com/sorterd/sorterd/config"
	"github.com/sorterd/sorterd/internal/cli"
)

// openCamera opens the configured source, oriented as the camera is
// mounted, with its exposure and white balance locked when
// camera.exposure says so: what the daemon classifies and what snapshot
// saves. The Lock says what locking did (the zero Lock with exposure:
// auto).
func openCamera(c config.Camera) (camera.Source, camera.Lock, error) {
	return camera.OpenOriented(camera.Options{Source: c.Source, Width: c.Width, Height: c.Height, FPS: c.FPS, Loop: c.Loop,
		Lock: c.Exposure == config.ExposureLocked}, camera.Orientation{Rotate: int(c.Rotate), Flip: camera.Flip(c.Flip)})
}

// logLock logs what camera.exposure: locked achieved at an open: info
// when both are locked, a warning otherwise (the colours then still
// follow the camera's automatic loops).
func logLock(log *slog.Logger, l camera.Lock) {
	if l.Full() {
		log.Info("camera exposure and white balance locked", "lock", l)
		return
	}
	log.Warn("camera.exposure is locked, but the camera is not fully locked", "lock", l)
}

// cmdCamera: `sorterd camera snapshot --config FILE OUT.jpg` saves one
// frame through the configured source and orientation, to aim the camera;
// `sorterd camera lock` locks its exposure and white balance and says how.
func cmdCamera(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	const synopsis = "sorterd camera snapshot [--config FILE] [--skip N] OUT.jpg\n       sorterd camera lock [--config FILE] [--settle N]"
	if len(args) > 0 && cli.IsHelp(args[0]) {
		fmt.Fprintf(stdout, "Usage: %s\n", synopsis)
		return 0
	}
	if len(args) > 0 && args[0] == "lock" {
		return cmdCameraLock(ctx, args[1:], stdout, stderr)
	}
	if len(args) == 0 || args[0] != "snapshot" {
		fmt.Fprintf(stderr, "usage: %s\n", synopsis)
		return 2
	}
	fs := cli.NewFlagSet("sorterd camera snapshot", synopsis, stderr)
	path := fs.String("config", config.DefaultPath, "configuration `file` whose camera section is used")
	skip := fs.Int("skip", 5, "frames dropped first (a camera's exposure settles over its first frames)")
	timeout := fs.Duration("timeout", 20*time.Second, "give up when no frame comes within this")
	pos, err := cli.ParseInterspersed(fs, args[1:])
	if err != nil {
		return cli.FlagExit(err)
	}
	if len(pos) != 1 {
		fmt.Fprintln(stderr, "sorterd: camera snapshot needs one output file (.jpg or .png)")
		return 2
	}
	cfg, err := config.Load(*path)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	stderr, stop := cameraLog(stderr)
	defer stop()
	if err := snapshot(ctx, cfg.Camera, *skip, *timeout, pos[0]); err != nil {
		errLine(stderr, err)
		return 1
	}
	fmt.Fprintf(stdout, "%s: frame from %s (rotate %d, flip %s)\n", pos[0], cfg.Camera.Source, cfg.Camera.Rotate, cfg.Camera.Flip)
	return 0
}

func snapshot(ctx context.Context, c config.Camera, skip int, timeout time.Duration, out string) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	src, _, err := openCamera(c)
	if err != nil {
		return err
	}
	defer src.Close()
	return camera.Snapshot(ctx, src, skip, out)
}

// cmdCameraLock: `sorterd camera lock [--config FILE]` opens the configured
// camera, lets its automatic exposure and white balance settle, locks
// them, and prints what the driver accepted (or why this source cannot be
// locked through OpenCV): the technician's check of camera.exposure:
// locked. Exit 0 when it ran, whatever the driver accepted; 1 when the
// camera cannot open or gives no frame after locking; 2 for usage and
// configuration errors.
func cmdCameraLock(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	const synopsis = "sorterd camera lock [--config FILE] [--settle N] [--timeout D]"
	fs := cli.NewFlagSet("sorterd camera lock", synopsis, stderr)
	path := fs.String("config", config.DefaultPath, "configuration `file` whose camera section is used")
	settle := fs.Int("settle", camera.DefaultSettle, "frames the automatic exposure and white balance run before they are locked")
	timeout := fs.Duration("timeout", 20*time.Second, "give up when no frame comes within this after locking")
	pos, err := cli.ParseInterspersed(fs, args)
	if err != nil {
		return cli.FlagExit(err)
	}
	if !cli.NoArgs(fs, pos) {
		return 2
	}
	if *settle < 1 {
		fmt.Fprintf(stderr, "sorterd: camera lock: --settle %d: must be at least 1\n", *settle)
		return 2
	}
	cfg, err := config.Load(*path)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	stderr, stop := cameraLog(stderr)
	defer stop()
	lctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	c := cfg.Camera
	l, err := camera.LockNow(lctx, camera.Options{Source: c.Source, Width: c.Width, Height: c.Height, FPS: c.FPS}, *settle)
	if err != nil {
		errLine(stderr, err)
		return 1
	}
	fmt.Fprintf(stdout, "%s: %s\n", cfg.Camera.Source, l)
	if l.Supported {
		fmt.Fprintf(stdout, "settled over %d frames; the driver keeps these until it is reset or the camera is unplugged\n", l.Settled)
	}
	if cfg.Camera.Exposure != config.ExposureLocked {
		fmt.Fprintf(stdout, "note: %s has camera.exposure: %s, so the daemon will not lock the camera itself\n", *path, cfg.Camera.Exposure)
	}
	return 0
}
