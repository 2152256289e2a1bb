// Package liblog routes what the C libraries under OpenCV write to
// standard error through slog. OpenCV logs with its own logger straight
// to fd 2 ("[ WARN:0@0.090] global cap_v4l.cpp (902) open VIDEOIO(V4L2:
// /dev/video0): can't open camera by index"), and so do GLib (GStreamer's
// criticals), FFmpeg, libcamera, libjpeg and libpng; OpenCV 4.6 has no way
// to hook its logger. Start points fd 2 at a pipe: each line in one of
// those libraries' formats becomes one slog record at the level it names,
// and every other byte goes on to the stderr the process had, unchanged.
package liblog

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// quiet is how long a record waits for more of its lines (OpenCV's
// exceptions and GLib's criticals span several) before it is logged, and
// an unfinished line before it is passed on.
const quiet = 50 * time.Millisecond

// pipeSize is the pipe's buffer: a crash's traceback also goes to fd 2
// while the reader is frozen with the rest of the process, and must fit
// without blocking (it reaches the real stderr through SetCrashOutput).
const pipeSize = 1 << 20

// maxRecord bounds one record's text.
const maxRecord = 4 << 10

// Capture is one user of the routed fd 2: the daemon, or a command that
// opens a camera.
type Capture struct {
	route *route
	log   atomic.Pointer[slog.Logger]
}

// route is the process's one redirection of fd 2, shared by the Captures
// started (a test runs several daemons in one process); the last one
// started gets the records.
type route struct {
	real  *os.File // the stderr fd 2 was before
	r     *os.File // the pipe's read end; fd 2 is its write end
	done  chan struct{}
	users []*Capture
	final *slog.Logger // the last user's, for the lines still in the pipe at its Stop
}

var (
	mu  sync.Mutex
	cur *route
)

// Start routes fd 2 through slog (sharing the route already in place, if
// any) until Stop. Lines in a library's format are logged on the
// Capture's logger (SetLogger); before it has one, they are passed on.
func Start() (*Capture, error) {
	mu.Lock()
	defer mu.Unlock()
	if cur == nil {
		rt, err := open()
		if err != nil {
			return nil, err
		}
		cur = rt
	}
	c := &Capture{route: cur}
	cur.users = append(cur.users, c)
	return c, nil
}

// open dups the real stderr and points fd 2 at a new pipe read by loop.
func open() (*route, error) {
	saved, err := syscall.Dup(2)
	if err != nil {
		return nil, fmt.Errorf("route stderr: dup: %w", err)
	}
	syscall.CloseOnExec(saved)
	real := os.NewFile(uintptr(saved), "/dev/stderr")
	r, w, err := os.Pipe()
	if err != nil {
		real.Close()
		return nil, fmt.Errorf("route stderr: %w", err)
	}
	// Best effort: the default 64 KiB still routes, a crash's traceback
	// longer than that would only block.
	_, _, _ = syscall.Syscall(syscall.SYS_FCNTL, w.Fd(), syscall.F_SETPIPE_SZ, pipeSize)
	if err := syscall.Dup3(int(w.Fd()), 2, 0); err != nil {
		real.Close()
		r.Close()
		w.Close()
		return nil, fmt.Errorf("route stderr: dup3: %w", err)
	}
	w.Close() // fd 2 is the write end now
	// A panic or fatal error is written to fd 2 while every goroutine,
	// the reader too, is stopped: it goes to the real stderr as well.
	_ = debug.SetCrashOutput(real, debug.CrashOptions{})
	rt := &route{real: real, r: r, done: make(chan struct{})}
	go rt.loop()
	return rt, nil
}

// Stderr is the stderr the process had before Start: where the caller's
// own output and log belong (the journal's stream, when systemd runs it),
// without a detour through the pipe.
func (c *Capture) Stderr() *os.File { return c.route.real }

// SetLogger sets where this Capture's records go (the daemon's logger
// changes with its log_level on each reload). On a nil Capture (Start
// failed) it does nothing.
func (c *Capture) SetLogger(l *slog.Logger) {
	if c != nil {
		c.log.Store(l)
	}
}

