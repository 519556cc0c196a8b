package dscojson

import (
	"encoding/binary"
	"math/bits"
	"unicode/utf8"
	"unsafe"
)

// maxDepth is encoding/json's nesting limit: a text nesting objects and
// arrays deeper than this is refused, as encoding/json refuses it.
const maxDepth = 10000

// minArena is the smallest text arena the scanner allocates.
const minArena = 4096

type span struct{ start, end int }

// Scanner reads one JSON text value by value. Its methods read the next
// value (after optional white space) and report failures through Err: the
// first failure sticks, and every later call returns a zero value, so a
// decoder may check Err once after a group of calls. Call Reset to start on
// a new text.
type Scanner struct {
	src      string
	pos      int
	depth    int
	err      *Error
	keyStart int

	text []byte // arena for unescaped strings and extras, reused by Reset

	spans []span // unknown members kept for the objects being decoded
	stack []byte // the containers Skip is inside
}

// Reset starts reading src and reuses the arena: strings the scanner
// returned before (unescaped strings and extras) may be overwritten from
// now on. Substrings of src are not affected.
func (s *Scanner) Reset(src string) {
	s.src, s.pos, s.depth, s.err = src, 0, 0, nil
	s.spans, s.stack = s.spans[:0], s.stack[:0]
	s.text = s.text[:0]
}

// Continue starts reading src and keeps the arena: strings returned
// before stay valid until Reset. For texts read one after another that
// share a lifetime, such as the lines of a file.
func (s *Scanner) Continue(src string) {
	s.src, s.pos, s.depth, s.err = src, 0, 0, nil
	s.spans, s.stack = s.spans[:0], s.stack[:0]
}

// Err returns the first failure, as an *Error, or nil.
func (s *Scanner) Err() error {
	if s.err == nil {
		return nil
	}
	return s.err
}

// Failure returns the first failure, or nil.
func (s *Scanner) Failure() *Error { return s.err }

// Failed reports whether a read has failed.
func (s *Scanner) Failed() bool { return s.err != nil }

// Pos returns the offset of the next byte to read.
func (s *Scanner) Pos() int { return s.pos }

// Rewind clears the failure and goes back to offset pos at nesting depth
// depth, so that a decoder can skip (and so validate) a value it failed to
// map.
func (s *Scanner) Rewind(pos, depth int) {
	s.pos, s.depth, s.err = pos, depth, nil
	s.stack = s.stack[:0]
}

// Depth returns the number of objects and arrays the scanner is inside.
func (s *Scanner) Depth() int { return s.depth }

// Fail records a failure to map the value at the current position (not a
// syntax error). It keeps an earlier failure.
func (s *Scanner) Fail(reason string) { s.FailErr(reason, nil) }

// FailErr records a mapping failure with an underlying error.
func (s *Scanner) FailErr(reason string, err error) {
	if s.err == nil {
		s.err = &Error{Offset: s.pos, Reason: reason, Err: err}
	}
}

func (s *Scanner) syntax(reason string) {
	if s.err == nil || !s.err.Syntax {
		s.err = &Error{Offset: s.pos, Syntax: true, Reason: reason}
	}
	s.pos = len(s.src)
}

// ws skips white space and returns the next byte, 0 at the end.
func (s *Scanner) ws() byte {
	for s.pos < len(s.src) {
		c := s.src[s.pos]
		if c > ' ' || (c != ' ' && c != '\t' && c != '\n' && c != '\r') {
			return c
		}
		s.pos++
	}
	return 0
}

// Peek returns the first byte of the next value (after white space), 0 at
// the end of the text or after a failure.
func (s *Scanner) Peek() byte {
	if s.err != nil {
		return 0
	}
	return s.ws()
}

// End checks that only white space follows.
func (s *Scanner) End() {
	if s.ws(); s.err == nil && s.pos < len(s.src) {
		s.syntax("invalid character " + quoteByte(s.src[s.pos]) + " after top-level value")
	}
}

