// Package locate finds the item on the station's tray. It learns the
// empty tray from quiet frames (a running average, per colour channel),
// says an item is there when enough of the tray differs from it, and turns
// that difference into the item's box: the box the station crops from the
// full-resolution frame and classifies, so the model sees the item and not
// the tray around it.
//
// One Tray serves every trigger mode: the motion trigger asks it
// whether an item is present, and the continuous and gpio triggers still
// feed it every frame so that it knows the empty tray when they ask for a
// box.
package locate

import (
	"fmt"
	"image"
	"math"
	"unsafe"

	"github.com/sorterd/sorterd/settings"
	"gocv.io/x/gocv"
)

// Outcome is what one frame showed.
type Outcome int

// Outcomes.
const (
	Empty Outcome = iota // the tray as learned: no item
	Small                // something differs, but its box is too small to be an item
	Found                // an item, with its box
)

var outcomeNames = [...]string{Empty: "empty", Small: "too_small", Found: "found"}

func (o Outcome) String() string {
	if o >= 0 && int(o) < len(outcomeNames) {
		return outcomeNames[o]
	}
	return fmt.Sprintf("Outcome(%d)", int(o))
}

// Options tune a Tray. Zero values take the defaults.
type Options struct {
	// ROI is the part of the frame that counts (the tray), in frame
	// pixels; empty: the whole frame. Nothing outside it starts an item
	// or enters a crop.
	ROI image.Rectangle
	// Delta is the colour difference (0..255, the largest over B, G, R,
	// after the global light change is taken out) that marks a pixel as
	// not tray. Default 25.
	Delta float64
	// Area is the share of the ROI that must differ for an item to be
	// present. Default settings.DefaultArea: small enough for a pen
	// across a third of the frame.
	Area float64
	// Rate is how fast quiet frames teach the empty tray. Default 0.05.
	Rate float64
	// MinSize is the smallest box side that is an item, as a share of the
	// ROI's shorter side. Default 0.08.
	MinSize float64
	// Margin widens the box on every side by this share of its longer
	// side before it is made square (0: none; the config's default is
	// 0.15).
	Margin float64
	// Shape: settings.Square makes the box square (margin added);
	// settings.Tight keeps the box's own shape, which the model squeezes
	// to its square input.
	Shape settings.Shape
	// Width is the width the difference is computed at; the box is scaled
	// back to frame pixels. Default 160.
	Width int
	// StuckFrames: something present for this many frames in a row is
	// taken for a tray learned wrong, and the tray is learned anew.
	// Default 900 (a minute at 15 fps).
	StuckFrames int
	// Balance is how Crop corrects the crop's colours
	// (settings.BalanceNone: not at all).
	Balance settings.Balance
	// Reference is the empty tray as it looked at setup, which
	// settings.BalanceReference corrects back to; zero: taken from the first
	// frames this Tray sees (see Reference).
	Reference Reference
}

// Defaults used for zero Options fields, besides settings' DefaultDelta,
// DefaultArea and DefaultMinSize (which the configuration file shares).
const (
	DefaultRate  = 0.05
	DefaultWidth = 160
	// DefaultStuckFrames is a minute at the camera's default frame rate.
	DefaultStuckFrames = 60 * settings.DefaultFPS
)

func (o *Options) defaults() {
	if o.Delta <= 0 {
		o.Delta = settings.DefaultDelta
	}
	if o.Area <= 0 {
		o.Area = settings.DefaultArea
	}
	if o.Rate <= 0 {
		o.Rate = DefaultRate
	}
	if o.MinSize <= 0 {
		o.MinSize = settings.DefaultMinSize
	}
	o.Margin = max(o.Margin, 0)
	if o.Width <= 0 {
		o.Width = DefaultWidth
	}
	if o.StuckFrames <= 0 {
		o.StuckFrames = DefaultStuckFrames
	}
}

