package dscojson

import (
	"strconv"
	"time"
)

// Time reads a string holding a timestamp in one of the forms ParseTime
// accepts.
func (s *Scanner) Time() time.Time {
	if s.err != nil {
		return time.Time{}
	}
	s.ws()
	pos := s.pos
	text := s.Str()
	if s.err != nil {
		return time.Time{}
	}
	t, ok := ParseTime(text)
	if !ok {
		s.pos = pos
		s.Fail("want a timestamp (RFC 3339 or ISO 8601 with a zone, such as 2014-01-01T10:30:00.000+0100), got " + strconv.Quote(text))
	}
	return t
}

// Date reads a string holding a calendar date, YYYY-MM-DD, or a timestamp
// (then its date as written, in its own zone). The result is midnight UTC.
func (s *Scanner) Date() time.Time {
	if s.err != nil {
		return time.Time{}
	}
	s.ws()
	pos := s.pos
	text := s.Str()
	if s.err != nil {
		return time.Time{}
	}
	t, ok := ParseDate(text)
	if !ok {
		s.pos = pos
		s.Fail("want a date (YYYY-MM-DD), got " + strconv.Quote(text))
	}
	return t
}

// ParseTime parses the timestamp forms Dsco documents: RFC 3339 with or
// without a fraction of a second (any number of digits; beyond nanoseconds
// they are dropped), and the ISO 8601 offsets Z, ±hh:mm and ±hhmm — for
// example 2014-01-01T10:30:00.000+0100. The result is in UTC.
func ParseTime(s string) (time.Time, bool) {
	y, mo, d, ok := parseYMD(s)
	if !ok || len(s) < 20 || (s[10] != 'T' && s[10] != 't') || s[13] != ':' || s[16] != ':' {
		return time.Time{}, false
	}
	hh, ok1 := num2(s, 11)
	mm, ok2 := num2(s, 14)
	ss, ok3 := num2(s, 17)
	if !ok1 || !ok2 || !ok3 || hh > 23 || mm > 59 || ss > 59 {
		return time.Time{}, false
	}
	i := 19
	ns := 0
	if s[i] == '.' {
		i++
		start := i
		scale := 100_000_000
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			ns += int(s[i]-'0') * scale
			scale /= 10
			i++
		}
		if i == start {
			return time.Time{}, false
		}
	}
	if i >= len(s) {
		return time.Time{}, false
	}
	offset := 0
	switch s[i] {
	case 'Z', 'z':
		i++
	case '+', '-':
		sign := 1
		if s[i] == '-' {
			sign = -1
		}
		oh, ok := num2(s, i+1)
		if !ok {
			return time.Time{}, false
		}
		i += 3
		if i < len(s) && s[i] == ':' {
			i++
		}
		om, ok := num2(s, i)
		if !ok || oh > 23 || om > 59 {
			return time.Time{}, false
		}
		i += 2
		offset = sign * (oh*3600 + om*60)
	default:
		return time.Time{}, false
	}
	if i != len(s) {
		return time.Time{}, false
	}
	t := time.Date(y, time.Month(mo), d, hh, mm, ss, ns, time.UTC)
	return t.Add(-time.Duration(offset) * time.Second), true
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
