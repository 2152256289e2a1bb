package web

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/sorterd/sorterd/internal/testenv"
	"github.com/sorterd/sorterd/links"
	"github.com/sorterd/sorterd/publish"
)

// screenshotDir is where the browser test saves its screenshots:
// $SORTERD_SCREENSHOTS (make screenshots points it at docs/screenshots,
// which the README shows), else the git-ignored out/screenshots.
func screenshotDir(t *testing.T) string {
	dir := os.Getenv("SORTERD_SCREENSHOTS")
	if dir == "" {
		dir = filepath.Join(testenv.Root(), "out", "screenshots")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

func chromium(t *testing.T) string {
	for _, p := range []string{"/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return testenv.Need(t, "/usr/bin/chromium") // skips, or fails under CI
}

// The three pages in headless Chromium against a real station: upload a
// photo and see its label and bars; see the live frame; correct an item
// and find its file under samples/. A screenshot of each page is saved.
func TestBrowser(t *testing.T) {
	testenv.Slow(t, "drives Chromium")
	exe := chromium(t)
	c := classifier(t)
	st, samples, cam := liveStationCamera(t, c)
	// A real broker and publisher, so the live page shows the MQTT link
	// as the daemon's does.
	broker := testenv.StartBroker(t)
	pub, err := publish.New(publish.Options{Broker: broker.URL(), Prefix: "sorterd", Station: "web",
		OutboxDir: t.TempDir(), OutboxSize: 100, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	pctx, pcancel := context.WithCancel(context.Background())
	pdone := make(chan struct{})
	go func() { defer close(pdone); pub.Run(pctx, time.Second) }()
	t.Cleanup(func() { pcancel(); <-pdone })
	links := func() links.State {
		return links.State{Camera: cam(), MQTT: &links.MQTT{Connected: pub.Connected(), Outbox: pub.OutboxDepth(), Dropped: pub.Dropped()}}
	}
	ts := server(t, Options{Classifier: c, Station: st, Threshold: 0.5, Links: links})
	eventually(t, "three items", 60*time.Second, func() bool { return len(st.Items(10)) >= 3 })
	// The station's first three decisions name the items lying on the
	// tray, in order, each with its box.
	items := st.Items(50)
	for i, want := range trayPhotos(t) {
		got := items[len(items)-1-i]
		if got.Label != want.Class || got.Box == nil {
			t.Errorf("item %d (%s): labelled %q %.2f, box %v", i, want.Path, got.Label, got.Score, got.Box)
		}
	}
	shots := screenshotDir(t)

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe), chromedp.NoSandbox, chromedp.WindowSize(1200, 820))
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancel()
	ctx, cancel := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	defer cancel()
	// The first Run starts the browser; later steps get a deadline each.
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("start %s: %v", exe, err)
	}
	run := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		if err := chromedp.Do(sctx, steps...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	text := func(sel string, dst *string) chromedp.Action[chromedp.Void] {
		return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) (err error) {
			*dst, err = chromedp.Text(chromedp.CSS(sel))(ctx, tg)
			return err
		})
	}
	eval := func(js string, dst *int) chromedp.Action[chromedp.Void] {
		return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) (err error) {
			*dst, err = chromedp.Evaluate[int](js)(ctx, tg)
			return err
		})
	}
	poll := func(js string) chromedp.Action[chromedp.Void] {
		return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := chromedp.Poll[bool](js, chromedp.WithPollingTimeout(20*time.Second))(ctx, tg)
			return err
		})
	}
	png := func(name string) chromedp.Action[chromedp.Void] {
		return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			buf, err := chromedp.CaptureScreenshot()(ctx, tg)
			if err != nil {
				return err
			}
			return os.WriteFile(filepath.Join(shots, name), buf, 0o644)
		})
	}

	// Classify: upload a photo through the file input.
	var label, score, bin string
	var bars int
	run("classify page",
		chromedp.Navigate(ts.URL+"/"),
		chromedp.WaitVisible(chromedp.CSS("#drop")),
		chromedp.SetUploadFiles(chromedp.CSS("#file"), []string{photo(t, "cardboard", 3)}),
		chromedp.WaitVisible(chromedp.CSS("#result")),
		text("#label", &label), text("#score", &score), text("#bin", &bin),
		eval(`document.querySelectorAll("#top li .bar span").length`, &bars),
		png("classify.png"),
	)
	if label != "cardboard" || !strings.HasSuffix(score, "%") || bars != 6 || !strings.Contains(bin, "paper") {
		t.Errorf("classify page shows %q %q %q with %d bars; want cardboard, a percentage, bin paper, 6 bars", label, score, bin, bars)
	}

	// Live: a camera frame is drawn, and the station state with its
	// camera and MQTT links.
	var width int
	var state, camText, mqttText string
	run("live page",
		chromedp.Navigate(ts.URL+"/live"),
		poll(`document.getElementById("frame").naturalWidth > 0 && document.querySelectorAll("#bins tbody tr").length == 5 && document.getElementById("state").textContent == "running" && !!document.querySelector('#links dd[data-key="MQTT"]') && document.querySelector('#links dd[data-key="MQTT"]').textContent.startsWith("connected")`),
		eval(`document.getElementById("frame").naturalWidth`, &width),
		text("#state", &state),
		text(`#links dd[data-key="camera"]`, &camText),
		text(`#links dd[data-key="MQTT"]`, &mqttText),
		// The screenshot shows an item with its box (the box's colour,
		// pipeline's boxColour, drawn on the frame), not the bare tray.
		poll(`(() => { const f = document.getElementById("frame"); if (!f.naturalWidth) return false;
			const c = document.createElement("canvas"); c.width = f.naturalWidth; c.height = f.naturalHeight;
			const g = c.getContext("2d"); g.drawImage(f, 0, 0); const d = g.getImageData(0, 0, c.width, c.height).data;
			let n = 0; for (let i = 0; i < d.length; i += 4) if (d[i] < 90 && d[i+1] > 180 && d[i+2] < 110) n++;
			return n > 300; })()`),
		png("live.png"),
	)
	if width != 640 || state != "running" || camText != "connected" || mqttText != "connected, outbox 0" {
		t.Errorf("live page: frame %d px wide (want 640), state %q, camera %q, MQTT %q; want running, connected, \"connected, outbox 0\"", width, state, camText, mqttText)
	}

	// Recent items: the oldest row is the recording's first item, whose
	// class the test knows: give it (a correction when the station got it
	// wrong, a confirmation when right), so the screenshot never shows a
	// right label "corrected" into a wrong one.
	var id, shown, note string
	first := trayPhotos(t)[0]
	row := "#items tbody tr:last-child"
	run("items page",
		chromedp.Navigate(ts.URL+"/items"),
		chromedp.WaitVisible(chromedp.CSS("#items tbody tr")),
		poll(`Array.from(document.querySelectorAll("#items tbody img")).every(i => i.complete && i.naturalWidth > 0) && document.querySelectorAll("#items tbody img.crop").length > 0`),
		chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			r, err := chromedp.AttributeValue(chromedp.CSS(row), "data-id")(ctx, tg)
			id = r.Value
			return err
		}),
		text(row+" td:nth-child(3)", &shown),
	)
	if oldest := items[len(items)-1]; id != oldest.ID || shown != oldest.Label {
		t.Fatalf("items page's last row is %s %q; want the first item %s %q", id, shown, oldest.ID, oldest.Label)
	}
	fix := first.Class
	run("correcting an item",
		chromedp.SetValue(chromedp.CSS(row+" select"), fix),
		chromedp.Click(chromedp.CSS(row+" button")),
		poll(`document.querySelector("`+row+` .saved").textContent.startsWith("saved as")`),
		text(row+" .saved", &note),
		poll(`document.getElementById("corrections").textContent.includes("`+fix+` 1")`),
		png("items.png"),
	)
	if note != "saved as "+fix {
		t.Errorf("note %q", note)
	}
	if _, err := os.Stat(filepath.Join(samples, fix, id+".jpg")); err != nil {
		t.Errorf("corrected sample not saved: %v", err)
	}
	for _, n := range []string{"classify.png", "live.png", "items.png"} {
		if fi, err := os.Stat(filepath.Join(shots, n)); err != nil || fi.Size() < 5000 {
			t.Errorf("screenshot %s: %v", n, err)
		}
	}
}
