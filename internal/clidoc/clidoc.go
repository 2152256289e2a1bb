// Package clidoc describes a command-line program once (its commands,
// their flags and operands, exit status, files) and renders that
// description as the program's help text, Markdown for its reference
// page, a man page and a bash completion script, so that none of them is
// written by hand and none can drift from the others.
package clidoc

import (
	"fmt"
	"strings"
)

// Kind is what a flag's value or a command's operand is, which the
// completion offers.
type Kind int

const (
	Free        Kind = iota // any text: nothing is offered
	File                    // a file name, matching Value.Globs if any
	Dir                     // a directory name
	Choice                  // one of Value.Choices
	CommandName             // one of the program's commands (help COMMAND)
)

var kindNames = [...]string{Free: "free", File: "file", Dir: "dir", Choice: "choice", CommandName: "command"}

func (k Kind) String() string {
	if k < 0 || int(k) >= len(kindNames) {
		return fmt.Sprintf("Kind(%d)", int(k))
	}
	return kindNames[k]
}

// Value is what a flag takes, or what a command's operands are.
type Value struct {
	Kind    Kind
	Globs   []string // File: the patterns offered ("*.tflite"); none: any file
	Choices []string // Choice
	// Arg names the value in a synopsis ("FILE", "N"); "" takes the
	// Kind's (FILE, DIR, NAME) or, for Free, the flag's own.
	Arg string
}

// Flag is one flag of a command.
type Flag struct {
	Name    string // without dashes
	Switch  bool   // a boolean flag: it takes no value
	Arg     string // the value's name in a synopsis ("" for a switch)
	Default string // as shown in the docs; "" for none
	Usage   string
	Value   Value
}

// Spelling is how the docs write the flag: one dash for a one-letter
// name, two otherwise (the Go flag package takes either).
func (f Flag) Spelling() string {
	if len(f.Name) == 1 {
		return "-" + f.Name
	}
	return "--" + f.Name
}

// Use is one line of the program's usage: a way to call a command.
type Use struct {
	Args    string // what follows the command's name
	Summary string
}

// Command is one command: the words that name it after the program
// ("bench", "config check"; "" for the program alone).
type Command struct {
	Name     string
	Uses     []Use
	Flags    []Flag
	Operands Value // the positional arguments
}

// Words splits the name ("config check" → config, check).
func (c Command) Words() []string { return strings.Fields(c.Name) }

// Item is a named paragraph: a file, an environment variable.
type Item struct{ Name, Text string }

// Exit is one exit status.
type Exit struct {
	Code    int
	Meaning string
}

// Program is the whole description.
type Program struct {
	Name        string
	Title       string   // one line: what it is
	Description []string // paragraphs, for the man page
	Commands    []Command
	Footer      []string // the help text's last lines
	Exit        []Exit
	Files       []Item
	Environment []Item
	SeeAlso     []string
}

// usageColumn is where the help text's summaries start.
const usageColumn = 40

// Usage is the help text "PROGRAM help" prints.
func Usage(p Program) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s — %s\n\nUsage:\n", p.Name, p.Title)
	for _, c := range p.Commands {
		for _, u := range c.Uses {
			syn := p.synopsis(c, u)
			if 2+len(syn)+1 > usageColumn+1 {
				fmt.Fprintf(&b, "  %s\n%s%s\n", syn, strings.Repeat(" ", usageColumn), u.Summary)
				continue
			}
			fmt.Fprintf(&b, "  %-*s%s\n", usageColumn-2, syn+" ", u.Summary)
		}
	}
	if len(p.Footer) > 0 {
		b.WriteString("\n")
		for _, l := range p.Footer {
			b.WriteString(l + "\n")
		}
	}
	return b.String()
}

func (p Program) synopsis(c Command, u Use) string {
	return strings.Join(strings.Fields(strings.Join([]string{p.Name, c.Name, u.Args}, " ")), " ")
}

// argName is the name a flag's value goes by in a synopsis.
func argName(f Flag) string {
	switch {
	case f.Switch:
		return ""
	case f.Value.Arg != "":
		return f.Value.Arg
	case f.Value.Kind == File:
		return "FILE"
	case f.Value.Kind == Dir:
		return "DIR"
	case f.Value.Kind == Choice:
		return "NAME"
	}
	return strings.ToUpper(f.Arg)
}

// withArg is the flag and its value's name: "--model FILE".
func withArg(f Flag) string {
	if a := argName(f); a != "" {
		return f.Spelling() + " " + a
	}
	return f.Spelling()
}
