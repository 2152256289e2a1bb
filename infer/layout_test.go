package infer

import (
	"bytes"
	"os"
	"reflect"
	"runtime/cgo"
	"strings"
	"testing"
	"unsafe"

	tflite "github.com/mattn/go-tflite"
)

// onePointerTo checks that a go-tflite wrapper struct is exactly one
// pointer to the C type want, at offset 0: what the casts in tflite.go
// (newModelFromMemory, optionsPtr) read and write through.
func onePointerTo(t *testing.T, wrapper any, want reflect.Type) {
	t.Helper()
	typ := reflect.TypeOf(wrapper)
	if typ.NumField() != 1 || typ.Size() != unsafe.Sizeof(uintptr(0)) {
		t.Fatalf("%v has %d fields in %d bytes: not the single pointer tflite.go casts to", typ, typ.NumField(), typ.Size())
	}
	f := typ.Field(0)
	// cgo names C types per package, so compare the C type's name.
	if f.Offset != 0 || f.Type.Kind() != reflect.Pointer || f.Type.Elem().Name() != want.Elem().Name() {
		t.Fatalf("%v.%s is %v at offset %d, want %v at 0", typ, f.Name, f.Type, f.Offset, want)
	}
}

// go-tflite's Model holds only the C model pointer (newModelFromMemory
// fills it in place).
func TestModelLayout(t *testing.T) {
	model, _, _ := cLayout()
	onePointerTo(t, tflite.Model{}, model)
	m := tflite.NewModelFromFile(modelPath(t, "garbage.tflite"))
	if m == nil || modelPtr(m) == nil {
		t.Fatal("no C model behind tflite.Model")
	}
	m.Delete()
}

// go-tflite's InterpreterOptions holds only the C options pointer, which
// optionsPtr hands to the shim (error reporter, delegate fallback); and
// the census wrapper starts with the TfLiteDelegate that TFLite sees. The
// reporter set through the cast must receive TFLite's refusal of a model
// with an unknown custom op: the pointer reached the real options.
func TestOptionsLayout(t *testing.T) {
	_, options, censusOuter := cLayout()
	onePointerTo(t, tflite.InterpreterOptions{}, options)
	if censusOuter != 0 {
		t.Fatalf("sorterd_census.outer at offset %d: TFLite would not see a TfLiteDelegate", censusOuter)
	}

	tpu, err := os.ReadFile(modelPath(t, tpuModel))
	if err != nil {
		t.Fatal(err)
	}
	// Same length as "edgetpu-custom-op", so every offset stays valid.
	data := bytes.Replace(tpu, []byte("edgetpu-custom-op"), []byte("fancy-custom-op!!"), 1)
	model, buf := newModelFromMemory(data)
	if model == nil {
		t.Fatal("TFLite did not read the model")
	}
	defer freeModelBuf(buf)
	defer model.Delete()
	opts := tflite.NewInterpreterOptions()
	defer opts.Delete()
	rep := &reporter{}
	h := cgo.NewHandle(rep)
	defer h.Delete()
	setReporter(opts, h)
	setDelegateFallback(opts, true)
	// TFLite reports the unresolved op when it prepares the graph.
	if it := tflite.NewInterpreter(model, opts); it != nil {
		st := it.AllocateTensors()
		it.Delete()
		if st == tflite.OK {
			t.Fatal("TFLite prepared a graph with an unknown custom op")
		}
	}
	msgs := strings.Join(rep.take(), "; ")
	if !strings.Contains(msgs, "fancy-custom-op!!") {
		t.Fatalf("the reporter set through optionsPtr got %q", msgs)
	}
}
