package clidoc

import (
	"strings"
	"testing"
)

func toy() Program {
	return Program{
		Name: "toy", Title: "a test program",
		Commands: []Command{
			{Uses: []Use{{Args: "[--config FILE]", Summary: "run"}}, Flags: []Flag{{Name: "config", Arg: "file", Value: Value{Kind: File}}}},
			{Name: "a-command-with-a-long-name", Uses: []Use{{Args: "--with many [ARGUMENTS]", Summary: "does much"}}},
			{Name: "pick", Uses: []Use{{Summary: "picks"}}, Flags: []Flag{
				{Name: "n", Arg: "int", Default: "3", Usage: "how many"},
				{Name: "mode", Arg: "string", Default: "a,b,c", Usage: "one of | these", Value: Value{Kind: Choice, Choices: []string{"a", "b"}}},
				{Name: "dry", Switch: true, Usage: "-x means nothing"},
			}},
		},
		Footer: []string{"footer"},
		Exit:   []Exit{{0, "ok"}, {2, ".usage"}},
	}
}

// The help text: summaries in one column, a synopsis too long for it on a
// line of its own.
func TestUsage(t *testing.T) {
	want := `toy — a test program

Usage:
  toy [--config FILE]                   run
  toy a-command-with-a-long-name --with many [ARGUMENTS]
                                        does much
  toy pick                              picks

footer
`
	if got := Usage(toy()); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

// A flag table escapes what would end a cell, and names each value.
func TestMarkdownFlags(t *testing.T) {
	got := MarkdownFlags(toy())
	for _, want := range []string{"| `--config FILE` | – |", "| `-n INT` | `3` | how many |", "| `--mode NAME` | `a,b,c` | one of \\| these |", "| `--dry` | – | -x means nothing |"} {
		if !strings.Contains(got, want) {
			t.Errorf("no %q in\n%s", want, got)
		}
	}
	doc := "a\n<!-- begin x -->\nold\n<!-- end x -->\nb\n"
	if d, err := ReplaceBlock(doc, "x", "new\n"); err != nil || d != "a\n<!-- begin x -->\nnew\n<!-- end x -->\nb\n" {
		t.Errorf("ReplaceBlock: %q %v", d, err)
	}
	if _, err := ReplaceBlock(doc, "y", "new\n"); err == nil {
		t.Error("a missing block was replaced")
	}
}

// roff: options' hyphens are minus signs, a line never starts with a
// control character, a list of values may break after its commas.
func TestMan(t *testing.T) {
	got := Man(toy())
	for _, want := range []string{".TH TOY 1", `\fB\-\-mode\fR \fINAME\fR`, `(default: a,\:b,\:c)`, `\- a test program`, `\&.usage`, `\-x means nothing`} {
		if !strings.Contains(got, want) {
			t.Errorf("no %q in\n%s", want, got)
		}
	}
}
