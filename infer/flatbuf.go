package infer

import (
	"encoding/binary"
	"fmt"
	"math"
)

// A minimal, bounds-checked FlatBuffers reader. Models come from outside
// (a user's file, a download), so every offset is checked against the
// buffer before it is followed: a corrupt or truncated file must give an
// error, never a panic or a read past the end. The generated FlatBuffers
// accessors do no such checks, which is why this reader exists.

// fbError is raised (panicked) by the reader and turned into an error by
// fbCatch at the API boundary; it keeps the walking code linear.
type fbError struct {
	msg string
	// past is set when a read went beyond the end of the data: for a file
	// written by a converter (buffers last) that means it was cut short.
	past bool
}

func fbFail(format string, args ...any) { panic(fbError{msg: fmt.Sprintf(format, args...)}) }

func fbPast(format string, args ...any) {
	panic(fbError{msg: fmt.Sprintf(format, args...), past: true})
}

// fbCatch converts a reader failure into *err; other panics propagate.
func fbCatch(err *error) {
	if r := recover(); r != nil {
		fe, ok := r.(fbError)
		if !ok {
			panic(r)
		}
		if fe.past {
			*err = fmt.Errorf("%w: %s", ErrModelTruncated, fe.msg)
		} else {
			*err = fmt.Errorf("%w: %s", ErrModelCorrupt, fe.msg)
		}
	}
}

type fbuf []byte

func (b fbuf) need(off, n int) {
	if off < 0 || n < 0 || off > len(b) || len(b)-off < n {
		fbPast("offset %d+%d outside the %d-byte file", off, n, len(b))
	}
}

func (b fbuf) u8(off int) uint8   { b.need(off, 1); return b[off] }
func (b fbuf) u16(off int) uint16 { b.need(off, 2); return binary.LittleEndian.Uint16(b[off:]) }
func (b fbuf) u32(off int) uint32 { b.need(off, 4); return binary.LittleEndian.Uint32(b[off:]) }
func (b fbuf) i32(off int) int32  { return int32(b.u32(off)) }
func (b fbuf) u64(off int) uint64 { b.need(off, 8); return binary.LittleEndian.Uint64(b[off:]) }

// uoff follows a uoffset_t stored at off.
func (b fbuf) uoff(off int) int {
	v := int64(b.u32(off)) + int64(off)
	if v > int64(len(b)) {
		fbPast("reference at %d points past the end of the file", off)
	}
	return int(v)
}

// root returns the root table of a buffer.
func (b fbuf) root() fbTable { return b.table(b.uoff(0)) }

type fbTable struct {
	b     fbuf
	pos   int
	vt    int
	vtLen int
}

func (b fbuf) table(pos int) fbTable {
	vt := int64(pos) - int64(b.i32(pos))
	if vt < 0 || vt > int64(len(b)) {
		fbFail("table at %d has a bad vtable", pos)
	}
	vtLen := int(b.u16(int(vt)))
	if vtLen < 4 || vtLen%2 != 0 {
		fbFail("table at %d has a vtable of %d bytes", pos, vtLen)
	}
	b.need(int(vt), vtLen)
	return fbTable{b: b, pos: pos, vt: int(vt), vtLen: vtLen}
}

// field returns the absolute position of field i, or 0 when it is absent.
func (t fbTable) field(i int) int {
	o := 4 + 2*i
	if o+2 > t.vtLen {
		return 0
	}
	rel := int(t.b.u16(t.vt + o))
	if rel == 0 {
		return 0
	}
	return t.pos + rel
}

func (t fbTable) has(i int) bool { return t.field(i) != 0 }

func (t fbTable) u8(i int, def uint8) uint8 {
	if p := t.field(i); p != 0 {
		return t.b.u8(p)
	}
	return def
}

func (t fbTable) i32(i int, def int32) int32 {
	if p := t.field(i); p != 0 {
		return t.b.i32(p)
	}
	return def
}

func (t fbTable) u32(i int, def uint32) uint32 {
	if p := t.field(i); p != 0 {
		return t.b.u32(p)
	}
	return def
}

func (t fbTable) u64(i int, def uint64) uint64 {
	if p := t.field(i); p != 0 {
		return t.b.u64(p)
	}
	return def
}

func (t fbTable) str(i int) string {
	v, ok := t.vec(i, 1)
	if !ok {
		return ""
	}
	return string(v.b[v.start : v.start+v.n])
}

func (t fbTable) sub(i int) (fbTable, bool) {
	p := t.field(i)
	if p == 0 {
		return fbTable{}, false
	}
	return t.b.table(t.b.uoff(p)), true
}

type fbVec struct {
	b     fbuf
	start int
	n     int
	elem  int
}

// vec returns field i as a vector of elements of elem bytes.
func (t fbTable) vec(i, elem int) (fbVec, bool) {
	p := t.field(i)
	if p == 0 {
		return fbVec{}, false
	}
	at := t.b.uoff(p)
	n := int(t.b.u32(at))
	if n < 0 || int64(n)*int64(elem) > int64(len(t.b)) {
		fbFail("vector at %d claims %d elements", at, n)
	}
	t.b.need(at+4, n*elem)
	return fbVec{b: t.b, start: at + 4, n: n, elem: elem}, true
}

func (v fbVec) table(j int) fbTable { return v.b.table(v.b.uoff(v.start + 4*j)) }
func (v fbVec) i32(j int) int32     { return v.b.i32(v.start + 4*j) }
func (v fbVec) f32(j int) float32   { return math.Float32frombits(v.b.u32(v.start + 4*j)) }
func (v fbVec) i64(j int) int64     { return int64(v.b.u64(v.start + 8*j)) }
func (v fbVec) bytes() []byte       { return v.b[v.start : v.start+v.n*v.elem] }

func (v fbVec) int32s() []int32 {
	out := make([]int32, v.n)
	for j := range out {
		out[j] = v.i32(j)
	}
	return out
}

func (v fbVec) str(j int) string {
	at := v.b.uoff(v.start + 4*j)
	n := int(v.b.u32(at))
	v.b.need(at+4, n)
	return string(v.b[at+4 : at+4+n])
}