func kindOf(c byte) string {
	switch {
	case c == '"':
		return "a string"
	case c == '{':
		return "an object"
	case c == '[':
		return "an array"
	case c == 't' || c == 'f':
		return "a boolean"
	case c == 'n':
		return "null"
	case c == '-' || (c >= '0' && c <= '9'):
		return "a number"
	}
	return "invalid character " + quoteByte(c)
}

func quoteByte(c byte) string {
	if c >= 0x20 && c < 0x7f && c != '\'' {
		return "'" + string(rune(c)) + "'"
	}
	const hex = "0123456789abcdef"
	return "'\\x" + string([]byte{hex[c>>4], hex[c&15]}) + "'"
}

// unexpected records the syntax error of byte c where something else was
// wanted: the end of the text when c is the 0 that ws returns there.
func (s *Scanner) unexpected(c byte, where string) {
	if c == 0 && s.pos >= len(s.src) {
		s.syntax("unexpected end of JSON input")
		return
	}
	s.syntax(kindOf(c) + where)
}

// typeErr records that the next value, starting with c, is not of the kind
// wanted. A byte that starts no JSON value is a syntax error.
func (s *Scanner) typeErr(want string, c byte) {
	switch {
	case c == '"' || c == '{' || c == '[' || c == 't' || c == 'f' || c == 'n' || c == '-' || (c >= '0' && c <= '9'):
		s.Fail("want " + want + ", got " + kindOf(c))
	case c == 0 && s.pos >= len(s.src):
		s.syntax("unexpected end of JSON input")
	default:
		s.syntax("invalid character " + quoteByte(c) + " looking for beginning of value")
	}
}

func (s *Scanner) enter() {
	s.pos++
	s.depth++
	if s.depth > maxDepth {
		s.syntax("exceeded max depth")
	}
}

// BeginObject reads the '{' of an object. It fails (and returns false)
// when the next value is not an object.
func (s *Scanner) BeginObject() bool {
	if s.err != nil {
		return false
	}
	if c := s.ws(); c != '{' {
		s.typeErr("an object", c)
		return false
	}
	s.enter()
	return s.err == nil
}

// NextKey reads the name of the object's next member and the ':' after it;
// i is the number of members read before. It returns false after the
// object's '}', and on failure. The name is unescaped.
func (s *Scanner) NextKey(i int) (string, bool) {
	if s.err != nil {
		return "", false
	}
	c := s.ws()
	if c == '}' {
		s.pos++
		s.depth--
		return "", false
	}
	if i > 0 {
		if c != ',' {
			s.unexpected(c, " after object member, want ',' or '}'")
			return "", false
		}
		s.pos++
		c = s.ws()
	}
	if c != '"' {
		s.unexpected(c, " looking for beginning of object key string")
		return "", false
	}
	s.keyStart = s.pos
	key := s.readString()
	if c := s.ws(); c != ':' {
		s.unexpected(c, " after object key, want ':'")
		return "", false
	}
	s.pos++
	return key, s.err == nil
}

// BeginArray reads the '[' of an array. It fails (and returns false) when
// the next value is not an array.
func (s *Scanner) BeginArray() bool {
	if s.err != nil {
		return false
	}
	if c := s.ws(); c != '[' {
		s.typeErr("an array", c)
		return false
	}
	s.enter()
	return s.err == nil
}

// NextElem moves to the array's next element; i is the number of elements
// read before. It returns false after the array's ']', and on failure.
func (s *Scanner) NextElem(i int) bool {
	if s.err != nil {
		return false
	}
	c := s.ws()
	if c == ']' {
		s.pos++
		s.depth--
		return false
	}
	if i > 0 {
		if c != ',' {
			s.unexpected(c, " after array element, want ',' or ']'")
			return false
		}
		s.pos++
	}
	return true
}

