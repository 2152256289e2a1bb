// Package recording makes station recordings from photos, and scores what
// a station decided on them. A recording is what the station's camera
// would see: an empty tray, then items one after another, each cut out
// of its photo and laid on the tray at some width of the frame, turned
// any way, over its own shadow, with the light drifting slowly and
// changing once, seen by a camera with fixed or automatic exposure and
// white balance (imaging.go); empty tray between items. The station
// benchmark (`sorterd eval --station`) plays them through the daemon's
// own path.
package recording

import (
	"errors"
	"fmt"
	"image"
	"math"
	"math/rand"

	"github.com/sorterd/sorterd/settings"
	"gocv.io/x/gocv"
)

// Tray is the surface items lie on.
type Tray int

// Trays.
const (
	Light    Tray = iota // plain light grey: white paper hardly differs from it
	Dark                 // plain dark grey: dark metal hardly differs from it
	Textured             // a wood-like, grainy surface
	Blue                 // a saturated blue plastic tray
	GreenMat             // a green cutting mat with a printed grid
	Red                  // a terracotta red tray
	Concrete             // a grey, blotchy surface with stains
)

var trayNames = [...]string{Light: "light", Dark: "dark", Textured: "textured", Blue: "blue",
	GreenMat: "green-mat", Red: "red", Concrete: "concrete"}

func (t Tray) String() string {
	if t >= 0 && int(t) < len(trayNames) {
		return trayNames[t]
	}
	return fmt.Sprintf("Tray(%d)", int(t))
}

// ParseTray reads a tray's name.
func ParseTray(s string) (Tray, error) {
	for i, n := range trayNames {
		if n == s {
			return Tray(i), nil
		}
	}
	return 0, fmt.Errorf("unknown tray %q (have %v)", s, trayNames)
}

// Photo is one item to lay on the tray.
type Photo struct {
	Path  string
	Class string
}

// Options describe a recording. Zero values take the defaults.
type Options struct {
	Photos []Photo
	Tray   Tray
	// Camera is the camera's exposure and white balance (Fixed).
	Camera Camera
	// Width and Height of the frame (640×480).
	Width, Height int
	FPS           float64 // written in the file (15)
	// ItemWidth is the range of the item's width as a share of the
	// frame's width; each item draws one (default 0.5..0.5).
	ItemWidth [2]float64
	Hold      int // frames each item lies on the tray (12)
	// Gap is the number of empty-tray frames between items (8); a
	// negative gap puts items back to back: the next lies down in the
	// frame the last is taken away.
	Gap int
	// Light is how far the light drifts (±, share of brightness) over
	// the recording (0.12; negative: not at all); Noise the sensor noise's standard deviation
	// in grey levels (3).
	Light, Noise float64
	// Step is a sudden change of the light's intensity (share) half way
	// through the recording, a second lamp switched on, with a slight
	// change of its colour (0.15; negative: none). Not with Tinted.
	Step float64
	Seed int64
}

func (o *Options) defaults() {
	if o.Width <= 0 || o.Height <= 0 {
		o.Width, o.Height = settings.DefaultFrameWidth, settings.DefaultFrameHeight
	}
	if o.FPS <= 0 {
		o.FPS = settings.DefaultFPS
	}
	if o.ItemWidth[0] <= 0 {
		o.ItemWidth = [2]float64{0.5, 0.5}
	}
	if o.ItemWidth[1] < o.ItemWidth[0] {
		o.ItemWidth[1] = o.ItemWidth[0]
	}
	if o.Hold <= 0 {
		o.Hold = 12
	}
	if o.Gap == 0 {
		o.Gap = 8
	}
	if o.Light == 0 {
		o.Light = 0.12
	}
	o.Light = max(o.Light, 0)
	if o.Noise == 0 {
		o.Noise = 3
	}
	if o.Step == 0 {
		o.Step = 0.15
	}
	o.Step = max(o.Step, 0)
}

// Item is one item of a recording: which photo, where, and the frames it
// lies in (First..Last, counted from 0).
type Item struct {
	Photo
	Box         image.Rectangle
	First, Last int
}

