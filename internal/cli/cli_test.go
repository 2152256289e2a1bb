package cli

import (
	"bytes"
	"errors"
	"flag"
	"reflect"
	"strings"
	"testing"
)

// Flags may come after operands; "--" ends them; stray operands and
// flags that do not apply are named; -h is a success, anything else a
// usage error.
func TestFlags(t *testing.T) {
	var out bytes.Buffer
	fs := NewFlagSet("sorterd x", "sorterd x [flags]", &out)
	n := fs.Int("n", 1, "count")
	json := fs.Bool("json", false, "JSON")
	var data List
	fs.Var(&data, "data", "folder")
	pos, err := ParseInterspersed(fs, []string{"a.jpg", "-n", "3", "b.jpg", "--data", "d1", "--json", "--data", "d2", "--", "-c.jpg"})
	if err != nil || !reflect.DeepEqual(pos, []string{"a.jpg", "b.jpg", "-c.jpg"}) || *n != 3 || !*json {
		t.Fatalf("pos %v, n %d, json %v, %v", pos, *n, *json, err)
	}
	if data.String() != "d1,d2" {
		t.Errorf("data %v", data)
	}
	if got := IgnoredFlags(fs, "json", "seed"); !reflect.DeepEqual(got, []string{"--json"}) {
		t.Errorf("ignored %v", got)
	}
	if NoArgs(fs, []string{"stray"}) || !strings.Contains(out.String(), `unexpected argument "stray"`) || !strings.Contains(out.String(), "Usage: sorterd x [flags]") {
		t.Errorf("stray operand: %q", out.String())
	}
	if !NoArgs(fs, nil) {
		t.Error("no operands refused")
	}
	_, err = ParseInterspersed(NewFlagSet("y", "y", &out), []string{"-h"})
	if !errors.Is(err, flag.ErrHelp) || FlagExit(err) != 0 || FlagExit(errors.New("bad flag")) != 2 {
		t.Errorf("-h: %v", err)
	}
	var seen *flag.FlagSet
	Seen = func(f *flag.FlagSet) { seen = f }
	defer func() { Seen = nil }()
	fs.Usage()
	if seen != fs {
		t.Error("Seen not given the flag set")
	}
	for a, want := range map[string]bool{"-h": true, "--help": true, "help": true, "-x": false} {
		if IsHelp(a) != want {
			t.Errorf("IsHelp(%q) = %v", a, !want)
		}
	}
	if got := SplitList(" flip, ,rot180 ,"); !reflect.DeepEqual(got, []string{"flip", "rot180"}) {
		t.Errorf("SplitList: %q", got)
	}
}