// Null reads a null and returns true if the next value is null; otherwise
// it reads nothing and returns false.
func (s *Scanner) Null() bool {
	if s.err != nil || s.ws() != 'n' {
		return false
	}
	s.literal("null")
	return true
}

func (s *Scanner) literal(lit string) {
	if len(s.src)-s.pos >= len(lit) && s.src[s.pos:s.pos+len(lit)] == lit {
		s.pos += len(lit)
		return
	}
	for i := 0; i < len(lit); i++ {
		if s.pos+i >= len(s.src) {
			s.pos += i
			s.syntax("unexpected end of JSON input")
			return
		}
		if s.src[s.pos+i] != lit[i] {
			s.pos += i
			s.syntax(kindOf(s.src[s.pos]) + " in literal " + lit)
			return
		}
	}
}

// Bool reads a boolean.
func (s *Scanner) Bool() bool {
	if s.err != nil {
		return false
	}
	switch c := s.ws(); c {
	case 't':
		s.literal("true")
		return s.err == nil
	case 'f':
		s.literal("false")
		return false
	default:
		s.typeErr("a boolean", c)
		return false
	}
}

// Str reads a string and returns it unescaped.
func (s *Scanner) Str() string {
	if s.err != nil {
		return ""
	}
	if c := s.ws(); c != '"' {
		s.typeErr("a string", c)
		return ""
	}
	return s.readString()
}

// Raw reads any value and returns its exact text.
func (s *Scanner) Raw() string {
	if s.err != nil {
		return ""
	}
	s.ws()
	start := s.pos
	s.Skip()
	if s.err != nil {
		return ""
	}
	return s.src[start:s.pos]
}

// RawObject reads an object and returns its exact text.
func (s *Scanner) RawObject() string {
	if s.err != nil {
		return ""
	}
	if c := s.ws(); c != '{' {
		s.typeErr("an object", c)
		return ""
	}
	return s.Raw()
}

// SkipMember skips the value of the member whose name NextKey just read and
// keeps the member (name and value, exactly as written) for Extra.
func (s *Scanner) SkipMember() {
	start := s.keyStart
	s.Skip()
	if s.err == nil {
		s.spans = append(s.spans, span{start, s.pos})
	}
}

// ExtraMark returns the mark to pass to Extra for the object about to be
// read.
func (s *Scanner) ExtraMark() int { return len(s.spans) }

// Extra returns the members kept by SkipMember since mark as one JSON
// object text, each member exactly as written and in order; false when
// there were none.
func (s *Scanner) Extra(mark int) (string, bool) {
	if len(s.spans) <= mark || s.err != nil {
		s.spans = s.spans[:min(mark, len(s.spans))]
		return "", false
	}
	n := 1
	for _, sp := range s.spans[mark:] {
		n += sp.end - sp.start + 1
	}
	b := s.reserve(n)
	for i, sp := range s.spans[mark:] {
		if i == 0 {
			b = append(b, '{')
		} else {
			b = append(b, ',')
		}
		b = append(b, s.src[sp.start:sp.end]...)
	}
	b = append(b, '}')
	s.spans = s.spans[:mark]
	return s.commit(b), true
}

// reserve returns an empty slice with room for n bytes at the end of the
// arena; commit hands its contents out as a string.
func (s *Scanner) reserve(n int) []byte {
	if cap(s.text)-len(s.text) < n {
		// Start a new arena: the old one stays with the strings made from
		// it and is not written again.
		s.text = make([]byte, 0, max(n, minArena, 2*cap(s.text)))
	}
	return s.text[len(s.text):len(s.text)]
}

func (s *Scanner) commit(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	s.text = s.text[:len(s.text)+len(b)]
	return unsafe.String(&b[0], len(b))
}