// Errors.
var (
	ErrNoPhotos = errors.New("recording: no photos")
	ErrPhoto    = errors.New("recording: photo cannot be read")
)

// Write makes the recording as an MJPEG AVI at path and returns its
// items. It is deterministic for a seed.
func Write(path string, o Options) ([]Item, error) {
	o.defaults()
	if len(o.Photos) == 0 {
		return nil, ErrNoPhotos
	}
	rng := rand.New(rand.NewSource(o.Seed))
	w, err := gocv.VideoWriterFile(path, "MJPG", o.FPS, o.Width, o.Height, true)
	if err != nil {
		return nil, fmt.Errorf("recording %s: %w", path, err)
	}
	defer w.Close()
	if !w.IsOpened() {
		return nil, fmt.Errorf("recording %s: cannot write MJPEG", path)
	}
	wr := newWriter(w, o, rng)
	frame := make([]float32, len(wr.tray))
	var items []Item
	var prev []float32 // the last item's scene (back to back)
	for i := 0; i < max(o.Gap, 1) && o.Gap > 0; i++ {
		if err := wr.write(wr.tray); err != nil {
			return nil, err
		}
	}
	for _, p := range o.Photos {
		it, scene, err := wr.item(p, frame, prev)
		if err != nil {
			return nil, err
		}
		items = append(items, it)
		if o.Gap < 0 {
			prev = scene
		}
	}
	if o.Gap < 0 {
		for j := 0; j < 8; j++ {
			if err := wr.write(wr.tray); err != nil {
				return nil, err
			}
		}
	}
	return items, nil
}

// newWriter makes the recording's empty tray and, unless Tinted, its
// lamp and camera, drawing from rng in the recording's order.
func newWriter(w *gocv.VideoWriter, o Options, rng *rand.Rand) *writer {
	wr := &writer{w: w, o: o, rng: rng}
	if o.Camera == Tinted {
		wr.tray = makeTray(lookOf(o.Tray), o.Width, o.Height, rng, true)
		wr.noise = noiseTable(rng, o.Noise, 2*len(wr.tray))
	} else {
		wr.tray = makeTray(lookOf(o.Tray), o.Width, o.Height, rng, false)
		soften(wr.tray, o.Width, o.Height, 0.7)
		wr.lamp = randomLamp(rng)
		wr.cam = newCamera(o.Camera, wr.lamp, wr.tray, o.Width, o.Height, o.Noise, rng)
		per := o.Hold + 2 + max(o.Gap, 0)
		wr.stepAt = (len(o.Photos)*per + max(o.Gap, 0)) / 2
		wr.step = lamp{float32(1 + o.Step*1.05), float32(1 + o.Step), float32(1 + o.Step*0.95)}
	}
	wr.shadow = 0.2 + 0.15*rng.Float64()
	return wr
}

// lay is the scene with a photo's item on the tray, and the item's box.
func (wr *writer) lay(img gocv.Mat, frac float64) ([]float32, image.Rectangle, error) {
	o := wr.o
	if o.Camera == Tinted {
		return layItem(wr.tray, o.Width, o.Height, img, frac, wr.rng)
	}
	c, err := cutOut(img)
	if err != nil {
		return nil, image.Rectangle{}, err
	}
	defer c.Close()
	p := place(c, o.Width, o.Height, frac, wr.shadow, wr.rng)
	scene := compose(wr.tray, o.Width, p)
	soften(scene, o.Width, o.Height, 0.7)
	return scene, p.box, nil
}

