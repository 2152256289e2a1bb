package liblog

import (
	"log/slog"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sorterd/sorterd/camera"
	"github.com/sorterd/sorterd/internal/testenv"
)

// A camera that cannot be opened (no device at index 99; a pipeline
// without an appsink; a pipeline whose element GStreamer lacks): what
// OpenCV and GStreamer say about it arrives as slog records at their
// levels, and nothing of it raw on stderr.
func TestCameraOpenLogged(t *testing.T) {
	logs := &testenv.LogBuffer{}
	log := logs.Logger()
	raw := testenv.StderrFile(t, func() {
		c, err := Start()
		if err != nil {
			t.Fatal(err)
		}
		c.SetLogger(log)
		for _, src := range []string{"99", "videotestsrc ! videoconvert", "nosuchelement ! appsink"} {
			if cam, err := camera.Open(camera.Options{Source: src}); err == nil {
				cam.Close()
				t.Errorf("%s opened", src)
			}
		}
		c.Stop()
	})
	if strings.TrimSpace(raw) != "" {
		t.Errorf("raw on stderr:\n%s", raw)
	}
	out := logs.String()
	t.Logf("records:\n%s", out)
	for _, want := range []string{
		`level=WARN msg=opencv line="VIDEOIO(V4L2:/dev/video99): can't open camera by index" src=cap_v4l.cpp:`,
		`level=WARN msg=opencv line="OpenCV | GStreamer warning: cannot find appsink in manual pipeline" src=cap_gstreamer.cpp:`,
		`level=ERROR msg=glib line="gst_bin_iterate_elements: assertion 'GST_IS_BIN (bin)' failed" part=GStreamer`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("no record %s", want)
		}
	}
}

// What is not a library's line goes on to the real stderr as it came
// (an unfinished line too, once the writer pauses); a record gathers the
// lines that follow its header; fd 2 is the real stderr again after Stop.
func TestRouting(t *testing.T) {
	logs := &testenv.LogBuffer{}
	log := logs.Logger()
	raw := testenv.StderrFile(t, func() {
		c, err := Start()
		if err != nil {
			t.Fatal(err)
		}
		if c.Stderr().Fd() == 2 {
			t.Error("Stderr is fd 2, the pipe")
		}
		c.SetLogger(log)
		w := func(s string) { syscall.Write(2, []byte(s)) }
		w("plain line\n[ WARN:0@0.152] global ./modules/videoio/src/cap_gstreamer.cpp (1356) open OpenCV | GStreamer warning: unable to start pipeline\n")
		w("[ERROR:0@0.035] global ./modules/videoio/src/cap.cpp (164) open VIDEOIO(CV_IMAGES): raised OpenCV exception:\n\n" +
			"OpenCV(4.6.0) ./modules/videoio/src/cap_images.cpp:253: error: (-5:Bad argument) CAP_IMAGES: can't find starting number\n\n\n")
		time.Sleep(3 * quiet)
		w("\n(sorterd:10063): GStreamer-CRITICAL **: 15:47:47.852: \nTrying to dispose element appsink2, but it is in READY instead of the NULL state.\n" +
			"You need to explicitly set elements to the NULL state before\n\n")
		time.Sleep(3 * quiet)
		w("[tcp @ 0x387d2c40] Connection to tcp://127.0.0.1:1?timeout=0 failed: Connection refused\n")
		w("Corrupt JPEG data: 2 extraneous bytes before marker 0xd9\n")
		w("no newline yet")
		time.Sleep(3 * quiet)
		c.Stop()
		w("after\n")
	})
	if raw != "plain line\nno newline yetafter\n" {
		t.Errorf("real stderr got %q", raw)
	}
	out := logs.String()
	for _, want := range []string{
		`level=WARN msg=opencv line="OpenCV | GStreamer warning: unable to start pipeline" src=cap_gstreamer.cpp:1356 func=open`,
		`level=ERROR msg=opencv line="VIDEOIO(CV_IMAGES): raised OpenCV exception: OpenCV(4.6.0) ./modules/videoio/src/cap_images.cpp:253: error: (-5:Bad argument) CAP_IMAGES: can't find starting number" src=cap.cpp:164 func=open`,
		`level=ERROR msg=glib line="Trying to dispose element appsink2, but it is in READY instead of the NULL state. You need to explicitly set elements to the NULL state before" part=GStreamer`,
		`level=ERROR msg=ffmpeg line="Connection to tcp://127.0.0.1:1?timeout=0 failed: Connection refused" part=tcp`,
		`level=WARN msg=libjpeg line="Corrupt JPEG data: 2 extraneous bytes before marker 0xd9"`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("no record %s\nin\n%s", want, out)
		}
	}
	if n := strings.Count(out, "\n"); n != 5 {
		t.Errorf("%d records, want 5:\n%s", n, out)
	}
}

