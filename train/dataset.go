// Package train turns a folder of labelled photos into a garbage
// classifier: MobileNetV2 from a TFLite model as a frozen feature
// extractor, a softmax head trained in Go, and one exported .tflite.
package train

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Item is one labelled image.
type Item struct {
	Path  string
	Class int
	Hash  [32]byte // sha256 of the file: cache key and duplicate check
}

// Dataset is one or more folders with one subfolder per class.
type Dataset struct {
	Dirs    []string
	Classes []string
	Items   []Item
	// Skipped lists files that are not usable images, with the reason.
	Skipped []string
	// Conflicts are byte-identical images found under two classes; they
	// are kept out of every split.
	Conflicts [][]string
}

// Errors for a data folder a user must fix.
var (
	ErrNoClasses  = errors.New("no class folders")
	ErrOneClass   = errors.New("only one class")
	ErrEmptyClass = errors.New("class has no usable images")
)

var imageExt = map[string]bool{".jpg": true, ".jpeg": true, ".png": true}

// Scan reads dir/<class>/*.{jpg,jpeg,png} for each dir. Classes are the
// subfolder names of all dirs, merged by name, in sorted order: a
// station's corrected samples (some classes only) add to a base data set.
// Unreadable files are reported in Skipped, never dropped silently;
// decoding is checked later, when features are extracted.
func Scan(dirs ...string) (*Dataset, error) {
	ds := &Dataset{Dirs: dirs}
	perDir := make([][]string, len(dirs))
	seen := map[string]bool{}
	for d, dir := range dirs {
		entries, err := os.ReadDir(dir)
		if err != nil {
			return nil, fmt.Errorf("data folder: %w", err)
		}
		for _, e := range entries {
			if e.IsDir() && !strings.HasPrefix(e.Name(), ".") {
				perDir[d] = append(perDir[d], e.Name())
				if !seen[e.Name()] {
					seen[e.Name()] = true
					ds.Classes = append(ds.Classes, e.Name())
				}
			}
		}
		// One class is a fine folder to evaluate on (a station's
		// corrected glass photos); Run refuses it for training
		// (ErrOneClass).
		if len(perDir[d]) == 0 {
			return nil, fmt.Errorf("%w in %s: want one subfolder per class", ErrNoClasses, dir)
		}
	}
	sort.Strings(ds.Classes)
	classIdx := map[string]int{}
	for i, c := range ds.Classes {
		classIdx[c] = i
	}
	byHash := map[[32]byte][]int{}
	for d, dir := range dirs {
		for _, class := range perDir[d] {
			if err := ds.scanClass(dir, class, classIdx[class], byHash); err != nil {
				return nil, err
			}
		}
	}
	ds.dropConflicts(byHash)
	return ds, nil
}

// dropConflicts leaves out identical bytes under different classes
// (contradictory labels), listing them in Conflicts; byHash holds the
// items' indexes by content.
func (ds *Dataset) dropConflicts(byHash map[[32]byte][]int) {
	drop := map[int]bool{}
	for _, idx := range byHash {
		classes := map[int]bool{}
		for _, i := range idx {
			classes[ds.Items[i].Class] = true
		}
		if len(classes) < 2 {
			continue
		}
		var paths []string
		for _, i := range idx {
			paths = append(paths, ds.Items[i].Path)
			drop[i] = true
		}
		sort.Strings(paths)
		ds.Conflicts = append(ds.Conflicts, paths)
	}
	sort.Slice(ds.Conflicts, func(i, j int) bool { return ds.Conflicts[i][0] < ds.Conflicts[j][0] })
	if len(drop) > 0 {
		kept := ds.Items[:0]
		for i, it := range ds.Items {
			if !drop[i] {
				kept = append(kept, it)
			}
		}
		ds.Items = kept
	}
}

// scanClass adds dir/class's images.
func (ds *Dataset) scanClass(dir, class string, ci int, byHash map[[32]byte][]int) error {
	files, err := os.ReadDir(filepath.Join(dir, class))
	if err != nil {
		return fmt.Errorf("class %s: %w", class, err)
	}
	n := 0
	for _, f := range files {
		path := filepath.Join(dir, class, f.Name())
		if f.IsDir() || !imageExt[strings.ToLower(filepath.Ext(f.Name()))] {
			if !f.IsDir() {
				ds.Skipped = append(ds.Skipped, path+": not a .jpg/.jpeg/.png file")
			}
			continue
		}
		h, err := hashFile(path)
		if err != nil {
			ds.Skipped = append(ds.Skipped, fmt.Sprintf("%s: %v", path, err))
			continue
		}
		byHash[h] = append(byHash[h], len(ds.Items))
		ds.Items = append(ds.Items, Item{Path: path, Class: ci, Hash: h})
		n++
	}
	if n == 0 {
		return fmt.Errorf("%w: %s", ErrEmptyClass, filepath.Join(dir, class))
	}
	return nil
}

func hashFile(path string) ([32]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return [32]byte{}, err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return [32]byte{}, err
	}
	var out [32]byte
	copy(out[:], h.Sum(nil))
	return out, nil
}

// Split is a stratified train/validation/test partition (indices into
// Dataset.Items).
type Split struct {
	Train, Val, Test []int
}

// StratifiedSplit shuffles each class with seed and cuts it by fraction, so
// every split keeps the class proportions. Each class keeps at least one
// training image.
func (ds *Dataset) StratifiedSplit(seed int64, valFrac, testFrac float64) Split {
	rng := rand.New(rand.NewSource(seed))
	byClass := make([][]int, len(ds.Classes))
	for i, it := range ds.Items {
		byClass[it.Class] = append(byClass[it.Class], i)
	}
	var s Split
	for _, idx := range byClass {
		rng.Shuffle(len(idx), func(i, j int) { idx[i], idx[j] = idx[j], idx[i] })
		nTest := int(float64(len(idx))*testFrac + 0.5)
		nVal := int(float64(len(idx))*valFrac + 0.5)
		if nTest+nVal >= len(idx) {
			nTest, nVal = 0, 0
		}
		s.Test = append(s.Test, idx[:nTest]...)
		s.Val = append(s.Val, idx[nTest:nTest+nVal]...)
		s.Train = append(s.Train, idx[nTest+nVal:]...)
	}
	return s
}