// item lays photo p on the tray and writes its frames (frame: scratch):
// the frame it lands in, half there over the empty tray (or over prev,
// the last item's scene, back to back), Hold frames of it lying still,
// then, unless back to back, the frame it is taken away in and Gap empty
// ones. scene is the item's.
func (wr *writer) item(p Photo, frame, prev []float32) (it Item, scene []float32, err error) {
	o := wr.o
	frac := o.ItemWidth[0] + wr.rng.Float64()*(o.ItemWidth[1]-o.ItemWidth[0])
	img := gocv.IMRead(p.Path, gocv.IMReadColor)
	if img.Empty() {
		return Item{}, nil, fmt.Errorf("%w: %s", ErrPhoto, p.Path)
	}
	scene, box, err := wr.lay(img, frac)
	img.Close()
	if err != nil {
		return Item{}, nil, fmt.Errorf("photo %s: %w", p.Path, err)
	}
	first := wr.n
	// The frame it lands in: half there, as a fast drop blurs.
	base := wr.tray
	if prev != nil {
		base = prev
	}
	blend(frame, base, scene, 0.5)
	if err := wr.write(frame); err != nil {
		return Item{}, nil, err
	}
	for j := 0; j < o.Hold; j++ {
		if err := wr.write(scene); err != nil {
			return Item{}, nil, err
		}
	}
	it = Item{Photo: p, Box: box, First: first, Last: wr.n - 1}
	if o.Gap < 0 {
		return it, scene, nil
	}
	// Taken away: half gone, then the empty tray.
	blend(frame, wr.tray, scene, 0.5)
	if err := wr.write(frame); err != nil {
		return Item{}, nil, err
	}
	for j := 0; j < o.Gap; j++ {
		if err := wr.write(wr.tray); err != nil {
			return Item{}, nil, err
		}
	}
	return it, scene, nil
}

// writer turns each scene into a frame and writes it: Tinted, the scene
// in a drifting light with sensor noise; otherwise the lamp (drifting,
// and changed once at stepAt) and the camera.
type writer struct {
	w      *gocv.VideoWriter
	o      Options
	rng    *rand.Rand
	tray   []float32 // the empty tray's scene
	shadow float64   // how dark items' shadows fall
	noise  []float32
	buf    []byte
	n      int
	lamp   lamp
	cam    *camera
	stepAt int
	step   lamp
}

// lightPeriod is the drift's period in frames: slow, as daylight and
// a warming lamp change.
const lightPeriod = 300

func (wr *writer) write(scene []float32) error {
	g := float32(1 + wr.o.Light*math.Sin(2*math.Pi*float64(wr.n)/lightPeriod))
	if len(wr.buf) != len(scene) {
		wr.buf = make([]byte, len(scene))
	}
	if wr.cam != nil {
		l := wr.lamp
		for k := range l {
			l[k] *= g
			if wr.n >= wr.stepAt {
				l[k] *= wr.step[k]
			}
		}
		wr.cam.adapt(scene, l)
		wr.cam.shoot(scene, l, wr.buf)
	} else {
		off := wr.rng.Intn(len(wr.noise) - len(scene))
		nz := wr.noise[off : off+len(scene)]
		for i, v := range scene {
			wr.buf[i] = clampByte(v*g + nz[i])
		}
	}
	m, err := gocv.NewMatFromBytes(wr.o.Height, wr.o.Width, gocv.MatTypeCV8UC3, wr.buf)
	if err != nil {
		return fmt.Errorf("recording frame: %w", err)
	}
	defer m.Close()
	if err := wr.w.Write(m); err != nil {
		return fmt.Errorf("recording frame %d: %w", wr.n, err)
	}
	wr.n++
	return nil
}

// noiseTable is Gaussian noise to take frames' noise from at random
// offsets (cheaper than drawing 900k numbers a frame).
func noiseTable(rng *rand.Rand, sigma float64, n int) []float32 {
	t := make([]float32, n)
	for i := range t {
		t[i] = float32(rng.NormFloat64() * sigma)
	}
	return t
}

func clampByte(v float32) byte {
	switch {
	case v <= 0:
		return 0
	case v >= 255:
		return 255
	}
	return byte(v + 0.5)
}

func blend(dst, a, b []float32, t float32) {
	for i := range dst {
		dst[i] = a[i]*(1-t) + b[i]*t
	}
}

