package schemas

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// Avro encoders of the records. The per-record encoders are generated from
// the schemas by internal/avrogen (avroencode_gen.go, in the field order of
// the .avsc files); this file holds the generic primitives they call. They
// write what hamba/avro writes for the same record, byte for byte, except
// that an array is one block with a positive count (hamba/avro writes
// blocks with a negative count and a byte size; both are valid Avro, and
// every reader reads both), and they refuse values other ecosystems cannot
// read back: strings that are not valid UTF-8, decimals with more digits
// than their schema's precision, enum values that are no symbol of their
// enum. Tests compare them with hamba/avro's reflective encoder.

var (
	// ErrInvalidValue: a record holds a value its schema cannot carry
	// faithfully (see EncodeError). It is permanent: encoding the same
	// record again fails again.
	ErrInvalidValue = errors.New("schemas: invalid value")
	// ErrInvalidUTF8: a string is not valid UTF-8. Avro strings are UTF-8,
	// and readers in other languages (Python's, for one) fail on invalid
	// bytes.
	ErrInvalidUTF8 = errors.New("schemas: string is not valid UTF-8")
	// ErrInvalidSymbol: an enum field holds a value that is not one of the
	// enum's symbols.
	ErrInvalidSymbol = errors.New("schemas: not a symbol of the enum")
)

// EncodeError is returned by Serde.Encode and Serde.AppendEncode when a
// record holds a value its schema cannot carry. It names the record and the
// path of the first such field, for example order.items[2].cost. It matches
// ErrInvalidValue, and through Unwrap the cause: ErrInvalidUTF8,
// ErrInvalidSymbol, or a *DecimalError (ErrInvalidDecimal) for a decimal
// beyond its schema's precision.
type EncodeError struct {
	Record string // full name of the record being encoded
	Field  string // path of the field: order.items[2].cost, retailModelRules.allowedModels[0]
	Err    error
}

func (e *EncodeError) Error() string {
	return fmt.Sprintf("schemas: encoding %s: field %s: %v", e.Record, e.Field, e.Err)
}

// Is reports whether target is ErrInvalidValue.
func (e *EncodeError) Is(target error) bool { return target == ErrInvalidValue }

// Unwrap returns the cause.
func (e *EncodeError) Unwrap() error { return e.Err }

// encoder appends a record's Avro body to buf. It is pooled: it belongs to
// one goroutine at a time.
type encoder struct {
	buf     []byte
	scratch []byte       // encodeNew's buffer, kept between uses
	err     *EncodeError // the first invalid value
	// path is where the encoder is: the record fields and array elements
	// it has entered, for naming an invalid value. It costs a few stores
	// per nested record and is read only when a value is invalid.
	path []pathElem
}

type pathElem struct {
	name  string
	index int // the element's index in array name; -1 for a record field
}

var encoders = sync.Pool{New: func() any { return &encoder{path: make([]pathElem, 0, 8)} }}

// encode appends r's Avro body to dst. On an invalid value it returns the
// error, with dst's length unchanged.
func encode(dst []byte, r Record) ([]byte, error) {
	e := encoders.Get().(*encoder)
	e.buf = dst
	r.encodeAvro(e)
	buf, err := e.buf, e.err
	e.buf, e.err, e.path = nil, nil, e.path[:0]
	encoders.Put(e)
	if err != nil {
		err.Record = r.descriptor().RecordName
		return dst, err
	}
	return buf, nil
}

// maxScratch bounds the buffer a pooled encoder keeps.
const maxScratch = 64 << 10

// encodeNew returns hdr followed by r's Avro body in a new slice of its
// exact size: encoded into the pooled encoder's scratch buffer, then
// copied once.
func encodeNew(hdr []byte, r Record) ([]byte, error) {
	e := encoders.Get().(*encoder)
	e.buf = append(e.scratch[:0], hdr...)
	r.encodeAvro(e)
	var out []byte
	err := e.err
	if err == nil {
		out = make([]byte, len(e.buf))
		copy(out, e.buf)
	}
	if cap(e.buf) <= maxScratch {
		e.scratch = e.buf[:0]
	}
	e.buf, e.err, e.path = nil, nil, e.path[:0]
	encoders.Put(e)
	if err != nil {
		err.Record = r.descriptor().RecordName
		return nil, err
	}
	return out, nil
}

// push enters a record field; pop leaves it.
func (e *encoder) push(name string) { e.path = append(e.path, pathElem{name: name, index: -1}) }
func (e *encoder) pop()             { e.path = e.path[:len(e.path)-1] }

// fail records the first invalid value: field of the record the encoder is
// in ("" for an element of an array of strings).
func (e *encoder) fail(field string, err error) {
	if e.err != nil {
		return
	}
	var b strings.Builder
	for _, p := range e.path {
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(p.name)
		if p.index >= 0 {
			b.WriteString("[" + strconv.Itoa(p.index) + "]")
		}
	}
	if field != "" {
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(field)
	}
	e.err = &EncodeError{Field: b.String(), Err: err}
}

// long writes a zig-zag varint, as hamba/avro's Writer.WriteLong does.
func (e *encoder) long(v int64) {
	u := uint64(v<<1) ^ uint64(v>>63)
	if u < 0x80 {
		e.buf = append(e.buf, byte(u))
		return
	}
	e.longSlow(u)
}

func (e *encoder) longSlow(u uint64) {
	b := e.buf
	for u >= 0x80 {
		b = append(b, byte(u)|0x80)
		u >>= 7
	}
	e.buf = append(b, byte(u))
}

