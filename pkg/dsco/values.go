package dsco

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/big"
	"time"
)

// Money is an amount of money (the cost, price and amount attributes) kept
// as the exact text of its JSON number, never as a float, because the Avro
// contract takes its decimals from that text. The zero value is "no amount"
// and is omitted where the field is optional.
type Money string

// ParseMoney returns s as Money if s is a valid JSON number.
func ParseMoney(s string) (Money, error) {
	if !isJSONNumber(s) {
		return "", fmt.Errorf("dsco: %q is not a JSON number", s)
	}
	return Money(s), nil
}

// String returns the exact number text.
func (m Money) String() string { return string(m) }

// IsZero reports whether m holds no amount (the empty text), which omitzero
// uses; a Money of "0" is not zero in this sense.
func (m Money) IsZero() bool { return m == "" }

// Rat returns m as an exact rational number.
func (m Money) Rat() (*big.Rat, bool) { return new(big.Rat).SetString(string(m)) }

// MarshalJSON writes the number text as it is. It fails for text that is not
// a JSON number, so that a bad amount is never sent.
func (m Money) MarshalJSON() ([]byte, error) {
	if m == "" {
		return []byte("null"), nil
	}
	if !isJSONNumber(string(m)) {
		return nil, fmt.Errorf("dsco: money %q is not a JSON number", string(m))
	}
	return []byte(m), nil
}

// UnmarshalJSON keeps the number text as it is. It also accepts a JSON string
// holding a number, as some Dsco responses quote amounts.
func (m *Money) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if string(b) == "null" {
		*m = ""
		return nil
	}
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		b = []byte(s)
	}
	if !isJSONNumber(string(b)) {
		return fmt.Errorf("dsco: money %s is not a number", b)
	}
	*m = Money(b)
	return nil
}

func isJSONNumber(s string) bool {
	if s == "" {
		return false
	}
	// json.Number's own check: valid JSON whose first byte starts a number.
	if c := s[0]; c != '-' && (c < '0' || c > '9') {
		return false
	}
	var n json.Number
	return json.Unmarshal([]byte(s), &n) == nil
}

// Date is a calendar date without a time or zone (OpenAPI format: date),
// written YYYY-MM-DD. The zero Date is omitted where the field is optional.
type Date struct {
	Year  int
	Month time.Month
	Day   int
}

const dateLayout = time.DateOnly

// DateOf returns the date of t in t's location.
func DateOf(t time.Time) Date {
	y, m, d := t.Date()
	return Date{Year: y, Month: m, Day: d}
}

// ParseDate parses YYYY-MM-DD.
func ParseDate(s string) (Date, error) {
	t, err := time.Parse(dateLayout, s)
	if err != nil {
		return Date{}, fmt.Errorf("dsco: parsing date %q: %w", s, err)
	}
	return DateOf(t), nil
}

// IsZero reports whether d is the zero Date.
func (d Date) IsZero() bool { return d == Date{} }

// String returns d as YYYY-MM-DD.
func (d Date) String() string {
	return time.Date(d.Year, d.Month, d.Day, 0, 0, 0, 0, time.UTC).Format(dateLayout)
}

// In returns the start of d in loc.
func (d Date) In(loc *time.Location) time.Time {
	return time.Date(d.Year, d.Month, d.Day, 0, 0, 0, 0, loc)
}

// MarshalJSON writes "YYYY-MM-DD".
func (d Date) MarshalJSON() ([]byte, error) {
	if d.IsZero() {
		return []byte("null"), nil
	}
	return []byte(`"` + d.String() + `"`), nil
}

// UnmarshalJSON reads "YYYY-MM-DD".
func (d *Date) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*d = Date{}
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("dsco: date: %w", err)
	}
	v, err := ParseDate(s)
	if err != nil {
		return err
	}
	*d = v
	return nil
}
