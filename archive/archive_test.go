package archive

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

func files(t *testing.T, dir string) []string {
	t.Helper()
	des, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, de := range des {
		out = append(out, de.Name())
	}
	sort.Strings(out)
	return out
}

func du(t *testing.T, dir string) int64 {
	var n int64
	for _, f := range files(t, dir) {
		fi, _ := os.Stat(filepath.Join(dir, f))
		n += fi.Size()
	}
	return n
}

// The count limit keeps the newest items, on disk and across a reopen.
func TestCountLimit(t *testing.T) {
	dir := t.TempDir()
	a, err := Open(Options{Dir: dir, MaxItems: 3})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5; i++ {
		if err := a.Add(fmt.Sprintf("item%d", i), bytes.Repeat([]byte{0xff}, 100), []byte(`{"id":"x"}`)); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2 * time.Millisecond) // distinct modification times
	}
	want := "item2.jpg item2.json item3.jpg item3.json item4.jpg item4.json"
	if got := strings.Join(files(t, dir), " "); got != want {
		t.Errorf("files %s, want %s", got, want)
	}
	if a.Len() != 3 || a.Bytes() != du(t, dir) {
		t.Errorf("len %d bytes %d, disk %d", a.Len(), a.Bytes(), du(t, dir))
	}
	// Reopened with a smaller limit: the oldest go, in the order written.
	b, err := Open(Options{Dir: dir, MaxItems: 2})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(files(t, dir), " "); got != "item3.jpg item3.json item4.jpg item4.json" || b.Len() != 2 {
		t.Errorf("after reopen: %s (len %d)", got, b.Len())
	}
}

// The byte limit holds after every Add; a leftover temporary file is
// cleared on open.
func TestByteLimit(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, ".itemX.jpg.123"), []byte("half"), 0o644)
	const limit = 10_000
	a, err := Open(Options{Dir: dir, MaxItems: 1000, MaxBytes: limit})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 50; i++ {
		img := bytes.Repeat([]byte{byte(i)}, 900+i*10)
		if err := a.Add(fmt.Sprintf("i%03d", i), img, []byte(`{}`)); err != nil {
			t.Fatal(err)
		}
		if d := du(t, dir); d > limit || d != a.Bytes() {
			t.Fatalf("after item %d: %d bytes on disk, archive says %d, limit %d", i, d, a.Bytes(), limit)
		}
	}
	fs := files(t, dir)
	if fs[len(fs)-1] != "i049.json" || strings.HasPrefix(fs[0], ".") {
		t.Errorf("files %v", fs)
	}
	if _, err := os.Stat(filepath.Join(dir, "i049.jpg")); err != nil {
		t.Error("newest item missing")
	}
	if err := a.Add("../escape", []byte("x"), nil); err == nil {
		t.Error("path in id accepted")
	}
}
