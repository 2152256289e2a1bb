package clidoc

import (
	"fmt"
	"regexp"
	"strings"
)

var commaInWord = regexp.MustCompile(`,(\S)`)

// Man is the program's manual page (section 1), in roff for man(1).
func Man(p Program) string {
	var b strings.Builder
	upper := strings.ToUpper(p.Name)
	fmt.Fprintf(&b, ".TH %s 1 \"\" \"%s\" \"User Commands\"\n", upper, p.Name)
	// Ragged right and no hyphenation: flag names, paths and lists of
	// values do not stretch or split well.
	b.WriteString(".ad l\n.nh\n")
	b.WriteString(".SH NAME\n")
	fmt.Fprintf(&b, "%s \\- %s\n", roff(p.Name), roff(p.Title))
	b.WriteString(".SH SYNOPSIS\n.nf\n")
	for _, c := range p.Commands {
		for _, u := range c.Uses {
			fmt.Fprintf(&b, "%s\n", manSynopsis(p, c, u))
		}
	}
	b.WriteString(".fi\n")
	if len(p.Description) > 0 {
		b.WriteString(".SH DESCRIPTION\n")
		for i, para := range p.Description {
			if i > 0 {
				b.WriteString(".PP\n")
			}
			b.WriteString(roffText(para) + "\n")
		}
	}
	b.WriteString(".SH COMMANDS\n")
	for _, c := range p.Commands {
		manCommand(&b, p, c)
	}
	section := func(title string, items []Item) {
		if len(items) == 0 {
			return
		}
		fmt.Fprintf(&b, ".SH %s\n", title)
		for _, it := range items {
			fmt.Fprintf(&b, ".TP\n\\fB%s\\fR\n%s\n", roff(it.Name), roffText(it.Text))
		}
	}
	var exits []Item
	for _, e := range p.Exit {
		exits = append(exits, Item{Name: fmt.Sprint(e.Code), Text: e.Meaning})
	}
	section("EXIT STATUS", exits)
	section("FILES", p.Files)
	section("ENVIRONMENT", p.Environment)
	if len(p.SeeAlso) > 0 {
		b.WriteString(".SH SEE ALSO\n")
		b.WriteString(roffText(strings.Join(p.SeeAlso, ", ")) + "\n")
	}
	return b.String()
}

// manCommand is one command's entry: its uses, what they do, its flags.
func manCommand(b *strings.Builder, p Program, c Command) {
	for i, u := range c.Uses {
		if i == 0 {
			b.WriteString(".TP\n")
		} else {
			b.WriteString(".TQ\n")
		}
		b.WriteString(manSynopsis(p, c, u) + "\n")
	}
	var sums []string
	for _, u := range c.Uses {
		sums = append(sums, u.Summary)
	}
	b.WriteString(roffText(strings.Join(sums, "; ")) + "\n")
	if len(c.Flags) == 0 {
		return
	}
	b.WriteString(".RS\n")
	for _, f := range c.Flags {
		b.WriteString(".TP\n")
		fmt.Fprintf(b, "\\fB%s\\fR", roff(f.Spelling()))
		if a := argName(f); a != "" {
			fmt.Fprintf(b, " \\fI%s\\fR", roff(a))
		}
		b.WriteString("\n")
		text := f.Usage
		if f.Default != "" {
			text += " (default: " + f.Default + ")"
		}
		b.WriteString(roffText(text) + "\n")
	}
	b.WriteString(".RE\n")
}

// manSynopsis is a usage line with the program and command in bold.
func manSynopsis(p Program, c Command, u Use) string {
	name := strings.TrimSpace(p.Name + " " + c.Name)
	s := "\\fB" + roff(name) + "\\fR"
	if u.Args != "" {
		s += " " + roff(u.Args)
	}
	return s
}

// roff escapes text for use inside a line: backslashes, and hyphens as
// the minus signs options are spelt with.
func roff(s string) string {
	s = strings.ReplaceAll(s, `\`, `\e`)
	return strings.ReplaceAll(s, "-", `\-`)
}

// roffText is a paragraph's text: backslashes escaped, option-like words'
// hyphens as minus signs, and no line starting with a control character.
func roffText(s string) string {
	s = strings.ReplaceAll(s, `\`, `\e`)
	words := strings.Split(s, " ")
	for i, w := range words {
		if strings.HasPrefix(w, "-") || strings.HasPrefix(w, "(-") || strings.HasPrefix(w, "[-") {
			words[i] = strings.ReplaceAll(w, "-", `\-`)
		}
	}
	s = strings.Join(words, " ")
	// A break point after each comma inside a word: a long list
	// (a default of several values) may then wrap.
	s = commaInWord.ReplaceAllString(s, `,\:$1`)
	if strings.HasPrefix(s, ".") || strings.HasPrefix(s, "'") {
		s = `\&` + s
	}
	return s
}
