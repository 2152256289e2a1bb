package infer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/jpeg"  // DecodeConfig reads JPEG headers; scanJPEG decodes
	_ "image/png" // DecodeConfig reads PNG headers
	"io"
	"os"
	"strings"
	"time"

	"gocv.io/x/gocv"
)

// Image errors, for errors.Is.
var (
	ErrImageEmpty     = errors.New("image file is empty")
	ErrNotImage       = errors.New("not a JPEG or PNG image")
	ErrImageTooLarge  = errors.New("image is too large")
	ErrImageTruncated = errors.New("image is truncated")
	ErrImageCorrupt   = errors.New("image is corrupt")
)

// ImageLimits bound what DecodeImage accepts, checked before any pixel is
// decoded: a 20000×20000 JPEG is a few kilobytes on disk and 1.2 GB in RAM.
type ImageLimits struct {
	MaxBytes  int64 // file size; 0: 64 MiB
	MaxPixels int   // width × height; 0: 40 megapixels
	// DecodePixels, when > 0, bounds the decoded image instead of refusing
	// it: a larger JPEG is decoded at 1/2, 1/4 or 1/8 scale (libjpeg's DCT
	// scaling, which never holds the full-size image), the first that fits.
	// The models see 224–384 pixels, so a 24-MP photo loses nothing.
	// 0: full size.
	DecodePixels int
}

func (l ImageLimits) withDefaults() ImageLimits {
	if l.MaxBytes <= 0 {
		l.MaxBytes = 64 << 20
	}
	if l.MaxPixels <= 0 {
		l.MaxPixels = 40_000_000
	}
	return l
}

// ReadImageFile reads and decodes an image file into a BGR Mat that the
// caller must Close.
func ReadImageFile(path string, lim ImageLimits) (gocv.Mat, error) {
	lim = lim.withDefaults()
	f, err := os.Open(path)
	if err != nil {
		return gocv.Mat{}, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return gocv.Mat{}, err
	}
	if st.IsDir() {
		return gocv.Mat{}, fmt.Errorf("%w: %s is a directory", ErrNotImage, path)
	}
	if st.Size() > lim.MaxBytes {
		return gocv.Mat{}, fmt.Errorf("%w: %d bytes, limit %d", ErrImageTooLarge, st.Size(), lim.MaxBytes)
	}
	data, err := io.ReadAll(io.LimitReader(f, lim.MaxBytes+1))
	if err != nil {
		return gocv.Mat{}, err
	}
	return DecodeImage(data, lim)
}

// DecodeImage checks an encoded JPEG or PNG (type, size, completeness) and
// decodes it to a BGR Mat, applying the EXIF orientation as OpenCV does.
func DecodeImage(data []byte, lim ImageLimits) (gocv.Mat, error) {
	lim = lim.withDefaults()
	if len(data) == 0 {
		return gocv.Mat{}, ErrImageEmpty
	}
	if int64(len(data)) > lim.MaxBytes {
		return gocv.Mat{}, fmt.Errorf("%w: %d bytes, limit %d", ErrImageTooLarge, len(data), lim.MaxBytes)
	}
	cfg, format, err := image.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		if errors.Is(err, image.ErrFormat) {
			return gocv.Mat{}, ErrNotImage
		}
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			return gocv.Mat{}, fmt.Errorf("%w: header cut short", ErrImageTruncated)
		}
		return gocv.Mat{}, fmt.Errorf("%w: %v", ErrImageCorrupt, err)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 {
		return gocv.Mat{}, fmt.Errorf("%w: %d×%d pixels", ErrImageCorrupt, cfg.Width, cfg.Height)
	}
	if int64(cfg.Width)*int64(cfg.Height) > int64(lim.MaxPixels) {
		return gocv.Mat{}, fmt.Errorf("%w: %d×%d pixels, limit %d", ErrImageTooLarge, cfg.Width, cfg.Height, lim.MaxPixels)
	}
	if !complete(data, format) {
		return gocv.Mat{}, fmt.Errorf("%w: no end-of-image marker", ErrImageTruncated)
	}
	if format == "jpeg" {
		if err := scanJPEG(data); err != nil {
			return gocv.Mat{}, err
		}
	}
	m, err := gocv.IMDecode(data, decodeFlag(format, cfg.Width, cfg.Height, lim.DecodePixels))
	if err != nil {
		return gocv.Mat{}, fmt.Errorf("%w: %v", ErrImageCorrupt, err)
	}
	if m.Empty() {
		m.Close()
		return gocv.Mat{}, fmt.Errorf("%w: OpenCV could not decode it", ErrImageCorrupt)
	}
	return m, nil
}

// decodeFlag is the OpenCV read mode that decodes at most budget pixels
// where the format allows scaling (JPEG) and budget is set.
func decodeFlag(format string, w, h, budget int) gocv.IMReadFlag {
	if budget <= 0 || format != "jpeg" {
		return gocv.IMReadColor
	}
	px := int64(w) * int64(h)
	for _, r := range []struct {
		div  int64
		flag gocv.IMReadFlag
	}{{1, gocv.IMReadColor}, {2, gocv.IMReadReducedColor2}, {4, gocv.IMReadReducedColor4}} {
		if px/(r.div*r.div) <= int64(budget) {
			return r.flag
		}
	}
	return gocv.IMReadReducedColor8
}

// scanJPEG decodes the whole entropy-coded data (Go's decoder, which,
// unlike libjpeg through OpenCV, fails instead of padding): a JPEG cut
// short with an end-of-image marker appended passes complete() but not
// this. Features Go does not decode (arithmetic coding, say) are left to
// OpenCV.
func scanJPEG(data []byte) error {
	_, err := jpeg.Decode(bytes.NewReader(data))
	var unsupported jpeg.UnsupportedError
	switch {
	case err == nil, errors.As(err, &unsupported):
		return nil
	case errors.Is(err, io.ErrUnexpectedEOF), strings.Contains(err.Error(), "missing 0xff00"):
		// The scan ran into the end of the data, or into a marker where
		// coded data should be: the image was cut short.
		return fmt.Errorf("%w: the coded data ends early (%v)", ErrImageTruncated, err)
	default:
		return fmt.Errorf("%w: %v", ErrImageCorrupt, err)
	}
}

// complete reports whether the encoded image ends where its format says
// it must (libjpeg otherwise pads a cut-off JPEG with grey and succeeds).
func complete(data []byte, format string) bool {
	tail := data
	if len(tail) > 4096 {
		tail = tail[len(tail)-4096:]
	}
	switch format {
	case "jpeg":
		// EOI, possibly followed by padding some cameras append.
		return bytes.LastIndex(tail, []byte{0xFF, 0xD9}) >= 0
	case "png":
		return bytes.Contains(tail, []byte("IEND"))
	}
	return true
}

// ClassifyFile reads an image file within lim and classifies it (top k),
// saying how long reading and decoding it took.
func (c *Classifier) ClassifyFile(ctx context.Context, path string, lim ImageLimits, k int) (Result, time.Duration, error) {
	t0 := time.Now()
	img, err := ReadImageFile(path, lim)
	if err != nil {
		return Result{}, 0, err
	}
	defer img.Close()
	decode := time.Since(t0)
	r, err := c.Classify(ctx, img, k)
	return r, decode, err
}
