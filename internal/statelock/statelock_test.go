package statelock

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A second lock on a held dir is refused, naming the holder's pid; once
// released, the dir can be taken again, and the pid file is gone.
func TestLock(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	l, err := Take(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Take(dir); !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), fmt.Sprintf("pid %d", os.Getpid())) {
		t.Errorf("second lock: %v", err)
	}
	l.Close()
	if _, err := os.Stat(filepath.Join(dir, pidFile)); !os.IsNotExist(err) {
		t.Errorf("pid file after Close: %v", err)
	}
	l2, err := Take(dir)
	if err != nil {
		t.Fatalf("after Close: %v", err)
	}
	l2.Close()
	var none *Lock
	none.Close() // no lock: nothing to do
}
