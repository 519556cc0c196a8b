package dscotest

import (
	"encoding/json"
	"fmt"
	"reflect"
)

// money is an amount (cost, price, invoice amount) as the JSON number text
// it arrived as, kept and written back verbatim: Dsco echoes amounts
// exactly, and the connector carries them as decimals taken from that text,
// so an amount must never pass through float64 here ("10.50" stays "10.50",
// "123456789012.3456" keeps every digit). The sandbox does not import
// pkg/dsco, so it has its own type rather than dsco.Money.
type money string

// UnmarshalJSON accepts a JSON number only. Unlike json.Number it rejects a
// string holding a number, as Dsco does for a field of type number.
func (m *money) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil // like encoding/json for a nil-able value: leave it unset
	}
	// b is one complete, valid JSON value, and only numbers start with '-'
	// or a digit.
	if len(b) == 0 || (b[0] != '-' && (b[0] < '0' || b[0] > '9')) {
		return &json.UnmarshalTypeError{Value: jsonKind(b), Type: reflect.TypeFor[money]()}
	}
	*m = money(b)
	return nil
}

// MarshalJSON writes the amount exactly as it was received.
func (m money) MarshalJSON() ([]byte, error) { return []byte(m), nil }

// negative reports whether m is below zero. It reads the sign from the text
// (a leading '-' on a mantissa that is not all zeros, so "-0.00" is zero)
// rather than parsing the value: exact, allocation free, and safe against
// exponents such as 1e999999999 that would make big.Rat allocate without
// bound.
func (m money) negative() bool {
	if len(m) == 0 || m[0] != '-' {
		return false
	}
	for _, c := range []byte(m[1:]) {
		switch {
		case c == 'e' || c == 'E':
			return false
		case c >= '1' && c <= '9':
			return true
		}
	}
	return false
}

// cents writes c ≥ 0 cents as 2-decimal text, like Dsco's amounts ("19.90"
// keeps its trailing zero).
func cents(c int) money { return money(fmt.Sprintf("%d.%02d", c/100, c%100)) }

// jsonKind names the kind of the JSON value b for error messages.
func jsonKind(b []byte) string {
	if len(b) == 0 {
		return "empty"
	}
	switch b[0] {
	case '"':
		return "string"
	case '{':
		return "object"
	case '[':
		return "array"
	case 't', 'f':
		return "bool"
	}
	return "value"
}
