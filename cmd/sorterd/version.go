package main

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"

	"github.com/sorterd/sorterd/infer"
	"gocv.io/x/gocv"
)

func cmdVersion(w io.Writer) int {
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
