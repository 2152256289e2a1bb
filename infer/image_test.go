package infer

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"os"
	"path/filepath"
	"testing"
)

func encodeJPEG(t testing.TB, w, h int) []byte {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			img.Set(x, y, color.RGBA{uint8(x), uint8(y), 90, 255})
		}
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: 90}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// pngHeader is a PNG signature and IHDR claiming w×h pixels, and nothing
// else: the size check must refuse it before any decoding.
func pngHeader(w, h uint32) []byte {
	var b bytes.Buffer
	b.WriteString("\x89PNG\r\n\x1a\n")
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], w)
	binary.BigEndian.PutUint32(ihdr[4:], h)
	ihdr[8], ihdr[9] = 8, 2 // 8-bit RGB
	var l [4]byte
	binary.BigEndian.PutUint32(l[:], 13)
	b.Write(l[:])
	chunk := append([]byte("IHDR"), ihdr...)
	b.Write(chunk)
	binary.BigEndian.PutUint32(l[:], crc32.ChecksumIEEE(chunk))
	b.Write(l[:])
	return b.Bytes()
}

func TestDecodeImage(t *testing.T) {
	good := encodeJPEG(t, 64, 48)
	var pngBuf bytes.Buffer
	if err := png.Encode(&pngBuf, image.NewGray(image.Rect(0, 0, 30, 20))); err != nil {
		t.Fatal(err)
	}
	m, err := DecodeImage(good, ImageLimits{})
	if err != nil {
		t.Fatal(err)
	}
	if m.Cols() != 64 || m.Rows() != 48 || m.Channels() != 3 {
		t.Errorf("decoded %dx%d×%d", m.Cols(), m.Rows(), m.Channels())
	}
	m.Close()
	m, err = DecodeImage(pngBuf.Bytes(), ImageLimits{})
	if err != nil {
		t.Fatal(err)
	}
	if m.Channels() != 3 {
		t.Errorf("gray PNG decoded with %d channels, want BGR", m.Channels())
	}
	m.Close()

	// Half the coded data, cut inside the scan (half the bytes of a small
	// JPEG end inside its tables, which the header check alone refuses),
	// with an end-of-image marker appended: libjpeg pads it with grey.
	sos := bytes.Index(good, []byte{0xFF, 0xDA}) // start of scan
	if sos < 0 {
		t.Fatal("no start of scan in the JPEG")
	}
	halfScan := append(append([]byte(nil), good[:sos+(len(good)-sos)/2]...), 0xFF, 0xD9)
	cases := []struct {
		name string
		data []byte
		lim  ImageLimits
		want error
	}{
		{"empty", nil, ImageLimits{}, ErrImageEmpty},
		{"text", []byte("GIF? no, just text"), ImageLimits{}, ErrNotImage},
		{"truncated jpeg", good[:len(good)*2/3], ImageLimits{}, ErrImageTruncated},
		{"half a jpeg with EOI appended", halfScan, ImageLimits{}, ErrImageTruncated},
		{"header only", good[:20], ImageLimits{}, ErrImageTruncated},
		{"enormous", pngHeader(50000, 50000), ImageLimits{}, ErrImageTooLarge},
		{"over pixel limit", good, ImageLimits{MaxPixels: 1000}, ErrImageTooLarge},
		{"over byte limit", good, ImageLimits{MaxBytes: 100}, ErrImageTooLarge},
		{"png without IEND", pngHeader(10, 10), ImageLimits{}, ErrImageTruncated},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m, err := DecodeImage(tc.data, tc.lim)
			if err == nil {
				m.Close()
				t.Fatal("decoded")
			}
			if !errors.Is(err, tc.want) {
				t.Errorf("got %v, want %v", err, tc.want)
			}
		})
	}
}

func TestReadImageFile(t *testing.T) {
	dir := t.TempDir()
	if _, err := ReadImageFile(dir, ImageLimits{}); !errors.Is(err, ErrNotImage) {
		t.Errorf("directory: %v", err)
	}
	if _, err := ReadImageFile(filepath.Join(dir, "missing.jpg"), ImageLimits{}); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing: %v", err)
	}
	p := filepath.Join(dir, "big.jpg")
	if err := os.WriteFile(p, encodeJPEG(t, 64, 64), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadImageFile(p, ImageLimits{MaxBytes: 10}); !errors.Is(err, ErrImageTooLarge) {
		t.Errorf("over byte limit: %v", err)
	}
}

func FuzzDecodeImage(f *testing.F) {
	f.Add(encodeJPEG(f, 16, 16))
	f.Add(pngHeader(4, 4))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := DecodeImage(data, ImageLimits{MaxPixels: 1 << 20})
		if err == nil {
			if m.Empty() {
				t.Fatal("no error and an empty Mat")
			}
			m.Close()
		}
	})
}

// A JPEG over DecodePixels is decoded scaled down, never at full size.
func TestDecodeImageReduced(t *testing.T) {
	big := encodeJPEG(t, 1600, 1200) // 1.92 MP
	for _, tc := range []struct {
		budget, w, h int
	}{{0, 1600, 1200}, {2_000_000, 1600, 1200}, {500_000, 800, 600}, {120_000, 400, 300}, {1000, 200, 150}} {
		m, err := DecodeImage(big, ImageLimits{DecodePixels: tc.budget})
		if err != nil {
			t.Fatal(err)
		}
		if m.Cols() != tc.w || m.Rows() != tc.h {
			t.Errorf("budget %d: decoded %dx%d, want %dx%d", tc.budget, m.Cols(), m.Rows(), tc.w, tc.h)
		}
		m.Close()
	}
}
