package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"

	"github.com/sorterd/sorterd/config"
	"github.com/sorterd/sorterd/infer"
	"go.yaml.in/yaml/v3"
)

// cmdConfig: `sorterd config check [FILE]` validates a configuration file
// and prints every problem with its field and line; `sorterd config show
// [FILE]` prints the configuration in effect (the file, its defaults and
// the SORTERD_* environment), secrets masked.
func cmdConfig(args []string, stdout, stderr io.Writer) int {
	const synopsis = "sorterd config check|show [FILE]   (default FILE: " + config.DefaultPath + ")"
	for _, a := range args {
		if isHelp(a) {
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
	if err := checkStation(c, nil, slog.New(slog.NewTextHandler(io.Discard, nil))); err != nil {
		fmt.Fprintf(stderr, "%s:\n%v\n", path, err)
		return 1
	}
	fmt.Fprintf(stdout, "%s: ok (station %s, %d bins, camera %s, model %s)\n", path, c.Station, len(c.Bins), c.Camera.Source, c.Model.Path)
	return 0
}

// checkStation checks what config.Load cannot: the model loads (with its
// delegate, or its fallback) and has labels, the TTA views exist, and
// every bin's labels are labels of the model. `config check` and a reload
// (before the running station is stopped) both run it.
//
// running is the configuration in service during a reload, nil otherwise:
// an Edge TPU that the running station holds cannot take a second
// interpreter, so there the model is parsed and its labels checked
// without one.
func checkStation(c config.Config, running *config.Config, log *slog.Logger) error {
	if _, err := infer.ViewsByName(c.Model.TTA); err != nil {
		return fmt.Errorf("model.tta: %w", err)
	}
	delegate := c.Model.Delegate
	if delegate == infer.DelegateEdgeTPU && running != nil && running.Model.Delegate == infer.DelegateEdgeTPU {
		delegate = "" // see above: checked below without an interpreter
	}
	var labels []string
	if delegate == "" {
		l, err := infer.ModelLabels(c.Model.Path, c.Model.Labels)
		if err != nil {
			return fmt.Errorf("model.path: %w", err)
		}
		labels = l
	} else {
		clf, err := infer.New(infer.Options{
			Model: c.Model.Path, Labels: c.Model.Labels, Delegate: delegate, Fallback: c.Model.Fallback,
			EdgeTPUDevice: c.Model.EdgeTPUDevice, Threads: 1, Interpreters: 1, TTA: c.Model.TTA, Logger: log,
		})
		if err != nil {
			return fmt.Errorf("model.path: %w", err)
		}
		labels = clf.Labels()
		clf.Close()
	}
	var errs []error
	for i, b := range c.Bins {
		for _, l := range b.Labels {
			if !slices.Contains(labels, l) {
				errs = append(errs, fmt.Errorf("bins[%d] (%s): label %q is not one of the model's labels %v", i, b.Name, l, labels))
			}
		}
	}
	return errors.Join(errs...)
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
