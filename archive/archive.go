// Package archive keeps every decided item's crop (what the model saw)
// and its event in a folder, for auditing and retraining, within a limit
// on count and bytes: the oldest items go first.
//
// Each item is two files, <id>.jpg and <id>.json, written through a
// temporary file and a rename, so a crash leaves no half item.
package archive

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
)

// Options configure an Archive.
type Options struct {
	Dir      string
	MaxItems int   // at most this many items (default 10000)
	MaxBytes int64 // at most this many bytes of files (default 1 GiB)
}

// Archive is a bounded folder of items. Its methods are safe for
// concurrent use.
type Archive struct {
	o     Options
	mu    sync.Mutex
	items []entry // oldest first
	bytes int64
}

type entry struct {
	id   string
	size int64
}

// Open opens (creating) the folder and takes stock of the items already
// there, oldest first, applying the limits at once.
func Open(o Options) (*Archive, error) {
	if o.MaxItems <= 0 {
		o.MaxItems = 10000
	}
	if o.MaxBytes <= 0 {
		o.MaxBytes = 1 << 30
	}
	if err := os.MkdirAll(o.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("archive: %w", err)
	}
	des, err := os.ReadDir(o.Dir)
	if err != nil {
		return nil, fmt.Errorf("archive: %w", err)
	}
	type found struct {
		entry
		mod int64
	}
	byID := map[string]*found{}
	for _, de := range des {
		name := de.Name()
		ext := filepath.Ext(name)
		if !de.IsDir() && strings.HasPrefix(name, ".") { // a temporary file a crash left
			os.Remove(filepath.Join(o.Dir, name))
			continue
		}
		if de.IsDir() || (ext != ".jpg" && ext != ".json") {
			continue
		}
		fi, err := de.Info()
		if err != nil {
			continue
		}
		id := strings.TrimSuffix(name, ext)
		f := byID[id]
		if f == nil {
			f = &found{entry: entry{id: id}}
			byID[id] = f
		}
		f.size += fi.Size()
		f.mod = max(f.mod, fi.ModTime().UnixNano())
	}
	var all []*found
	for _, f := range byID {
		all = append(all, f)
	}
	sort.Slice(all, func(i, j int) bool {
		if all[i].mod != all[j].mod {
			return all[i].mod < all[j].mod
		}
		return all[i].id < all[j].id
	})
	a := &Archive{o: o}
	for _, f := range all {
		a.items = append(a.items, f.entry)
		a.bytes += f.size
	}
	return a, a.prune()
}

// Add stores an item's image and event, then removes the oldest items
// until the archive is within its limits again.
func (a *Archive) Add(id string, jpeg, event []byte) error {
	if id == "" || strings.ContainsAny(id, `/\`) || strings.HasPrefix(id, ".") {
		return fmt.Errorf("archive: bad item id %q", id)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, f := range []struct {
		ext  string
		data []byte
	}{{".jpg", jpeg}, {".json", event}} {
		if err := writeFile(filepath.Join(a.o.Dir, id+f.ext), f.data); err != nil {
			return fmt.Errorf("archive item %s: %w", id, err)
		}
	}
	a.items = append(a.items, entry{id: id, size: int64(len(jpeg) + len(event))})
	a.bytes += int64(len(jpeg) + len(event))
	return a.prune()
}

// prune removes the oldest items beyond the limits (the newest item is
// kept even when it alone is over MaxBytes).
func (a *Archive) prune() error {
	var errs []error
	for len(a.items) > 1 && (len(a.items) > a.o.MaxItems || a.bytes > a.o.MaxBytes) {
		old := a.items[0]
		a.items = a.items[1:]
		a.bytes -= old.size
		for _, ext := range []string{".jpg", ".json"} {
			if err := os.Remove(filepath.Join(a.o.Dir, old.id+ext)); err != nil && !errors.Is(err, os.ErrNotExist) {
				errs = append(errs, err)
			}
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("archive: pruning: %w", errors.Join(errs...))
	}
	return nil
}

// Len is the number of items kept; Bytes their size on disk.
func (a *Archive) Len() int { a.mu.Lock(); defer a.mu.Unlock(); return len(a.items) }

// Bytes is the size of the items kept.
func (a *Archive) Bytes() int64 { a.mu.Lock(); defer a.mu.Unlock(); return a.bytes }

func writeFile(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return nil
}
