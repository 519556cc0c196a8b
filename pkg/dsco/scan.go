package dsco

import (
	"encoding/json"
	"errors"
)

var errScan = errors.New("dsco: malformed JSON object")

// members walks the members of one JSON object without decoding their
// values: one linear scan, no allocation unless a key holds escapes. It is
// the cheap pass of unmarshalObject. The object is expected to be valid JSON
// (encoding/json validates a document before it calls UnmarshalJSON);
// malformed input gives errScan, never a panic.
type members struct {
	data  []byte
	i     int
	begun bool
}

// next returns the next member's key and raw value; ok is false at the end
// of the object.
func (m *members) next() (key, value []byte, ok bool, err error) {
	d := m.data
	i := skipSpace(d, m.i)
	if !m.begun {
		m.begun = true
		if i >= len(d) || d[i] != '{' {
			return nil, nil, false, errScan
		}
		i = skipSpace(d, i+1)
		if i < len(d) && d[i] == '}' {
			m.i = len(d)
			return nil, nil, false, nil
		}
	} else {
		if i >= len(d) {
			return nil, nil, false, nil // the end was reached before
		}
		switch d[i] {
		case ',':
			i = skipSpace(d, i+1)
		case '}':
			m.i = len(d)
			return nil, nil, false, nil
		default:
			return nil, nil, false, errScan
		}
	}
	if i >= len(d) || d[i] != '"' {
		return nil, nil, false, errScan
	}
	keyStart := i
	end, escaped := skipString(d, i)
	if end < 0 {
		return nil, nil, false, errScan
	}
	if escaped {
		var k string
		if json.Unmarshal(d[keyStart:end], &k) != nil {
			return nil, nil, false, errScan
		}
		key = []byte(k)
	} else {
		key = d[keyStart+1 : end-1]
	}
	i = skipSpace(d, end)
	if i >= len(d) || d[i] != ':' {
		return nil, nil, false, errScan
	}
	i = skipSpace(d, i+1)
	vend := skipValue(d, i)
	if vend < 0 {
		return nil, nil, false, errScan
	}
	m.i = vend
	// Leave the ',' or '}' for the next call, but reject a missing one now.
	if j := skipSpace(d, vend); j >= len(d) || (d[j] != ',' && d[j] != '}') {
		return nil, nil, false, errScan
	}
	return key, d[i:vend], true, nil
}

func skipSpace(data []byte, i int) int {
	for i < len(data) {
		switch data[i] {
		case ' ', '\t', '\r', '\n':
			i++
		default:
			return i
		}
	}
	return i
}

// skipString returns the index after the string starting at data[i] (a
// quote) and whether it needs unquoting by encoding/json: it holds escapes
// or non-ASCII bytes (which encoding/json checks for valid UTF-8). It
// returns -1 if the string is not terminated.
func skipString(data []byte, i int) (int, bool) {
	escaped := false
	for j := i + 1; j < len(data); j++ {
		switch c := data[j]; {
		case c == '\\':
			escaped = true
			j++
		case c == '"':
			return j + 1, escaped
		case c >= 0x80:
			escaped = true
		}
	}
	return -1, false
}

// skipValue returns the index after the value starting at data[i], or -1.
func skipValue(data []byte, i int) int {
	if i >= len(data) {
		return -1
	}
	switch data[i] {
	case '"':
		end, _ := skipString(data, i)
		return end
	case '{', '[':
		depth := 0
		for j := i; j < len(data); j++ {
			switch data[j] {
			case '"':
				end, _ := skipString(data, j)
				if end < 0 {
					return -1
				}
				j = end - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1
				}
			}
		}
		return -1
	case ',', '}', ']', ':':
		return -1
	default: // number, true, false, null
		for j := i; j < len(data); j++ {
			switch data[j] {
			case ',', '}', ']', ' ', '\t', '\r', '\n':
				return j
			}
		}
		return len(data)
	}
}
