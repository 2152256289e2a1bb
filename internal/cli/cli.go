// Package cli is the plumbing sorterd's subcommands share: flag sets
// whose errors are returned (and whose -h the documentation reads, Seen),
// flags after operands, refusing stray operands and flags that do not
// apply, the exit code of a flag error, repeated and comma-separated
// flags.
package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
)

// Seen, when set, is given each command's flag set as its -h
// prints it: how the docs read every command's flags from the flag set
// the command parses (set only while they are rendered).
var Seen func(*flag.FlagSet)

// NewFlagSet is a subcommand's flag set: errors are returned, not fatal,
// and -h prints the synopsis line before the flags.
func NewFlagSet(name, synopsis string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		if Seen != nil {
			Seen(fs)
		}
		fmt.Fprintf(fs.Output(), "Usage: %s\n\nFlags:\n", synopsis)
		fs.PrintDefaults()
	}
	return fs
}

// IsHelp reports whether a asks for help, for the commands that parse
// their arguments without a flag set.
func IsHelp(a string) bool { return a == "-h" || a == "-help" || a == "--help" || a == "help" }

// FlagExit is the exit code for an error from parsing flags: asking for
// help (-h, --help) is a success, anything else a usage error. The flag
// package has already printed the usage or the error.
func FlagExit(err error) int {
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	return 2
}

// IgnoredFlags returns, of the flags named, those given on the command
// line: flags that would be silently ignored in the mode chosen (eval's
// station flags without --station, say), which a command refuses.
func IgnoredFlags(fs *flag.FlagSet, names ...string) []string {
	var given []string
	fs.Visit(func(f *flag.Flag) {
		if slices.Contains(names, f.Name) {
			given = append(given, "--"+f.Name)
		}
	})
	return given
}

// NoArgs refuses positional arguments for a command that takes none, so
// that a misspelt flag value is not silently dropped.
func NoArgs(fs *flag.FlagSet, pos []string) bool {
	if len(pos) == 0 {
		return true
	}
	fmt.Fprintf(fs.Output(), "%s: unexpected argument %q\n", fs.Name(), pos[0])
	fs.Usage()
	return false
}

// ParseInterspersed parses flags that may come after positional arguments
// (sorterd --once a.jpg --json), which the flag package alone stops at.
func ParseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if rest[0] == "--" {
			return append(pos, rest[1:]...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// List is a flag that may be repeated.
type List []string

func (l *List) String() string     { return strings.Join(*l, ",") }
func (l *List) Set(v string) error { *l = append(*l, v); return nil }

// SplitList is a comma-separated list's items, trimmed, without empty ones.
func SplitList(s string) []string {
	var out []string
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}