// Observation is what Observe saw in one frame.
type Observation struct {
	Outcome Outcome
	// Present: enough of the tray differs for an item (the motion
	// trigger's question). An item can be present and its box Small.
	Present bool
	// Changed is the share of the ROI that differs by Delta, after
	// clean-up; Reach the share that differs by half of it.
	Changed, Reach float64
	// Box is the item's crop in frame pixels (margin added, square where
	// the ROI allows); empty unless Outcome is Found.
	Box image.Rectangle
	// Blob is the tight box of what differs, in frame pixels, before the
	// margin.
	Blob image.Rectangle
	// Gain is the light's change since the tray was learned, per colour
	// (B, G, R; 1: unchanged), taken out before comparing.
	Gain [3]float32
	// Settled: the blob is where it was in the last frame (an item that
	// has landed, not one still falling, sliding or half there).
	Settled bool
	// Relearned: the whole tray changed for long (the light was switched,
	// the camera moved), or something lay on it for StuckFrames (Stuck),
	// so the tray was learned anew from this frame.
	Relearned, Stuck bool
	// Occupied: something has been present for a third of StuckFrames,
	// far longer than an item lies.
	Occupied bool
	// Shadow is the share of the ROI darker than the tray by one factor
	// in every channel: an item's shadow (a stain casts none).
	Shadow float64
	// Tray is the empty tray's mean colour (B, G, R) under Box, in this
	// frame's light; zero unless Outcome is Found. settings.BalanceTray balances
	// by it.
	Tray [3]float32
	// Light is how much each colour (B, G, R) of the scene reads now
	// against the reference: the light's and the camera's change since
	// setup, measured on the tray beside the item (1: unchanged; zero
	// before the tray is learned). settings.BalanceReference divides it out.
	Light [3]float32
	// Drifted: Light is outside what Crop can correct (Correctable); the
	// station should be calibrated anew.
	Drifted bool
}

// relearnAfter consecutive frames with most of the ROI changed teach the
// tray anew: no item covers the whole tray.
const (
	relearnShare  = 0.85
	relearnFrames = 10
)

// Delta is scaled down on a tray darker than darkLevel (its brightest
// channel), in proportion, to no less than darkFloor of it.
const (
	darkLevel = 128
	darkFloor = 0.4
)

// A faint item (white paper on a light tray) is present when few pixels
// differ by Delta (faintStrong of Area) but faintReach times Area differ
// by half of it: sensor noise and light drift do not make such a patch.
// A pale item with no strong pixels at all (glass, or paper as light as
// the tray) is present when its weak patch reaches paleReach times Area,
// which the empty tray's never does. Chosen on the station recordings
// (docs/station.md).
const (
	faintReach  = 2
	faintStrong = 0.2
	paleReach   = 4
)

// An item stands on the tray and casts a shadow; a stain does not. A
// pale item too faint for the rules above (paper whitened to a dark
// tray's colour, clear glass) is present when its weak patch reaches
// shadowReach times Area and shadow pixels cover shadowArea times Area:
// far more shadow than the empty tray ever shows, well under what such
// items cast. Chosen on recordings of the training split's photos
// (docs/station.md).
const (
	shadowReach = 1.5
	shadowArea  = 2
)

// Shadows: a pixel darker than the tray by a similar factor in every
// channel is the item's shadow, not the item.
const (
	shadowLo     = 0.55
	shadowHi     = 0.90
	shadowSpread = 0.06
)

// Tray learns the empty tray and locates items on it. It is used by
// one goroutine (the station's); Close frees its Mats.
type Tray struct {
	o                 Options
	roi               image.Rectangle // o.ROI clipped to the last frame
	small, mask, tmp  gocv.Mat
	half              [2]gocv.Mat // shrink's halvings
	lut               gocv.Mat    // Crop's balance: 256 entries of 3 channels
	weak              gocv.Mat    // pixels that differ by half of Delta: how far an item reaches
	labels, stats, cc gocv.Mat
	open, close       gocv.Mat // structuring elements
	bg                []float32
	shade             []bool // the last frame's shadow pixels: not tray as lit, learned slowly
	strong            []int  // strong pixels per weak blob (blob's scratch)
	ready             bool
	busy              int             // consecutive frames with most of the tray changed
	held              int             // consecutive frames with something present
	last              image.Rectangle // the last frame's blob (analysis pixels)
	hist              [3][gainBins]int
	bgSum             [3]float64 // bg's sum per colour (sumTray)
	ref               Reference  // the setup tray (Options.Reference, or taken: see Reference)
	quiet             int        // quiet frames seen while the reference is taken
}

// New makes a Tray with o's settings.
func New(o Options) *Tray {
	o.defaults()
	return &Tray{o: o, ref: o.Reference,
		small: gocv.NewMat(), mask: gocv.NewMat(), tmp: gocv.NewMat(), weak: gocv.NewMat(),
		half:   [2]gocv.Mat{gocv.NewMat(), gocv.NewMat()},
		lut:    gocv.NewMatWithSize(1, 256, gocv.MatTypeCV8UC3),
		labels: gocv.NewMat(), stats: gocv.NewMat(), cc: gocv.NewMat(),
		open:  gocv.GetStructuringElement(gocv.MorphRect, image.Pt(3, 3)),
		close: gocv.GetStructuringElement(gocv.MorphEllipse, image.Pt(7, 7)),
	}
}