// int writes an int: the same varint as a long of the same value.
func (e *encoder) int(v int32) { e.long(int64(v)) }

// The branch indexes of a ["null", T] union, zig-zag encoded.
const (
	unionNull    = 0
	unionPresent = 2
)

func (e *encoder) string(s, field string) {
	if !validUTF8(s) {
		e.fail(field, ErrInvalidUTF8)
	}
	if len(s) < 64 { // the length is one varint byte
		e.buf = append(append(e.buf, byte(len(s)<<1)), s...)
		return
	}
	e.long(int64(len(s)))
	e.buf = append(e.buf, s...)
}

// validUTF8 is utf8.ValidString with a faster path for the short ASCII
// strings records are mostly made of: eight bytes at a time, then the
// tail, and the full check only when a byte is not ASCII.
func validUTF8(s string) bool {
	i := 0
	for ; i+8 <= len(s); i += 8 {
		v := uint64(s[i]) | uint64(s[i+1])<<8 | uint64(s[i+2])<<16 | uint64(s[i+3])<<24 |
			uint64(s[i+4])<<32 | uint64(s[i+5])<<40 | uint64(s[i+6])<<48 | uint64(s[i+7])<<56
		if v&0x8080808080808080 != 0 {
			return utf8.ValidString(s[i:])
		}
	}
	var tail byte
	for ; i < len(s); i++ {
		tail |= s[i]
	}
	return tail < utf8.RuneSelf || utf8.ValidString(s[len(s)&^7:])
}

// timestamp writes a timestamp-millis as hamba/avro does.
func (e *encoder) timestamp(t time.Time) { e.long(t.Unix()*1e3 + int64(t.Nanosecond()/1e6)) }

// date writes a date (days since the epoch) as hamba/avro does.
func (e *encoder) date(t time.Time) { e.int(int32(t.Unix() / int64(24*time.Hour/time.Second))) }

// The opt* methods write a ["null", T] union from a pointer field: null
// for nil.

func (e *encoder) optString(p *string, field string) {
	if p == nil {
		e.buf = append(e.buf, unionNull)
		return
	}
	s := *p
	if !validUTF8(s) {
		e.fail(field, ErrInvalidUTF8)
	}
	if len(s) < 64 {
		e.buf = append(append(e.buf, unionPresent, byte(len(s)<<1)), s...)
		return
	}
	e.buf = append(e.buf, unionPresent)
	e.long(int64(len(s)))
	e.buf = append(e.buf, s...)
}

func (e *encoder) optInt(p *int32) {
	if p == nil {
		e.buf = append(e.buf, unionNull)
		return
	}
	e.buf = append(e.buf, unionPresent)
	e.int(*p)
}

func (e *encoder) optLong(p *int64) {
	if p == nil {
		e.buf = append(e.buf, unionNull)
		return
	}
	e.buf = append(e.buf, unionPresent)
	e.long(*p)
}

func (e *encoder) optTimestamp(p *time.Time) {
	if p == nil {
		e.buf = append(e.buf, unionNull)
		return
	}
	e.buf = append(e.buf, unionPresent)
	e.timestamp(*p)
}

func (e *encoder) optDate(p *time.Time) {
	if p == nil {
		e.buf = append(e.buf, unionNull)
		return
	}
	e.buf = append(e.buf, unionPresent)
	e.date(*p)
}

// optDecimal writes a nullable decimal: its bytes as they are (nil is
// null), once they are known to hold at most precision digits.
func (e *encoder) optDecimal(d Decimal, field string, precision int) {
	if d == nil {
		e.buf = append(e.buf, unionNull)
		return
	}
	if !decimalFits(d, precision) {
		e.fail(field, &DecimalError{Text: d.String(), Reason: "more than " + strconv.Itoa(precision) + " digits"})
	}
	e.buf = append(e.buf, unionPresent)
	e.long(int64(len(d)))
	e.buf = append(e.buf, d...)
}

// pow10 holds the powers of ten an int64 holds.
var pow10 = [...]int64{1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18}

// decimalFits reports whether the unscaled value of d (big-endian two's
// complement, of any length) has at most precision (≤ 18) digits.
func decimalFits(d Decimal, precision int) bool {
	v, err := d.Unscaled()
	limit := pow10[precision] - 1
	return err == nil && v <= limit && v >= -limit
}

// invalidSymbol records an enum value that is no symbol of its enum.
func (e *encoder) invalidSymbol(field, value, enum string) {
	e.fail(field, fmt.Errorf("%w %s: %q", ErrInvalidSymbol, enum, value))
	e.int(0) // keep the body well formed; it is discarded
}

// encodeOptRecord writes a nullable record from a pointer field.
func encodeOptRecord[T any](e *encoder, field string, p *T, encode func(*T, *encoder)) {
	if p == nil {
		e.buf = append(e.buf, unionNull)
		return
	}
	e.buf = append(e.buf, unionPresent)
	e.push(field)
	encode(p, e)
	e.pop()
}

// encodeArray writes an array as one block: the count, the items, and the
// empty block that ends every array (an empty array is that block alone).
func encodeArray[T any](e *encoder, field string, items []T, encode func(*T, *encoder)) {
	if len(items) > 0 {
		e.long(int64(len(items)))
		e.path = append(e.path, pathElem{name: field})
		top := len(e.path) - 1
		for i := range items {
			e.path[top].index = i
			encode(&items[i], e)
		}
		e.path = e.path[:top]
	}
	e.buf = append(e.buf, 0)
}

// encodeStringItem writes an element of an array of strings.
func encodeStringItem(s *string, e *encoder) { e.string(*s, "") }
