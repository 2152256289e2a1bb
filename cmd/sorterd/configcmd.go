package main

import (
	"fmt"
	"io"

	"github.com/sorterd/sorterd/config"
	"github.com/sorterd/sorterd/infer"
)

// cmdConfig: `sorterd config check [FILE]` validates a configuration file
// and prints every problem with its field and line.
func cmdConfig(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "check" || len(args) > 2 {
		fmt.Fprintln(stderr, "usage: sorterd config check [FILE]")
		return 2
	}
	path := config.DefaultPath
	if len(args) == 2 {
		path = args[1]
	}
	c, err := config.Load(path)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	if _, err := infer.ViewsByName(c.Model.TTA); err != nil {
		fmt.Fprintf(stderr, "%s:\nmodel.tta: %v\n", path, err)
		return 1
	}
	fmt.Fprintf(stdout, "%s: ok (station %s, %d bins, camera %s, model %s)\n", path, c.Station, len(c.Bins), c.Camera.Source, c.Model.Path)
	return 0
}