// plainRun returns the offset of the first byte at or after i that ends
// or complicates a string (a quote, a backslash, a control character or a
// non-ASCII byte), or len(src). It tests eight bytes at a time: a byte's
// high bit in special is set when the byte is special, and may be set
// wrongly only above a special byte (a subtraction borrows only from a
// byte that is one), so the lowest bit set is the first special byte.
func plainRun(src string, i int) int {
	const (
		ones  = 0x0101010101010101
		highs = 0x8080808080808080
	)
	if len(src) >= 8 {
		b := unsafe.Slice(unsafe.StringData(src), len(src))
		for ; i <= len(b)-8; i += 8 {
			x := binary.LittleEndian.Uint64(b[i:])
			q := x ^ (ones * '"')
			bs := x ^ (ones * '\\')
			special := ((q - ones) &^ q) | ((bs - ones) &^ bs) | (x - ones*0x20) | x
			if special &= highs; special != 0 {
				return i + bits.TrailingZeros64(special)/8
			}
		}
	}
	for ; i < len(src); i++ {
		if c := src[i]; c == '"' || c == '\\' || c < 0x20 || c >= utf8.RuneSelf {
			return i
		}
	}
	return i
}

// readString reads the string at s.pos (at its opening quote).
func (s *Scanner) readString() string {
	start := s.pos + 1
	src := s.src
	for i := plainRun(src, start); i < len(src); i++ {
		c := src[i]
		if c == '"' {
			s.pos = i + 1
			return src[start:i]
		}
		if c == '\\' || c < 0x20 || c >= utf8.RuneSelf {
			return s.readStringSlow(start, i)
		}
	}
	s.pos = len(src)
	s.syntax("unexpected end of JSON input in string")
	return ""
}

// scanString validates the string starting after its quote at start and
// returns the offset of its closing quote and whether it must be unescaped
// (escapes or invalid UTF-8); end < 0 after a syntax error.
func (s *Scanner) scanString(start, i int) (end int, unescape bool) {
	src := s.src
	for i < len(src) {
		c := src[i]
		switch {
		case c == '"':
			return i, unescape
		case c == '\\':
			unescape = true
			if i+1 >= len(src) {
				i = len(src)
				continue
			}
			switch src[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				for k := 2; k < 6; k++ {
					if i+k >= len(src) {
						i = len(src)
						break
					}
					if !isHex(src[i+k]) {
						s.pos = i + k
						s.syntax(kindOf(src[i+k]) + " in \\u hexadecimal character escape")
						return -1, false
					}
				}
				i += 6
			default:
				s.pos = i + 1
				s.syntax(kindOf(src[i+1]) + " in string escape code")
				return -1, false
			}
		case c < 0x20:
			s.pos = i
			s.syntax(kindOf(c) + " in string literal")
			return -1, false
		case c < utf8.RuneSelf:
			i++
		default:
			r, size := utf8.DecodeRuneInString(src[i:])
			if r == utf8.RuneError && size == 1 {
				unescape = true
			}
			i += size
		}
	}
	s.pos = len(src)
	s.syntax("unexpected end of JSON input in string")
	return -1, false
}

func (s *Scanner) readStringSlow(start, i int) string {
	end, unescape := s.scanString(start, i)
	if end < 0 {
		return ""
	}
	s.pos = end + 1
	if !unescape {
		return s.src[start:end]
	}
	// Unescaped text is at most 3 bytes per input byte (one invalid byte
	// becomes U+FFFD).
	b := unquote(s.reserve(3*(end-start)), s.src[start:end])
	return s.commit(b)
}

