package train

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/sorterd/sorterd/infer"
	"github.com/sorterd/sorterd/tfmodel"
	"gocv.io/x/gocv"
)

// view is a label-preserving transform of a photo; the views are
// infer's (the same ones Classify can use for test-time augmentation).
type view = infer.View

// augments in the order --augment N takes them (the identity is always
// first and not counted).
var augments = append([]view{{Name: "id", Apply: func(s gocv.Mat, d *gocv.Mat) { s.CopyTo(d) }}}, infer.Views...)

// augmentSet returns the identity plus the first n augmentations.
func augmentSet(n int) []view {
	n = max(0, min(n, len(augments)-1))
	return augments[:n+1]
}

// extractor computes backbone features of images with a feature model
// derived from a classifier, and caches them on disk by image hash, model
// hash and augmentation, so retraining with other settings does not run
// the backbone again.
type extractor struct {
	c        *infer.Classifier
	modelKey string
	cacheDir string
	dim      int
	// act: the extractor gives int8 activations (ConvInput) and caches
	// them as int8, a quarter of float32: 10×10×320 values per view
	// at 320 px, which for thousands of views must stay in memory.
	act     bool
	quant   quantParams
	shape   []int32
	workers int // one goroutine per interpreter
	// Calls counts backbone invocations (tests check the cache with it).
	Calls atomic.Int64
	mu    sync.Mutex
	cache map[string]map[[32]byte][]byte // cached record payloads
	log   *slog.Logger
}

// quantParams is an int8 tensor's affine quantization: v = Scale·(q − ZeroPoint).
type quantParams struct {
	Scale     float32
	ZeroPoint int32
}

// extractorOptions configure newExtractor.
type extractorOptions struct {
	Base     string // classifier .tflite to cut
	CacheDir string
	Delegate string
	Workers  int // parallel interpreters (default: CPUs)
	Size     int // input size (0: the base model's)
	// ConvInput cuts the backbone at the input of the convolution before
	// the pooling (for fine-tuning that convolution) instead of at the
	// pooled tensor; use Activations, not Features.
	ConvInput bool
	// Layers (with ConvInput) is how many 1×1 convolutions before the
	// pooling fine-tuning retrains: 1 (default) cuts at Conv_1's input,
	// 2 at the input of the projection before it (findProjConv).
	Layers int
	Logger *slog.Logger
}

// baseGraph parses a base model for train's every use (features,
// fine-tuning, export). A uint8 (quantization-aware trained) base is
// rewritten as int8 first (tfmodel's ToInt8): XNNPACK then runs it whole,
// far faster than uint8 on built-in kernels (docs/training.md), and fine-tuning
// gets the per-tensor int8 activations it works on. The rewrite is
// deterministic, so a head file still names the base file it came from.
func baseGraph(base []byte) (*tfmodel.Model, error) {
	g, err := tfmodel.Parse(base)
	if err != nil {
		return nil, err
	}
	if err := g.Editable(); err != nil {
		return nil, err
	}
	if len(g.Inputs) == 1 && g.Tensors[g.Inputs[0]].Type == tfmodel.UInt8 {
		if err := g.ToInt8(); err != nil {
			return nil, fmt.Errorf("uint8 base as int8: %w", err)
		}
	}
	return g, nil
}

// featureModel derives the feature extractor from a classifier: the graph
// cut at the pooled tensor its final layer reads, its input resized to
// size×size when size > 0. It returns the model bytes and the feature width.
func featureModel(base []byte, size int) ([]byte, int, error) {
	g, err := baseGraph(base)
	if err != nil {
		return nil, 0, err
	}
	t, _, err := pooledFeature(g)
	if err != nil {
		return nil, 0, err
	}
	cut := g.CutAt(t)
	if size > 0 {
		if err := cut.SetInputSize(int32(size), int32(size)); err != nil {
			return nil, 0, err
		}
	}
	shape := cut.Tensors[cut.Outputs[0]].Shape
	out, err := cut.Write()
	return out, int(shape[len(shape)-1]), err
}

// convInputModel derives the activation extractor for fine-tuning: the
// graph cut at the input of the convolution before the pooling (found by
// findPoolConv), resized like featureModel. It returns the model
// bytes, the output tensor's shape and its int8 quantization.
func convInputModel(base []byte, size int) ([]byte, []int32, quantParams, error) {
	return convInputModelLayers(base, size, 1)
}

