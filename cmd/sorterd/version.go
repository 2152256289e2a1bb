package main

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"

	"github.com/sorterd/sorterd/infer"
	"github.com/sorterd/sorterd/internal/cli"
	"gocv.io/x/gocv"
)

// cmdVersion prints the versions. It takes no arguments: -h prints its
// usage, anything else (a stray word, a flag it does not have) is a
// usage error rather than silently ignored.
func cmdVersion(args []string, w, stderr io.Writer) int {
	const synopsis = "Usage: sorterd version (or sorterd --version)\n\nPrints the versions of sorterd, Go, TFLite and OpenCV (gocv).\n"
	if len(args) > 0 {
		if cli.IsHelp(args[0]) {
			fmt.Fprint(w, synopsis)
			return 0
		}
		fmt.Fprintf(stderr, "sorterd version: unexpected argument %q\n%s", args[0], synopsis)
		return 2
	}
	fmt.Fprintf(w, "sorterd %s\n", version)
	fmt.Fprintf(w, "go      %s %s/%s\n", runtime.Version(), runtime.GOOS, runtime.GOARCH)
	fmt.Fprintf(w, "tflite  %s\n", infer.TFLiteVersion())
	fmt.Fprintf(w, "opencv  %s (gocv %s)\n", gocv.OpenCVVersion(), gocvVersion())
	return 0
}

// gocvVersion is the gocv module version linked into this binary, from the
// build information: gocv.Version() is a constant in gocv's source that
// v0.32.0 left at "0.31.0".
func gocvVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if d.Path == "gocv.io/x/gocv" {
				if d.Replace != nil {
					d = d.Replace
				}
				return d.Version
			}
		}
	}
	return gocv.Version() + " (from gocv's source; no build information)"
}
