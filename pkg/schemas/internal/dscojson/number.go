package dscojson

import "strconv"

// Int reads an integer that fits bits (32 or 64) bits. A number with a
// fraction or an exponent ("3.0", "1e2") is refused, as encoding/json
// refuses it for an integer field.
func (s *Scanner) Int(bits int) int64 {
	if s.err != nil {
		return 0
	}
	c := s.ws()
	if c != '-' && (c < '0' || c > '9') {
		s.typeErr("an integer", c)
		return 0
	}
	start := s.pos
	text, integer := s.number()
	if s.err != nil {
		return 0
	}
	if !integer {
		s.pos = start
		s.Fail("want an integer, got " + text)
		return 0
	}
	v, ok := ParseInt(text, bits)
	if !ok {
		s.pos = start
		s.Fail("integer " + text + " out of range for int" + strconv.Itoa(bits))
	}
	return v
}

// ParseInt parses the text of a JSON integer (optional '-', digits) that
// must fit bits bits.
func ParseInt(text string, bits int) (int64, bool) {
	neg := len(text) > 0 && text[0] == '-'
	digits := text
	if neg {
		digits = text[1:]
	}
	if len(digits) == 0 || len(digits) > 19 {
		return 0, false
	}
	var u uint64
	for i := 0; i < len(digits); i++ {
		c := digits[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		u = u*10 + uint64(c-'0') // 19 digits cannot overflow uint64
	}
	limit := uint64(1) << (bits - 1) // |min| of the type
	if neg {
		if u > limit {
			return 0, false
		}
		return -int64(u), true // -2^63 wraps to itself
	}
	if u >= limit {
		return 0, false
	}
	return int64(u), true
}

// Money reads an amount: a JSON number, or a string holding one (as some
// Dsco responses quote amounts), and returns it exactly as an unscaled
// integer (the amount × 10^scale). It fails, naming the amount, when the
// amount has more than scale significant fraction digits or more than
// precision digits in all.
func (s *Scanner) Money(scale, precision int) int64 {
	if s.err != nil {
		return 0
	}
	c := s.ws()
	start := s.pos
	var text string
	switch {
	case c == '"':
		text = s.readString()
		if s.err != nil {
			return 0
		}
	case c == '-' || (c >= '0' && c <= '9'):
		text, _ = s.number()
		if s.err != nil {
			return 0
		}
	default:
		s.typeErr("a number", c)
		return 0
	}
	v, err := ParseMoney(text, scale, precision)
	if err != nil {
		s.pos = start
		s.FailErr(err.Error(), err)
	}
	return v
}

// MoneyError is a money amount that cannot be held exactly.
type MoneyError struct {
	Text      string // the amount as written
	Reason    string
	Scale     int
	Precision int
}

func (e *MoneyError) Error() string {
	return "amount " + strconv.Quote(e.Text) + " " + e.Reason +
		" (decimal(" + strconv.Itoa(e.Precision) + "," + strconv.Itoa(e.Scale) + "))"
}

const notNumber = "not a JSON number"

// ParseMoney returns the exact value of a JSON number's text × 10^scale as
// an int64, without passing through binary floating point. Trailing
// fraction zeros beyond the scale are fine ("1.50000" at scale 4); a
// non-zero digit beyond it is an error, as is a value of more than
// precision digits (precision at most 18).
func ParseMoney(text string, scale, precision int) (int64, error) {
	fail := func(reason string) (int64, error) {
		return 0, &MoneyError{Text: text, Reason: reason, Scale: scale, Precision: precision}
	}
	i := 0
	neg := false
	if i < len(text) && text[i] == '-' {
		neg = true
		i++
	}
	intStart := i
	for i < len(text) && text[i] >= '0' && text[i] <= '9' {
		i++
	}
	intPart := text[intStart:i]
	if len(intPart) == 0 || (len(intPart) > 1 && intPart[0] == '0') {
		return fail(notNumber)
	}
	var frac string
	if i < len(text) && text[i] == '.' {
		i++
		fs := i
		for i < len(text) && text[i] >= '0' && text[i] <= '9' {
			i++
		}
		frac = text[fs:i]
		if len(frac) == 0 {
			return fail(notNumber)
		}
	}
	exp := 0
	if i < len(text) && (text[i] == 'e' || text[i] == 'E') {
		i++
		eneg := false
		if i < len(text) && (text[i] == '+' || text[i] == '-') {
			eneg = text[i] == '-'
			i++
		}
		es := i
		for i < len(text) && text[i] >= '0' && text[i] <= '9' {
			if exp < 1_000_000 {
				exp = exp*10 + int(text[i]-'0')
			}
			i++
		}
		if i == es {
			return fail(notNumber)
		}
		if eneg {
			exp = -exp
		}
	}
	if i != len(text) {
		return fail(notNumber)
	}
	// The digits are intPart+frac; value = digits × 10^(exp-len(frac)).
	n := len(intPart) + len(frac)
	digit := func(k int) byte {
		if k < len(intPart) {
			return intPart[k]
		}
		return frac[k-len(intPart)]
	}
	first := 0
	for first < n && digit(first) == '0' {
		first++
	}
	last := n
	for last > first && digit(last-1) == '0' {
		last--
	}
	if first == last {
		return 0, nil // zero, whatever the exponent
	}
	// Significant digits first..last-1; the last one has the place value
	// 10^(exp - len(frac) + (n - last)).
	shift := exp - len(frac) + (n - last) + scale // power of ten to multiply the digits by
	if shift < 0 {
		return fail("has more than " + strconv.Itoa(scale) + " fraction digits")
	}
	if last-first+shift > precision {
		return fail("has more than " + strconv.Itoa(precision-scale) + " integer digits")
	}
	var v int64
	for k := first; k < last; k++ {
		v = v*10 + int64(digit(k)-'0')
	}
	for ; shift > 0; shift-- {
		v *= 10
	}
	if neg {
		v = -v
	}
	return v, nil
}
