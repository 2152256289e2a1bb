package recording

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"image"
	"image/color"
	"math"
	"math/rand"
	"runtime"
	"sync"
	"unsafe"

	"gocv.io/x/gocv"
)

// What the camera sees is made of separate, physical factors, each varied
// on its own:
//   - the item, cut out of its photo's white backdrop (cutOut): its own
//     colours as reflectance (the backdrop is white paper, 0.9), turned
//     any way, possibly cut off at the frame's edge;
//   - the tray: a reflectance map of its colour and texture (look);
//   - the shadow, cast by the item's own mask;
//   - the light: a lamp's colour and intensity over the whole scene, with
//     the lens's fall-off, a slow drift and one sudden change;
//   - the camera: fixed exposure and white balance (set at setup for
//     the lamp), or automatic (each colour's gain pulled toward a grey
//     frame mean, over a few frames), then sensor noise, a little blur
//     and JPEG.
// Only the camera mode Tinted keeps the older recordings' shortcut (the
// whole photo tinted by the tray's colour), as one scene among many.

// Camera is how the camera sets its exposure and white balance.
type Camera int

// Cameras.
const (
	// Fixed: exposure and white balance locked at setup for the lamp, so
	// an item reads as its own colours under it, on any tray.
	Fixed Camera = iota
	// Auto: each colour's gain follows the frame toward a grey mean (auto
	// exposure and white balance, as a Pi camera does by default); a
	// dark or coloured tray shifts the item's colours, and an item
	// coming in shifts the tray's.
	Auto
	// Tinted: the older recordings: the whole photo, backdrop and item,
	// scaled to the tray's colour (a dark tray is a dim light there).
	Tinted
)

var cameraNames = [...]string{Fixed: "fixed", Auto: "auto", Tinted: "tinted"}

func (c Camera) String() string {
	if c >= 0 && int(c) < len(cameraNames) {
		return cameraNames[c]
	}
	return fmt.Sprintf("Camera(%d)", int(c))
}

// ParseCamera reads a camera mode's name.
func ParseCamera(s string) (Camera, error) {
	for i, n := range cameraNames {
		if n == s {
			return Camera(i), nil
		}
	}
	return 0, fmt.Errorf("unknown camera %q (have %v)", s, cameraNames)
}

// whiteReflectance is the photos' backdrop (white paper): an item's pixel
// over it is the item's reflectance as a share of paper's.
const whiteReflectance = 0.9

// fixedWhite is what white paper reads with the camera fixed at setup:
// highlights just short of clipping.
const fixedWhite = 235

// autoTarget is the grey an automatic camera pulls each colour's frame
// mean toward; autoRate how far it moves each frame (in log gain), and
// autoMax the most it boosts or cuts.
const (
	autoTarget = 118
	autoRate   = 0.4
	autoMax    = 4
	awbMax     = 1.5
)

// cutout is an item out of its photo: reflectance (×255, BGR, 8-bit) and
// a soft mask (0..255), the same size.
type cutout struct {
	refl, mask gocv.Mat
}

func (c *cutout) Close() {
	c.refl.Close()
	c.mask.Close()
}

// cutWidth is the width the mask is computed at: GrabCut's cost grows with
// the pixels, and the edge is refined by the upscaling's interpolation.
const cutWidth = 128

// minCut is the least share (%) of a photo a cut may keep. Every photo
// shows an item; a cut keeping less has lost it (white paper on the white
// board: GrabCut keeps a sliver of its edge), and the photo keeps its
// middle instead, as a sheet of paper lies on a tray.
const minCut = 5

// cutOut separates the item from its photo's backdrop. The backdrop's
// colour is its border's median; pixels far from it seed the item and the
// border seeds the backdrop, and OpenCV's GrabCut refines the rest. A
// photo whose cut finds almost nothing, or almost everything, keeps its
// middle as an ellipse: no photo is lost.
func cutOut(photo gocv.Mat) (*cutout, error) { return (*Cuts)(nil).cutOut(photo) }

// Cuts remembers the masks it has cut, by the photo's pixels at the cut's
// width: a cut is a function of those pixels alone (GrabCut is seeded from
// them), so a remembered one is the same cut, and training, which lays
// each photo on a tray nine times per pass, runs GrabCut once per photo.
// The zero value is ready; a nil *Cuts remembers nothing. Safe for
// concurrent use. About 12 KB a photo.
type Cuts struct {
	mu sync.Mutex
	m  map[[sha256.Size]byte][]byte
}

// maxCuts bounds a Cuts' memory (≈100 MB at 128×96).
const maxCuts = 8192