// Each library's header line: its level (the library's own, mapped; a
// known harmless one at debug) and where it came from.
func TestParse(t *testing.T) {
	for _, tc := range []struct {
		line  string
		lib   Lib
		level slog.Level
		text  string
		part  string
		src   string
	}{
		{"[ WARN:0@0.005] global ./modules/videoio/src/cap_v4l.cpp (902) open VIDEOIO(V4L2:/dev/video99): can't open camera by index",
			OpenCV, slog.LevelWarn, "VIDEOIO(V4L2:/dev/video99): can't open camera by index", "", "cap_v4l.cpp:902"},
		{"[ INFO:0] global ./modules/core/src/utils/plugin_loader.impl.hpp (67) init load libopencv_videoio_ffmpeg.so",
			OpenCV, slog.LevelInfo, "load libopencv_videoio_ffmpeg.so", "", "plugin_loader.impl.hpp:67"},
		{"[FATAL:0@1.5] something", OpenCV, slog.LevelError, "something", "", ""},
		{"[DEBUG:1@0.1] global x.cpp (1) f detail", OpenCV, slog.LevelDebug, "detail", "", "x.cpp:1"},
		{"[ WARN:0@0.013] global ./modules/videoio/src/cap_gstreamer.cpp (1405) open OpenCV | GStreamer warning: Cannot query video position: status=1, value=0, duration=-1",
			OpenCV, slog.LevelDebug, "OpenCV | GStreamer warning: Cannot query video position: status=1, value=0, duration=-1", "", "cap_gstreamer.cpp:1405"},
		{"(camera.test:10152): GLib-GObject-WARNING **: 15:47:51.634: invalid cast from 'GstAppSink' to 'GstBin'",
			GLib, slog.LevelWarn, "invalid cast from 'GstAppSink' to 'GstBin'", "GLib-GObject", ""},
		{"(sorterd:7): WARNING **: bare", GLib, slog.LevelWarn, "bare", "", ""},
		{"[rtsp @ 0x55d0c0a3c2c0] method DESCRIBE failed: 404 Not Found", FFmpeg, slog.LevelError, "method DESCRIBE failed: 404 Not Found", "rtsp", ""},
		{"[0:00:01.234567890] [1234]  INFO Camera camera_manager.cpp:297 libcamera v0.1.0+rpt",
			LibCamera, slog.LevelInfo, "libcamera v0.1.0+rpt", "Camera", "camera_manager.cpp:297"},
		{"[0:02:03.000000001] [99] ERROR V4L2 v4l2_videodevice.cpp:1906 /dev/video0[13:cap]: Failed to start streaming: Broken pipe",
			LibCamera, slog.LevelError, "/dev/video0[13:cap]: Failed to start streaming: Broken pipe", "V4L2", "v4l2_videodevice.cpp:1906"},
		{"Premature end of JPEG file", LibJPEG, slog.LevelWarn, "Premature end of JPEG file", "", ""},
		{"libpng warning: iCCP: known incorrect sRGB profile", LibPNG, slog.LevelWarn, "iCCP: known incorrect sRGB profile", "", ""},
	} {
		r, ok := parse([]byte(tc.line))
		if !ok {
			t.Errorf("%q: not a library's line", tc.line)
			continue
		}
		if r.lib != tc.lib || r.level != tc.level || r.text != tc.text || r.part != tc.part || r.src != tc.src {
			t.Errorf("%q:\n got %v %v %q part %q src %q\nwant %v %v %q part %q src %q", tc.line,
				r.lib, r.level, r.text, r.part, r.src, tc.lib, tc.level, tc.text, tc.part, tc.src)
		}
	}
	for _, l := range []string{"plain", "[not a header]", "2026/01/02 15:04:05 INFO hello", "time=2026 level=WARN msg=x", "(a thought)"} {
		if _, ok := parse([]byte(l)); ok {
			t.Errorf("%q taken for a library's line", l)
		}
	}
}
