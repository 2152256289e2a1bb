package tfmodel

import (
	"errors"
	"fmt"
)

// Errors a caller can tell apart with errors.Is.
var (
	// ErrTruncated: a read went past the end of the file. Converters write
	// the weights last, so a cut-short file fails this way.
	ErrTruncated = errors.New("model file is truncated")
	// ErrCorrupt: the structure is inconsistent (a bad vtable, an index
	// out of range).
	ErrCorrupt = errors.New("model file is corrupt")
	// ErrNotModel: the file does not carry the TFL3 identifier.
	ErrNotModel = errors.New("not a TensorFlow Lite model")
	// ErrCannotEdit: the model uses schema parts Write cannot carry over.
	ErrCannotEdit = errors.New("cannot edit model")

	errSizePrefixed = errors.New("size-prefixed flatbuffers are not supported")
)

// A FormatError reports a model file that cannot be read: where, what,
// and which kind (Err is ErrTruncated or ErrCorrupt).
type FormatError struct {
	Off  int64  // byte offset in the file where reading failed
	What string // what was being read, for a user
	Err  error
}

func (e *FormatError) Error() string {
	return fmt.Sprintf("%v: %s (at byte %d)", e.Err, e.What, e.Off)
}

func (e *FormatError) Unwrap() error { return e.Err }

// corrupt and truncated raise (panic) a *FormatError, which catch turns
// into the returned error at the API boundary: the walking code stays
// linear instead of checking an error after every field.
func corrupt(off int, format string, args ...any) {
	panic(&FormatError{Off: int64(off), What: fmt.Sprintf(format, args...), Err: ErrCorrupt})
}

func truncated(off int, format string, args ...any) {
	panic(&FormatError{Off: int64(off), What: fmt.Sprintf(format, args...), Err: ErrTruncated})
}

// catch converts a reader failure into *err; other panics propagate.
func catch(err *error) {
	if r := recover(); r != nil {
		fe, ok := r.(*FormatError)
		if !ok {
			panic(r)
		}
		*err = fe
	}
}
