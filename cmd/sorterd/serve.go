package main

import (
	"context"
	"fmt"
	"io"

	"github.com/sorterd/sorterd/config"
	"github.com/sorterd/sorterd/infer"
	"github.com/sorterd/sorterd/internal/cli"
	"github.com/sorterd/sorterd/pipeline"
	"github.com/sorterd/sorterd/web"
)

// cmdServe serves the classify page and API without camera or GPIO: a
// bench with a model and a browser. With --config it also knows the
// station's bins and threshold, so it shows where an item would go.
func cmdServe(ctx context.Context, args []string, stderr io.Writer) int {
	fs := cli.NewFlagSet("sorterd serve", "sorterd serve [flags]", stderr)
	var mf modelFlags
	mf.register(fs, "info")
	fs.StringVar(&mf.tta, "tta", defaultTTA, "extra views averaged per image, comma-separated (\"\" for none)")
	listen := fs.String("listen", "127.0.0.1:8080", "address to serve on")
	token := fs.String("token", "", "bearer token required by /api/*")
	cfgPath := fs.String("config", "", "station configuration `file` to take bins and threshold from")
	maxPixels := fs.Int("max-pixels", 24_000_000, "refuse uploads with more pixels than this, before decoding")
	maxBytes := fs.Int64("max-bytes", 16<<20, "refuse uploads larger than this")
	if err := fs.Parse(args); err != nil {
		return cli.FlagExit(err)
	}
	if !cli.NoArgs(fs, fs.Args()) {
		return 2
	}
	log, err := newLogger(stderr, mf.logLevel)
	if err != nil {
		errLine(stderr, err)
		return 2
	}
	var cfg *config.Config
	if *cfgPath != "" {
		c, err := config.Load(*cfgPath)
		if err != nil {
			errLine(stderr, err)
			return 2
		}
		cfg = &c
	}
	c, err := mf.open(stderr)
	if err != nil {
		errLine(stderr, err)
		return 2
	}
	defer c.Close()
	var bins []pipeline.Bin
	threshold := 0.0
	if cfg != nil {
		bins, threshold = pipeline.ConfiguredBins(*cfg), pipeline.ConfiguredThreshold(*cfg, c)
	}
	srv, err := web.New(web.Options{Listen: *listen, Token: *token, Classifier: c, Bins: bins, Threshold: threshold,
		Limits: infer.ImageLimits{MaxBytes: *maxBytes, MaxPixels: *maxPixels}, Version: version, Log: log})
	if err != nil {
		errLine(stderr, err)
		return 2
	}
	if err := srv.Run(ctx); err != nil {
		errLine(stderr, fmt.Errorf("serve: %w", err))
		return 1
	}
	return 0
}
