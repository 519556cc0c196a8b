package schemas

import (
	"encoding/binary"
	"io"
	"math"
	"math/big"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// resolver runs plans (see resolve.go): it reads a body written with a
// foreign writer schema and writes the same value in our reader schema's
// encoding. It is pooled and belongs to one goroutine at a time.
type resolver struct {
	in       []byte
	pos      int
	out      []byte
	err      error
	maxBytes int
	maxItems int
	depth    int
	record   string // full name of the record, for errors

	emptyItems int // array and map items read whose type may take no bytes

	spans   []span // fields of reordered records being resolved
	scratch []byte
}

// span is where one reader field of a reordered record is: out[start:end],
// or def when the writer does not have it.
type span struct {
	start, end int
	def        []byte
}

// maxResolverOut is the largest output buffer a pooled resolver keeps.
const maxResolverOut = 64 << 10

// resolve runs p over body and returns the reader-schema encoding of the
// value, valid until the resolver's next use. Its error is a *DecimalError
// for a decimal that cannot be held exactly by the reader's field, and
// otherwise one of the errors of resolve.go or io.ErrUnexpectedEOF.
func (t *resolver) resolve(p *plan, body []byte, record string) ([]byte, error) {
	t.in, t.pos, t.err, t.depth, t.record, t.emptyItems = body, 0, nil, 0, record, 0
	if cap(t.out) > maxResolverOut {
		t.out = nil
	}
	t.spans = t.spans[:0]
	// out is threaded through the calls rather than kept in t: appending
	// to a field of a heap object costs a write barrier while the garbage
	// collector runs.
	out := t.run(p.root, t.out[:0])
	t.out = out
	if t.err == nil && t.pos < len(t.in) {
		t.err = errResolveTrailing
	}
	t.in = nil
	return out, t.err
}

// failWith records the first error and moves to the end of the input, so
// that every later read fails and every loop ends.
func (t *resolver) failWith(err error) {
	if t.err == nil {
		t.err = err
	}
	t.pos = len(t.in)
}

func (t *resolver) remaining() int { return len(t.in) - t.pos }

// take returns the next n bytes of the input.
func (t *resolver) take(n int) []byte {
	if n > t.remaining() {
		t.failWith(io.ErrUnexpectedEOF)
		return nil
	}
	b := t.in[t.pos : t.pos+n]
	t.pos += n
	return b
}

// readLong reads a zig-zag varint of at most 10 bytes.
func (t *resolver) readLong() int64 {
	if t.pos < len(t.in) && t.in[t.pos] < 0x80 {
		b := t.in[t.pos]
		t.pos++
		return int64(b>>1) ^ -int64(b&1)
	}
	var v uint64
	for i := 0; i < 10; i++ {
		if t.pos >= len(t.in) {
			t.failWith(io.ErrUnexpectedEOF)
			return 0
		}
		b := t.in[t.pos]
		t.pos++
		v |= uint64(b&0x7f) << (7 * i)
		if b < 0x80 {
			return int64(v>>1) ^ -int64(v&1)
		}
	}
	t.failWith(errResolveVarint)
	return 0
}

// readInt reads a zig-zag varint that must fit 32 bits.
func (t *resolver) readInt() int32 {
	v := t.readLong()
	if v < math.MinInt32 || v > math.MaxInt32 {
		t.failWith(errResolveIntRange)
		return 0
	}
	return int32(v)
}

// readIndex reads a union or enum index below n.
func (t *resolver) readIndex(n int, bad error) int {
	i := t.readLong()
	if t.err != nil {
		return 0
	}
	if i < 0 || i >= int64(n) {
		t.failWith(bad)
		return 0
	}
	return int(i)
}

// readBytes reads a length-prefixed bytes or string value, checking its
// length before anything else.
func (t *resolver) readBytes() []byte {
	n := t.readLong()
	switch {
	case t.err != nil:
		return nil
	case n < 0:
		t.failWith(errResolveBadLength)
		return nil
	case n > int64(t.maxBytes):
		t.failWith(errResolveLengthLimit)
		return nil
	}
	return t.take(int(n))
}

func resolveAppendLong(dst []byte, v int64) []byte {
	return binary.AppendUvarint(dst, uint64(v<<1)^uint64(v>>63))
}

func resolveAppendFloat(dst []byte, f float32) []byte {
	return binary.LittleEndian.AppendUint32(dst, math.Float32bits(f))
}

func resolveAppendDouble(dst []byte, f float64) []byte {
	return binary.LittleEndian.AppendUint64(dst, math.Float64bits(f))
}

func (t *resolver) run(o *op, out []byte) []byte {
	if t.err != nil {
		return out
	}
	switch o.kind {
	case opNull, skipNone:
	case opBool:
		b := t.take(1)
		if t.err == nil {
			if b[0] > 1 {
				t.failWith(errResolveBadBool)
				return out
			}
			out = append(out, b[0])
		}
	case opInt, opIntToLong:
		v := t.readInt()
		out = resolveAppendLong(out, int64(v))
	case opLong:
		v := t.readLong()
		out = resolveAppendLong(out, v)
	case opIntToFloat:
		v := t.readInt()
		out = resolveAppendFloat(out, float32(v))
	case opIntToDouble:
		v := t.readInt()
		out = resolveAppendDouble(out, float64(v))
	case opLongToFloat:
		v := t.readLong()
		out = resolveAppendFloat(out, float32(v))
	case opLongToDouble:
		v := t.readLong()
		out = resolveAppendDouble(out, float64(v))
	case opFloat:
		out = append(out, t.take(4)...)
	case opDouble:
		out = append(out, t.take(8)...)
	case opFloatToDouble:
		if b := t.take(4); t.err == nil {
			out = resolveAppendDouble(out, float64(math.Float32frombits(binary.LittleEndian.Uint32(b))))
		}
	case opString, opBytes:
		b := t.readBytes()
		if t.err != nil {
			return out
		}
		if o.kind == opString && !utf8.Valid(b) {
			t.failWith(errResolveBadUTF8)
			return out
		}
		out = append(resolveAppendLong(out, int64(len(b))), b...)
	case opFixed:
		out = append(out, t.take(o.n)...)
	case opEnum:
		if i := t.readIndex(len(o.enum), errResolveEnumIndex); t.err == nil {
			out = resolveAppendLong(out, int64(o.enum[i]))
		}
	case opArray, opMap, skipArray, skipMap:
		out = t.blocks(o, out)
	case opRecord, skipRecord:
		out = t.runRecord(o, out)
	case opUnion, skipUnion:
		if i := t.readIndex(len(o.branches), errResolveUnionIndex); t.err == nil {
			out = t.run(o.branches[i], out)
		}
	case opBranch:
		out = resolveAppendLong(out, int64(o.n))
		out = t.run(o.sub, out)
	case opDecimal:
		out = t.decimal(o, out)
	case skipN:
		t.take(o.n)
	case skipVarint:
		t.readLong()
	case skipEnum:
		t.readIndex(o.n, errResolveEnumIndex)
	case skipBytes:
		t.readBytes()
	}
	return out
}

// blocks reads an array or a map: blocks of a count (negative when a byte
// size follows) and that many items, up to a zero count. Each count is
// checked against the bytes that remain and against Config.MaxItems before
// any item is read; what is written is one positive-count block per block
// read, then the terminating zero.
func (t *resolver) blocks(o *op, out []byte) []byte {
	emit := o.kind == opArray || o.kind == opMap
	isMap := o.kind == opMap || o.kind == skipMap
	total := 0
	for t.err == nil {
		n := t.readLong()
		if t.err != nil {
			return out
		}
		size := int64(-1)
		if n < 0 {
			if n == math.MinInt64 {
				t.failWith(errResolveBlockCount)
				return out
			}
			n = -n
			if size = t.readLong(); t.err != nil {
				return out
			}
			if size < 0 {
				t.failWith(errResolveBlockSize)
				return out
			}
			if size > int64(t.remaining()) {
				t.failWith(io.ErrUnexpectedEOF)
				return out
			}
		}
		if n == 0 {
			break
		}
		if o.minItem > 0 && n > int64(t.remaining()/o.minItem) {
			t.failWith(errResolveBlockTooLarge)
			return out
		}
		if n > int64(t.maxItems-total) {
			t.failWith(errResolveItemLimit)
			return out
		}
		if o.minItem == 0 {
			// Items that may take no bytes (nulls, empty records) are not
			// bounded by the body's size: bound them per value, so that
			// many such arrays cannot make a small body take long.
			if n > int64(t.maxItems-t.emptyItems) {
				t.failWith(errResolveItemLimit)
				return out
			}
			t.emptyItems += int(n)
		}
		total += int(n)
		if !emit && size >= 0 {
			// A skipped block with its size: step over it.
			t.pos += int(size)
			continue
		}
		if emit {
			out = resolveAppendLong(out, n)
		}
		start := t.pos
		for i := int64(0); i < n && t.err == nil; i++ {
			if isMap {
				key := t.readBytes()
				if emit && t.err == nil {
					if !utf8.Valid(key) {
						t.failWith(errResolveBadUTF8)
						return out
					}
					out = append(resolveAppendLong(out, int64(len(key))), key...)
				}
			}
			out = t.run(o.sub, out)
		}
		if size >= 0 && t.err == nil && int64(t.pos-start) != size {
			t.failWith(errResolveBlockSize)
		}
	}
	if emit {
		out = append(out, 0)
	}
	return out
}

func (t *resolver) runRecord(o *op, out []byte) []byte {
	if t.depth >= maxResolveDepth {
		t.failWith(errResolveTooDeep)
		return out
	}
	t.depth++
	if !o.reorder {
		for i := range o.fields {
			f := &o.fields[i]
			out = append(out, f.pre...)
			out = t.run(f.op, out)
		}
		out = append(out, o.tail...)
		t.depth--
		return out
	}
	// The writer's fields come in another order than the reader's: read
	// them where they are, note where each landed, then put them in order.
	base, sp := len(out), len(t.spans)
	t.spans = slices.Grow(t.spans, o.nFields)[:sp+o.nFields]
	spans := t.spans[sp:]
	for _, d := range o.defaults {
		spans[d.reader] = span{def: d.value}
	}
	for i := range o.fields {
		f := &o.fields[i]
		start := len(out)
		out = t.run(f.op, out)
		if f.reader >= 0 {
			spans[f.reader] = span{start: start, end: len(out)}
		}
	}
	if t.err == nil {
		t.scratch = t.scratch[:0]
		for _, s := range spans {
			if s.def != nil {
				t.scratch = append(t.scratch, s.def...)
			} else {
				t.scratch = append(t.scratch, out[s.start:s.end]...)
			}
		}
		out = append(out[:base], t.scratch...)
	}
	t.spans = t.spans[:sp]
	t.depth--
	return out
}

// decimal reads a writer decimal (bytes or fixed: the unscaled value, big
// endian two's complement) and writes it at the reader's scale, or fails
// with a *DecimalError naming the field when that cannot be done exactly
// or the value has more digits than the reader's precision.
func (t *resolver) decimal(o *op, out []byte) []byte {
	d := &o.dec
	var b []byte
	if d.writerFixed > 0 {
		b = t.take(d.writerFixed)
	} else {
		b = t.readBytes()
	}
	if t.err != nil {
		return out
	}
	if len(b) <= 8 && d.readerPrecision <= 18 {
		v := int64(0)
		if len(b) > 0 {
			v = int64(int8(b[0]))
			for _, c := range b[1:] {
				v = v<<8 | int64(c)
			}
		}
		if r, reason := rescale64(v, d); reason != "" {
			t.refuseDecimal(o, b, reason)
		} else {
			out = t.appendDecimal(o, out, r, nil)
		}
		return out
	}
	n := new(big.Int).SetBytes(b)
	if len(b) > 0 && b[0]&0x80 != 0 {
		n.Sub(n, new(big.Int).Lsh(big.NewInt(1), uint(len(b))*8))
	}
	// A registered schema may declare any scale: the powers of ten are
	// only computed when they are no larger than the value, so that the
	// work stays proportional to the bytes read.
	switch diff := d.readerScale - d.writerScale; {
	case n.Sign() == 0:
	case diff < 0:
		// Exact only if 10^-diff divides n, which needs |n| ≥ 10^-diff.
		if float64(n.BitLen()) < float64(-diff)*math.Log2(10) {
			t.refuseDecimal(o, b, fractionReason(d))
			return out
		}
		q, m := new(big.Int).QuoRem(n, resolvePow10Big(-diff), new(big.Int))
		if m.Sign() != 0 {
			t.refuseDecimal(o, b, fractionReason(d))
			return out
		}
		n = q
	case diff > 0:
		// |n| × 10^diff ≥ 10^diff: past the precision when diff reaches it.
		if diff >= d.readerPrecision {
			t.refuseDecimal(o, b, integerReason(d))
			return out
		}
		n.Mul(n, resolvePow10Big(diff))
	}
	if new(big.Int).Abs(n).Cmp(resolvePow10Big(d.readerPrecision)) >= 0 {
		t.refuseDecimal(o, b, integerReason(d))
		return out
	}
	if n.IsInt64() {
		out = t.appendDecimal(o, out, n.Int64(), nil)
		return out
	}
	out = t.appendDecimal(o, out, 0, n)
	return out
}

// resolvePow10 holds 10^0 .. 10^18.
var resolvePow10 = func() (p [19]int64) {
	p[0] = 1
	for i := 1; i < len(p); i++ {
		p[i] = p[i-1] * 10
	}
	return p
}()

func resolvePow10Big(n int) *big.Int {
	return new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(n)), nil)
}

