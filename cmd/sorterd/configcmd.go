package main

import (
	"fmt"
	"io"
	"log/slog"

	"github.com/sorterd/sorterd/config"
	"github.com/sorterd/sorterd/internal/cli"
	"github.com/sorterd/sorterd/pipeline"
	"go.yaml.in/yaml/v3"
)

// cmdConfig: `sorterd config check [FILE]` validates a configuration file
// and prints every problem with its field and line; `sorterd config show
// [FILE]` prints the configuration in effect (the file, its defaults and
// the SORTERD_* environment), secrets masked.
func cmdConfig(args []string, stdout, stderr io.Writer) int {
	const synopsis = "sorterd config check|show [FILE]   (default FILE: " + config.DefaultPath + ")"
	for _, a := range args {
		if cli.IsHelp(a) {
			fmt.Fprintf(stdout, "Usage: %s\n", synopsis)
			return 0
		}
	}
	if len(args) == 0 || (args[0] != "check" && args[0] != "show") || len(args) > 2 {
		fmt.Fprintf(stderr, "usage: %s\n", synopsis)
		return 2
	}
	if args[0] == "show" {
		return configShow(args[1:], stdout, stderr)
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
	if err := pipeline.Check(c, nil, slog.New(slog.NewTextHandler(io.Discard, nil))); err != nil {
		fmt.Fprintf(stderr, "%s:\n%v\n", path, err)
		return 1
	}
	fmt.Fprintf(stdout, "%s: ok (station %s, %d bins, camera %s, model %s)\n", path, c.Station, len(c.Bins), c.Camera.Source, c.Model.Path)
	return 0
}

// configShow prints the effective configuration as YAML, with
// mqtt.password and http.token masked.
func configShow(args []string, stdout, stderr io.Writer) int {
	path := config.DefaultPath
	if len(args) == 1 {
		path = args[0]
	}
	c, err := config.Load(path)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	mask := func(s *string) {
		if *s != "" {
			*s = "********"
		}
	}
	mask(&c.MQTT.Password)
	mask(&c.HTTP.Token)
	b, err := yaml.Marshal(c)
	if err != nil {
		fmt.Fprintln(stderr, fmt.Errorf("config show: %w", err))
		return 1
	}
	fmt.Fprintf(stdout, "# %s, with defaults and SORTERD_* variables applied\n%s", path, b)
	return 0
}