func (cs *Cuts) get(k [sha256.Size]byte) []byte {
	if cs == nil {
		return nil
	}
	cs.mu.Lock()
	defer cs.mu.Unlock()
	return cs.m[k]
}

func (cs *Cuts) put(k [sha256.Size]byte, cut []byte) {
	if cs == nil {
		return
	}
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if cs.m == nil || len(cs.m) >= maxCuts {
		cs.m = map[[sha256.Size]byte][]byte{}
	}
	cs.m[k] = append([]byte(nil), cut...)
}

func (cs *Cuts) cutOut(photo gocv.Mat) (*cutout, error) {
	if photo.Empty() || photo.Type() != gocv.MatTypeCV8UC3 {
		return nil, fmt.Errorf("cut out: want an 8-bit BGR photo")
	}
	px, err := photo.DataPtrUint8()
	if err != nil {
		return nil, err
	}
	back := borderMedian(px, photo.Cols(), photo.Rows())
	out := &cutout{refl: gocv.NewMat(), mask: gocv.NewMat()}
	// Reflectance: the photo over its backdrop, white paper at 0.9.
	ch := gocv.Split(photo)
	for c := range ch {
		ch[c].ConvertToWithParams(&ch[c], gocv.MatTypeCV8U, float32(whiteReflectance*255/max(float64(back[c]), 1)), 0)
	}
	gocv.Merge(ch, &out.refl)
	for _, m := range ch {
		m.Close()
	}

	sw := cutWidth
	sh := max(8, sw*photo.Rows()/photo.Cols())
	small := gocv.NewMat()
	defer small.Close()
	gocv.Resize(photo, &small, image.Pt(sw, sh), 0, 0, gocv.InterpolationArea)
	sp, err := small.DataPtrUint8()
	if err != nil {
		out.Close()
		return nil, err
	}
	cut := gocv.NewMatWithSize(sh, sw, gocv.MatTypeCV8U)
	defer cut.Close()
	cp, _ := cut.DataPtrUint8()
	key := sha256.Sum256(append(binary.LittleEndian.AppendUint32(nil, uint32(sw*sh)), sp...))
	if m := cs.get(key); len(m) == len(cp) {
		copy(cp, m)
	} else {
		cs.grabCut(small, sp, back, cp)
		cs.put(key, cp)
	}
	gocv.Resize(cut, &out.mask, image.Pt(photo.Cols(), photo.Rows()), 0, 0, gocv.InterpolationLinear)
	s := float64(photo.Cols()) / float64(sw)
	gocv.GaussianBlur(out.mask, &out.mask, image.Point{}, 0.6*s, 0.6*s, gocv.BorderReplicate)
	return out, nil
}

// grabCut writes the item's mask (255 item, 0 backdrop) of the small
// photo (sp its pixels) into cp.
func (*Cuts) grabCut(small gocv.Mat, sp []byte, back [3]float32, cp []byte) {
	sw, sh := small.Cols(), small.Rows()
	seed := gocv.NewMatWithSize(sh, sw, gocv.MatTypeCV8U)
	defer seed.Close()
	sd, _ := seed.DataPtrUint8()
	fg := seedCut(sd, sp, back, sw, sh)
	cut, err := gocv.NewMatFromBytes(sh, sw, gocv.MatTypeCV8U, cp)
	if err != nil {
		return
	}
	defer cut.Close()
	ok := false
	if fg >= sw*sh/50 && fg < sw*sh*97/100 {
		bgd, fgd := gocv.NewMat(), gocv.NewMat()
		// GrabCut seeds its colour models from OpenCV's random generator,
		// which is per thread and runs on from call to call: seeded from
		// the photo on the thread that cuts, the same photo gives the same
		// cut whatever came before (recordings and training views are
		// deterministic).
		runtime.LockOSThread()
		h := fnv.New32a()
		h.Write(sp)
		gocv.SetRNGSeed(int(h.Sum32()))
		gocv.GrabCut(small, &seed, image.Rect(0, 0, sw, sh), &bgd, &fgd, 4, gocv.GCInitWithMask)
		runtime.UnlockOSThread()
		bgd.Close()
		fgd.Close()
		n := 0
		for i, v := range sd {
			if v == 1 || v == 3 {
				cp[i] = 255
				n++
			} else {
				cp[i] = 0
			}
		}
		ok = n >= sw*sh*minCut/100 && n < sw*sh*97/100
	}
	if ok {
		k := gocv.GetStructuringElement(gocv.MorphEllipse, image.Pt(5, 5))
		gocv.MorphologyEx(cut, &cut, gocv.MorphClose, k)
		gocv.MorphologyEx(cut, &cut, gocv.MorphOpen, k)
		k.Close()
	} else {
		cut.SetTo(gocv.NewScalar(0, 0, 0, 0))
		gocv.Ellipse(&cut, image.Pt(sw/2, sh/2), image.Pt(sw*2/5, sh*2/5), 0, 0, 360, color.RGBA{255, 255, 255, 255}, -1)
	}
	if b, err := cut.DataPtrUint8(); err == nil {
		copy(cp, b)
	}
}

