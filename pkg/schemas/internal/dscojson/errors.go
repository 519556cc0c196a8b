package dscojson

import (
	"strconv"
	"strings"
)

// Error is a failure to decode a value. A syntax error (Syntax true) means
// the text is not JSON at all; any other Error means the JSON is valid but a
// value does not fit its field (a string where a number belongs, an amount
// that is not exact at the field's scale, a missing required member).
type Error struct {
	// Offset is the byte offset in the text where the failure was found.
	Offset int
	// Syntax is true when the text is not valid JSON.
	Syntax bool
	// Reason says what is wrong, for example "want a string, got a number".
	Reason string
	// Err is the underlying error, if any.
	Err error

	path []string // innermost first; see Within
}

// Error returns "path: reason" (or "offset N: reason" for syntax errors).
func (e *Error) Error() string {
	if e.Syntax {
		return "invalid JSON at offset " + strconv.Itoa(e.Offset) + ": " + e.Reason
	}
	if p := e.Path(); p != "" {
		return p + ": " + e.Reason
	}
	return e.Reason
}

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }

// Path returns the path of the failing value, for example
// "data.items[2].cost".
func (e *Error) Path() string {
	var b strings.Builder
	for i := len(e.path) - 1; i >= 0; i-- {
		seg := e.path[i]
		if b.Len() > 0 && !strings.HasPrefix(seg, "[") {
			b.WriteByte('.')
		}
		b.WriteString(seg)
	}
	return b.String()
}

// Within prefixes the path of the scanner's error with a member name, so
// that an error found deep in an object names its full path. Decoders call
// it while unwinding from a failed member; it costs nothing on success.
func (s *Scanner) Within(member string) {
	if s.err != nil {
		s.err.path = append(s.err.path, member)
	}
}

// WithinIndex prefixes the path of the scanner's error with an array index.
func (s *Scanner) WithinIndex(i int) {
	if s.err != nil {
		s.err.path = append(s.err.path, "["+strconv.Itoa(i)+"]")
	}
}
