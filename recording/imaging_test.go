package recording

import (
	"image"
	"image/color"
	"math/rand"
	"path/filepath"
	"testing"

	"github.com/sorterd/sorterd/internal/testenv"
	"gocv.io/x/gocv"
)

// discPhoto is a TrashNet-like photo: a blue disc (BGR 200, 60, 30) on a
// white backdrop, in a slightly warm light (backdrop 225, 230, 235).
func discPhoto(t testing.TB) gocv.Mat {
	m := gocv.NewMatWithSizeFromScalar(gocv.NewScalar(225, 230, 235, 0), 384, 512, gocv.MatTypeCV8UC3)
	gocv.Circle(&m, image.Pt(256, 192), 110, color.RGBA{R: 30, G: 60, B: 200}, -1)
	t.Cleanup(func() { m.Close() })
	return m
}

// The cut-out is the item, not its backdrop: the disc inside the mask,
// the white board around it outside.
func TestCutOutSeparatesTheItem(t *testing.T) {
	c, err := cutOut(discPhoto(t))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, p := range []image.Point{{256, 192}, {200, 150}, {330, 240}} {
		if v := c.mask.GetUCharAt(p.Y, p.X); v < 200 {
			t.Errorf("mask at %v (the disc) = %d, want the item", p, v)
		}
	}
	for _, p := range []image.Point{{20, 20}, {490, 360}, {256, 20}, {60, 192}} {
		if v := c.mask.GetUCharAt(p.Y, p.X); v > 30 {
			t.Errorf("mask at %v (the backdrop) = %d, want none", p, v)
		}
	}
	// Reflectance: the backdrop is white paper (0.9 × 255) in every
	// colour, whatever the photo's light.
	for ch := 0; ch < 3; ch++ {
		if v := c.refl.GetVecbAt(20, 20)[ch]; v < 225 || v > 235 {
			t.Errorf("backdrop reflectance channel %d = %d, want about 230", ch, v)
		}
	}
}

// meanIn is the mean colour of frame inside r.
func meanIn(m gocv.Mat, r image.Rectangle) [3]float64 {
	reg := m.Region(r)
	defer reg.Close()
	s := reg.Mean()
	return [3]float64{s.Val1, s.Val2, s.Val3}
}

