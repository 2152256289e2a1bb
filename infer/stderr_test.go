package infer

import (
	"bytes"
	"log/slog"
	"os"
	"strings"
	"syscall"
	"testing"
)

// What is written to fd 2 (as TFLite's C code does) while captureStderr
// runs is taken: TFLite's INFO/WARNING lines are returned, the rest goes
// back to the real stderr, and fd 2 is restored afterwards.
func TestCaptureStderr(t *testing.T) {
	// The real stderr is swapped for a file for the test, to see what is
	// written back to it.
	f, err := os.CreateTemp(t.TempDir(), "stderr")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	saved, err := syscall.Dup(2)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Dup3(int(f.Fd()), 2, 0); err != nil {
		t.Fatal(err)
	}
	lines, cerr := captureStderr(func() {
		_, _ = syscall.Write(2, []byte("INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\nsomething else\nWARNING: w\n"))
	})
	_, _ = syscall.Write(2, []byte("after\n"))
	if err := syscall.Dup3(saved, 2, 0); err != nil {
		t.Fatal(err)
	}
	syscall.Close(saved)
	if cerr != nil {
		t.Fatal(cerr)
	}
	if len(lines) != 2 || lines[0] != "INFO: Created TensorFlow Lite XNNPACK delegate for CPU." || lines[1] != "WARNING: w" {
		t.Fatalf("captured %q", lines)
	}
	got, _ := os.ReadFile(f.Name())
	if string(got) != "something else\nafter\n" {
		t.Fatalf("real stderr got %q, want the other line and what came after", got)
	}
	var buf bytes.Buffer
	logTFLite(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})), lines)
	out := buf.String()
	if !strings.Contains(out, `level=DEBUG msg=tflite line="Created TensorFlow Lite XNNPACK delegate for CPU."`) ||
		!strings.Contains(out, "level=WARN msg=tflite line=w") {
		t.Fatalf("log: %s", out)
	}
}
