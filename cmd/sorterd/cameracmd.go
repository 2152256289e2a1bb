package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/sorterd/sorterd/camera"
	"github.com/sorterd/sorterd/config"
	"gocv.io/x/gocv"
)

// openCamera opens the configured source, oriented as the camera is
// mounted: what the daemon classifies and what snapshot saves.
func openCamera(c config.Camera) (camera.Source, error) {
	src, err := camera.Open(camera.Options{Source: c.Source, Width: c.Width, Height: c.Height, FPS: c.FPS, Loop: c.Loop})
	if err != nil {
		return nil, err
	}
	o, err := camera.Orient(src, camera.Orientation{Rotate: int(c.Rotate), Flip: camera.Flip(c.Flip)})
	if err != nil {
		src.Close()
		return nil, err
	}
	return o, nil
}

// cmdCamera: `sorterd camera snapshot --config FILE OUT.jpg` saves one
// frame through the configured source and orientation, to aim the camera.
func cmdCamera(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	const synopsis = "sorterd camera snapshot [--config FILE] [--skip N] OUT.jpg"
	if len(args) > 0 && isHelp(args[0]) {
		fmt.Fprintf(stdout, "Usage: %s\n", synopsis)
		return 0
	}
	if len(args) == 0 || args[0] != "snapshot" {
		fmt.Fprintf(stderr, "usage: %s\n", synopsis)
		return 2
	}
	fs := newFlagSet("sorterd camera snapshot", synopsis, stderr)
	path := fs.String("config", config.DefaultPath, "configuration `file` whose camera section is used")
	skip := fs.Int("skip", 5, "frames dropped first (a camera's exposure settles over its first frames)")
	timeout := fs.Duration("timeout", 20*time.Second, "give up when no frame comes within this")
	pos, err := parseInterspersed(fs, args[1:])
	if err != nil {
		return flagExit(err)
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
	src, err := openCamera(c)
	if err != nil {
		return err
	}
	defer src.Close()
	var f camera.Frame
	for i := 0; i <= skip; i++ {
		f.Close()
		f, err = src.Read(ctx)
		if errors.Is(err, camera.ErrEnded) && i > 0 {
			break // a short file or pipeline: keep the last frame
		}
		if err != nil {
			return fmt.Errorf("snapshot: frame %d: %w", i+1, err)
		}
	}
	defer f.Close()
	if !gocv.IMWrite(out, f.Mat) {
		return fmt.Errorf("snapshot: cannot write %s (a .jpg or .png name in a writable folder)", out)
	}
	if st, err := os.Stat(out); err != nil || st.Size() == 0 {
		return fmt.Errorf("snapshot: %s was not written", out)
	}
	return nil
}
