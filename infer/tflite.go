package infer

/*
#cgo CFLAGS: -D_GNU_SOURCE
#cgo LDFLAGS: -ltensorflowlite_c -ldl
#include <dlfcn.h>
#include <stdlib.h>
#include "tflite_shim.h"
*/
import "C"

import (
	"fmt"
	"reflect"
	"runtime/cgo"
	"strings"
	"sync"
	"unsafe"

	tflite "github.com/mattn/go-tflite"
)

// TFLiteVersion is the version the TFLite C library reports.
func TFLiteVersion() string { return C.GoString(C.TfLiteVersion()) }

// reporter collects what TFLite reports while an interpreter is built and
// run; messages are how TFLite tells about a delegate that fell back.
type reporter struct {
	mu   sync.Mutex
	msgs []string
}

func (r *reporter) add(s string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.msgs) < 200 {
		r.msgs = append(r.msgs, strings.Join(strings.Fields(s), " "))
	}
}

func (r *reporter) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	m := r.msgs
	r.msgs = nil
	return m
}

//export sorterdReport
func sorterdReport(h C.uintptr_t, msg *C.char) {
	cgo.Handle(h).Value().(*reporter).add(C.GoString(msg))
}

// newModelFromMemory builds a TFLite model from a copy of data in C
// memory, which TFLite needs to outlive the model: the caller frees buf
// (C.free via freeModelBuf) after deleting the model. Unlike
// TfLiteModelCreateFromFile, nothing is mmapped, so a model file truncated
// or rewritten while the daemon runs cannot fault (SIGBUS) the process.
// go-tflite's own NewModel copies too but never frees its copy.
func newModelFromMemory(data []byte) (*tflite.Model, unsafe.Pointer) {
	if len(data) == 0 {
		return nil, nil
	}
	buf := C.CBytes(data)
	m := C.TfLiteModelCreate(buf, C.size_t(len(data)))
	if m == nil {
		C.free(buf)
		return nil, nil
	}
	tm := new(tflite.Model)
	*(**C.TfLiteModel)(unsafe.Pointer(tm)) = m // go-tflite's Model holds only this pointer; TestModelLayout guards it
	return tm, buf
}

func freeModelBuf(buf unsafe.Pointer) {
	if buf != nil {
		C.free(buf)
	}
}

// modelPtr is the C model inside go-tflite's Model (for TestModelLayout).
func modelPtr(m *tflite.Model) unsafe.Pointer {
	return unsafe.Pointer(*(**C.TfLiteModel)(unsafe.Pointer(m)))
}

// cLayout gives TestOptionsLayout what the casts in this file assume of
// the C side (tests cannot import "C"): the C types go-tflite's structs
// must point to, and where the census keeps the delegate TFLite sees.
func cLayout() (model, options reflect.Type, censusOuter uintptr) {
	return reflect.TypeOf((*C.TfLiteModel)(nil)), reflect.TypeOf((*C.TfLiteInterpreterOptions)(nil)),
		unsafe.Offsetof(C.sorterd_census{}.outer)
}

// optionsPtr reaches the C options inside go-tflite's InterpreterOptions.
// go-tflite v1.0.4 (pinned in go.mod) keeps it as the only field; its own
// SetErrorReporter is unusable (see the C comment above) and it has no
// delegate-fallback setter. TestOptionsLayout (layout_test.go) guards this.
func optionsPtr(o *tflite.InterpreterOptions) *C.TfLiteInterpreterOptions {
	return *(**C.TfLiteInterpreterOptions)(unsafe.Pointer(o))
}

// cDelegate is a delegate owned by sorterd, handed to go-tflite through its
// Delegater interface, wrapped by the census.
type cDelegate struct {
	census *C.sorterd_census
	free   func(*C.TfLiteDelegate)
}

func (d *cDelegate) Ptr() unsafe.Pointer { return unsafe.Pointer(d.census) }

// Delete frees the wrapped delegate; it must run after the interpreter
// that uses it is deleted, and it is safe to call twice.
func (d *cDelegate) Delete() {
	if d == nil || d.census == nil {
		return
	}
	d.free(d.census.inner)
	C.free(unsafe.Pointer(d.census))
	d.census = nil
}