func isHex(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

// skipString validates the string at s.pos (at its opening quote).
func (s *Scanner) skipString() {
	src := s.src
	for i := plainRun(src, s.pos+1); i < len(src); i++ {
		c := src[i]
		if c == '"' {
			s.pos = i + 1
			return
		}
		if c == '\\' || c < 0x20 || c >= utf8.RuneSelf {
			if end, _ := s.scanString(s.pos+1, i); end >= 0 {
				s.pos = end + 1
			}
			return
		}
	}
	s.pos = len(src)
	s.syntax("unexpected end of JSON input in string")
}

// Skip reads (and so validates) any value.
func (s *Scanner) Skip() {
	if s.err != nil {
		return
	}
	// s.stack holds the closing bytes of the containers Skip is inside.
	s.stack = s.stack[:0]
	for {
		// A value.
		switch c := s.ws(); {
		case c == '{' || c == '[':
			s.pos++
			if s.depth+len(s.stack)+1 > maxDepth {
				s.syntax("exceeded max depth")
				return
			}
			if c == '{' {
				s.stack = append(s.stack, '}')
				c2 := s.ws()
				if c2 == '}' {
					s.pos++
					s.stack = s.stack[:len(s.stack)-1]
					break
				}
				if !s.skipKey(c2) {
					return
				}
				continue
			}
			s.stack = append(s.stack, ']')
			if s.ws() == ']' {
				s.pos++
				s.stack = s.stack[:len(s.stack)-1]
				break
			}
			continue
		case c == '"':
			s.skipString()
		case c == 't':
			s.literal("true")
		case c == 'f':
			s.literal("false")
		case c == 'n':
			s.literal("null")
		case c == '-' || (c >= '0' && c <= '9'):
			s.number()
		case c == 0 && s.pos >= len(s.src):
			s.syntax("unexpected end of JSON input")
		default:
			s.syntax("invalid character " + quoteByte(c) + " looking for beginning of value")
		}
		if s.err != nil {
			return
		}
		// After a value: close containers or move to the next value.
		for {
			if len(s.stack) == 0 {
				return
			}
			c := s.ws()
			top := s.stack[len(s.stack)-1]
			if c == top {
				s.pos++
				s.stack = s.stack[:len(s.stack)-1]
				continue
			}
			if c != ',' {
				if top == '}' {
					s.unexpected(c, " after object key:value pair")
				} else {
					s.unexpected(c, " after array element")
				}
				return
			}
			s.pos++
			if top == '}' && !s.skipKey(s.ws()) {
				return
			}
			break
		}
	}
}

// skipKey reads an object key (starting with c) and the ':' after it.
func (s *Scanner) skipKey(c byte) bool {
	if c != '"' {
		s.unexpected(c, " looking for beginning of object key string")
		return false
	}
	s.skipString()
	if s.err != nil {
		return false
	}
	if c := s.ws(); c != ':' {
		s.unexpected(c, " after object key")
		return false
	}
	s.pos++
	return true
}

// number reads a number and returns its text and whether it is an integer
// (no fraction, no exponent).
func (s *Scanner) number() (string, bool) {
	src := s.src
	start := s.pos
	i := start
	if i < len(src) && src[i] == '-' {
		i++
	}
	switch {
	case i < len(src) && src[i] == '0':
		i++
	case i < len(src) && src[i] >= '1' && src[i] <= '9':
		for i < len(src) && src[i] >= '0' && src[i] <= '9' {
			i++
		}
	default:
		s.pos = i
		if i < len(src) {
			s.syntax(kindOf(src[i]) + " in numeric literal")
		} else {
			s.syntax("unexpected end of JSON input")
		}
		return "", false
	}
	integer := true
	if i < len(src) && src[i] == '.' {
		integer = false
		i++
		d := i
		for i < len(src) && src[i] >= '0' && src[i] <= '9' {
			i++
		}
		if i == d {
			s.pos = i
			s.syntax("no digits after decimal point")
			return "", false
		}
	}
	if i < len(src) && (src[i] == 'e' || src[i] == 'E') {
		integer = false
		i++
		if i < len(src) && (src[i] == '+' || src[i] == '-') {
			i++
		}
		d := i
		for i < len(src) && src[i] >= '0' && src[i] <= '9' {
			i++
		}
		if i == d {
			s.pos = i
			s.syntax("no digits in exponent")
			return "", false
		}
	}
	s.pos = i
	return src[start:i], integer
}