// firstItemFrame writes a one-item recording and returns a frame the
// item lies in, the item's box and the empty tray's first frame.
func firstItemFrame(t *testing.T, tray Tray, cam Camera) (frame, empty gocv.Mat, box image.Rectangle) {
	dir := t.TempDir()
	photo := filepath.Join(dir, "disc.png")
	if !gocv.IMWrite(photo, discPhoto(t)) {
		t.Fatal("cannot write the photo")
	}
	path := filepath.Join(dir, "r.avi")
	items, err := Write(path, Options{Photos: []Photo{{Path: photo, Class: "disc"}}, Tray: tray, Camera: cam,
		Hold: 6, Gap: 6, Light: -1, Step: -1, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	v, err := gocv.VideoCaptureFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	frame, empty = gocv.NewMat(), gocv.NewMat()
	t.Cleanup(func() { frame.Close(); empty.Close() })
	for i := 0; i <= items[0].First+4; i++ {
		m := &frame
		if i == 0 {
			m = &empty
		}
		if !v.Read(m) {
			t.Fatalf("frame %d missing", i)
		}
	}
	return frame, empty, items[0].Box
}

// The item keeps its own colours whatever the tray under a fixed camera;
// an automatic camera shifts item and tray together; the older, tinted
// recordings darken the item with a dark tray (the shortcut the imaging
// model replaces).
func TestItemColoursByCamera(t *testing.T) {
	disc := func(frame gocv.Mat, box image.Rectangle) [3]float64 {
		c := image.Pt((box.Min.X+box.Max.X)/2, (box.Min.Y+box.Max.Y)/2)
		return meanIn(frame, image.Rectangle{Min: c.Sub(image.Pt(8, 8)), Max: c.Add(image.Pt(8, 8))})
	}
	lf, _, lbox := firstItemFrame(t, Light, Fixed)
	df, dempty, dbox := firstItemFrame(t, Dark, Fixed)
	onLight, onDark := disc(lf, lbox), disc(df, dbox)
	for c := range onLight {
		if d := onLight[c] - onDark[c]; d > 12 || d < -12 {
			t.Errorf("fixed camera: the disc reads %v on the light tray and %v on the dark one: want the same", onLight, onDark)
			break
		}
	}
	if onDark[0] < 120 || onDark[2] > 80 {
		t.Errorf("fixed camera: the disc reads %v, want its own blue", onDark)
	}
	af, aempty, abox := firstItemFrame(t, Dark, Auto)
	trayFixed := meanIn(dempty, image.Rect(300, 20, 340, 60))
	trayAuto := meanIn(aempty, image.Rect(300, 20, 340, 60))
	if trayAuto[1] < trayFixed[1]*1.4 {
		t.Errorf("auto camera: empty dark tray reads %v against %v fixed: want it pulled toward grey", trayAuto, trayFixed)
	}
	if a := disc(af, abox); a[0] < onDark[0]*1.1 {
		t.Errorf("auto camera on the dark tray: disc %v, want brighter than fixed %v", a, onDark)
	}
	tf, _, tbox := firstItemFrame(t, Dark, Tinted)
	if tinted := disc(tf, tbox); tinted[0] > onDark[0]*0.6 {
		t.Errorf("tinted: disc %v on the dark tray, want darkened by the tray (fixed: %v)", tinted, onDark)
	}
}

// Around the item lies the tray, not the photo's white backdrop, and the
// item's shadow darkens the tray beside it.
func TestLaidItemOnTray(t *testing.T) {
	rng := rand.New(rand.NewSource(2))
	c, err := cutOut(discPhoto(t))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	const w, h = 640, 480
	tray := makeTray(lookOf(Dark), w, h, rng, false)
	p := place(c, w, h, 0.5, 0.3, rng)
	scene := compose(tray, w, p)
	white, shaded := 0, 0
	for y := p.box.Min.Y; y < p.box.Max.Y; y++ {
		for x := p.box.Min.X; x < p.box.Max.X; x++ {
			i := 3 * (y*w + x)
			if scene[i+1] > 200 && scene[i+2] > 200 {
				white++ // the backdrop would be white in every colour
			}
		}
	}
	if white > p.box.Dx()*p.box.Dy()/50 {
		t.Errorf("%d white pixels in the item's box: the backdrop was laid with it", white)
	}
	for i := 0; i < len(scene); i += 3 {
		if scene[i+1] < tray[i+1]*0.9 && scene[i] < 100 {
			shaded++
		}
	}
	if shaded < 500 {
		t.Errorf("%d shaded tray pixels: want a shadow", shaded)
	}
}

func TestParseCamera(t *testing.T) {
	for _, n := range cameraNames {
		c, err := ParseCamera(n)
		if err != nil || c.String() != n {
			t.Errorf("%s: %v %v", n, c, err)
		}
	}
	if _, err := ParseCamera("manual"); err == nil {
		t.Error("manual: want an error")
	}
}

// The same photo is cut the same way whatever was cut before (GrabCut
// draws from OpenCV's random generator): recordings and training views
// are deterministic.
func TestCutOutDeterministic(t *testing.T) {
	photo := gocv.IMRead(testenv.Photo(t, "cardboard", 3), gocv.IMReadColor)
	defer photo.Close()
	first, err := cutOut(photo)
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	for range 3 { // other cuts in between move the generator on
		c, _ := cutOut(discPhoto(t))
		c.Close()
	}
	again, err := cutOut(photo)
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	d := gocv.NewMat()
	defer d.Close()
	gocv.AbsDiff(first.mask, again.mask, &d)
	if n := gocv.CountNonZero(d); n != 0 {
		t.Errorf("the same photo cut twice differs in %d mask pixels", n)
	}
}

// A remembered cut is the cut: Cuts gives the same mask as cutting
// afresh, and cuts a photo once however often it is laid.
func TestCutsRemember(t *testing.T) {
	photo := gocv.IMRead(testenv.Photo(t, "cardboard", 3), gocv.IMReadColor)
	defer photo.Close()
	fresh, err := cutOut(photo)
	if err != nil {
		t.Fatal(err)
	}
	defer fresh.Close()
	var cs Cuts
	for i := range 3 {
		c, err := cs.cutOut(photo)
		if err != nil {
			t.Fatal(err)
		}
		d := gocv.NewMat()
		gocv.AbsDiff(fresh.mask, c.mask, &d)
		if n := gocv.CountNonZero(d); n != 0 {
			t.Errorf("cut %d: %d mask pixels differ from a fresh cut", i, n)
		}
		d.Close()
		c.Close()
	}
	if len(cs.m) != 1 {
		t.Errorf("one photo cut 3 times: %d cuts remembered, want 1", len(cs.m))
	}
}

// A sheet of white paper on the white board is no sliver: GrabCut keeps
// only an edge of paper115 (under 2% of the photo), and a cut that keeps
// less than minCut falls back to the photo's middle, as the sheet lies.
func TestWhitePaperKeepsItsSheet(t *testing.T) {
	photo := gocv.IMRead(testenv.Photo(t, "paper", 115), gocv.IMReadColor)
	defer photo.Close()
	c, err := cutOut(photo)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if share := c.mask.Mean().Val1 / 255; share < minCut/100.0 {
		t.Errorf("paper115's cut keeps %.1f%% of the photo, want at least %d%%", 100*share, minCut)
	}
}