// look is a tray's colour (BGR, reflectance ×255) and texture.
type look struct {
	base  [3]float32
	grain bool // wood
	grid  bool // printed lines, as a cutting mat has
	stain bool // blotches and stains, as concrete shows
}

func lookOf(t Tray) look {
	switch t {
	case Dark:
		return look{base: [3]float32{52, 56, 60}}
	case Textured:
		return look{base: [3]float32{96, 128, 156}, grain: true} // a light wood
	case Blue:
		return look{base: [3]float32{150, 92, 40}}
	case GreenMat:
		return look{base: [3]float32{70, 118, 45}, grid: true}
	case Red:
		return look{base: [3]float32{62, 82, 168}}
	case Concrete:
		return look{base: [3]float32{138, 142, 146}, stain: true}
	}
	return look{base: [3]float32{200, 206, 210}}
}

// trainTrays are the trays training's views may draw by name: the
// benchmark's green mat, red and concrete trays are left for it alone.
var trainTrays = []Tray{Light, Dark, Textured, Blue}

// randomLook is any tray: one of trainTrays, a grey, or a colour with or
// without a grain, light or dark.
func randomLook(rng *rand.Rand) look {
	switch rng.Intn(4) {
	case 0:
		return lookOf(trainTrays[rng.Intn(len(trainTrays))])
	case 1:
		g := float32(30 + rng.Intn(200))
		return look{base: [3]float32{g, g * (0.97 + 0.06*rng.Float32()), g * (0.97 + 0.06*rng.Float32())}}
	}
	var b [3]float32
	for c := range b {
		b[c] = float32(30 + rng.Intn(200))
	}
	return look{base: b, grain: rng.Intn(2) == 0}
}

// makeTray is the empty tray as BGR floats: its colour and texture, with
// a vignette when asked (the corners 15% darker, as a wide lens shows;
// the imaging model's camera adds its own).
func makeTray(l look, w, h int, rng *rand.Rand, vignette bool) []float32 {
	out := make([]float32, w*h*3)
	base := l.base
	var grain []float32
	switch {
	case l.grain:
		grain = woodGrain(w, h, rng)
	case l.stain:
		grain = stains(w, h, rng)
	}
	cx, cy := float64(w)/2, float64(h)/2
	rmax := math.Hypot(cx, cy)
	pitch := max(w/16, 8)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			v := float32(1)
			if vignette {
				r := math.Hypot(float64(x)-cx, float64(y)-cy) / rmax
				v = float32(1 - 0.15*r*r)
			}
			if l.grid && (x%pitch < 2 || y%pitch < 2) {
				v *= 1.6 // a printed line, lighter than the mat
			}
			p := 3 * (y*w + x)
			for c := 0; c < 3; c++ {
				b := base[c]
				if grain != nil {
					b *= grain[y*w+x]
				}
				out[p+c] = min(b*v, 250)
			}
		}
	}
	return out
}

// stains is a brightness factor per pixel: broad blotches, a fine speckle
// and a few dark stains.
func stains(w, h int, rng *rand.Rand) []float32 {
	coarse := gocv.NewMatWithSize(6, 8, gocv.MatTypeCV32F)
	defer coarse.Close()
	for y := 0; y < 6; y++ {
		for x := 0; x < 8; x++ {
			coarse.SetFloatAt(y, x, float32(rng.Float64()))
		}
	}
	big := gocv.NewMat()
	defer big.Close()
	gocv.Resize(coarse, &big, image.Pt(w, h), 0, 0, gocv.InterpolationCubic)
	g := make([]float32, w*h)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			g[y*w+x] = float32(1 + 0.2*(float64(big.GetFloatAt(y, x))-0.5) + 0.08*(rng.Float64()-0.5))
		}
	}
	for range 4 {
		cx, cy, r := rng.Intn(w), rng.Intn(h), 10+rng.Intn(30)
		for y := max(0, cy-r); y < min(h, cy+r); y++ {
			for x := max(0, cx-r); x < min(w, cx+r); x++ {
				if d := math.Hypot(float64(x-cx), float64(y-cy)); d < float64(r) {
					g[y*w+x] *= float32(0.75 + 0.25*d/float64(r))
				}
			}
		}
	}
	return g
}

