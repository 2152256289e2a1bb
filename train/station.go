package train

import (
	"fmt"
	"hash/fnv"
	"image"
	"math/rand"

	"github.com/sorterd/sorterd/infer"
	"github.com/sorterd/sorterd/locate"
	"github.com/sorterd/sorterd/recording"
	"github.com/sorterd/sorterd/settings"
	"gocv.io/x/gocv"
)

// Station views make training look like the station: the photo's item,
// cut out of its backdrop and turned any way, is laid on a random tray
// (any grey, colour or wood) at 30-70% of a 640×480 frame's width, at a
// random place, over its shadow, under a random lamp, seen by a fixed or
// an automatic camera (recording.NewShot); the station's own locate.Tray
// finds it against the empty tray recorded at setup, and the crop the
// daemon would classify (square, the default margin, colours corrected
// to the reference: settings.BalanceReference) is the view, turned by a
// random quarter turn or flip. So the model learns items in their own
// colours on any tray, tighter and looser framing, off-centre items and
// what an automatic camera does.
//
// A view's randomness is seeded by the photo's pixels and the view's name:
// the same photo gives the same view every run, which the feature cache
// and `make model`'s byte-for-byte rebuild rely on.

// stationFrame is the frame the photos are laid in (the camera's default).
const stationW, stationH = settings.DefaultFrameWidth, settings.DefaultFrameHeight

// stationViewsVersion names the views' recipe: the feature cache is keyed
// by view name, so a change to what a station view looks like (here, in
// recording.NewShot or in locate) takes a new version.
const stationViewsVersion = 9

// stationViews returns n station views, named tray<version>.<i>.
func stationViews(n int) []view {
	var out []view
	cuts := new(recording.Cuts)
	for i := 1; i <= n; i++ {
		name := fmt.Sprintf("tray%d.%d", stationViewsVersion, i)
		out = append(out, view{Name: name, Apply: func(src gocv.Mat, dst *gocv.Mat) { stationView(cuts, name, src, dst) }})
	}
	return out
}

func stationView(cuts *recording.Cuts, name string, src gocv.Mat, dst *gocv.Mat) {
	h := fnv.New64a()
	h.Write([]byte(name))
	if b, err := src.DataPtrUint8(); err == nil {
		h.Write(b)
	}
	rng := rand.New(rand.NewSource(int64(h.Sum64())))
	shot, err := cuts.NewShot(src, stationW, stationH, rng)
	if err != nil {
		src.CopyTo(dst)
		return
	}
	defer shot.Close()
	m := shot.Empty.Mean()
	ref := locate.Reference{Tray: [3]float32{float32(m.Val1), float32(m.Val2), float32(m.Val3)}, ROI: shotBounds}
	tr := locate.New(locate.Options{Margin: settings.DefaultMargin, Balance: settings.BalanceReference, Reference: ref})
	defer tr.Close()
	tr.Observe(shot.Empty)
	ob := tr.Observe(shot.Frame)
	if ob.Outcome != locate.Found {
		// Not found (an item as pale as the tray): the laid item's box,
		// corrected by the light the tray beside it shows.
		ob.Outcome, ob.Box = locate.Found, locate.Square(shot.Box, settings.DefaultMargin, shotBounds)
	}
	crop := gocv.NewMat()
	defer crop.Close()
	tr.Crop(shot.Frame, ob, &crop)
	// A quarter turn or a flip, as items lie any way on a tray.
	turns := infer.Views[:5] // flip, rot180, rot90, rot270, vflip
	if k := rng.Intn(len(turns) + 1); k < len(turns) {
		turns[k].Apply(crop, dst)
		return
	}
	crop.CopyTo(dst)
}

var shotBounds = rectWH(stationW, stationH)

func rectWH(w, h int) image.Rectangle { return image.Rect(0, 0, w, h) }
