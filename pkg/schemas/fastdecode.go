package schemas

import (
	"bytes"
	"errors"
	"io"
	"math"
	"slices"
	"time"
	"unsafe"

	"github.com/hamba/avro/v2"
)

// Fast decoders for values written with this build's own schemas, the
// common case (the registry id or fingerprint of the value is one of
// ours). hamba/avro's reflective decoder costs, per present nullable field,
// a heap allocation for the pointer and a deferred type-converter look-up in
// a sync.Map keyed by an interface (together most of the decode time of an
// order event), and a boxed slice header per Decimal. These decoders read
// the Avro binary directly, copy the body once into a slab that every
// string and Decimal of the record points into (as hamba/avro's string slab
// does), and take the targets of pointer fields from small arenas. They
// apply the same limits (Config.MaxBytes, Config.MaxItems) and refuse what
// hamba/avro refuses. Values from any other writer schema are first
// resolved into our schema's encoding (resolve.go), then read here too.
//
// The per-record decoders are generated from the schemas by
// internal/avrogen (avrodecode_gen.go, in the field order of the .avsc
// files); this file holds the generic primitives they call. Tests prove
// that they and hamba/avro give equal records for fully populated, all-null,
// fixture and fuzzed values.

// fastDecoder is implemented by the records that have a fast decoder for
// their own schema (every top-level record: avrodecode_gen.go).
type fastDecoder interface {
	decodeAvro(d *decoder)
}

// arenaChunk is how many values of one kind an arena allocates at once, and
// slabSize the size of the slab bodies are copied into (bodies over a
// quarter of it get their own copy). A record keeps alive the chunks and the
// slab its fields point into: a few KiB at most, shared with records decoded
// just before and after it.
const (
	arenaChunk = 32
	slabSize   = 4096
)

var (
	errIntOverflow    = errors.New("avro: ReadInt: int overflow")
	errLongOverflow   = errors.New("avro: ReadLong: int overflow")
	errNegativeLength = errors.New("avro: invalid bytes or string length")
	errTooLong        = errors.New("avro: size is greater than `Config.MaxByteSliceSize`")
	errTooManyItems   = errors.New("avro: decode array: size is greater than `Config.MaxSliceAllocSize`")
	errUnionBranch    = errors.New("avro: decode union type: unknown union type")
	errEnumSymbol     = errors.New("avro: decode enum symbol: unknown enum symbol")
	errInvalidUTF8    = errors.New("avro: string is not valid UTF-8")
	errBlockSize      = errors.New("avro: an array block's size in bytes does not match its items")
)

// decoder is pooled: it belongs to one goroutine at a time. The values it
// hands out (strings, Decimals, pointer targets) belong to the record they
// were decoded into and are never written again.
type decoder struct {
	r *avro.Reader // hamba/avro's reflective reader, for Serde.DecodeReflect

	buf      []byte // the body being decoded: a copy in slab
	pos      int
	err      error
	maxBytes int
	maxItems int

	slab  []byte
	strs  []string
	i32s  []int32
	i64s  []int64
	times []time.Time
}

// reset starts decoding a copy of body.
func (d *decoder) reset(body []byte) {
	d.pos, d.err = 0, nil
	n := len(body)
	if n > slabSize/4 {
		d.buf = bytes.Clone(body)
		return
	}
	if cap(d.slab)-len(d.slab) < n {
		d.slab = make([]byte, 0, slabSize)
	}
	start := len(d.slab)
	d.slab = append(d.slab, body...)
	d.buf = d.slab[start:len(d.slab):len(d.slab)]
}

// finish returns the first error, or an error for bytes left over.
func (d *decoder) finish() error {
	if d.err == nil && d.pos < len(d.buf) {
		return errors.New("trailing bytes after the record")
	}
	return d.err
}

// fail records the first error and moves to the end, so that every later
// read fails too and every loop ends.
func (d *decoder) fail(err error) {
	if d.err == nil {
		d.err = err
	}
	d.pos = len(d.buf)
}

// long reads a zig-zag varint long, as hamba/avro does: at most 10 bytes.
func (d *decoder) long() int64 {
	if d.pos < len(d.buf) && d.buf[d.pos] < 0x80 {
		b := d.buf[d.pos]
		d.pos++
		return int64(b>>1) ^ -int64(b&1)
	}
	return d.longSlow()
}

func (d *decoder) longSlow() int64 {
	var v uint64
	for i := range 10 {
		if d.pos >= len(d.buf) {
			d.fail(io.ErrUnexpectedEOF)
			return 0
		}
		b := d.buf[d.pos]
		d.pos++
		if i == 9 && b > 1 { // bits beyond 64
			break
		}
		v |= uint64(b&0x7f) << (7 * i)
		if b < 0x80 {
			return int64(v>>1) ^ -int64(v&1)
		}
	}
	d.fail(errLongOverflow)
	return 0
}

// int reads a zig-zag varint int: at most 5 bytes. Unlike hamba/avro, which
// drops the bits beyond 32, it refuses them (a writer's long where our
// schema has an int, say a quantity of 2^33+5, is not 5).
func (d *decoder) int() int32 {
	if d.pos < len(d.buf) && d.buf[d.pos] < 0x80 {
		b := d.buf[d.pos]
		d.pos++
		return int32(b>>1) ^ -int32(b&1)
	}
	return d.intSlow()
}

func (d *decoder) intSlow() int32 {
	var v uint64
	for i := range 5 {
		if d.pos >= len(d.buf) {
			d.fail(io.ErrUnexpectedEOF)
			return 0
		}
		b := d.buf[d.pos]
		d.pos++
		v |= uint64(b&0x7f) << (7 * i)
		if b < 0x80 {
			if v > math.MaxUint32 {
				break
			}
			return int32(uint32(v)>>1) ^ -int32(v&1)
		}
	}
	d.fail(errIntOverflow)
	return 0
}