// Options returns the settings in force (defaults filled in).
func (b *Tray) Options() Options { return b.o }

// Reset forgets the tray: the next frame is learned as empty.
func (b *Tray) Reset() { b.ready, b.busy, b.held = false, 0, 0 }

// Ready reports whether the empty tray has been learned.
func (b *Tray) Ready() bool { return b.ready }

// shrink scales src to w×h into b.small with INTER_AREA (each pixel the
// mean of those it covers). A whole factor of 4 or more is taken in
// halvings first: OpenCV's 2×2 area path is vectorised and its general
// integer one is not, so 640×480 → 160×120 costs a third as much in
// two halvings as in one call, and gives the same means up to rounding
// (at most one grey level).
func (b *Tray) shrink(src gocv.Mat, w, h int) {
	cur := src
	for i := 0; cur.Cols()%2 == 0 && cur.Rows()%2 == 0 && cur.Cols() >= 4*w && cur.Rows() >= 4*h; i++ {
		dst := &b.half[i%2]
		gocv.Resize(cur, dst, image.Pt(cur.Cols()/2, cur.Rows()/2), 0, 0, gocv.InterpolationArea)
		cur = *dst
	}
	gocv.Resize(cur, &b.small, image.Pt(w, h), 0, 0, gocv.InterpolationArea)
}

// Observe compares frame (8-bit BGR) with the learned tray, learns from it
// when it is quiet, and locates the item when there is one. The first
// frame is learned as the empty tray.
func (b *Tray) Observe(frame gocv.Mat) Observation {
	roi := clipROI(b.o.ROI, frame.Cols(), frame.Rows())
	if roi.Empty() || frame.Type() != gocv.MatTypeCV8UC3 {
		return Observation{}
	}
	w := b.o.Width
	h := max(1, int(math.Round(float64(w)*float64(roi.Dy())/float64(roi.Dx()))))
	region := frame.Region(roi)
	b.shrink(region, w, h)
	region.Close()
	px, err := b.small.DataPtrUint8()
	if err != nil || len(px) != w*h*3 {
		return Observation{}
	}
	if !b.ready || len(b.bg) != len(px) || roi != b.roi {
		b.learnAll(px)
		b.roi = roi
		if b.ref.Valid() && b.ref.ROI != roi {
			// Taken over another part of the frame: not this tray's.
			b.ref, b.quiet, b.o.Reference = Reference{}, 0, Reference{}
		}
		return Observation{}
	}
	gain := b.gain(px)
	ob, shadowed := b.measure(px, gain, w, h)
	if relearned, ok := b.relearn(px, &ob); ok {
		return relearned
	}
	b.learn(px, gain, ob.Present)
	b.takeReference(ob.Present)
	ob.Light, ob.Drifted = b.light(px)
	last := b.last
	b.last = image.Rectangle{}
	if !ob.Present {
		return ob
	}
	return b.locate(ob, last, shadowed, roi, w, h)
}

// measure compares the shrunk frame px (w×h) with the learned tray, the
// light's change gain taken out: how much of it differs, and whether that
// is an item; shadowed says a pale item's patch lies beside its shadow.
func (b *Tray) measure(px []uint8, gain [3]float32, w, h int) (ob Observation, shadowed bool) {
	shaded := b.diff(px, gain, w, h)
	b.clean()
	changed := float64(gocv.CountNonZero(b.mask)) / float64(w*h)
	reach := float64(gocv.CountNonZero(b.weak)) / float64(w*h)
	ob = Observation{Changed: changed, Reach: reach, Shadow: float64(shaded) / float64(w*h), Present: changed >= b.o.Area, Gain: gain}
	shadowed = ob.Shadow >= shadowArea*b.o.Area && reach >= shadowReach*b.o.Area
	if !ob.Present && !shadowed && ob.Shadow >= shadowArea*b.o.Area && b.rough(px, gain, w) >= shadowRough {
		// A shadow with too little item beside it is the item: a grey
		// one (metal, grey card, clear plastic) reads darker than a
		// light tray by one factor in every channel, as a shadow does.
		// No lamp casts a shadow from nothing, so its pixels are the
		// item's (the empty tray's shadow share stays far below).
		b.diff(px, gain, w, h)
		b.shadeIsItem()
		b.clean()
		ob.Changed = float64(gocv.CountNonZero(b.mask)) / float64(w*h)
		ob.Reach = float64(gocv.CountNonZero(b.weak)) / float64(w*h)
		ob.Present = true
		changed, reach = ob.Changed, ob.Reach
	}
	if !ob.Present && (shadowed || reach >= faintReach*b.o.Area && (changed >= faintStrong*b.o.Area || reach >= paleReach*b.o.Area) ||
		reach+ob.Shadow >= faintReach*b.o.Area && changed >= faintStrong*b.o.Area) {
		// White paper on a light tray: few pixels differ by Delta, but a
		// large patch differs by half of it, with a few strong ones; or
		// a pale item's larger patch with none; or a smaller pale patch
		// beside the item's shadow.
		ob.Present = true
	}
	return ob, shadowed
}

