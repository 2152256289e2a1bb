package main

import (
	"fmt"
	"io"
	"os"

	"github.com/sorterd/sorterd/internal/liblog"
)

// routeLibLog routes the lines OpenCV and the libraries under it write to
// fd 2 through slog (internal/liblog), for the commands that open a
// camera: set the Capture's logger once there is one. out is where the
// command's own output and log go: the stderr the process had, when
// stderr is the process's (the journal's stream under systemd, which
// journal.Writer recognises). Routing that cannot start leaves those lines raw
// and says so.
func routeLibLog(stderr io.Writer) (out io.Writer, c *liblog.Capture) {
	c, err := liblog.Start()
	if err != nil {
		fmt.Fprintf(stderr, "sorterd: %v; OpenCV's own messages stay raw on stderr\n", err)
		return stderr, nil
	}
	if f, ok := stderr.(*os.File); ok && f.Fd() == 2 {
		return c.Stderr(), c
	}
	return stderr, c
}

// cameraLog is routeLibLog for a one-shot camera command: the libraries'
// warnings and errors are logged on out; stop ends the routing.
func cameraLog(stderr io.Writer) (out io.Writer, stop func()) {
	out, c := routeLibLog(stderr)
	log, _ := newLogger(out, "warn")
	c.SetLogger(log)
	return out, c.Stop
}
