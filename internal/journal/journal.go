// Package journal lets log lines reach the systemd journal with their
// priority, when stderr is the journal's stream.
package journal

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"syscall"
)

// When systemd connects stderr to the journal it says so in
// JOURNAL_STREAM ("<device>:<inode>" of that stream). Then each log line
// starts with its syslog priority, "<3>" to "<7>", which journald takes
// off and files the line under (SyslogLevelPrefix=yes, the default), so
// that `journalctl -p warning -u sorterd` shows warnings and errors only.
// Anywhere else the lines stay plain.

// onJournal reports whether f is the stream JOURNAL_STREAM names.
func onJournal(f *os.File) bool {
	js := os.Getenv("JOURNAL_STREAM")
	if js == "" {
		return false
	}
	var dev, ino uint64
	if _, err := fmt.Sscanf(js, "%d:%d", &dev, &ino); err != nil {
		return false
	}
	fi, err := f.Stat()
	if err != nil {
		return false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && uint64(st.Dev) == dev && uint64(st.Ino) == ino
}

// journalWriter puts the priority of each line slog's text handler
// writes (one Write per record) in front of it.
type journalWriter struct{ w io.Writer }

func (j journalWriter) Write(p []byte) (int, error) {
	prio := "<6>" // info
	if i := bytes.Index(p, []byte(" level=")); i >= 0 {
		switch lv := p[i+len(" level="):]; {
		case bytes.HasPrefix(lv, []byte("ERROR")):
			prio = "<3>"
		case bytes.HasPrefix(lv, []byte("WARN")):
			prio = "<4>"
		case bytes.HasPrefix(lv, []byte("DEBUG")):
			prio = "<7>"
		}
	}
	if _, err := j.w.Write(append([]byte(prio), p...)); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Writer is w, with priorities when w is the journal's stream (slog's
// text handler writes one line per Write).
func Writer(w io.Writer) io.Writer {
	if f, ok := w.(*os.File); ok && onJournal(f) {
		return journalWriter{w}
	}
	return w
}