// relearn learns the tray anew from px when the whole of it changed for
// long, or something lay on it for StuckFrames, and returns what Observe
// then says (true); it marks ob Occupied as something lies there long.
func (b *Tray) relearn(px []uint8, ob *Observation) (Observation, bool) {
	if ob.Changed >= relearnShare {
		if b.busy++; b.busy >= relearnFrames {
			b.learnAll(px)
			return Observation{Relearned: true}, true
		}
	} else {
		b.busy = 0
	}
	if ob.Present {
		b.held++
	} else {
		b.held = 0
	}
	ob.Occupied = b.held >= b.o.StuckFrames/3
	if b.held >= b.o.StuckFrames {
		// Something has lain on the tray for far longer than an item
		// does: the tray was learned wrong (or an item was left). Learn
		// it as it is now, so the station is never blind for good.
		b.learnAll(px)
		return Observation{Relearned: true, Stuck: true}, true
	}
	return Observation{}, false
}

// locate finds the present item's blob and box (frame pixels, in roi)
// from the shrunk frame's difference (w×h); last is the last frame's
// blob, which a settled item's overlaps.
func (b *Tray) locate(ob Observation, last image.Rectangle, shadowed bool, roi image.Rectangle, w, h int) Observation {
	gain := ob.Gain
	faint := float64(faintReach)
	if shadowed {
		faint = shadowReach
	}
	blob, ok := b.blob(w, h, int(faint*b.o.Area*float64(w*h)))
	if !ok {
		ob.Outcome = Small
		return ob
	}
	b.last = blob
	ob.Settled = overlap(blob, last) >= settledOverlap
	sx, sy := float64(roi.Dx())/float64(w), float64(roi.Dy())/float64(h)
	ob.Blob = image.Rect(
		roi.Min.X+int(float64(blob.Min.X)*sx), roi.Min.Y+int(float64(blob.Min.Y)*sy),
		roi.Min.X+int(math.Ceil(float64(blob.Max.X)*sx)), roi.Min.Y+int(math.Ceil(float64(blob.Max.Y)*sy)))
	short := float64(min(w, h))
	if float64(max(blob.Dx(), blob.Dy())) < b.o.MinSize*short {
		ob.Outcome = Small
		return ob
	}
	ob.Outcome = Found
	if b.o.Shape == settings.Tight {
		ob.Box = Widen(ob.Blob, b.o.Margin, roi)
	} else {
		ob.Box = Square(ob.Blob, b.o.Margin, roi)
	}
	ob.Tray = b.trayUnder(ob.Box, roi, sx, sy, w, h, gain)
	return ob
}

// trayUnder is the learned tray's mean colour under box (frame pixels),
// times gain: the tray as this frame shows it there.
func (b *Tray) trayUnder(box, roi image.Rectangle, sx, sy float64, w, h int, gain [3]float32) [3]float32 {
	x0 := max(0, int(float64(box.Min.X-roi.Min.X)/sx))
	y0 := max(0, int(float64(box.Min.Y-roi.Min.Y)/sy))
	x1 := min(w, int(math.Ceil(float64(box.Max.X-roi.Min.X)/sx)))
	y1 := min(h, int(math.Ceil(float64(box.Max.Y-roi.Min.Y)/sy)))
	var sum [3]float64
	n := 0
	for y := y0; y < y1; y++ {
		for x := x0; x < x1; x++ {
			i := 3 * (y*w + x)
			sum[0] += float64(b.bg[i])
			sum[1] += float64(b.bg[i+1])
			sum[2] += float64(b.bg[i+2])
			n++
		}
	}
	var out [3]float32
	if n == 0 {
		return out
	}
	for c := range out {
		out[c] = float32(sum[c]/float64(n)) * gain[c]
	}
	return out
}

// BalanceLevel is the grey a balanced crop's tray comes out at: about the
// light tray's (200..210 in B, G, R), on which the model is most sure.
const BalanceLevel = 200

