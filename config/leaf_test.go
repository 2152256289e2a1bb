package config

import (
	"os/exec"
	"strings"
	"testing"
)

// config is a leaf: it and everything it imports build without cgo, so
// no OpenCV (gocv) or TensorFlow Lite (go-tflite) comes with it, and a
// tool that only reads the file needs neither.
func TestLeaf(t *testing.T) {
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command:", err)
	}
	out, err := exec.Command(gobin, "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}} {{len .CgoFiles}}{{end}}", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		path, cgo, _ := strings.Cut(line, " ")
		if cgo != "0" || strings.Contains(path, "gocv") || strings.Contains(path, "go-tflite") {
			t.Errorf("config depends on %s (%s cgo files)", path, cgo)
		}
	}
}
