// Command sorterd runs a camera-based waste-sorting station, and classifies
// single images for bench tests (sorterd --once IMG).
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"

	"github.com/sorterd/sorterd/internal/cli"
	"github.com/sorterd/sorterd/internal/journal"
)

// version is set at build time (-ldflags -X main.version=...).
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run is main without the process: tests call it with their own writers.
//
// Exit codes follow the flag package's convention: 0 on success and for
// -h/--help/--version, 1 when the work failed, 2 for a usage error (an
// unknown command, flag or argument, a configuration that does not load,
// or one naming a model or pin the daemon finds it cannot use at start).
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		switch args[0] {
		case "version", "--version", "-version":
			return cmdVersion(args[1:], stdout, stderr)
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
		case "calibrate":
			return cmdCalibrate(ctx, args[1:], stdout, stderr)
		case "serve":
			return cmdServe(ctx, args[1:], stderr)
		case "help", "-h", "-help", "--help":
			if len(args) > 1 && args[0] == "help" {
				return cmdHelp(ctx, args[1], stdout, stderr)
			}
			fmt.Fprint(stdout, usage)
			return 0
		}
	}
	for _, a := range args {
		if isOnceFlag(a) {
			return cmdOnce(ctx, args, stdout, stderr)
		}
	}
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		// Not a command: a misspelt one must not start the daemon with
		// the default configuration.
		fmt.Fprintf(stderr, "sorterd: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	return cmdDaemon(ctx, args, stderr)
}

// helpTopics are the commands "sorterd help COMMAND" explains: each
// one's -h ("once" and "--once" are the one-shot classifier).
var helpTopics = []string{"version", "bench", "train", "eval", "export", "config", "camera", "calibrate", "serve", "once", "--once", "help"}

// cmdHelp is "sorterd help COMMAND": COMMAND -h, printed on stdout (it is
// the output asked for, not a diagnostic), exit 0. An unknown command is
// a usage error, on stderr.
func cmdHelp(ctx context.Context, cmd string, stdout, stderr io.Writer) int {
	if cli.IsHelp(cmd) {
		cmd = "help"
	}
	if !slices.Contains(helpTopics, cmd) {
		fmt.Fprintf(stderr, "sorterd: help: unknown command %q\n\n%s", cmd, usage)
		return 2
	}
	switch cmd {
	case "once":
		cmd = "--once"
	case "help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	return run(ctx, []string{cmd, "-h"}, stdout, stdout)
}

// isOnceFlag reports whether a is the --once switch that selects the
// one-shot classifier (it may come after the images).
func isOnceFlag(a string) bool {
	return a == "--once" || a == "-once" || strings.HasPrefix(a, "--once=") || strings.HasPrefix(a, "-once=")
}

func newLogger(w io.Writer, level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("log level %q: want debug, info, warn or error", level)
	}
	return slog.New(slog.NewTextHandler(journal.Writer(w), &slog.HandlerOptions{Level: l})), nil
}

// errLine prints the one line the CLI gives for a failure.
func errLine(w io.Writer, err error) { fmt.Fprintf(w, "sorterd: %v\n", err) }
