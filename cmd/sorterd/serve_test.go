package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sorterd/sorterd/internal/testenv"
)

// sorterd serve: the classify API on the shipped model with bins from a
// config file, without camera or GPIO; SIGTERM (ctx) ends it with 0.
func TestServe(t *testing.T) {
	m := testenv.Need(t, filepath.Join(testenv.Root(), "models", "garbage.tflite"))
	img, err := os.ReadFile(photo(t))
	if err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stderr syncBuf
	code := make(chan int, 1)
	go func() {
		code <- run(ctx, []string{"serve", "--model", m, "--listen", addr, "--threads", "1",
			"--config", filepath.Join(testenv.Root(), "sorterd.example.yaml")}, &bytes.Buffer{}, &stderr)
	}()
	var res *http.Response
	eventually(t, "serve listening", 20*time.Second, func() bool {
		res, err = http.Post("http://"+addr+"/api/classify", "image/jpeg", bytes.NewReader(img))
		return err == nil
	})
	var out struct {
		Label, Bin string
		Score      float64
	}
	json.NewDecoder(res.Body).Decode(&out)
	res.Body.Close()
	if res.StatusCode != 200 || out.Label != "glass" || out.Bin != "glass" {
		t.Errorf("%d: %+v\n%s", res.StatusCode, out, stderr.String())
	}
	if r, err := http.Get("http://" + addr + "/api/events"); err != nil || r.StatusCode != 503 {
		t.Errorf("events without a station: %v %v", r.StatusCode, err)
	}
	cancel()
	select {
	case c := <-code:
		if c != 0 {
			t.Errorf("exit %d: %s", c, stderr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not stop")
	}
	if !strings.Contains(stderr.String(), "web page") {
		t.Errorf("no startup line: %s", stderr.String())
	}
	// A taken port is a clear error, exit 1.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	busy := ln.Addr().String()
	var e2 syncBuf
	if c := run(context.Background(), []string{"serve", "--model", m, "--listen", busy}, &bytes.Buffer{}, &e2); c != 1 || !strings.Contains(e2.String(), "http.listen "+busy) {
		t.Errorf("busy port: exit %d, %s", c, e2.String())
	}
}
