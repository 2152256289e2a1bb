package camera

import (
	"fmt"
	"log/slog"
	"strings"

	"gocv.io/x/gocv"
)

// Locking exposure and white balance (Options.Lock). A camera's automatic
// exposure and white balance pull the whole frame, item and tray together,
// toward grey: the same can looks darker on a light tray than on a dark
// one. Locked, an item keeps its own colours on any tray, and the colour
// reference (settings.BalanceReference) only has the light to undo.
//
// OpenCV reaches the controls through its V4L2 backend only: a GStreamer
// pipeline, a video file or a network stream is reported as not supported
// (docs/camera.md says how to lock those).

// DefaultSettle is how many frames Open lets the automatic loops run
// before locking: they converge within about 10 to 30.
const DefaultSettle = 30

// The V4L2 backend's raw control values (OpenCV's default, without
// OPENCV_VIDEOIO_V4L_RANGE_NORMALIZED).
const (
	v4l2ExposureManual = 1  // V4L2_EXPOSURE_MANUAL; 3 is aperture priority, the UVC auto
	v4l2AutoWBOff      = 0  // white_balance_automatic off
	noControl          = -1 // what the backend reads for a control the driver lacks
)

// Control is one of the locked settings, as read back from the driver.
type Control struct {
	// Locked: the driver reports its automatic mode off.
	Locked bool
	// Value kept, in the driver's units: exposure in 100 µs
	// (exposure_time_absolute), white balance in kelvin; -1 when the
	// driver has no such control.
	Value float64
	// Note says why it is not locked, or what is odd about it.
	Note string
}

// Lock is what Open did about Options.Lock.
type Lock struct {
	// Supported is false for a source whose controls OpenCV cannot
	// reach (a GStreamer pipeline, a file, a stream): nothing was
	// touched, and Reason says where to lock it instead.
	Supported bool
	Reason    string
	// Settled is the number of frames the automatic loops ran first.
	Settled      int
	Exposure     Control
	WhiteBalance Control
}

// Full reports whether both exposure and white balance are locked.
func (l Lock) Full() bool { return l.Supported && l.Exposure.Locked && l.WhiteBalance.Locked }

// String is the lock in one line, for a log or a technician.
func (l Lock) String() string {
	if !l.Supported {
		return l.Reason
	}
	exp := "exposure locked at " + exposureText(l.Exposure.Value)
	if !l.Exposure.Locked {
		exp = "exposure not locked: " + l.Exposure.Note
	}
	wb := fmt.Sprintf("white balance locked at %.0f K", l.WhiteBalance.Value)
	if l.WhiteBalance.Value == noControl {
		wb = "white balance locked (" + l.WhiteBalance.Note + ")"
	}
	if !l.WhiteBalance.Locked {
		wb = "white balance not locked: " + l.WhiteBalance.Note
	}
	return exp + "; " + wb
}

// exposureText writes a V4L2 exposure in its units and in milliseconds.
func exposureText(v float64) string {
	if v == noControl {
		return "an unknown time (the driver has no exposure time control)"
	}
	return fmt.Sprintf("%g (%.1f ms)", v, v/10)
}

// LogValue makes a Lock one group of attributes in a log line.
func (l Lock) LogValue() slog.Value {
	if !l.Supported {
		return slog.GroupValue(slog.Bool("supported", false), slog.String("reason", l.Reason))
	}
	return slog.GroupValue(
		slog.Bool("supported", true),
		slog.Int("settled_frames", l.Settled),
		slog.Bool("exposure_locked", l.Exposure.Locked),
		slog.Float64("exposure_100us", l.Exposure.Value),
		slog.Bool("white_balance_locked", l.WhiteBalance.Locked),
		slog.Float64("white_balance_k", l.WhiteBalance.Value),
		slog.String("summary", l.String()),
	)
}

// controls is what locking needs of a capture: gocv.VideoCapture's Get
// and Set (a fake driver in tests).
type controls interface {
	Get(gocv.VideoCaptureProperties) float64
	Set(gocv.VideoCaptureProperties, float64)
}

// lockControls switches automatic exposure and white balance off at the
// values they have now, then reads back what the driver accepted.
func lockControls(c controls) Lock {
	return Lock{
		Supported:    true,
		Exposure:     lockOne(c, "exposure", gocv.VideoCaptureAutoExposure, v4l2ExposureManual, gocv.VideoCaptureExposure),
		WhiteBalance: lockOne(c, "white balance", gocv.VideoCaptureAutoWB, v4l2AutoWBOff, gocv.VideoCaptureWBTemperature),
	}
}

// lockOne sets the automatic mode auto to manual, and the value to the one
// the automatic loop had reached (set after the mode: many drivers ignore
// a value written while their automatic mode is on).
func lockOne(c controls, name string, auto gocv.VideoCaptureProperties, manual float64, value gocv.VideoCaptureProperties) Control {
	v := c.Get(value)
	if c.Get(auto) == noControl {
		return Control{Value: v, Note: "the driver has no automatic " + name + " control to switch off"}
	}
	c.Set(auto, manual)
	if v != noControl {
		c.Set(value, v)
	}
	if got := c.Get(auto); got != manual {
		return Control{Value: c.Get(value), Note: fmt.Sprintf("the driver kept its automatic mode (it reads %g after %g was set)", got, manual)}
	}
	kept := c.Get(value)
	if kept == noControl {
		return Control{Locked: true, Value: kept, Note: "the driver has no " + name + " value to read"}
	}
	return Control{Locked: true, Value: kept}
}

// backendNames names OpenCV's backends that open sources here.
var backendNames = map[int]string{
	int(gocv.VideoCaptureV4L2):        "V4L2",
	int(gocv.VideoCaptureGstreamer):   "GStreamer",
	int(gocv.VideoCaptureFFmpeg):      "FFmpeg",
	int(gocv.VideoCaptureImages):      "image sequence",
	int(gocv.VideoCaptureOpencvMjpeg): "OpenCV MJPEG",
}

// unsupported is the Lock of a source OpenCV opened with a backend other
// than V4L2: what it is, and where its exposure can be locked instead.
func unsupported(source string, backend int) Lock {
	name, ok := backendNames[backend]
	if !ok {
		name = fmt.Sprintf("backend %d", backend)
	}
	var what, advice string
	switch {
	case IsPipeline(source):
		what, advice = "a GStreamer pipeline", "lock it in the pipeline"
	case strings.Contains(source, "://"):
		what, advice = "a network stream, read through "+name, "lock it on the camera that sends it"
	case strings.HasPrefix(source, "/dev/"):
		what, advice = "a device opened through "+name+", not V4L2", "lock it with v4l2-ctl"
	default:
		what, advice = "a video file, read through "+name, "its exposure was fixed when it was recorded"
	}
	return Lock{Reason: "not supported by this source (" + what + "): " + advice + " (see docs/camera.md)"}
}
