package infer

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"syscall"
)

// TFLite 2.9 writes a few informational lines ("INFO: Created TensorFlow
// Lite XNNPACK delegate for CPU.") straight to file descriptor 2, once per
// process, outside the error reporter. captureStderr runs f with fd 2
// pointed at a pipe and hands back what was written there, so that those
// lines go through slog instead of mixing raw text into a structured log.
// Anything else written to fd 2 meanwhile (another goroutine's log line)
// is written back to the real stderr unchanged.
var stderrMu sync.Mutex

func captureStderr(f func()) (tflite []string, err error) {
	stderrMu.Lock()
	defer stderrMu.Unlock()
	r, w, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("capture stderr: %w", err)
	}
	saved, err := syscall.Dup(2)
	if err != nil {
		r.Close()
		w.Close()
		return nil, fmt.Errorf("capture stderr: dup: %w", err)
	}
	var buf bytes.Buffer
	done := make(chan struct{})
	go func() {
		_, _ = io.Copy(&buf, r)
		close(done)
	}()
	if err := syscall.Dup3(int(w.Fd()), 2, 0); err != nil {
		syscall.Close(saved)
		w.Close()
		<-done
		r.Close()
		return nil, fmt.Errorf("capture stderr: dup3: %w", err)
	}
	func() {
		defer func() {
			_ = syscall.Dup3(saved, 2, 0)
			syscall.Close(saved)
			w.Close()
		}()
		f()
	}()
	<-done
	r.Close()
	var other bytes.Buffer
	sc := bufio.NewScanner(&buf)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "INFO: ") || strings.HasPrefix(line, "WARNING: ") {
			tflite = append(tflite, line)
			continue
		}
		other.WriteString(line + "\n")
	}
	if other.Len() > 0 {
		_, _ = os.Stderr.Write(other.Bytes())
	}
	return tflite, nil
}

// logTFLite sends lines captured from TFLite's own stderr to the log.
func logTFLite(log *slog.Logger, lines []string) {
	for _, l := range lines {
		level, msg := slog.LevelInfo, l
		if m, ok := strings.CutPrefix(l, "INFO: "); ok {
			level, msg = slog.LevelDebug, m
		} else if m, ok := strings.CutPrefix(l, "WARNING: "); ok {
			level, msg = slog.LevelWarn, m
		}
		log.Log(context.Background(), level, "tflite", "line", strings.TrimSpace(msg))
	}
}