// woodGrain is a brightness factor per pixel: stripes that wander, with
// knots of low-frequency noise and a fine grain.
func woodGrain(w, h int, rng *rand.Rand) []float32 {
	coarse := gocv.NewMatWithSize(12, 16, gocv.MatTypeCV32F)
	defer coarse.Close()
	for y := 0; y < 12; y++ {
		for x := 0; x < 16; x++ {
			coarse.SetFloatAt(y, x, float32(rng.Float64()))
		}
	}
	big := gocv.NewMat()
	defer big.Close()
	gocv.Resize(coarse, &big, image.Pt(w, h), 0, 0, gocv.InterpolationCubic)
	g := make([]float32, w*h)
	phase := rng.Float64() * 10
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			n := float64(big.GetFloatAt(y, x))
			stripe := math.Sin(float64(y)*0.09 + 6*n + phase)
			g[y*w+x] = float32(1 + 0.16*stripe + 0.10*(n-0.5) + 0.05*(rng.Float64()-0.5))
		}
	}
	return g
}

// layItem is the tray with the photo on it: scaled to frac of the frame's
// width at a random place inside the frame, white-balanced so that the
// photo's own backdrop takes the tray's colour there, feathered into the
// tray, over a soft shadow. It returns the scene and the photo's box.
func layItem(tray []float32, w, h int, img gocv.Mat, frac float64, rng *rand.Rand) ([]float32, image.Rectangle, error) {
	iw := max(8, int(frac*float64(w)))
	ih := max(8, iw*img.Rows()/img.Cols())
	if ih > h {
		ih, iw = h, h*img.Cols()/img.Rows()
	}
	small := gocv.NewMat()
	defer small.Close()
	gocv.Resize(img, &small, image.Pt(iw, ih), 0, 0, gocv.InterpolationArea)
	px, err := small.DataPtrUint8()
	if err != nil {
		return nil, image.Rectangle{}, err
	}
	x0, y0 := rng.Intn(w-iw+1), rng.Intn(h-ih+1)
	box := image.Rect(x0, y0, x0+iw, y0+ih)
	// The photo's backdrop is the median of its border; the tray's colour
	// is its mean under the photo.
	var back, under [3]float32
	back = borderMedian(px, iw, ih)
	for c := 0; c < 3; c++ {
		var s float64
		for y := y0; y < y0+ih; y++ {
			for x := x0; x < x0+iw; x++ {
				s += float64(tray[3*(y*w+x)+c])
			}
		}
		under[c] = float32(s / float64(iw*ih))
	}
	var gain [3]float32
	for c := 0; c < 3; c++ {
		gain[c] = under[c] / max(back[c], 1)
	}
	scene := append([]float32(nil), tray...)
	// The shadow: the tray darkened under an offset, blurred box.
	sdx, sdy := iw/20, ih/20
	feather := float64(max(iw, ih)) * 0.08
	for y := max(0, y0+sdy-int(feather)); y < min(h, y0+ih+sdy+int(feather)); y++ {
		for x := max(0, x0+sdx-int(feather)); x < min(w, x0+iw+sdx+int(feather)); x++ {
			a := edge(float64(x-x0-sdx), float64(y-y0-sdy), float64(iw), float64(ih), feather)
			f := float32(1 - 0.18*a)
			p := 3 * (y*w + x)
			scene[p], scene[p+1], scene[p+2] = scene[p]*f, scene[p+1]*f, scene[p+2]*f
		}
	}
	for y := 0; y < ih; y++ {
		for x := 0; x < iw; x++ {
			a := float32(edge(float64(x), float64(y), float64(iw), float64(ih), feather))
			if a <= 0 {
				continue
			}
			p := 3 * ((y0+y)*w + x0 + x)
			q := 3 * (y*iw + x)
			for c := 0; c < 3; c++ {
				v := float32(px[q+c]) * gain[c]
				scene[p+c] = scene[p+c]*(1-a) + v*a
			}
		}
	}
	return scene, box, nil
}