// balanceMax caps a channel's gain: a near-black tray would otherwise
// turn sensor noise into the item.
const balanceMax = 6

// Balancing scales the sensor's noise with the item: on a dark tray the
// gain multiplies it several times, and the model took dark metal for
// glass. The balanced crop is smoothed by a Gaussian of denoisePerGain ×
// (gain − 1) pixels, the gain being the largest channel's, when that
// reaches denoiseMin: about σ 1 on the dark tray, nothing on a light one
// (its effect on the station benchmark: docs/station.md).
const (
	denoisePerGain = 0.36
	denoiseMin     = 0.3
)

// Crop writes what the model sees of frame for ob into dst: the pixels of
// ob.Box, with their colours corrected as Options.Balance says; the whole
// frame, as it is, when ob found no item.
func (b *Tray) Crop(frame gocv.Mat, ob Observation, dst *gocv.Mat) {
	if ob.Outcome != Found {
		frame.CopyTo(dst)
		return
	}
	region := frame.Region(ob.Box)
	defer region.Close()
	if region.Type() != gocv.MatTypeCV8UC3 {
		region.CopyTo(dst)
		return
	}
	switch b.o.Balance {
	case settings.BalanceReference:
		if ob.Light == ([3]float32{}) || ob.Light == ([3]float32{1, 1, 1}) {
			region.CopyTo(dst)
			return
		}
		var g [3]float32
		for c, l := range ob.Light {
			g[c] = 1 / min(max(l, 1/Correctable), Correctable)
		}
		scale(region, g, &b.lut, dst)
	case settings.BalanceTray:
		balance(region, ob.Tray, &b.lut, dst)
	default:
		region.CopyTo(dst)
	}
}

// balance writes src (8-bit BGR) into dst with each channel scaled so that
// tray comes out as BalanceLevel, by a lookup table (lut: 1×256, 8UC3,
// overwritten), then smoothed in proportion to the gain (denoisePerGain).
// A channel of tray at 0 is left as it is.
func balance(src gocv.Mat, tray [3]float32, lut *gocv.Mat, dst *gocv.Mat) {
	g := [3]float32{1, 1, 1}
	for c := 0; c < 3; c++ {
		if tray[c] > 0 {
			g[c] = min(BalanceLevel/tray[c], balanceMax)
		}
	}
	scale(src, g, lut, dst)
}

// scale writes src (8-bit BGR) into dst with each channel c multiplied by
// g[c], by a lookup table (lut: 1×256, 8UC3, overwritten), then smoothed
// in proportion to the largest gain (denoisePerGain): amplified sensor
// noise is not the item's texture.
func scale(src gocv.Mat, g [3]float32, lut *gocv.Mat, dst *gocv.Mat) {
	px, err := lut.DataPtrUint8()
	if err != nil || len(px) != 256*3 {
		src.CopyTo(dst)
		return
	}
	top := float32(1)
	for c := 0; c < 3; c++ {
		top = max(top, g[c])
		for v := 0; v < 256; v++ {
			px[3*v+c] = clampByte(float32(v) * g[c])
		}
	}
	gocv.LUT(src, *lut, dst)
	if sigma := denoisePerGain * float64(top-1); sigma >= denoiseMin {
		gocv.GaussianBlur(*dst, dst, image.Point{}, sigma, sigma, gocv.BorderReflect101)
	}
}

func clampByte(v float32) byte {
	if v >= 255 {
		return 255
	}
	return byte(v + 0.5)
}

// settledOverlap is how much a blob must overlap the last frame's
// (intersection over union) for the item to have landed: a blob jitters by
// a few analysis pixels between frames of an item lying still (≥ 0.7
// measured), while the frame an item lands in shows it half there, with a
// blob a third of the size.
const settledOverlap = 0.6

// overlap is the intersection over union of a and b.
func overlap(a, b image.Rectangle) float64 {
	in := a.Intersect(b)
	if in.Empty() {
		return 0
	}
	ia := in.Dx() * in.Dy()
	return float64(ia) / float64(a.Dx()*a.Dy()+b.Dx()*b.Dy()-ia)
}

func (b *Tray) learnAll(px []byte) {
	if cap(b.bg) < len(px) {
		b.bg = make([]float32, len(px))
	}
	b.bg = b.bg[:len(px)]
	for i, v := range px {
		b.bg[i] = float32(v)
	}
	b.sumTray()
	b.ready, b.busy, b.held, b.last = true, 0, 0, image.Rectangle{}
}

