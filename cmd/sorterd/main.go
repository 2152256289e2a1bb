// Command sorterd runs a camera-based waste-sorting station, and classifies
// single images for bench tests (sorterd --once IMG).
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

// version is set at build time (-ldflags -X main.version=...).
var version = "dev"

const usage = `sorterd — camera-based waste-sorting station

Usage:
  sorterd [--config FILE]               run the station (default /etc/sorterd/sorterd.yaml)
  sorterd --once IMG [IMG...] [flags]   classify images and exit
  sorterd serve [--model M] [--listen A] the classify page and API, without camera or GPIO
  sorterd bench [flags]                 measure the camera path and raw TFLite invoke
  sorterd train --data DIR [flags]      train the garbage head, export one .tflite
  sorterd eval --model M --data DIR     accuracy, per-class metrics, confusion matrix
  sorterd export --head H --base B      rebuild a model from a trained head and its base
  sorterd config check [FILE]           validate a configuration file
  sorterd config show [FILE]            print the configuration in effect (defaults, file, SORTERD_* variables; secrets masked)
  sorterd camera snapshot [--config FILE] OUT.jpg
                                        save one frame from the configured camera (rotated/flipped), to aim it
  sorterd version                       print versions (also --version)

Run "sorterd --once -h" or "sorterd bench -h" for flags.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run is main without the process: tests call it with their own writers.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		switch args[0] {
		case "version", "--version", "-version":
			return cmdVersion(stdout)
		case "bench":
			return cmdBench(ctx, args[1:], stdout, stderr)
		case "train":
			return cmdTrain(ctx, args[1:], stdout, stderr)
		case "eval":
			return cmdEval(ctx, args[1:], stdout, stderr)
		case "export":
			return cmdExport(args[1:], stdout, stderr)
		case "config":
			return cmdConfig(args[1:], stdout, stderr)
		case "camera":
			return cmdCamera(ctx, args[1:], stdout, stderr)
		case "serve":
			return cmdServe(ctx, args[1:], stderr)
		case "help", "-h", "--help":
			fmt.Fprint(stdout, usage)
			return 0
		}
	}
	for _, a := range args {
		if a == "--once" || a == "-once" || strings.HasPrefix(a, "--once=") {
			return cmdOnce(ctx, args, stdout, stderr)
		}
	}
	return cmdDaemon(ctx, args, stderr)
}

// parseInterspersed parses flags that may come after positional arguments
// (sorterd --once a.jpg --json), which the flag package alone stops at.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if rest[0] == "--" {
			return append(pos, rest[1:]...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

func newLogger(w io.Writer, level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("log level %q: want debug, info, warn or error", level)
	}
	return slog.New(slog.NewTextHandler(logWriter(w), &slog.HandlerOptions{Level: l})), nil
}

// errLine prints the one line the CLI gives for a failure.
func errLine(w io.Writer, err error) { fmt.Fprintf(w, "sorterd: %v\n", err) }
