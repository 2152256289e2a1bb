package train

import (
	"fmt"
	"hash/fnv"
	"image"
	"math/rand"

	"github.com/sorterd/sorterd/infer"
	"github.com/sorterd/sorterd/locate"
	"github.com/sorterd/sorterd/recording"
	"gocv.io/x/gocv"
)

// Station views make training look like the station: the photo is laid on
// a random tray (any grey, colour or wood) at 30-70% of a 640×480
// frame's width, at a random place, in a random light with sensor noise;
// the station's own locate.Tray finds it against the empty tray, and the
// crop the daemon would classify (square, the default margin) is the view,
// turned by a random quarter turn or flip. So the model learns the tray
// around the item, tighter and looser framing, off-centre items and light
// changes.
//
// A view's randomness is seeded by the photo's pixels and the view's name:
// the same photo gives the same view every run, which the feature cache
// and `make model`'s byte-for-byte rebuild rely on.

// stationFrame is the frame the photos are laid in (the camera's default).
const stationW, stationH = 640, 480

// stationViewsVersion names the views' recipe: the feature cache is keyed
// by view name, so a change to what a station view looks like (here, in
// recording.NewShot or in locate) takes a new version. 3: locate finds
// pale items (no pixel over the delta), so their views are its crop, not
// the laid photo's box. 4: the crop is balanced by the tray under it
// (locate.Options.Balance), as the daemon's is by default. 5: the balanced
// crop is smoothed in proportion to its gain (dark trays). 6: locate
// finds a pale item beside its shadow (paper whitened to a dark tray).
const stationViewsVersion = 6

// stationViews returns n station views, named tray<version>.<i>.
func stationViews(n int) []view {
	var out []view
	for i := 1; i <= n; i++ {
		name := fmt.Sprintf("tray%d.%d", stationViewsVersion, i)
		out = append(out, view{Name: name, Apply: func(src gocv.Mat, dst *gocv.Mat) { stationView(name, src, dst) }})
	}
	return out
}

func stationView(name string, src gocv.Mat, dst *gocv.Mat) {
	h := fnv.New64a()
	h.Write([]byte(name))
	if b, err := src.DataPtrUint8(); err == nil {
		h.Write(b)
	}
	rng := rand.New(rand.NewSource(int64(h.Sum64())))
	shot, err := recording.NewShot(src, stationW, stationH, rng)
	if err != nil {
		src.CopyTo(dst)
		return
	}
	defer shot.Close()
	tr := locate.New(locate.Options{Margin: locate.DefaultMargin, Balance: true})
	defer tr.Close()
	tr.Observe(shot.Empty)
	ob := tr.Observe(shot.Frame)
	if ob.Outcome != locate.Found {
		// Not found (an item as pale as the tray): the laid photo's box,
		// balanced by the empty tray under it.
		box := locate.Square(shot.Box, locate.DefaultMargin, shotBounds)
		empty := shot.Empty.Region(box)
		m := empty.Mean()
		empty.Close()
		ob = locate.Observation{Outcome: locate.Found, Box: box,
			Tray: [3]float32{float32(m.Val1), float32(m.Val2), float32(m.Val3)}}
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