// sumTray keeps bgSum, the learned tray's sum per colour, for the
// reference and the light (Observation.Light) to share: computed once each
// time the tray changes, not per use.
func (b *Tray) sumTray() {
	b.bgSum = [3]float64{}
	for i := 0; i+2 < len(b.bg); i += 3 {
		b.bgSum[0] += float64(b.bg[i])
		b.bgSum[1] += float64(b.bg[i+1])
		b.bgSum[2] += float64(b.bg[i+2])
	}
}

// learn moves the tray toward the frame where the frame shows tray.
// Where it shows something else (the mask) or a shadow, the tray learns 50
// times slower: a thin item too small to count as present does not melt
// into the tray while it lies there, nor does its shadow (learned, it
// would stay behind as a bright ghost when the item is taken away), and a
// lasting change of the tray itself (a stain) still fades in, in about a
// minute. A frame with an item present teaches nothing.
//
// The tray is kept in the light it was first learned in: the frame is
// divided by the light's change (gain) before it is learned, so pixels
// learned at different moments of a drifting light (the slow ones under
// the mask, the fast ones around) stay comparable.
func (b *Tray) learn(px []byte, gain [3]float32, present bool) {
	if present {
		return
	}
	inv := [3]float32{1 / gain[0], 1 / gain[1], 1 / gain[2]}
	r := float32(b.o.Rate)
	slow := r / 50
	m, _ := b.weak.DataPtrUint8()
	for p, on := range m {
		k := r
		if on != 0 || b.shade[p] {
			k = slow
		}
		i := 3 * p
		b.bg[i] += k * (float32(px[i])*inv[0] - b.bg[i])
		b.bg[i+1] += k * (float32(px[i+1])*inv[1] - b.bg[i+1])
		b.bg[i+2] += k * (float32(px[i+2])*inv[2] - b.bg[i+2])
	}
	b.sumTray()
}

// gainBins cover ratios gainLo..gainHi (frame / tray) of each colour.
const (
	gainBins = 340
	gainLo   = 0.3
	gainHi   = 2.0
)

// gain is each colour's median ratio of the frame to the tray: a light
// that dims, brightens or changes colour over the whole tray moves it (so
// does a camera's automatic exposure and white balance), an item covering
// less than half the tray does not.
func (b *Tray) gain(px []byte) [3]float32 {
	for c := range b.hist {
		clear(b.hist[c][:])
	}
	const step = (gainHi - gainLo) / gainBins
	// Where the last frame showed an item, its pixels say nothing of the
	// light: a large item and its shadow, more than half the tray,
	// would otherwise pass for the light's change.
	var skip []byte
	if b.held > 0 {
		if m, _ := b.weak.DataPtrUint8(); len(m) == len(px)/3 && len(b.shade) == len(m) {
			skip = m
		}
	}
	n := 0
	for i := 0; i+2 < len(px); i += 3 {
		if b.bg[i]+b.bg[i+1]+b.bg[i+2] < 15 || skip != nil && (skip[i/3] != 0 || b.shade[i/3]) {
			continue
		}
		n++
		for c := 0; c < 3; c++ {
			k := int((float32(px[i+c])/max(b.bg[i+c], 1) - gainLo) / step)
			b.hist[c][min(max(k, 0), gainBins-1)]++
		}
	}
	out := [3]float32{1, 1, 1}
	if n == 0 {
		return out
	}
	for c := range out {
		acc := 0
		for k, v := range b.hist[c] {
			if acc += v; 2*acc >= n {
				out[c] = gainLo + (float32(k)+0.5)*step
				break
			}
		}
	}
	return out
}

// masks are the mask's and the weak mask's pixels, the Mats (and the
// shadow flags) made w×h when they are not (the first frame, a new ROI).
func (b *Tray) masks(w, h int) (m, wk []uint8) {
	for _, mm := range []*gocv.Mat{&b.mask, &b.weak} {
		if mm.Rows() != h || mm.Cols() != w || mm.Type() != gocv.MatTypeCV8U {
			mm.Close()
			*mm = gocv.NewMatWithSize(h, w, gocv.MatTypeCV8U)
		}
	}
	m, _ = b.mask.DataPtrUint8()
	wk, _ = b.weak.DataPtrUint8()
	if len(b.shade) != len(m) {
		b.shade = make([]bool, len(m))
	}
	return m, wk
}