// seedCut writes GrabCut's seed mask sd of a sw×sh photo (sp its
// pixels, back its backdrop's colour) and returns how many pixels it
// takes for the item.
func seedCut(sd, sp []byte, back [3]float32, sw, sh int) (fg int) {
	band := max(2, sw/40)
	for y := 0; y < sh; y++ {
		for x := 0; x < sw; x++ {
			p := y*sw + x
			var d float32
			for c := 0; c < 3; c++ {
				d = max(d, abs32(float32(sp[3*p+c])-back[c]))
			}
			edge := x < band || y < band || x >= sw-band || y >= sh-band
			switch {
			case d > 45:
				sd[p] = 3 // probably the item (an item cut off by the photo's edge too)
				fg++
			case edge:
				sd[p] = 0 // the backdrop
			default:
				sd[p] = 2 // probably the backdrop
			}
		}
	}
	return fg
}

func abs32(v float32) float32 {
	if v < 0 {
		return -v
	}
	return v
}

// placed is an item laid in the frame: reflectance and opacity over the
// frame, inside box.
type placed struct {
	box   image.Rectangle // frame pixels the item covers (clipped)
	refl  []float32       // box.Dx()*box.Dy()*3
	alpha []float32       // box.Dx()*box.Dy()
	shade []float32       // the shadow's darkening 0..1 over sbox
	sbox  image.Rectangle
}

// place scales c to frac of the frame's width, turns it by a random angle
// and puts it at a random place; one item in six may reach past the
// frame's edge by up to a quarter of its size. Its shadow falls to one
// side, soft, darkening the tray by up to shadow.
func place(c *cutout, w, h int, frac, shadow float64, rng *rand.Rand) placed {
	iw := max(8, int(frac*float64(w)))
	ih := max(8, iw*c.refl.Rows()/c.refl.Cols())
	if ih > h {
		ih, iw = h, h*c.refl.Cols()/c.refl.Rows()
	}
	angle := rng.Float64() * 360
	side := int(math.Ceil(math.Hypot(float64(iw), float64(ih))))
	refl := turn(c.refl, iw, ih, side, angle)
	defer refl.Close()
	mask := turn(c.mask, iw, ih, side, angle)
	defer mask.Close()
	mp, _ := mask.DataPtrUint8()
	ext := extent(mp, side)
	ew, eh := ext.Dx(), ext.Dy()
	lox, hix := 0, w-ew
	loy, hiy := 0, h-eh
	if rng.Intn(6) == 0 { // reaching past an edge
		lox, hix = lox-ew/4, hix+ew/4
		loy, hiy = loy-eh/4, hiy+eh/4
	}
	if hix < lox {
		lox, hix = (w-ew)/2, (w-ew)/2
	}
	if hiy < loy {
		loy, hiy = (h-eh)/2, (h-eh)/2
	}
	ox := lox + rng.Intn(hix-lox+1) - ext.Min.X // canvas origin in the frame
	oy := loy + rng.Intn(hiy-loy+1) - ext.Min.Y
	frame := image.Rect(0, 0, w, h)
	p := placed{box: image.Rect(ox+ext.Min.X, oy+ext.Min.Y, ox+ext.Max.X, oy+ext.Max.Y).Intersect(frame)}
	rp, _ := refl.DataPtrUint8()
	bw, bh := p.box.Dx(), p.box.Dy()
	p.refl = make([]float32, bw*bh*3)
	p.alpha = make([]float32, bw*bh)
	for y := 0; y < bh; y++ {
		for x := 0; x < bw; x++ {
			cx, cy := p.box.Min.X+x-ox, p.box.Min.Y+y-oy
			q := cy*side + cx
			i := y*bw + x
			p.alpha[i] = float32(mp[q]) / 255
			for k := 0; k < 3; k++ {
				p.refl[3*i+k] = float32(rp[3*q+k])
			}
		}
	}
	if shadow > 0 {
		p.castShadow(mask, side, image.Pt(ox, oy), max(ew, eh), shadow, frame, rng)
	}
	return p
}

