package dsco

import (
	"encoding/json"
	"reflect"
	"strconv"
	"sync/atomic"
	"time"
)

// ParseTime parses a Dsco timestamp: the text of a JSON string without its
// quotes. It accepts every form Dsco documents, the contract's date-time
// (RFC 3339) and the isodate forms of the GetItemInventory document:
//
//	2014-01-01T10:30:00Z               RFC 3339, no fraction
//	2014-01-01T10:30:00.000Z           any number of fractional digits (kept to the nanosecond, the rest truncated)
//	2014-01-01T10:30:00.000+01:00      offset with a colon
//	2014-01-01T10:30:00.000+0100       offset without a colon
//	2014-01-01T10:30:00.000+01         offset in whole hours
//
// "T" and "Z" may be lower case (RFC 3339 §5.6). Hours are 00..23,
// seconds 00..59 (a leap second 60 is refused, as Go's time package does),
// the day must exist in its month, and an offset is at most ±23:59. A
// timestamp with a Z or a zero offset is returned in UTC, any other in a
// fixed zone of its offset, so t.Equal holds between the forms of one
// instant.
//
// ParseTime does not allocate when it succeeds, so the stream decoders call
// it on every event. Its errors name the text and what is wrong with it.
func ParseTime(b []byte) (time.Time, error) {
	t, reason := parseTime(b)
	if reason != "" {
		return time.Time{}, &TimeError{Text: string(b), Reason: reason}
	}
	return t, nil
}

// TimeError is a timestamp that ParseTime refuses.
type TimeError struct {
	Text   string // the text as received
	Reason string // what is wrong with it
}

func (e *TimeError) Error() string {
	return "dsco: timestamp " + strconv.Quote(e.Text) + ": " + e.Reason
}

// parseTime returns the time or, in place of an error (which would
// allocate), the reason it is refused.
func parseTime(b []byte) (time.Time, string) {
	if len(b) < 19 {
		return time.Time{}, "too short for YYYY-MM-DDThh:mm:ss followed by Z or an offset"
	}
	year, ok1 := digits(b[0:4])
	month, ok2 := digits(b[5:7])
	day, ok3 := digits(b[8:10])
	hour, ok4 := digits(b[11:13])
	minute, ok5 := digits(b[14:16])
	sec, ok6 := digits(b[17:19])
	if !ok1 || !ok2 || !ok3 || !ok4 || !ok5 || !ok6 ||
		b[4] != '-' || b[7] != '-' || (b[10] != 'T' && b[10] != 't') || b[13] != ':' || b[16] != ':' {
		return time.Time{}, "not of the form YYYY-MM-DDThh:mm:ss"
	}
	switch {
	case month < 1 || month > 12:
		return time.Time{}, "month out of range"
	case day < 1 || day > daysIn(time.Month(month), year):
		return time.Time{}, "day out of range"
	case hour > 23:
		return time.Time{}, "hour out of range"
	case minute > 59:
		return time.Time{}, "minute out of range"
	case sec > 59:
		return time.Time{}, "second out of range"
	}
	i := 19
	nsec := 0
	if i < len(b) && b[i] == '.' {
		i++
		start := i
		scale := 100_000_000
		for ; i < len(b) && b[i] >= '0' && b[i] <= '9'; i++ {
			nsec += int(b[i]-'0') * scale
			scale /= 10
		}
		if i == start {
			return time.Time{}, "no digits after the decimal point"
		}
	}
	if i >= len(b) {
		return time.Time{}, "no time zone: Z or an offset such as +01:00 is required"
	}
	offset := 0
	switch c := b[i]; c {
	case 'Z', 'z':
		i++
	case '+', '-':
		rest := b[i+1:]
		var oh, om int
		var ok bool
		switch {
		case len(rest) == 2: // +01
			oh, ok = digits(rest)
		case len(rest) == 4: // +0100
			var okm bool
			oh, ok = digits(rest[0:2])
			om, okm = digits(rest[2:4])
			ok = ok && okm
		case len(rest) == 5 && rest[2] == ':': // +01:00
			var okm bool
			oh, ok = digits(rest[0:2])
			om, okm = digits(rest[3:5])
			ok = ok && okm
		}
		if !ok {
			return time.Time{}, "offset is not of the form +hh:mm, +hhmm or +hh"
		}
		if oh > 23 || om > 59 {
			return time.Time{}, "offset out of range"
		}
		offset = (oh*60 + om) * 60
		if c == '-' {
			offset = -offset
		}
		i = len(b)
	default:
		return time.Time{}, "no time zone: Z or an offset such as +01:00 is required"
	}
	if i != len(b) {
		return time.Time{}, "extra text after the time zone"
	}
	t := time.Date(year, time.Month(month), day, hour, minute, sec, nsec, time.UTC)
	if offset == 0 {
		return t, ""
	}
	return t.Add(-time.Duration(offset) * time.Second).In(fixedZone(offset)), ""
}

// digits parses b as an unsigned decimal number of len(b) digits.
func digits(b []byte) (int, bool) {
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

func daysIn(m time.Month, year int) int {
	switch m {
	case time.February:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case time.April, time.June, time.September, time.November:
		return 30
	}
	return 31
}

// zones caches one *time.Location per offset minute (±23:59), so that
// ParseTime does not allocate a zone per call the way time.FixedZone does.
var zones [2*24*60 + 1]atomic.Pointer[time.Location]

func fixedZone(offsetSec int) *time.Location {
	i := offsetSec/60 + 24*60
	if z := zones[i].Load(); z != nil {
		return z
	}
	z := time.FixedZone("", offsetSec)
	if zones[i].CompareAndSwap(nil, z) {
		return z
	}
	return zones[i].Load()
}

// timeJSON is a time.Time decoded with ParseTime. The models declare their
// instants as time.Time; unmarshalObject decodes them through this type
// (see lenientType), so that every timestamp Dsco sends is read the same
// way, whichever model holds it.
type timeJSON time.Time

var timeType = reflect.TypeFor[time.Time]()

// UnmarshalJSON reads a JSON string with ParseTime; null leaves t alone,
// as time.Time does. A refused value is a *json.UnmarshalTypeError, so that
// encoding/json adds the path of the field (see FieldError).
func (t *timeJSON) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	if len(b) < 2 || b[0] != '"' || b[len(b)-1] != '"' {
		return &json.UnmarshalTypeError{Value: jsonKindOf(b), Type: timeType}
	}
	text := b[1 : len(b)-1]
	for _, c := range text {
		if c == '\\' { // escapes in a timestamp: rare, unquote first
			var s string
			if err := json.Unmarshal(b, &s); err != nil {
				return err
			}
			text = []byte(s)
			break
		}
	}
	v, reason := parseTime(text)
	if reason != "" {
		return &json.UnmarshalTypeError{Value: "timestamp " + strconv.Quote(string(text)) + " (" + reason + ")", Type: timeType}
	}
	*t = timeJSON(v)
	return nil
}

// MarshalJSON writes RFC 3339 with nanoseconds, as time.Time does.
func (t timeJSON) MarshalJSON() ([]byte, error) { return time.Time(t).MarshalJSON() }

func jsonKindOf(b []byte) string {
	if len(b) == 0 {
		return "empty value"
	}
	switch b[0] {
	case '{':
		return "object"
	case '[':
		return "array"
	case 't', 'f':
		return "bool"
	case '"':
		return "string"
	}
	return "number " + string(b)
}