// diff marks in b.mask the pixels that differ from the tray (times gain)
// by more than Delta in some channel and are not a shadow, and in b.weak
// those that differ by more than half of it. Strong pixels say an item is
// there; the weak ones around them say how far it reaches (the faint rim
// of a glass, paper a little whiter than the tray). It returns how many
// pixels are shadow.
func (b *Tray) diff(px []byte, gain [3]float32, w, h int) (shaded int) {
	m, wk := b.masks(w, h)
	delta := float32(b.o.Delta)
	bg := b.bg[:len(px)]
	for p := range m {
		i := 3 * p
		// Three-element sub-slices: no bounds checks in the loop below.
		v, g := px[i:i+3:i+3], bg[i:i+3:i+3]
		var e [3]float32
		var d, top float32
		for c := range e {
			// A brighter light saturates the camera: the tray cannot
			// show more than 255.
			ec := gain[c] * g[c]
			if ec > 255 {
				ec = 255
			}
			e[c] = ec
			if ec > top {
				top = ec
			}
			if ad := abs32(float32(v[c]) - ec); ad > d {
				d = ad
			}
		}
		m[p], wk[p] = 0, 0
		b.shade[p] = false
		// Reflectance differs by a factor: on a dark tray an item's
		// difference is smaller in grey levels (and so is the noise, at
		// the analysis width), so Delta scales with the tray's brightness
		// below darkLevel, down to darkFloor of it.
		delta := delta * min(1, max(darkFloor, top/darkLevel))
		if d <= delta/2 {
			continue // the tray: most pixels, so the ratios wait until here
		}
		var rlo, rhi float32 = 10, 0
		for c := range e {
			r := float32(v[c]) / max(e[c], 1)
			rlo, rhi = min(rlo, r), max(rhi, r)
		}
		if rlo >= shadowLo && rhi <= shadowHi && rhi-rlo <= shadowSpread {
			b.shade[p] = true // a shadow: darker by one factor in every channel
			shaded++
			continue
		}
		wk[p] = 255
		if d > delta {
			m[p] = 255
		}
	}
	return shaded
}

// shadowRough is the least mean step of the darkening ratio between
// neighbouring shadow pixels that makes them an item's: a shadow darkens
// the tray by a factor that changes smoothly, so its ratio is flat up to
// noise; an item's surface has its own pattern. Chosen on recordings of
// the training split (docs/station.md, "Locating grey items").
const shadowRough = 0.015

// rough is the mean absolute step of the ratio (frame over expected
// tray, channels averaged) between horizontally neighbouring shadow
// pixels (b.shade, as diff left it).
func (b *Tray) rough(px []byte, gain [3]float32, w int) float64 {
	ratio := func(p int) float32 {
		var r float32
		for c := range 3 {
			r += float32(px[3*p+c]) / max(gain[c]*b.bg[3*p+c], 1)
		}
		return r / 3
	}
	var sum float64
	n := 0
	for p := 0; p+1 < len(b.shade); p++ {
		if b.shade[p] && b.shade[p+1] && (p+1)%w != 0 {
			sum += float64(abs32(ratio(p) - ratio(p+1)))
			n++
		}
	}
	if n == 0 {
		return 0
	}
	return sum / float64(n)
}

// clean opens then closes the strong and weak masks: specks of noise
// out, an item's holes filled.
func (b *Tray) clean() {
	for _, m := range []*gocv.Mat{&b.mask, &b.weak} {
		gocv.MorphologyEx(*m, &b.tmp, gocv.MorphOpen, b.open)
		gocv.MorphologyEx(b.tmp, m, gocv.MorphClose, b.close)
	}
}

// shadeIsItem marks the shadow pixels diff found as the item's, strong.
func (b *Tray) shadeIsItem() {
	m, _ := b.mask.DataPtrUint8()
	wk, _ := b.weak.DataPtrUint8()
	for p, sh := range b.shade {
		if sh && p < len(m) && p < len(wk) {
			m[p], wk[p] = 255, 255
		}
	}
}

func abs32(v float32) float32 {
	if v < 0 {
		return -v
	}
	return v
}