// turn is src scaled to iw×ih and turned by angle (degrees) in the middle
// of a side×side canvas.
func turn(src gocv.Mat, iw, ih, side int, angle float64) gocv.Mat {
	s := gocv.NewMat()
	gocv.Resize(src, &s, image.Pt(iw, ih), 0, 0, gocv.InterpolationArea)
	m := gocv.GetRotationMatrix2D(image.Pt(iw/2, ih/2), angle, 1)
	m.SetDoubleAt(0, 2, m.GetDoubleAt(0, 2)+float64(side-iw)/2)
	m.SetDoubleAt(1, 2, m.GetDoubleAt(1, 2)+float64(side-ih)/2)
	out := gocv.NewMat()
	gocv.WarpAffineWithParams(s, &out, m, image.Pt(side, side), gocv.InterpolationLinear, gocv.BorderConstant, color.RGBA{})
	m.Close()
	s.Close()
	return out
}

// extent is the item's own extent in the turned side×side mask mp (the
// whole canvas when the mask is empty).
func extent(mp []uint8, side int) image.Rectangle {
	ext := image.Rectangle{Min: image.Pt(side, side)}
	for y := 0; y < side; y++ {
		for x := 0; x < side; x++ {
			if mp[y*side+x] > 64 {
				ext.Min.X, ext.Min.Y = min(ext.Min.X, x), min(ext.Min.Y, y)
				ext.Max.X, ext.Max.Y = max(ext.Max.X, x+1), max(ext.Max.Y, y+1)
			}
		}
	}
	if ext.Empty() {
		ext = image.Rect(0, 0, side, side)
	}
	return ext
}

// castShadow is the item's shadow: its mask (side×side, placed at o in
// the frame), offset away from the light and blurred by amounts drawn
// for an item span px across, darkening the tray by up to shadow.
func (p *placed) castShadow(mask gocv.Mat, side int, o image.Point, span int, shadow float64, frame image.Rectangle, rng *rand.Rand) {
	ox, oy := o.X, o.Y
	size := float64(span)
	dx := int(size * (0.03 + 0.05*rng.Float64()))
	dy := int(size * (0.03 + 0.05*rng.Float64()))
	sigma := size * (0.03 + 0.04*rng.Float64())
	pad := int(3*sigma) + 1
	sm := gocv.NewMatWithSize(side+2*pad, side+2*pad, gocv.MatTypeCV8U)
	roi := sm.Region(image.Rect(pad, pad, pad+side, pad+side))
	mask.CopyTo(&roi)
	roi.Close()
	gocv.GaussianBlur(sm, &sm, image.Point{}, sigma, sigma, gocv.BorderConstant)
	sp, _ := sm.DataPtrUint8()
	ss := side + 2*pad
	p.sbox = image.Rect(ox-pad+dx, oy-pad+dy, ox-pad+dx+ss, oy-pad+dy+ss).Intersect(frame)
	p.shade = make([]float32, p.sbox.Dx()*p.sbox.Dy())
	for y := 0; y < p.sbox.Dy(); y++ {
		for x := 0; x < p.sbox.Dx(); x++ {
			cx, cy := p.sbox.Min.X+x-(ox-pad+dx), p.sbox.Min.Y+y-(oy-pad+dy)
			p.shade[y*p.sbox.Dx()+x] = float32(shadow) * float32(sp[cy*ss+cx]) / 255
		}
	}
	sm.Close()
}

// compose is the scene's reflectance with the item on the tray: the tray
// darkened by the shadow, the item over it by its opacity.
func compose(tray []float32, w int, p placed) []float32 {
	scene := append([]float32(nil), tray...)
	for y := 0; y < p.sbox.Dy(); y++ {
		for x := 0; x < p.sbox.Dx(); x++ {
			f := 1 - p.shade[y*p.sbox.Dx()+x]
			q := 3 * ((p.sbox.Min.Y+y)*w + p.sbox.Min.X + x)
			scene[q], scene[q+1], scene[q+2] = scene[q]*f, scene[q+1]*f, scene[q+2]*f
		}
	}
	bw := p.box.Dx()
	for y := 0; y < p.box.Dy(); y++ {
		for x := 0; x < bw; x++ {
			i := y*bw + x
			a := p.alpha[i]
			if a <= 0 {
				continue
			}
			q := 3 * ((p.box.Min.Y+y)*w + p.box.Min.X + x)
			for k := 0; k < 3; k++ {
				scene[q+k] = scene[q+k]*(1-a) + p.refl[3*i+k]*a
			}
		}
	}
	return scene
}