// edge is the photo's opacity at (x, y) of a w×h photo: 1 inside, falling
// smoothly to 0 over feather pixels at its edges.
func edge(x, y, w, h, feather float64) float64 {
	d := min(x, y, w-1-x, h-1-y)
	if d <= 0 {
		return 0
	}
	if d >= feather {
		return 1
	}
	t := d / feather
	return t * t * (3 - 2*t)
}

// borderMedian is the per-channel median of the outer 5% of a photo.
func borderMedian(px []byte, w, h int) [3]float32 {
	bw, bh := max(1, w/20), max(1, h/20)
	var hist [3][256]int
	n := 0
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			if x >= bw && x < w-bw && y >= bh && y < h-bh {
				continue
			}
			p := 3 * (y*w + x)
			for c := 0; c < 3; c++ {
				hist[c][px[p+c]]++
			}
			n++
		}
	}
	var out [3]float32
	for c := 0; c < 3; c++ {
		acc := 0
		for v, k := range hist[c] {
			if acc += k; 2*acc >= n {
				out[c] = float32(v)
				break
			}
		}
	}
	return out
}

// Shot is one photo laid on a random tray, as a station's camera would
// see it: for training views that look like the station's crops.
type Shot struct {
	Frame gocv.Mat // the tray with the item, 8-bit BGR
	// Empty is the same tray without it, as recorded at setup: the
	// tray to learn and the colour reference.
	Empty gocv.Mat
	Box   image.Rectangle
}

// Close frees the shot's Mats.
func (s *Shot) Close() {
	s.Frame.Close()
	s.Empty.Close()
}

// NewShot lays photo (8-bit BGR), cut out of its backdrop and turned any
// way, on a random tray (any grey, colour or wood) of w×h at a random
// width (30-70% of the frame) and place, under a random lamp, seen by a
// fixed or an automatic camera; between setup (Empty) and the item
// (Frame) the light changed a little and an automatic camera has moved
// some way toward the new frame. All drawn from rng.
func NewShot(photo gocv.Mat, w, h int, rng *rand.Rand) (*Shot, error) {
	return (*Cuts)(nil).NewShot(photo, w, h, rng)
}

// NewShot is the package's NewShot, cutting the photo once for all its
// shots (the same cut: see Cuts).
func (cs *Cuts) NewShot(photo gocv.Mat, w, h int, rng *rand.Rand) (*Shot, error) {
	tray := makeTray(randomLook(rng), w, h, rng, false)
	c, err := cs.cutOut(photo)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	p := place(c, w, h, 0.3+0.4*rng.Float64(), 0.15+0.25*rng.Float64(), rng)
	scene := compose(tray, w, p)
	blur := 0.4 + 0.6*rng.Float64()
	soften(scene, w, h, blur)
	soften(tray, w, h, blur)
	mode := Fixed
	if rng.Intn(2) == 0 {
		mode = Auto
	}
	l := randomLamp(rng)
	for k := range l {
		l[k] *= float32(0.75 + 0.5*rng.Float64())
	}
	cam := newCamera(mode, l, tray, w, h, 2+2*rng.Float64(), rng)
	e := make([]byte, len(tray))
	cam.shoot(tray, l, e)
	now := l
	drift := 1 + 0.16*(rng.Float64()-0.5)
	for k := range now {
		now[k] *= float32(drift * (1 + 0.08*(rng.Float64()-0.5)))
	}
	for range rng.Intn(8) {
		cam.adapt(scene, now)
	}
	f := make([]byte, len(scene))
	cam.shoot(scene, now, f)
	fm, err := gocv.NewMatFromBytes(h, w, gocv.MatTypeCV8UC3, f)
	if err != nil {
		return nil, err
	}
	em, err := gocv.NewMatFromBytes(h, w, gocv.MatTypeCV8UC3, e)
	if err != nil {
		fm.Close()
		return nil, err
	}
	return &Shot{Frame: fm, Empty: em, Box: p.box}, nil
}
