package main

import (
	"bytes"
	"context"
	"flag"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/sorterd/sorterd/internal/cli"
	"github.com/sorterd/sorterd/internal/clidoc"
	"github.com/sorterd/sorterd/internal/testenv"
)

// The files rendered from program() and the commands' flag sets.
const (
	cliDoc     = "docs/cli.md"
	manPage    = "share/man/man1/sorterd.1"
	bashScript = "share/bash-completion/completions/sorterd"
	generated  = "Generated from cmd/sorterd/commands.go by `go test ./cmd/sorterd -run TestCLIFiles -update`; do not edit."
)

// cliProgram is program() with each command's flags, read from the flag
// set the command parses (it is given to cli.Seen as -h prints it).
func cliProgram(t *testing.T) clidoc.Program {
	t.Helper()
	p := program()
	defer func() { cli.Seen = nil }()
	for i := range p.Commands {
		c := &p.Commands[i]
		var fs *flag.FlagSet
		cli.Seen = func(f *flag.FlagSet) { fs = f }
		if c.Name == "" {
			cmdDaemon(context.Background(), []string{"-h"}, io.Discard)
		} else if code := run(context.Background(), append(c.Words(), "-h"), io.Discard, io.Discard); code != 0 {
			t.Errorf("sorterd %s -h: exit %d", c.Name, code)
		}
		if fs == nil {
			continue // no flag set: config, version, help
		}
		fs.VisitAll(func(f *flag.Flag) {
			arg, usage := flag.UnquoteUsage(f)
			fl := clidoc.Flag{Name: f.Name, Arg: arg, Usage: usage, Default: f.DefValue}
			if b, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
				fl.Switch, fl.Arg = true, ""
				if fl.Default == "false" {
					fl.Default = ""
				}
			} else if v, ok := flagValues[f.Name]; ok {
				fl.Value = v
			} else {
				t.Errorf("sorterd %s --%s takes a value: say which in flagValues (commands.go)", c.Name, f.Name)
			}
			if d, ok := flagDocDefaults[f.Name]; ok {
				fl.Default = d
			}
			c.Flags = append(c.Flags, fl)
		})
	}
	return p
}

// cliFiles renders every file from p, by path under the module root.
func cliFiles(t *testing.T, p clidoc.Program) map[string]string {
	t.Helper()
	doc, err := os.ReadFile(filepath.Join(testenv.Root(), cliDoc))
	if err != nil {
		t.Fatal(err)
	}
	md := string(doc)
	for _, b := range []struct{ name, text string }{
		{"commands", clidoc.MarkdownCommands(p)},
		{"flags", clidoc.MarkdownFlags(p)},
	} {
		if md, err = clidoc.ReplaceBlock(md, b.name+" ("+strings.TrimSuffix(generated, "; do not edit.")+")", b.text); err != nil {
			t.Fatalf("%s: %v", cliDoc, err)
		}
	}
	return map[string]string{
		cliDoc:     md,
		manPage:    `.\" ` + generated + "\n" + clidoc.Man(p),
		bashScript: clidoc.Bash(p, generated),
	}
}

