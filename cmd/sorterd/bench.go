package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"

	"github.com/sorterd/sorterd/config"
	"github.com/sorterd/sorterd/internal/cli"
	"github.com/sorterd/sorterd/settings"
	"github.com/sorterd/sorterd/stationbench"
)

// cmdBench measures the camera path (stationbench.Compute).
func cmdBench(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := cli.NewFlagSet("sorterd bench", "sorterd bench [flags]", stderr)
	var mf modelFlags
	mf.register(fs, "warn")
	n := fs.Int("n", 200, "iterations")
	fs.StringVar(&mf.tta, "tta", "", "extra views classified and averaged per frame, comma-separated (default none: the raw model; once and eval use "+defaultTTA+")")
	imgPath := fs.String("image", "", fmt.Sprintf("JPEG/PNG to use as the frame (default: a synthetic %d×%d frame)", settings.DefaultFrameWidth, settings.DefaultFrameHeight))
	asJSON := fs.Bool("json", false, "print one JSON object")
	fps := fs.Float64("fps", config.Default().Camera.FPS, "camera frames/s for the tta_per_frame auto line")
	if pos, err := cli.ParseInterspersed(fs, args); err != nil {
		return cli.FlagExit(err)
	} else if !cli.NoArgs(fs, pos) {
		return 2
	}
	if *fps <= 0 {
		fmt.Fprintln(stderr, "sorterd: bench: --fps must be > 0")
		return 2
	}
	if *n < 1 {
		fmt.Fprintln(stderr, "sorterd: bench: -n must be at least 1")
		return 2
	}
	c, err := mf.open(stderr)
	if err != nil {
		errLine(stderr, err)
		return 2
	}
	defer c.Close()
	encoded, frame, err := stationbench.Frame(*imgPath)
	if err != nil {
		errLine(stderr, err)
		return 2
	}
	defer frame.Close()
	rep, err := stationbench.Compute(ctx, c, encoded, frame, stationbench.ComputeOptions{Image: *imgPath, N: *n,
		Views: 1 + len(cli.SplitList(mf.tta)), FPS: *fps, AutoHave: len(config.Default().Model.TTA)})
	if err != nil {
		errLine(stderr, err)
		return 1
	}
	if *asJSON {
		_ = json.NewEncoder(stdout).Encode(rep)
		return 0
	}
	rep.Write(stdout)
	return 0
}
