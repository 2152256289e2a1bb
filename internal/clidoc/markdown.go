package clidoc

import (
	"fmt"
	"strings"
)

// MarkdownCommands is the command list for a reference page: the usage
// lines in a code block.
func MarkdownCommands(p Program) string {
	var b strings.Builder
	b.WriteString("```\n")
	for _, c := range p.Commands {
		for _, u := range c.Uses {
			syn := p.synopsis(c, u)
			if len(syn) > usageColumn-2 {
				fmt.Fprintf(&b, "%s\n%s%s\n", syn, strings.Repeat(" ", usageColumn), u.Summary)
				continue
			}
			fmt.Fprintf(&b, "%-*s%s\n", usageColumn, syn+" ", u.Summary)
		}
	}
	b.WriteString("```\n")
	return b.String()
}

// MarkdownFlags is one table per command that has flags: each flag, its
// default and what it does.
func MarkdownFlags(p Program) string {
	var b strings.Builder
	first := true
	for _, c := range p.Commands {
		if len(c.Flags) == 0 {
			continue
		}
		if !first {
			b.WriteString("\n")
		}
		first = false
		name := strings.TrimSpace(p.Name + " " + c.Name)
		fmt.Fprintf(&b, "**`%s`**\n\n| flag | default | meaning |\n| --- | --- | --- |\n", name)
		for _, f := range c.Flags {
			def := "–"
			switch {
			case strings.Contains(f.Default, " "): // words, not a value
				def = f.Default
			case f.Default != "":
				def = "`" + f.Default + "`"
			}
			fmt.Fprintf(&b, "| `%s` | %s | %s |\n", withArg(f), cell(def), cell(f.Usage))
		}
	}
	return b.String()
}

// cell escapes what would end a table cell.
func cell(s string) string { return strings.ReplaceAll(s, "|", `\|`) }

// ReplaceBlock replaces the text between the lines "<!-- begin NAME -->"
// and "<!-- end NAME -->" in doc; it fails if doc has no such block.
func ReplaceBlock(doc, name, text string) (string, error) {
	begin, end := "<!-- begin "+name+" -->\n", "<!-- end "+name+" -->"
	i := strings.Index(doc, begin)
	j := strings.Index(doc, end)
	if i < 0 || j < i {
		return "", fmt.Errorf("no block %q (%s ... %s)", name, strings.TrimSpace(begin), end)
	}
	return doc[:i+len(begin)] + text + doc[j:], nil
}