// docs/cli.md's command list and flag tables, the man page and the bash
// completion are what the command table and the flag sets give: a
// command or flag added, removed or reworded without rendering them
// again fails here (-update writes them).
func TestCLIFiles(t *testing.T) {
	p := cliProgram(t)
	for path, want := range cliFiles(t, p) {
		full := filepath.Join(testenv.Root(), path)
		if *update {
			if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(full, []byte(want), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(full)
		if err != nil {
			t.Errorf("%s: %v (go test ./cmd/sorterd -run TestCLIFiles -update writes it)", path, err)
			continue
		}
		if string(got) != want {
			t.Errorf("%s differs from what commands.go and the flag sets give (go test ./cmd/sorterd -run TestCLIFiles -update, then review the diff):\n%s",
				path, firstDiff(string(got), want))
		}
	}
	// Every command help knows is described, and every first word
	// described is one help knows.
	for _, c := range p.Commands {
		if w := c.Words(); len(w) > 0 && !slices.Contains(helpTopics, w[0]) {
			t.Errorf("command %q: not a help topic", c.Name)
		}
	}
	// The flags the docs list are the ones -h lists (bench, for one).
	var b bytes.Buffer
	run(context.Background(), []string{"bench", "-h"}, io.Discard, &b)
	for _, c := range p.Commands {
		if c.Name != "bench" {
			continue
		}
		for _, f := range c.Flags {
			if !strings.Contains(b.String(), "  -"+f.Name) {
				t.Errorf("bench -h does not list -%s", f.Name)
			}
		}
		if len(c.Flags) < 10 {
			t.Errorf("bench: %d flags read", len(c.Flags))
		}
	}
}

// firstDiff shows where two texts part.
func firstDiff(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := 0; i < max(len(al), len(bl)); i++ {
		var x, y string
		if i < len(al) {
			x = al[i]
		}
		if i < len(bl) {
			y = bl[i]
		}
		if x != y {
			return "line " + strconv.Itoa(i+1) + ":\n  file: " + x + "\n  want: " + y
		}
	}
	return ""
}

// The man page formats without a warning, as lintian checks it (man
// --warnings), and has a section for each command.
func TestManPage(t *testing.T) {
	testenv.Need(t, "/usr/bin/man")
	path := filepath.Join(testenv.Root(), manPage)
	cmd := exec.Command("man", "--warnings", "-E", "UTF-8", "-l", "-Tutf8", "-Z", path)
	cmd.Env = append(os.Environ(), "LC_ALL=C.UTF-8", "MANROFFSEQ=", "MANWIDTH=80")
	var errb bytes.Buffer
	cmd.Stderr = &errb
	if err := cmd.Run(); err != nil || errb.Len() > 0 {
		t.Fatalf("man --warnings %s: %v\n%s", path, err, errb.String())
	}
	text, err := exec.Command("man", "-l", "-Tutf8", "-P", "cat", path).Output()
	if err != nil {
		t.Fatal(err)
	}
	plain := stripOverstrike(string(text))
	for _, want := range []string{"sorterd - camera-based waste-sorting station", "sorterd camera snapshot [--config FILE] OUT.jpg",
		"--finetune-layers N", "EXIT STATUS", "/etc/sorterd/sorterd.yaml"} {
		if !strings.Contains(plain, want) {
			t.Errorf("the formatted man page lacks %q", want)
		}
	}
}

// stripOverstrike removes the backspace sequences grotty uses for bold
// and underline.
func stripOverstrike(s string) string {
	var b []rune
	for _, r := range s {
		if r == '\b' {
			if len(b) > 0 {
				b = b[:len(b)-1]
			}
			continue
		}
		b = append(b, r)
	}
	return strings.ReplaceAll(string(b), "‐", "-") // groff's hyphen
}

// The bash completion, run in bash as completion runs it: commands, a
// command's flags, a flag's choices, files by their pattern, a two-word
// command, help's topics, --once anywhere.
func TestBashCompletion(t *testing.T) {
	bash := testenv.Need(t, "/bin/bash")
	dir := t.TempDir()
	for _, f := range []string{"a.tflite", "b.txt", "c.yaml", "p.jpg"} {
		os.WriteFile(filepath.Join(dir, f), nil, 0o644)
	}
	os.Mkdir(filepath.Join(dir, "sub"), 0o755)
	script := filepath.Join(testenv.Root(), bashScript)
	for _, tc := range []struct {
		line string // the words typed; the last is being completed
		want string // what is offered, sorted
	}{
		{"sorterd be", "bench"},
		{"sorterd c", "calibrate camera config"},
		{"sorterd --", "--config --help --once --version"},
		{"sorterd --config ", "c.yaml sub"},
		{"sorterd config ", "check show"},
		{"sorterd config check ", "c.yaml sub"},
		{"sorterd camera l", "lock"},
		{"sorterd camera snapshot --c", "--config"},
		{"sorterd camera snapshot ", "p.jpg sub"},
		{"sorterd bench --model ", "a.tflite sub"},
		{"sorterd bench --delegate ", "cpu edgetpu gpu xnnpack"},
		{"sorterd bench --log-level w", "warn"},
		{"sorterd bench -n ", ""},
		{"sorterd bench --ima", "--image"},
		{"sorterd train --data ", "sub"},
		{"sorterd eval --split t", "test train"},
		{"sorterd photo.jpg --once --j", "--json"},
		{"sorterd --once ", "p.jpg sub"},
		{"sorterd help ", "--once bench calibrate camera config eval export help serve train version"},
		{"sorterd bogus ", ""},
	} {
		words := strings.Split(tc.line, " ")
		var quoted []string
		for _, w := range words {
			quoted = append(quoted, "'"+w+"'")
		}
		prog := "source '" + script + "' && COMP_WORDS=(" + strings.Join(quoted, " ") + ") && COMP_CWORD=" + strconv.Itoa(len(words)-1) +
			" && { _sorterd; printf '%s\\n' \"${COMPREPLY[@]}\"; }"
		cmd := exec.Command(bash, "--norc", "--noprofile", "-c", prog)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Errorf("%q: %v\n%s", tc.line, err, out)
			continue
		}
		got := strings.Fields(string(out))
		slices.Sort(got)
		if strings.Join(got, " ") != tc.want {
			t.Errorf("%q: offered %q, want %q", tc.line, strings.Join(got, " "), tc.want)
		}
	}
}
