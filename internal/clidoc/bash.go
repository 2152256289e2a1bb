package clidoc

import (
	"fmt"
	"sort"
	"strings"
)

// Bash is a bash completion script for the program: its commands, each
// command's flags, the values of the flags that name a file, a folder or
// one of a few choices, and the commands' operands. It needs nothing but
// bash (not the bash-completion package's helpers). Values are completed
// after "--flag " (not "--flag=").
func Bash(p Program, generatedBy string) string {
	fn := "_" + strings.ReplaceAll(p.Name, "-", "_")
	var b strings.Builder
	fmt.Fprintf(&b, "# bash completion for %s\n# %s\n\n", p.Name, generatedBy)
	bashHelpers(&b, fn)
	firsts, seconds := commandWords(p)
	bashDispatch(&b, fn, p, firsts, seconds)
	// What help takes: the first words, and the commands spelt as flags.
	topics := append([]string(nil), firsts...)
	for _, c := range p.Commands {
		if strings.HasPrefix(c.Name, "-") {
			topics = append(topics, c.Name)
		}
	}
	for _, c := range p.Commands {
		bashCommand(&b, fn, c, topics)
	}
	b.WriteString("    esac\n}\n\n")
	fmt.Fprintf(&b, "complete -F %s %s\n", fn, p.Name)
	return b.String()
}

// bashHelpers are the script's completions of files matching any of the
// globs given (any file without one), and of folders to descend into.
func bashHelpers(b *strings.Builder, fn string) {
	fmt.Fprintf(b, `%[1]s_files() {
    local IFS=$'\n' g
    compopt -o filenames 2>/dev/null
    COMPREPLY=($(compgen -d -- "$cur"))
    if (($# == 0)); then
        COMPREPLY+=($(compgen -f -- "$cur"))
        return 0
    fi
    for g in "$@"; do
        COMPREPLY+=($(compgen -f -X "!$g" -- "$cur"))
    done
    return 0
}

%[1]s_dirs() {
    local IFS=$'\n'
    compopt -o filenames 2>/dev/null
    COMPREPLY=($(compgen -d -- "$cur"))
    return 0
}

`, fn)
}

// commandWords are the command words: the first word, and the second for
// commands named by two ("config check").
func commandWords(p Program) (firsts []string, seconds map[string][]string) {
	seconds = map[string][]string{}
	seen := map[string]bool{}
	for _, c := range p.Commands {
		w := c.Words()
		if len(w) == 0 || strings.HasPrefix(w[0], "-") {
			continue
		}
		if !seen[w[0]] {
			seen[w[0]] = true
			firsts = append(firsts, w[0])
		}
		if len(w) > 1 {
			seconds[w[0]] = append(seconds[w[0]], w[1])
		}
	}
	return firsts, seconds
}

// bashDispatch opens the completion function: it finds the command the
// words so far name, completing the command words themselves.
func bashDispatch(b *strings.Builder, fn string, p Program, firsts []string, seconds map[string][]string) {
	var top []string // flags offered at the first word: the program's own, and the commands spelt as flags
	for _, c := range p.Commands {
		switch {
		case c.Name == "":
			for _, f := range c.Flags {
				top = append(top, f.Spelling())
			}
		case strings.HasPrefix(c.Name, "-"):
			top = append(top, c.Name)
		}
	}
	top = append(top, "--version", "--help")

	fmt.Fprintf(b, "%s() {\n", fn)
	b.WriteString(`    local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]} cmd= i
    COMPREPLY=()
`)
	// A command spelt as a flag (--once) may come anywhere.
	for _, c := range p.Commands {
		if strings.HasPrefix(c.Name, "-") {
			fmt.Fprintf(b, `    for ((i = 1; i < COMP_CWORD; i++)); do
        case ${COMP_WORDS[i]} in %[1]s | %[1]s=* | %[2]s | %[2]s=*) cmd=%[1]s ;; esac
    done
`, c.Name, c.Name[1:])
		}
	}
	fmt.Fprintf(b, `    if [[ -z $cmd ]]; then
        if ((COMP_CWORD == 1)); then
            if [[ $cur == -* ]]; then
                COMPREPLY=($(compgen -W %s -- "$cur"))
                return
            fi
            COMPREPLY=($(compgen -W %s -- "$cur"))
            return
        fi
        case ${COMP_WORDS[1]} in
`, shellWords(top), shellWords(firsts))
	for _, first := range firsts {
		if subs := seconds[first]; len(subs) > 0 {
			fmt.Fprintf(b, `        %s)
            if ((COMP_CWORD == 2)); then
                COMPREPLY=($(compgen -W %s -- "$cur"))
                return
            fi
            cmd="%s ${COMP_WORDS[2]}"
            ;;
`, first, shellWords(subs), first)
			continue
		}
		fmt.Fprintf(b, "        %s) cmd=%s ;;\n", first, first)
	}
	b.WriteString(`        -*) cmd= ;;
        *) return ;;
        esac
    fi
    case $cmd in
`)
}

// bashCommand is one command's case: its flags' values, its flags, its
// operands (topics: what help takes).
func bashCommand(b *strings.Builder, fn string, c Command, topics []string) {
	pattern := c.Name
	if pattern == "" {
		pattern = `""`
	} else if strings.Contains(pattern, " ") {
		pattern = `"` + pattern + `"`
	}
	fmt.Fprintf(b, "    %s)\n", pattern)
	var flags []string
	values := map[string][]string{} // completion line → the flags it is for
	for _, f := range c.Flags {
		flags = append(flags, f.Spelling())
		if f.Switch {
			continue
		}
		// A free value: nothing to offer, and no flag either.
		line := valueLine(fn, f.Value, nil)
		values[line] = append(values[line], "-"+f.Name, "--"+f.Name)
	}
	if len(values) > 0 {
		b.WriteString("        case $prev in\n")
		var lines []string
		for l := range values {
			lines = append(lines, l)
		}
		sort.Strings(lines)
		for _, l := range lines {
			if l == "" {
				fmt.Fprintf(b, "        %s) return ;;\n", strings.Join(values[l], " | "))
				continue
			}
			fmt.Fprintf(b, "        %s) %s; return ;;\n", strings.Join(values[l], " | "), l)
		}
		b.WriteString("        esac\n")
	}
	if len(flags) > 0 {
		fmt.Fprintf(b, `        if [[ $cur == -* ]]; then
            COMPREPLY=($(compgen -W %s -- "$cur"))
            return
        fi
`, shellWords(flags))
	}
	if op := valueLine(fn, c.Operands, topics); op != "" {
		fmt.Fprintf(b, "        %s\n", op)
	}
	b.WriteString("        ;;\n")
}

// valueLine is the shell command completing a value of v ("" for none);
// commands are what help takes, for CommandName.
func valueLine(fn string, v Value, commands []string) string {
	switch v.Kind {
	case File:
		return strings.TrimSpace(fn + "_files " + strings.Join(quoteAll(v.Globs), " "))
	case Dir:
		return fn + "_dirs"
	case Choice:
		return fmt.Sprintf(`COMPREPLY=($(compgen -W %s -- "$cur"))`, shellWords(v.Choices))
	case CommandName:
		return fmt.Sprintf(`COMPREPLY=($(compgen -W %s -- "$cur"))`, shellWords(commands))
	}
	return ""
}

// shellWords is a word list for compgen -W, single-quoted.
func shellWords(ws []string) string { return "'" + strings.Join(ws, " ") + "'" }

func quoteAll(ws []string) []string {
	out := make([]string, len(ws))
	for i, w := range ws {
		out[i] = "'" + w + "'"
	}
	return out
}