func wrapDelegate(inner *C.TfLiteDelegate, free func(*C.TfLiteDelegate)) (*cDelegate, error) {
	c := C.sorterd_census_new(inner)
	if c == nil {
		free(inner)
		return nil, fmt.Errorf("out of memory")
	}
	return &cDelegate{census: c, free: free}, nil
}

// Census of what the delegate took (valid after the interpreter is built):
// node counts and the builtin codes of nodes left on built-in kernels.
func (d *cDelegate) counts() (prepared bool, before, after, kernels int, others []int32) {
	c := d.census
	for i := 0; i < int(c.n_other); i++ {
		others = append(others, int32(c.other_ops[i]))
	}
	return c.prepared != 0, int(c.nodes_before), int(c.nodes_after), int(c.delegate_kernels), others
}

// XNNPACK flags (TFLite 2.9): signed and unsigned quantized kernels.
const (
	xnnQS8 = 0x1
	xnnQU8 = 0x2
)

func newXNNPACK(threads int, flags uint32) (*cDelegate, error) {
	var missing C.int
	d := C.sorterd_xnnpack_create(C.int(threads), C.uint32_t(flags), &missing)
	if missing != 0 {
		return nil, fmt.Errorf("%w: xnnpack: this TFLite library does not export TfLiteXNNPackDelegateCreate", ErrDelegate)
	}
	if d == nil {
		return nil, fmt.Errorf("%w: xnnpack: TfLiteXNNPackDelegateCreate failed", ErrDelegate)
	}
	return wrapDelegate(d, func(p *C.TfLiteDelegate) { C.sorterd_xnnpack_delete(p) })
}

func newExternal(lib string, opts map[string]string) (*cDelegate, error) {
	if msg := C.sorterd_ext_load(); msg != nil {
		return nil, fmt.Errorf("%w: %s", ErrDelegate, C.GoString(msg))
	}
	clib := C.CString(lib)
	defer C.free(unsafe.Pointer(clib))
	if msg := C.sorterd_lib_check(clib); msg != nil {
		return nil, fmt.Errorf("%w: cannot load %s: %s", ErrDelegate, lib, C.GoString(msg))
	}
	n := len(opts)
	keys := C.malloc(C.size_t(n+1) * C.size_t(unsafe.Sizeof(uintptr(0))))
	vals := C.malloc(C.size_t(n+1) * C.size_t(unsafe.Sizeof(uintptr(0))))
	defer C.free(keys)
	defer C.free(vals)
	ks := unsafe.Slice((**C.char)(keys), n+1)
	vs := unsafe.Slice((**C.char)(vals), n+1)
	i := 0
	for k, v := range opts {
		ks[i], vs[i] = C.CString(k), C.CString(v)
		defer C.free(unsafe.Pointer(ks[i]))
		defer C.free(unsafe.Pointer(vs[i]))
		i++
	}
	d := C.sorterd_ext_create(clib, C.int(n), (**C.char)(keys), (**C.char)(vals))
	if d == nil {
		return nil, fmt.Errorf("%w: %s loaded but created no delegate (options %v): is the device connected?", ErrDelegate, lib, opts)
	}
	return wrapDelegate(d, func(p *C.TfLiteDelegate) { C.sorterd_ext_delete(p) })
}

// hasSymbol reports whether the TFLite library (or anything loaded) exports name.
func hasSymbol(name string) bool {
	c := C.CString(name)
	defer C.free(unsafe.Pointer(c))
	return C.dlsym(C.RTLD_DEFAULT, c) != nil
}

func setReporter(o *tflite.InterpreterOptions, h cgo.Handle) {
	C.sorterd_set_reporter(optionsPtr(o), C.uintptr_t(h))
}

func setDelegateFallback(o *tflite.InterpreterOptions, on bool) {
	v := 0
	if on {
		v = 1
	}
	C.sorterd_set_fallback(optionsPtr(o), C.int(v))
}

// unsafeBytes views a tensor's data as bytes (go-tflite only offers typed
// views, and its UInt8s refuses int8 tensors).
func unsafeBytes(t *tflite.Tensor) []byte {
	p := t.Data()
	if p == nil {
		return nil
	}
	return unsafe.Slice((*byte)(p), t.ByteSize())
}