// rescale64 returns v (at the writer's scale) at the reader's scale, or why
// it cannot. The reader's precision is at most 18.
func rescale64(v int64, d *decimalPlan) (int64, string) {
	limit := resolvePow10[d.readerPrecision] - 1
	switch diff := d.readerScale - d.writerScale; {
	case diff < 0:
		if -diff >= len(resolvePow10) {
			if v != 0 {
				return 0, fractionReason(d)
			}
		} else {
			p := resolvePow10[-diff]
			if v%p != 0 {
				return 0, fractionReason(d)
			}
			v /= p
		}
	case diff > 0:
		if diff >= len(resolvePow10) || v > limit/resolvePow10[diff] || v < -(limit/resolvePow10[diff]) {
			if v != 0 {
				return 0, integerReason(d)
			}
		} else {
			v *= resolvePow10[diff]
		}
	}
	if v > limit || v < -limit {
		return 0, integerReason(d)
	}
	return v, ""
}

func fractionReason(d *decimalPlan) string {
	return "more than " + strconv.Itoa(d.readerScale) + " fraction digits"
}

func integerReason(d *decimalPlan) string {
	return "more than " + strconv.Itoa(d.readerPrecision-d.readerScale) + " integer digits"
}

// appendDecimal writes an unscaled value (v, or big when it does not fit
// 64 bits) as the reader's bytes or fixed.
func (t *resolver) appendDecimal(o *op, out []byte, v int64, big *big.Int) []byte {
	var buf [9]byte
	var minimal []byte
	if big == nil {
		minimal = appendMinimalUnscaled(buf[:0], v)
	} else {
		minimal = minimalTwosComplement(big)
	}
	if o.dec.readerFixed == 0 {
		out = append(resolveAppendLong(out, int64(len(minimal))), minimal...)
		return out
	}
	if len(minimal) > o.dec.readerFixed {
		t.refuseDecimal(o, nil, integerReason(&o.dec))
		return out
	}
	pad := byte(0)
	if minimal[0]&0x80 != 0 {
		pad = 0xFF
	}
	for range o.dec.readerFixed - len(minimal) {
		out = append(out, pad)
	}
	out = append(out, minimal...)
	return out
}