// bytes reads an Avro bytes value: a slice of the copied body, empty and
// not nil for a zero length.
func (d *decoder) bytes() []byte {
	n := d.long()
	switch {
	case d.err != nil:
		return nil
	case n < 0:
		d.fail(errNegativeLength)
		return nil
	case n == 0:
		return []byte{}
	case n > int64(d.maxBytes):
		d.fail(errTooLong)
		return nil
	case n > int64(len(d.buf)-d.pos):
		d.fail(io.ErrUnexpectedEOF)
		return nil
	}
	b := d.buf[d.pos : d.pos+int(n) : d.pos+int(n)]
	d.pos += int(n)
	return b
}

// string reads an Avro string, which must be valid UTF-8 (the Avro
// specification's; hamba/avro does not check). It points into the copied
// body, which nothing writes again.
func (d *decoder) string() string {
	b := d.bytes()
	if len(b) == 0 {
		return ""
	}
	s := unsafe.String(&b[0], len(b))
	if !validUTF8(s) {
		d.fail(errInvalidUTF8)
		return ""
	}
	return s
}

// take returns a pointer to a fresh element of an arena.
func take[T any](arena *[]T) *T {
	if len(*arena) == 0 {
		*arena = make([]T, arenaChunk)
	}
	p := &(*arena)[0]
	*arena = (*arena)[1:]
	return p
}

// present reads the branch index of a ["null", T] union: false for null
// (and after an error).
func (d *decoder) present() bool {
	switch d.int() {
	case 0:
		return false
	case 1:
		return true
	}
	d.fail(errUnionBranch)
	return false
}

// The opt* methods decode a ["null", T] union into a pointer field: nil for
// null; otherwise the value is written through the pointer the field holds
// (a record decoded into again reuses its pointers, as hamba/avro does) or
// through a new one.

func (d *decoder) optString(p **string) {
	if !d.present() {
		*p = nil
		return
	}
	if *p == nil {
		*p = take(&d.strs)
	}
	**p = d.string()
}

func (d *decoder) optInt(p **int32) {
	if !d.present() {
		*p = nil
		return
	}
	if *p == nil {
		*p = take(&d.i32s)
	}
	**p = d.int()
}

func (d *decoder) optLong(p **int64) {
	if !d.present() {
		*p = nil
		return
	}
	if *p == nil {
		*p = take(&d.i64s)
	}
	**p = d.long()
}

func (d *decoder) optTimestamp(p **time.Time) {
	if !d.present() {
		*p = nil
		return
	}
	if *p == nil {
		*p = take(&d.times)
	}
	**p = d.timestamp()
}

func (d *decoder) optDate(p **time.Time) {
	if !d.present() {
		*p = nil
		return
	}
	if *p == nil {
		*p = take(&d.times)
	}
	**p = d.date()
}

// optDecimal decodes a nullable decimal: the bytes as they are, in the
// Reader's slab (empty, not nil, for zero).
func (d *decoder) optDecimal(p *Decimal) {
	if !d.present() {
		*p = nil
		return
	}
	*p = Decimal(d.bytes())
}

// timestamp decodes a timestamp-millis as hamba/avro does.
func (d *decoder) timestamp() time.Time {
	i := d.long()
	sec := i / 1e3
	nsec := (i - sec*1e3) * 1e6
	return time.Unix(sec, nsec).UTC()
}

// date decodes a date (days since the epoch) as hamba/avro does.
func (d *decoder) date() time.Time {
	return time.Unix(int64(d.int())*int64(24*time.Hour/time.Second), 0).UTC()
}

// optRecord decodes a nullable record into a pointer field, reusing the
// record it points to.
func optRecord[T any](d *decoder, p **T, decode func(*T, *decoder)) {
	if !d.present() {
		*p = nil
		return
	}
	if *p == nil {
		*p = new(T)
	}
	decode(*p, d)
}

// array decodes an Avro array into *s, reusing its backing array. Like
// hamba/avro it leaves an empty, non-nil slice for an empty array, and it
// fails an array of more than Config.MaxItems elements before allocating.
func array[T any](d *decoder, s *[]T, decode func(*T, *decoder)) {
	items := (*s)[:0]
	if items == nil {
		items = []T{}
	}
	for d.err == nil {
		n := d.long()
		end := -1
		if n < 0 {
			// A negative count is followed by the block's size in bytes, which
			// must be where the block ends.
			n = -n
			size := d.long()
			if d.err == nil && (size < 0 || size > int64(len(d.buf)-d.pos)) {
				d.fail(errBlockSize)
			}
			end = d.pos + int(size)
		}
		if n == 0 || d.err != nil {
			break
		}
		if n < 0 || n > int64(d.maxItems-len(items)) {
			d.fail(errTooManyItems)
			break
		}
		if n > int64(len(d.buf)-d.pos) {
			// Every element of our schemas' arrays takes a byte at least: the
			// count is a lie, and nothing is allocated for it.
			d.fail(io.ErrUnexpectedEOF)
			break
		}
		start := len(items)
		items = slices.Grow(items, int(n))[:start+int(n)]
		for i := start; i < len(items) && d.err == nil; i++ {
			decode(&items[i], d)
		}
		if end >= 0 && d.err == nil && d.pos != end {
			d.fail(errBlockSize)
		}
	}
	*s = items
}

func decodeString(p *string, d *decoder) { *p = d.string() }
