package liblog

import (
	"log/slog"
	"path"
	"regexp"
	"strings"
)

// Lib is the library a record came from: its slog message.
type Lib int

const (
	OpenCV Lib = iota
	GLib       // GLib and the libraries on it: GStreamer, GObject
	FFmpeg
	LibCamera
	LibJPEG
	LibPNG
)

var libNames = [...]string{OpenCV: "opencv", GLib: "glib", FFmpeg: "ffmpeg", LibCamera: "libcamera", LibJPEG: "libjpeg", LibPNG: "libpng"}

func (l Lib) String() string {
	if l < 0 || int(l) >= len(libNames) {
		return "lib"
	}
	return libNames[l]
}

// record is one library message: its header line's fields, and the text
// of the lines that followed it.
type record struct {
	lib   Lib
	level slog.Level
	text  string
	// where: the source file and line ("cap_v4l.cpp:902"), the function,
	// and the library's own name for the part that spoke (GLib's domain,
	// libcamera's category, FFmpeg's component), each "" if not given.
	src, fn, part string
	raw           []byte // the lines as they came, passed on when no logger is set
	lines         int    // lines added after the header
}

// open reports whether the header leaves its message to the lines after
// it: no text, or a text ending in ":".
func (r *record) open() bool { return r.text == "" || strings.HasSuffix(r.text, ":") }

// add appends a line that followed the header.
func (r *record) add(l []byte) {
	r.lines++
	r.raw = append(append(r.raw, l...), '\n')
	if len(r.text) >= maxRecord {
		return
	}
	if r.text != "" {
		r.text += " "
	}
	r.text += strings.TrimSpace(string(l))
}

func (r *record) attrs() []slog.Attr {
	a := []slog.Attr{slog.String("line", r.text)}
	if r.part != "" {
		a = append(a, slog.String("part", r.part))
	}
	if r.src != "" {
		a = append(a, slog.String("src", r.src))
	}
	if r.fn != "" {
		a = append(a, slog.String("func", r.fn))
	}
	return a
}

var (
	// [ WARN:0@0.005] global ./modules/videoio/src/cap_v4l.cpp (902) open VIDEOIO(V4L2:/dev/video99): can't open camera by index
	// (OpenCV 4.x; "@seconds" only with OPENCV_LOG_TIMESTAMP, the default)
	openCVHeader = regexp.MustCompile(`^\[(FATAL|ERROR| WARN| INFO|DEBUG):\d+(?:@[\d.]+)?\] (.*)$`)
	openCVWhere  = regexp.MustCompile(`^\S+ (\S+\.(?:cpp|hpp|c|h|mm?)) \((\d+)\) (\S+) (.*)$`)
	// (sorterd:1234): GStreamer-CRITICAL **: 15:47:51.634: gst_bin_iterate_elements: assertion 'GST_IS_BIN (bin)' failed
	glibHeader = regexp.MustCompile(`^\([^():]+:\d+\): (?:([\w.-]+)-)?(ERROR|CRITICAL|WARNING|Message|INFO|DEBUG) \*\*: (?:\d\d:\d\d:\d\d\.\d+: )?(.*)$`)
	// [tcp @ 0x7f319c004080] Connection to tcp://127.0.0.1:1?timeout=0 failed: Connection refused
	ffmpegHeader = regexp.MustCompile(`^\[([\w:.-]+) @ 0x[0-9a-f]+\] (.*)$`)
	// [0:00:01.234567890] [1234]  INFO Camera camera_manager.cpp:297 libcamera v0.1.0
	libcameraHeader = regexp.MustCompile(`^\[\d+:\d\d:\d\d\.\d+\] \[\d+\] +(DEBUG|INFO|WARN|ERROR|FATAL) (\S+) (?:(\S+:\d+) )?(.*)$`)
	// libjpeg's warnings on a damaged JPEG (its default message output).
	libjpegHeader = regexp.MustCompile(`^(Corrupt JPEG data: .*|Premature end of JPEG file|Invalid SOS parameters for sequential JPEG|Warning: unknown JFIF revision number .*)$`)
	libpngHeader  = regexp.MustCompile(`^libpng (warning|error): (.*)$`)
)

var levels = map[string]slog.Level{
	"FATAL": slog.LevelError, "ERROR": slog.LevelError, "CRITICAL": slog.LevelError, "error": slog.LevelError,
	"WARN": slog.LevelWarn, "WARNING": slog.LevelWarn, "warning": slog.LevelWarn,
	"INFO": slog.LevelInfo, "Message": slog.LevelInfo,
	"DEBUG": slog.LevelDebug,
}

// demoted are messages logged at debug whatever level the library gave
// them: they come with every normal use and say nothing is wrong.
var demoted = []string{
	// On every open of a live GStreamer pipeline (a camera has no
	// position to query).
	"GStreamer warning: Cannot query video position",
}

// parse reads a header line of one of the libraries' formats.
func parse(l []byte) (record, bool) {
	s := string(l)
	var r record
	switch {
	case openCVHeader.MatchString(s):
		m := openCVHeader.FindStringSubmatch(s)
		r.lib, r.level = OpenCV, levels[strings.TrimSpace(m[1])]
		msg := m[2]
		if w := openCVWhere.FindStringSubmatch(msg); w != nil {
			r.src, r.fn, msg = path.Base(w[1])+":"+w[2], w[3], w[4]
		}
		r.text = strings.TrimSpace(msg)
	case glibHeader.MatchString(s):
		m := glibHeader.FindStringSubmatch(s)
		r.lib, r.part, r.level = GLib, m[1], levels[m[2]]
		r.text = strings.TrimSpace(m[3])
	case ffmpegHeader.MatchString(s):
		// OpenCV sets FFmpeg's log level to errors (unless
		// OPENCV_FFMPEG_LOGLEVEL says otherwise): what it prints is one.
		m := ffmpegHeader.FindStringSubmatch(s)
		r.lib, r.part, r.level = FFmpeg, m[1], slog.LevelError
		r.text = strings.TrimSpace(m[2])
	case libcameraHeader.MatchString(s):
		m := libcameraHeader.FindStringSubmatch(s)
		r.lib, r.level, r.part, r.src = LibCamera, levels[m[1]], m[2], m[3]
		r.text = strings.TrimSpace(m[4])
	case libjpegHeader.MatchString(s):
		r.lib, r.level = LibJPEG, slog.LevelWarn
		r.text = s
	case libpngHeader.MatchString(s):
		m := libpngHeader.FindStringSubmatch(s)
		r.lib, r.level = LibPNG, levels[m[1]]
		r.text = strings.TrimSpace(m[2])
	default:
		return record{}, false
	}
	for _, d := range demoted {
		if strings.Contains(s, d) {
			r.level = slog.LevelDebug
		}
	}
	r.raw = []byte(s + "\n")
	return r, true
}
