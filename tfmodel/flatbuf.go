package tfmodel

import (
	"encoding/binary"
	"math"
)

// A minimal, bounds-checked FlatBuffers reader. Models come from outside
// (a user's file, a download), so every offset is checked against the
// buffer before it is followed: a corrupt or truncated file must give an
// error, never a panic or a read past the end. The generated FlatBuffers
// accessors do no such checks, which is why this reader exists.

type fbuf []byte

// Sizes of flatbuffer scalars.
const (
	uoffsetSize = 4 // uoffset_t, also a vector's length prefix
	vtableHead  = 4 // a vtable's own size and its table's size, both uint16
	slotSize    = 2 // one vtable entry
)

func (b fbuf) need(off, n int) {
	if off < 0 || n < 0 || off > len(b) || len(b)-off < n {
		truncated(off, "%d bytes outside the %d-byte file", n, len(b))
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
		truncated(off, "reference points past the end of the file")
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
		corrupt(pos, "table has a bad vtable")
	}
	vtLen := int(b.u16(int(vt)))
	if vtLen < vtableHead || vtLen%slotSize != 0 {
		corrupt(pos, "table has a vtable of %d bytes", vtLen)
	}
	b.need(int(vt), vtLen)
	return fbTable{b: b, pos: pos, vt: int(vt), vtLen: vtLen}
}

// field returns the absolute position of field i, or 0 when it is absent.
func (t fbTable) field(i int) int {
	o := vtableHead + slotSize*i
	if o+slotSize > t.vtLen {
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
		corrupt(at, "vector claims %d elements", n)
	}
	t.b.need(at+uoffsetSize, n*elem)
	return fbVec{b: t.b, start: at + uoffsetSize, n: n, elem: elem}, true
}

// tables returns field i as a vector of tables (offsets).
func (t fbTable) tables(i int) (fbVec, bool) { return t.vec(i, uoffsetSize) }

// int32s returns field i as an int32 vector, nil when absent.
func (t fbTable) int32s(i int) []int32 {
	if v, ok := t.vec(i, 4); ok {
		return v.int32s()
	}
	return nil
}

// floats returns field i as a float32 vector, nil when absent.
func (t fbTable) floats(i int) []float32 {
	v, ok := t.vec(i, 4)
	if !ok {
		return nil
	}
	out := make([]float32, v.n)
	for j := range out {
		out[j] = v.f32(j)
	}
	return out
}

func (v fbVec) table(j int) fbTable { return v.b.table(v.b.uoff(v.start + uoffsetSize*j)) }
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
