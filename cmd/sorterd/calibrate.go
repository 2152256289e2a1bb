package main

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"time"

	"github.com/sorterd/sorterd/config"
	"github.com/sorterd/sorterd/internal/cli"
	"github.com/sorterd/sorterd/internal/statelock"
	"github.com/sorterd/sorterd/locate"
	"github.com/sorterd/sorterd/pipeline"
)

// cmdCalibrate: `sorterd calibrate` records the empty tray as the colour
// reference (state_dir/reference.json) that locate.balance: reference
// corrects every crop back to. Run at setup, and after changing the
// lamp, the tray or the camera's settings, with the daemon stopped.
func cmdCalibrate(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	const synopsis = "sorterd calibrate [--config FILE] [--timeout D]"
	fs := cli.NewFlagSet("sorterd calibrate", synopsis, stderr)
	path := fs.String("config", config.DefaultPath, "configuration `file` (camera, ROI, state_dir)")
	timeout := fs.Duration("timeout", 30*time.Second, "give up when the tray has not been seen empty and still within this")
	if err := fs.Parse(args); err != nil {
		return cli.FlagExit(err)
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "sorterd: calibrate takes no arguments (got %q)\nusage: %s\n", fs.Args(), synopsis)
		return 2
	}
	cfg, err := config.Load(*path)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	lock, err := statelock.Take(cfg.StateDir)
	if err != nil {
		errLine(stderr, fmt.Errorf("calibrate: %w (stop the daemon first: systemctl stop sorterd)", err))
		return 1
	}
	defer lock.Close()
	lo := pipeline.TrayOptions(cfg, locate.Reference{})
	stderr, stop := cameraLog(stderr)
	defer stop()
	src, _, err := openCamera(cfg.Camera)
	if err != nil {
		errLine(stderr, err)
		return 1
	}
	defer src.Close()
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	ref, err := locate.Calibrate(ctx, src, lo)
	if err != nil {
		errLine(stderr, err)
		return 1
	}
	out := filepath.Join(cfg.StateDir, locate.ReferenceFile)
	if err := locate.SaveReference(out, ref); err != nil {
		errLine(stderr, err)
		return 1
	}
	fmt.Fprintf(stdout, "%s: empty tray B %.0f G %.0f R %.0f over %v; start the station to use it\n",
		out, ref.Tray[0], ref.Tray[1], ref.Tray[2], ref.ROI)
	return 0
}
