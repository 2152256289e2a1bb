package main

import (
	"fmt"
	"io"
	"runtime"

	"github.com/sorterd/sorterd/infer"
	"gocv.io/x/gocv"
)

func cmdVersion(w io.Writer) int {
	fmt.Fprintf(w, "sorterd %s\n", version)
	fmt.Fprintf(w, "go      %s %s/%s\n", runtime.Version(), runtime.GOOS, runtime.GOARCH)
	fmt.Fprintf(w, "tflite  %s\n", infer.TFLiteVersion())
	fmt.Fprintf(w, "opencv  %s (gocv %s)\n", gocv.OpenCVVersion(), gocv.Version())
	return 0
}
