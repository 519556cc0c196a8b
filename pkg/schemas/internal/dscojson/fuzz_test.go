package dscojson

import (
	"encoding/json"
	"testing"
)

// FuzzValid: the scanner accepts exactly what encoding/json accepts.
func FuzzValid(f *testing.F) {
	for _, c := range validityCases {
		if len(c) < 1000 {
			f.Add(c)
		}
	}
	f.Fuzz(func(t *testing.T, text string) {
		if got, want := valid(text), json.Valid([]byte(text)); got != want {
			t.Fatalf("valid(%q) = %v, encoding/json says %v", text, got, want)
		}
	})
}

// FuzzString: a string reads as encoding/json unescapes it.
func FuzzString(f *testing.F) {
	for _, c := range []string{`"a"`, `"\u00e9"`, `"\ud83d\ude00"`, `"\ud83d"`, "\"\xff\"", `"\"\\\/\b\f\n\r\t"`} {
		f.Add(c)
	}
	f.Fuzz(func(t *testing.T, text string) {
		var want string
		werr := json.Unmarshal([]byte(text), &want)
		var s Scanner
		s.Reset(text)
		got := s.Str()
		s.End()
		if (werr == nil) != (s.Err() == nil) {
			t.Fatalf("%q: encoding/json error %v, ours %v", text, werr, s.Err())
		}
		if werr == nil && got != want {
			t.Fatalf("%q: got %q, want %q", text, got, want)
		}
	})
}

// FuzzMoney: an amount is parsed exactly (big.Rat is the reference).
func FuzzMoney(f *testing.F) {
	for _, c := range []string{"0", "12.99", "-0.5", "1e2", "125e-2", "0.00001", "99999999999999.9999", "1e14", "1.50000", "0e99"} {
		f.Add(c)
	}
	f.Fuzz(func(t *testing.T, text string) {
		if len(text) == 0 || (text[0] != '-' && (text[0] < '0' || text[0] > '9')) || !json.Valid([]byte(text)) {
			return
		}
		got, err := ParseMoney(text, 4, 18)
		want, parsed, ok := exactUnscaled(text)
		if !parsed {
			return
		}
		if ok != (err == nil) || (ok && got != want) {
			t.Fatalf("%q: got %d, %v; want %d, ok %v", text, got, err, want, ok)
		}
	})
}