// appendMinimalUnscaled appends v as the minimal big-endian two's complement
// bytes (Java's BigInteger.toByteArray): at least one byte.
func appendMinimalUnscaled(dst []byte, v int64) []byte {
	var buf [8]byte
	binary.BigEndian.PutUint64(buf[:], uint64(v))
	i := 0
	for i < 7 && ((buf[i] == 0x00 && buf[i+1]&0x80 == 0) || (buf[i] == 0xFF && buf[i+1]&0x80 != 0)) {
		i++
	}
	return append(dst, buf[i:]...)
}

// minimalTwosComplement returns n as minimal big-endian two's complement bytes.
func minimalTwosComplement(n *big.Int) []byte {
	if n.Sign() >= 0 {
		b := n.Bytes()
		if len(b) == 0 || b[0]&0x80 != 0 {
			b = append([]byte{0}, b...)
		}
		return b
	}
	// -n - 1 in one's complement.
	m := new(big.Int).Neg(n)
	m.Sub(m, big.NewInt(1))
	b := m.Bytes()
	for i := range b {
		b[i] = ^b[i]
	}
	if len(b) == 0 || b[0]&0x80 == 0 {
		b = append([]byte{0xFF}, b...)
	}
	return b
}

func (t *resolver) refuseDecimal(o *op, unscaled []byte, reason string) {
	text := ""
	switch {
	case len(unscaled) > 32:
		text = Decimal(unscaled).errorText() // its size: printing it would take seconds
	case unscaled != nil:
		n := new(big.Int).SetBytes(unscaled)
		if len(unscaled) > 0 && unscaled[0]&0x80 != 0 {
			n.Sub(n, new(big.Int).Lsh(big.NewInt(1), uint(len(unscaled))*8))
		}
		text = formatUnscaledText(n, o.dec.writerScale)
	}
	if t.err == nil {
		t.err = &DecimalError{Text: text, Reason: reason, Record: t.record, Field: o.path}
	}
	t.pos = len(t.in)
}

// formatUnscaledText writes n × 10^-scale as decimal text with every fraction
// digit ("12.345678", "-0.010").
func formatUnscaledText(n *big.Int, scale int) string {
	s := new(big.Int).Abs(n).String()
	if scale > 0 {
		if len(s) <= scale {
			s = strings.Repeat("0", scale-len(s)+1) + s
		}
		s = s[:len(s)-scale] + "." + s[len(s)-scale:]
	}
	if n.Sign() < 0 {
		s = "-" + s
	}
	return s
}
