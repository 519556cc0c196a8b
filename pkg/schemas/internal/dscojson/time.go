package dscojson

import (
	"strconv"
	"time"
	"unsafe"

	"github.com/dscokafka/connector/pkg/dsco"
)

// Time reads a string holding a timestamp in one of the forms ParseTime
// accepts.
func (s *Scanner) Time() time.Time {
	return s.timeValue(ParseTime, "want a timestamp (RFC 3339 or ISO 8601 with a zone, such as 2014-01-01T10:30:00.000+0100), got ")
}

// Date reads a string holding a calendar date, YYYY-MM-DD, or a timestamp
// (then its date as written, in its own zone). The result is midnight UTC.
func (s *Scanner) Date() time.Time {
	return s.timeValue(ParseDate, "want a date (YYYY-MM-DD), got ")
}

// timeValue reads a string and parses it with parse; when parse refuses
// it, it fails with want followed by the quoted string.
func (s *Scanner) timeValue(parse func(string) (time.Time, bool), want string) time.Time {
	if s.err != nil {
		return time.Time{}
	}
	s.ws()
	pos := s.pos
	text := s.Str()
	if s.err != nil {
		return time.Time{}
	}
	t, ok := parse(text)
	if !ok {
		s.pos = pos
		s.Fail(want + strconv.Quote(text))
	}
	return t
}

// ParseTime parses the timestamp forms Dsco documents with dsco.ParseTime,
// the one parser of them (RFC 3339 with or without a fraction; offsets Z,
// ±hh:mm, ±hhmm and ±hh, as in 2014-01-01T10:30:00.000+0100). The result is
// in UTC. It does not allocate.
func ParseTime(s string) (time.Time, bool) {
	t, err := dsco.ParseTime(unsafe.Slice(unsafe.StringData(s), len(s)))
	if err != nil {
		return time.Time{}, false
	}
	return t.UTC(), true
}

// ParseDate parses YYYY-MM-DD, or a timestamp ParseTime accepts, whose date
// as written is taken. The result is midnight UTC of that date.
func ParseDate(s string) (time.Time, bool) {
	y, m, d, ok := parseYMD(s)
	if !ok {
		return time.Time{}, false
	}
	if len(s) != 10 {
		if _, ok := ParseTime(s); !ok {
			return time.Time{}, false
		}
	}
	return time.Date(y, time.Month(m), d, 0, 0, 0, 0, time.UTC), true
}

// parseYMD parses the YYYY-MM-DD at the start of s and checks it is a real
// date.
func parseYMD(s string) (y, m, d int, ok bool) {
	if len(s) < 10 || s[4] != '-' || s[7] != '-' {
		return 0, 0, 0, false
	}
	y1, ok1 := num2(s, 0)
	y2, ok2 := num2(s, 2)
	m, ok3 := num2(s, 5)
	d, ok4 := num2(s, 8)
	if !ok1 || !ok2 || !ok3 || !ok4 || m < 1 || m > 12 || d < 1 || d > daysIn(m, y1*100+y2) {
		return 0, 0, 0, false
	}
	return y1*100 + y2, m, d, true
}

func daysIn(m, y int) int {
	switch m {
	case 2:
		if y%4 == 0 && (y%100 != 0 || y%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

func num2(s string, i int) (int, bool) {
	if i+1 >= len(s) {
		return 0, false
	}
	a, b := s[i], s[i+1]
	if a < '0' || a > '9' || b < '0' || b > '9' {
		return 0, false
	}
	return int(a-'0')*10 + int(b-'0'), true
}