// lamp is the light: a colour (B, G, R gains around 1) and an intensity.
type lamp [3]float32

// randomLamp is a warm, neutral or cool lamp.
func randomLamp(rng *rand.Rand) lamp {
	t := float32(rng.Float64()*2 - 1) // -1 warm .. 1 cool
	return lamp{1 + 0.18*t, 1 + 0.03*float32(rng.Float64()-0.5), 1 - 0.15*t}
}

// optics is the lens's fall-off: the corners 15% darker than the middle.
func optics(w, h int) []float32 {
	out := make([]float32, w*h)
	cx, cy := float64(w)/2, float64(h)/2
	rmax := math.Hypot(cx, cy)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			r := math.Hypot(float64(x)-cx, float64(y)-cy) / rmax
			out[y*w+x] = float32(1 - 0.15*r*r)
		}
	}
	return out
}

// camera turns the scene's radiance into pixels: its gains per colour,
// fixed at setup or following the frame (Auto).
type camera struct {
	mode  Camera
	gain  [3]float32
	fall  []float32 // optics
	noise []float32
	rng   *rand.Rand
	sigma float64
}

// newCamera sets the camera up for l: fixed, white paper reads fixedWhite
// in every colour under it; auto, it starts settled on the empty scene.
func newCamera(mode Camera, l lamp, empty []float32, w, h int, sigma float64, rng *rand.Rand) *camera {
	c := &camera{mode: mode, fall: optics(w, h), rng: rng, sigma: sigma}
	c.noise = noiseTable(rng, sigma, 2*w*h*3)
	for k := range c.gain {
		c.gain[k] = fixedWhite / (whiteReflectance * 255 * l[k])
	}
	if mode == Auto {
		for range 40 {
			c.adapt(empty, l)
		}
	}
	return c
}

// adapt moves an automatic camera's gains a step toward a grey frame:
// exposure brings the mean toward autoTarget, and white balance moves
// red and blue against green toward a grey mean, within awbMax (a camera
// balances along colour temperatures, not to any colour).
func (c *camera) adapt(scene []float32, l lamp) {
	if c.mode != Auto {
		return
	}
	var sum [3]float64
	for p, f := range c.fall {
		for k := 0; k < 3; k++ {
			sum[k] += float64(scene[3*p+k] * f)
		}
	}
	n := float64(len(c.fall))
	var mean [3]float64
	for k := range mean {
		mean[k] = max(sum[k]/n*float64(l[k]), 1)
	}
	luma := (mean[0] + mean[1] + mean[2]) / 3
	exp := min(max(autoTarget/luma, 1/float64(autoMax)), autoMax)
	want := [3]float64{exp, exp, exp}
	for _, k := range []int{0, 2} {
		want[k] *= min(max(mean[1]/mean[k], 1/awbMax), awbMax)
	}
	for k := range c.gain {
		g := math.Exp(math.Log(float64(c.gain[k])) + autoRate*(math.Log(want[k])-math.Log(float64(c.gain[k]))))
		c.gain[k] = float32(g)
	}
}

// shoot is the frame the camera makes of scene (reflectance ×255) under
// l: 8-bit BGR with noise.
func (c *camera) shoot(scene []float32, l lamp, dst []byte) {
	off := c.rng.Intn(len(c.noise) - len(scene))
	nz := c.noise[off : off+len(scene)]
	k := [3]float32{l[0] * c.gain[0], l[1] * c.gain[1], l[2] * c.gain[2]}
	for p, f := range c.fall {
		i := 3 * p
		dst[i] = clampByte(scene[i]*f*k[0] + nz[i])
		dst[i+1] = clampByte(scene[i+1]*f*k[1] + nz[i+1])
		dst[i+2] = clampByte(scene[i+2]*f*k[2] + nz[i+2])
	}
}

// soften blurs a scene a little, as a lens does (σ in pixels).
func soften(scene []float32, w, h int, sigma float64) {
	m, err := gocv.NewMatFromBytes(h, w, gocv.MatTypeCV32FC3, f32bytes(scene))
	if err != nil {
		return
	}
	defer m.Close()
	gocv.GaussianBlur(m, &m, image.Point{}, sigma, sigma, gocv.BorderReflect101)
	if d, err := m.DataPtrFloat32(); err == nil {
		copy(scene, d)
	}
}

// f32bytes is v's memory as bytes (for a Mat over it).
func f32bytes(v []float32) []byte {
	if len(v) == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(&v[0])), 4*len(v))
}