// convInputModelLayers is convInputModel cut at the input of the first of
// the last layers 1×1 convolutions (1: Conv_1; 2: the projection before
// it, found by findProjConv).
func convInputModelLayers(base []byte, size, layers int) ([]byte, []int32, quantParams, error) {
	g, err := baseGraph(base)
	if err != nil {
		return nil, nil, quantParams{}, err
	}
	var conv int
	switch layers {
	case 0, 1:
		conv, err = findPoolConv(g)
	case 2:
		conv, err = findProjConv(g)
	default:
		err = fmt.Errorf("fine-tuning %d layers: only 1 or 2 are supported", layers)
	}
	if err != nil {
		return nil, nil, quantParams{}, err
	}
	in := g.Tensors[g.Ops[conv].Inputs[0]]
	if in.Type != tfmodel.Int8 || len(in.Scale) != 1 {
		return nil, nil, quantParams{}, fmt.Errorf("%w: the convolution's input %q is %v with %d scales; fine-tuning needs a per-tensor int8 input",
			ErrNoPoolConv, in.Name, in.Type, len(in.Scale))
	}
	cut := g.CutAt(g.Ops[conv].Inputs[0])
	if size > 0 {
		if err := cut.SetInputSize(int32(size), int32(size)); err != nil {
			return nil, nil, quantParams{}, err
		}
	}
	out := cut.Tensors[cut.Outputs[0]]
	model, err := cut.Write()
	return model, out.Shape, quantParams{Scale: out.Scale[0], ZeroPoint: int32(out.ZeroPoint[0])}, err
}

// newExtractor writes the feature model next to the cache and loads it.
func newExtractor(o extractorOptions) (*extractor, error) {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Workers <= 0 {
		o.Workers = runtime.NumCPU()
	}
	base, err := os.ReadFile(o.Base)
	if err != nil {
		return nil, fmt.Errorf("base model: %w", err)
	}
	var (
		feat  []byte
		dim   int
		q     quantParams
		shape []int32
	)
	if o.ConvInput {
		feat, shape, q, err = convInputModelLayers(base, o.Size, o.Layers)
		dim = 1
		for _, d := range shape {
			dim *= int(d)
		}
	} else {
		feat, dim, err = featureModel(base, o.Size)
	}
	if err != nil {
		return nil, fmt.Errorf("base model %s: %w", o.Base, err)
	}
	sum := sha256.Sum256(feat)
	key := hex.EncodeToString(sum[:8])
	if err := os.MkdirAll(o.CacheDir, 0o755); err != nil {
		return nil, fmt.Errorf("feature cache: %w", err)
	}
	path := filepath.Join(o.CacheDir, "features-"+key+".tflite")
	if err := writeFileAtomic(path, feat); err != nil {
		return nil, fmt.Errorf("feature cache: %w", err)
	}
	c, err := infer.New(infer.Options{
		Model: path, Features: true, Delegate: o.Delegate, Fallback: true,
		Threads: 1, Interpreters: o.Workers, Logger: o.Logger,
	})
	if err != nil {
		return nil, err
	}
	return &extractor{c: c, modelKey: key, cacheDir: o.CacheDir, dim: dim, workers: o.Workers,
		act: o.ConvInput, quant: q, shape: shape,
		cache: map[string]map[[32]byte][]byte{}, log: o.Logger}, nil
}

// Quant is the quantization of Activations' values.
func (e *extractor) Quant() quantParams { return e.quant }

// Shape is the activation tensor's shape ([1,H,W,C]) for a ConvInput
// extractor.
func (e *extractor) Shape() []int32 { return e.shape }

// recordSize is the payload bytes per cached image: int8 activations or
// float32 features.
func (e *extractor) recordSize() int {
	if e.act {
		return e.dim
	}
	return 4 * e.dim
}

// Dim is the feature width.
func (e *extractor) Dim() int { return e.dim }

// Delegate reports what runs the backbone.
func (e *extractor) Delegate() infer.DelegateReport { return e.c.Delegate() }

// Close frees the interpreters.
func (e *extractor) Close() error { return e.c.Close() }

func (e *extractor) cacheFile(aug string) string {
	return filepath.Join(e.cacheDir, fmt.Sprintf("features-%s-%s.bin", e.modelKey, aug))
}

// load reads an augmentation's cache file: records of image hash + dim
// float32s (features) or int8s (activations). A torn last record
// (interrupted run) is ignored.
func (e *extractor) load(aug string) map[[32]byte][]byte {
	if m, ok := e.cache[aug]; ok {
		return m
	}
	m := map[[32]byte][]byte{}
	e.cache[aug] = m
	f, err := os.Open(e.cacheFile(aug))
	if err != nil {
		return m
	}
	defer f.Close()
	r := bufio.NewReader(f)
	var h [32]byte
	for {
		if _, err := io.ReadFull(r, h[:]); err != nil {
			break
		}
		v := make([]byte, e.recordSize())
		if _, err := io.ReadFull(r, v); err != nil {
			break
		}
		m[h] = v
	}
	return m
}