// blob is the box (analysis pixels) around the item: the weak mask's
// blobs that hold enough strong pixels, every one at least a tenth of the
// largest, so a glass whose middle shows the tray through it is one item,
// and specks of noise or a faint stain alone are not part of it.
func (b *Tray) blob(w, h, faint int) (image.Rectangle, bool) {
	n := gocv.ConnectedComponentsWithStats(b.weak, &b.labels, &b.stats, &b.cc)
	if n < 2 {
		return image.Rectangle{}, false
	}
	if cap(b.strong) < n {
		b.strong = make([]int, n)
	}
	strong := b.strong[:n]
	clear(strong)
	lab, err := int32s(b.labels)
	m, _ := b.mask.DataPtrUint8()
	if err != nil || len(lab) != len(m) {
		return image.Rectangle{}, false
	}
	for p, l := range lab {
		if m[p] != 0 {
			strong[l]++
		}
	}
	minArea := max(4, w*h/1000)
	// A blob counts with enough strong pixels, or when its reach alone
	// is faint pixels: a faint item's (paper on a light tray), or beside
	// a shadow a pale one's.
	counts := func(i int) bool {
		return strong[i] >= minArea || int(b.stats.GetIntAt(i, int(gocv.CC_STAT_AREA))) >= faint
	}
	largest := 0
	for i := 1; i < n; i++ {
		if counts(i) {
			largest = max(largest, int(b.stats.GetIntAt(i, int(gocv.CC_STAT_AREA))))
		}
	}
	var box image.Rectangle
	for i := 1; i < n; i++ {
		a := int(b.stats.GetIntAt(i, int(gocv.CC_STAT_AREA)))
		if !counts(i) || 10*a < largest {
			continue
		}
		x, y := int(b.stats.GetIntAt(i, int(gocv.CC_STAT_LEFT))), int(b.stats.GetIntAt(i, int(gocv.CC_STAT_TOP)))
		r := image.Rect(x, y, x+int(b.stats.GetIntAt(i, int(gocv.CC_STAT_WIDTH))), y+int(b.stats.GetIntAt(i, int(gocv.CC_STAT_HEIGHT))))
		box = box.Union(r)
	}
	return box, !box.Empty()
}

// int32s is a CV_32S Mat's data (gocv has no accessor for it).
func int32s(m gocv.Mat) ([]int32, error) {
	if m.Type() != gocv.MatTypeCV32S {
		return nil, fmt.Errorf("labels are %v, want CV_32S", m.Type())
	}
	b, err := m.DataPtrUint8()
	if err != nil || len(b) < 4 {
		return nil, err
	}
	return unsafe.Slice((*int32)(unsafe.Pointer(&b[0])), len(b)/4), nil
}

// Square widens box by margin (a share of its longer side) on every side
// and makes it square, the framing the model was trained on, then moves
// it inside within (shrinking a side only where within is narrower).
func Square(box image.Rectangle, margin float64, within image.Rectangle) image.Rectangle {
	side := int(math.Round(float64(max(box.Dx(), box.Dy())) * (1 + 2*margin)))
	w, h := min(side, within.Dx()), min(side, within.Dy())
	c := image.Pt((box.Min.X+box.Max.X)/2, (box.Min.Y+box.Max.Y)/2)
	r := image.Rect(c.X-w/2, c.Y-h/2, c.X-w/2+w, c.Y-h/2+h)
	if r.Min.X < within.Min.X {
		r = r.Add(image.Pt(within.Min.X-r.Min.X, 0))
	}
	if r.Max.X > within.Max.X {
		r = r.Add(image.Pt(within.Max.X-r.Max.X, 0))
	}
	if r.Min.Y < within.Min.Y {
		r = r.Add(image.Pt(0, within.Min.Y-r.Min.Y))
	}
	if r.Max.Y > within.Max.Y {
		r = r.Add(image.Pt(0, within.Max.Y-r.Max.Y))
	}
	return r.Intersect(within)
}

// Widen adds margin (a share of box's longer side) on every side of box,
// inside within.
func Widen(box image.Rectangle, margin float64, within image.Rectangle) image.Rectangle {
	m := int(math.Round(float64(max(box.Dx(), box.Dy())) * margin))
	return box.Inset(-m).Intersect(within)
}

// clipROI is roi inside a w×h frame; an empty roi is the whole frame.
func clipROI(roi image.Rectangle, w, h int) image.Rectangle {
	full := image.Rect(0, 0, w, h)
	if roi.Empty() {
		return full
	}
	return roi.Intersect(full)
}

// Region is the part of a w×h frame that method m classifies when no box
// was found by Observe: the ROI for settings.ROI, the whole frame for
// settings.Whole.
func Region(m settings.Method, roi image.Rectangle, w, h int) image.Rectangle {
	if m == settings.ROI {
		return clipROI(roi, w, h)
	}
	return image.Rect(0, 0, w, h)
}

// Close frees the Mats.
func (b *Tray) Close() {
	for _, m := range []*gocv.Mat{&b.small, &b.half[0], &b.half[1], &b.lut, &b.mask, &b.weak, &b.tmp, &b.labels, &b.stats, &b.cc, &b.open, &b.close} {
		if m.Ptr() != nil {
			m.Close()
			*m = gocv.Mat{}
		}
	}
}
