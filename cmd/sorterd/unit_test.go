package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/sorterd/sorterd/internal/testenv"
)

// systemd/sorterd@.service is systemd/sorterd.service per instance: the
// same hardening and restart policy, with only the lines naming the
// instance (%i) changed. A line added to one unit and not the other fails.
func TestTemplateUnitFollowsTheUnit(t *testing.T) {
	read := func(name string) []string {
		b, err := os.ReadFile(filepath.Join(testenv.Root(), "systemd", name))
		if err != nil {
			t.Fatal(err)
		}
		return strings.Split(string(b), "\n")
	}
	plain, tmpl := read("sorterd.service"), read("sorterd@.service")
	perInstance := func(l string) bool { return strings.Contains(l, "%i") || strings.HasPrefix(l, "#") }
	for _, l := range tmpl {
		if !slices.Contains(plain, l) && !perInstance(l) {
			t.Errorf("sorterd@.service has %q, which neither is in sorterd.service nor names the instance", l)
		}
	}
	changed := []string{"Description=", "ExecStart=", "StateDirectory=", "CacheDirectory=", "Environment=XDG_CACHE_HOME=", "#"}
	for _, l := range plain {
		if slices.Contains(tmpl, l) {
			continue
		}
		if !slices.ContainsFunc(changed, func(p string) bool { return strings.HasPrefix(l, p) }) {
			t.Errorf("sorterd.service has %q, missing from sorterd@.service", l)
		}
	}
	for _, want := range []string{"ExecStart=/usr/local/bin/sorterd --config /etc/sorterd/%i.yaml", "StateDirectory=sorterd/%i",
		"Environment=SORTERD_STATE_DIR=/var/lib/sorterd/%i"} {
		if !slices.Contains(tmpl, want) {
			t.Errorf("sorterd@.service lacks %q", want)
		}
	}
}