// Stop ends this Capture; the last one's Stop restores fd 2 after the
// lines already written are handled. On a nil Capture it does nothing.
func (c *Capture) Stop() {
	if c == nil {
		return
	}
	mu.Lock()
	rt := c.route
	for i, u := range rt.users {
		if u == c {
			rt.users = append(rt.users[:i], rt.users[i+1:]...)
			break
		}
	}
	last := len(rt.users) == 0 && cur == rt
	if last {
		cur = nil
		rt.final = c.log.Load()
		_ = debug.SetCrashOutput(nil, debug.CrashOptions{})
		// The write end's last copy goes: the reader sees the end of
		// the pipe once it has read what was written.
		_ = syscall.Dup3(int(rt.real.Fd()), 2, 0)
	}
	mu.Unlock() // the reader takes mu for each record's logger
	if !last {
		return
	}
	select {
	case <-rt.done:
		rt.real.Close()
	case <-time.After(time.Second):
		// Someone still holds a copy of the write end (a dup of fd 2
		// taken before): the reader goes on, with the real stderr open.
	}
}

// logger is the one records go to: the last user's that has one.
func (rt *route) logger() *slog.Logger {
	mu.Lock()
	defer mu.Unlock()
	for i := len(rt.users) - 1; i >= 0; i-- {
		if l := rt.users[i].log.Load(); l != nil {
			return l
		}
	}
	return rt.final
}

// loop reads the pipe until its write end is gone.
func (rt *route) loop() {
	defer close(rt.done)
	s := &splitter{log: rt.logger, pass: func(b []byte) { _, _ = rt.real.Write(b) }}
	buf := make([]byte, 64<<10)
	for {
		if s.waiting() {
			_ = rt.r.SetReadDeadline(time.Now().Add(quiet))
		} else {
			_ = rt.r.SetReadDeadline(time.Time{})
		}
		n, err := rt.r.Read(buf)
		s.write(buf[:n])
		switch {
		case errors.Is(err, os.ErrDeadlineExceeded):
			s.flush()
		case err != nil:
			s.flush()
			rt.r.Close()
			return
		}
	}
}

// splitter cuts what comes through the pipe into lines, logs each
// library's record, and passes everything else on. A record is its header
// line, and when that ends without a message or with a ":" (OpenCV's
// "raised OpenCV exception:", GLib's criticals), the lines after it up to
// a blank line: both libraries write such a message in one go.
type splitter struct {
	log     func() *slog.Logger
	pass    func([]byte)
	partial []byte  // the start of a line not ended yet
	rec     *record // the record waiting for the rest of its lines
	blanks  int     // blank lines held: before a header they are its own
	after   bool    // a record ended and no other line came yet: blank lines are its own
}

func (s *splitter) waiting() bool { return len(s.partial) > 0 || s.rec != nil || s.blanks > 0 }

func (s *splitter) write(b []byte) {
	s.partial = append(s.partial, b...)
	for {
		i := bytes.IndexByte(s.partial, '\n')
		if i < 0 {
			break
		}
		s.line(s.partial[:i], true)
		s.partial = s.partial[i+1:]
	}
	if len(s.partial) > maxRecord { // a writer that never ends its line
		s.line(s.partial, false)
		s.partial = nil
	}
}

// flush ends what is pending once the writers paused: the unfinished
// line, the record, the held blank lines.
func (s *splitter) flush() {
	if len(s.partial) > 0 {
		l := s.partial
		s.partial = nil
		s.line(l, false)
	}
	s.emit()
	s.passBlanks()
	s.after = false
}

// line handles one line; ended: it had its newline.
func (s *splitter) line(l []byte, ended bool) {
	if ended {
		l = bytes.TrimRight(l, "\r")
	}
	if h, ok := parse(l); ok {
		s.emit()
		s.blanks, s.after = 0, false
		s.rec = &h
		if !h.open() {
			s.emit()
		}
		return
	}
	blank := len(bytes.TrimSpace(l)) == 0
	switch {
	case s.rec != nil && blank:
		if s.rec.lines > 0 { // the blank line after the message
			s.emit()
		}
	case s.rec != nil:
		s.rec.add(l)
	case blank && s.after:
	case blank:
		s.blanks++
	default:
		s.after = false
		s.passBlanks()
		if ended {
			l = append(append([]byte(nil), l...), '\n')
		}
		s.pass(l)
	}
}

func (s *splitter) passBlanks() {
	if s.blanks > 0 {
		s.pass(bytes.Repeat([]byte{'\n'}, s.blanks))
		s.blanks = 0
	}
}

// emit logs the record, or passes its lines on as they came when no
// logger is set.
func (s *splitter) emit() {
	r := s.rec
	if r == nil {
		return
	}
	s.rec, s.after = nil, true
	log := s.log()
	if log == nil {
		s.pass(r.raw)
		return
	}
	log.LogAttrs(context.Background(), r.level, r.lib.String(), r.attrs()...)
}