func decodeFloats(b []byte) []float32 {
	v := make([]float32, len(b)/4)
	for i := range v {
		v[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return v
}

// failure is an image that could not be used, with the reason.
type failure struct {
	Path string
	Err  error
}

// Features returns the features of items under one augmentation, from the
// cache where possible, computing the rest in parallel. progress (may be
// nil) is called as images complete. Images that fail to decode are
// returned as failures and get a nil vector.
func (e *extractor) Features(ctx context.Context, items []Item, aug view, progress func(done, total int)) ([][]float32, []failure, error) {
	if e.act {
		return nil, nil, errors.New("features: this extractor gives activations (ConvInput)")
	}
	recs, fails, err := e.records(ctx, items, aug, progress)
	if err != nil {
		return nil, nil, err
	}
	out := make([][]float32, len(recs))
	for i, r := range recs {
		if r != nil {
			out[i] = decodeFloats(r)
		}
	}
	return out, fails, nil
}

// Activations is Features for a ConvInput extractor: each image's
// activation tensor in HWC order as int8 values (two's complement bytes,
// quantized by Quant), nil for an image that failed.
func (e *extractor) Activations(ctx context.Context, items []Item, aug view, progress func(done, total int)) ([][]byte, []failure, error) {
	if !e.act {
		return nil, nil, errors.New("activations: this extractor gives pooled features")
	}
	return e.records(ctx, items, aug, progress)
}

func (e *extractor) records(ctx context.Context, items []Item, aug view, progress func(done, total int)) ([][]byte, []failure, error) {
	e.mu.Lock()
	cached := e.load(aug.Name)
	e.mu.Unlock()
	out := make([][]byte, len(items))
	var todo []int
	for i, it := range items {
		if v, ok := cached[it.Hash]; ok {
			out[i] = v
		} else {
			todo = append(todo, i)
		}
	}
	if len(todo) == 0 {
		return out, nil, nil
	}
	f, err := os.OpenFile(e.cacheFile(aug.Name), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, nil, fmt.Errorf("feature cache: %w", err)
	}
	defer f.Close()
	w := bufio.NewWriter(f)
	defer w.Flush()
	failures, err := e.extractAll(ctx, items, todo, aug, progress, func(i int, v []byte) {
		out[i] = v
		cached[items[i].Hash] = v
		writeRecord(w, items[i].Hash, v)
	})
	if err != nil {
		return nil, nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	return out, failures, nil
}

// extractAll computes the features of items[i] for each i of todo on
// e.workers goroutines, handing each to keep (one at a time); it returns
// the photos that failed to decode and the first other error.
func (e *extractor) extractAll(ctx context.Context, items []Item, todo []int, aug view, progress func(done, total int),
	keep func(i int, v []byte)) ([]failure, error) {
	var (
		mu       sync.Mutex
		failures []failure
		done     int
		next     atomic.Int64
		wg       sync.WaitGroup
		firstErr error
	)
	for k := 0; k < e.workers; k++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				j := int(next.Add(1)) - 1
				if j >= len(todo) {
					return
				}
				i := todo[j]
				v, err := e.one(ctx, items[i].Path, aug)
				mu.Lock()
				done++
				if err != nil {
					if errors.Is(err, context.Canceled) {
						mu.Unlock()
						return
					}
					var imgErr imageError
					if errors.As(err, &imgErr) {
						failures = append(failures, failure{items[i].Path, err})
					} else if firstErr == nil {
						firstErr = err
					}
				} else {
					keep(i, v)
				}
				if progress != nil {
					progress(done, len(todo))
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return failures, firstErr
}

type imageError struct{ error }

func (e imageError) Unwrap() error { return e.error }

// one runs the backbone on one image and returns the record payload.
func (e *extractor) one(ctx context.Context, path string, aug view) ([]byte, error) {
	img, err := infer.ReadImageFile(path, infer.ImageLimits{})
	if err != nil {
		return nil, imageError{err}
	}
	defer img.Close()
	src := img
	if aug.Name != "id" {
		dst := gocv.NewMat()
		defer dst.Close()
		aug.Apply(img, &dst)
		src = dst
	}
	e.Calls.Add(1)
	v, err := e.c.Embed(ctx, src)
	if err != nil {
		return nil, err
	}
	if len(v) != e.dim {
		return nil, fmt.Errorf("feature model gave %d values, want %d", len(v), e.dim)
	}
	b := make([]byte, e.recordSize())
	if e.act {
		// Embed dequantized the int8 output; undo it exactly (v is
		// Scale·(q−zp) for an integer q).
		s, zp := float64(e.quant.Scale), float64(e.quant.ZeroPoint)
		for i, x := range v {
			b[i] = byte(int8(clamp(math.Round(float64(x)/s)+zp, -128, 127)))
		}
	} else {
		for i, x := range v {
			binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
		}
	}
	return b, nil
}

func writeRecord(w io.Writer, h [32]byte, v []byte) {
	_, _ = w.Write(h[:])
	_, _ = w.Write(v)
}

func writeFileAtomic(path string, data []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
