package journal

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// With JOURNAL_STREAM naming stderr, every line carries its syslog
// priority; with it unset, or naming another stream, none does.
func TestJournalPriorities(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "stderr"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, _ := f.Stat()
	st := fi.Sys().(*syscall.Stat_t)
	logAll := func() string {
		f.Truncate(0)
		f.Seek(0, 0)
		log := slog.New(slog.NewTextHandler(Writer(f), &slog.HandlerOptions{Level: slog.LevelDebug}))
		log.Debug("d")
		log.Info("i", "note", "level=ERROR in a value")
		log.Warn("w")
		log.Error("e")
		b, _ := os.ReadFile(f.Name())
		return string(b)
	}

	t.Setenv("JOURNAL_STREAM", fmt.Sprintf("%d:%d", st.Dev, st.Ino))
	lines := strings.Split(strings.TrimSpace(logAll()), "\n")
	want := []string{"<7>", "<6>", "<4>", "<3>"}
	if len(lines) != 4 {
		t.Fatalf("%d lines: %q", len(lines), lines)
	}
	for i, l := range lines {
		if !strings.HasPrefix(l, want[i]+"time=") {
			t.Errorf("line %d = %q, want prefix %s", i, l, want[i])
		}
	}

	for _, js := range []string{"", fmt.Sprintf("%d:%d", st.Dev, st.Ino+1), "garbage"} {
		t.Setenv("JOURNAL_STREAM", js)
		if out := logAll(); strings.Contains(out, "<") || !strings.HasPrefix(out, "time=") {
			t.Errorf("JOURNAL_STREAM=%q: %q", js, out)
		}
	}
}
