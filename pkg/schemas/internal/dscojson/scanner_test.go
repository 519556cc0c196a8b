package dscojson

import (
	"encoding/json"
	"errors"
	"math"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// valid reports whether the scanner accepts text as one JSON value.
func valid(text string) bool {
	var s Scanner
	s.Reset(text)
	s.Skip()
	s.End()
	return s.Err() == nil
}

var validityCases = []string{
	``, ` `, `{}`, `[]`, `""`, `0`, `-0`, `1.5e10`, `1E+2`, `1e-2`, `-1.0`, `true`, `false`, `null`,
	`{"a":1}`, `{"a":1,}`, `{"a" 1}`, `{"a":}`, `{,}`, `{"a":1 "b":2}`, `{1:2}`, `{"a":1}}`, `[1,]`, `[,1]`, `[1 2]`, `[`, `]`,
	` {"a" : [ 1 , { "b" : null } ] } `, "\t\n\r[1]\n", "\f[1]", `01`, `-`, `-a`, `1.`, `.5`, `1e`, `1e+`, `+1`, `0x10`, `1.5e`, `NaN`,
	`"\u00e9"`, `"\ud83d\ude00"`, `"\ud83d"`, `"\u12"`, `"\u12G4"`, `"\x"`, `"\'"`, `"\/"`, "\"a\x01\"", "\"a\x7f\"", "\"\xff\"", "\"\xc3\xa9\"",
	`"abc`, `"abc\"`, `tru`, `truee`, `nul`, `[true false]`, `[1]x`, `{"a":1}[`, `"a""b"`, `123 456`, `[1,[2,[3,{"a":[{}]}]]]`,
	strings.Repeat("[", 10000) + strings.Repeat("]", 10000),
	strings.Repeat("[", 10001) + strings.Repeat("]", 10001),
	strings.Repeat(`{"a":`, 10000) + "1" + strings.Repeat("}", 10000),
	strings.Repeat(`{"a":`, 10001) + "1" + strings.Repeat("}", 10001),
}

func TestValidityMatchesEncodingJSON(t *testing.T) {
	for _, text := range validityCases {
		name := text
		if len(name) > 40 {
			name = name[:40]
		}
		t.Run(name, func(t *testing.T) {
			assert.Equal(t, json.Valid([]byte(text)), valid(text))
		})
	}
}

func TestSyntaxErrorsNameTheOffset(t *testing.T) {
	var s Scanner
	s.Reset(`{"a":[1,2,}`)
	s.Skip()
	var e *Error
	require.ErrorAs(t, s.Err(), &e)
	assert.True(t, e.Syntax)
	assert.Equal(t, 10, e.Offset)
	assert.Contains(t, e.Error(), "offset 10")
}

func TestStringUnescapesAsEncodingJSON(t *testing.T) {
	cases := []string{
		`"plain"`, `""`, `"\"\\\/\b\f\n\r\t"`, `"\u0041\u00e9\u4e2d"`, `"\ud83c\udf82"`, `"\uD83C\uDF82"`,
		`"\ud83c"`, `"\udf82"`, `"\ud83cx"`, `"\ud83c\u0041"`, `"\ud83c\ud83c\udf82"`, `"a\u0000b"`,
		"\"\xff\"", "\"a\xc3\"", "\"\xed\xa0\x80\"", "\"\xf4\x90\x80\x80\"", "\"\xc3\xa9 caf\xc3\xa9\"", `"\\u0041"`,
		"\"\xe2\x82\xac\\n\"",
	}
	for _, text := range cases {
		t.Run(text, func(t *testing.T) {
			var want string
			require.NoError(t, json.Unmarshal([]byte(text), &want))
			var s Scanner
			s.Reset(text)
			got := s.Str()
			s.End()
			require.NoError(t, s.Err())
			assert.Equal(t, want, got)
		})
	}
}

func TestArenaGrowsWithoutMovingStrings(t *testing.T) {
	var s Scanner
	s.Reset(strings.Repeat(`"esc\n",`, 3000) + `"x"`)
	var got []string
	for range 3000 {
		got = append(got, s.Str())
		s.pos++ // the comma
	}
	for _, v := range got {
		require.Equal(t, "esc\n", v)
	}
}

func TestWrongKinds(t *testing.T) {
	for _, tc := range []struct {
		text string
		read func(*Scanner)
		want string
	}{
		{`12`, func(s *Scanner) { s.Str() }, "want a string, got a number"},
		{`"x"`, func(s *Scanner) { s.Int(32) }, "want an integer, got a string"},
		{`null`, func(s *Scanner) { s.BeginObject() }, "want an object, got null"},
		{`[1]`, func(s *Scanner) { s.Bool() }, "want a boolean, got an array"},
		{`{}`, func(s *Scanner) { s.Money(4, 18) }, "want a number, got an object"},
		{`true`, func(s *Scanner) { s.BeginArray() }, "want an array, got a boolean"},
		{`"2014-01-01"`, func(s *Scanner) { s.Time() }, "want a timestamp"},
		{`"01/02/2014"`, func(s *Scanner) { s.Date() }, "want a date"},
	} {
		t.Run(tc.text, func(t *testing.T) {
			var s Scanner
			s.Reset(tc.text)
			tc.read(&s)
			var e *Error
			require.ErrorAs(t, s.Err(), &e)
			assert.False(t, e.Syntax)
			assert.Contains(t, e.Reason, tc.want)
		})
	}
}

func TestInt(t *testing.T) {
	for _, tc := range []struct {
		text string
		bits int
		want int64
		err  string
	}{
		{"0", 32, 0, ""}, {"-0", 32, 0, ""}, {"2147483647", 32, math.MaxInt32, ""}, {"-2147483648", 32, math.MinInt32, ""},
		{"2147483648", 32, 0, "out of range for int32"}, {"-2147483649", 32, 0, "out of range for int32"},
		{"9223372036854775807", 64, math.MaxInt64, ""}, {"-9223372036854775808", 64, math.MinInt64, ""},
		{"9223372036854775808", 64, 0, "out of range for int64"}, {"-9223372036854775809", 64, 0, "out of range for int64"},
		{"99999999999999999999999", 64, 0, "out of range for int64"},
		{"1.0", 32, 0, "want an integer, got 1.0"}, {"1e2", 64, 0, "want an integer, got 1e2"}, {"-1.5", 32, 0, "want an integer"},
	} {
		t.Run(tc.text, func(t *testing.T) {
			var s Scanner
			s.Reset(tc.text)
			got := s.Int(tc.bits)
			if tc.err != "" {
				require.Error(t, s.Err())
				assert.Contains(t, s.Err().Error(), tc.err)
				return
			}
			require.NoError(t, s.Err())
			assert.Equal(t, tc.want, got)
			var viaJSON int64
			require.NoError(t, json.Unmarshal([]byte(tc.text), &viaJSON))
			assert.Equal(t, viaJSON, got)
		})
	}
}

func TestMoney(t *testing.T) {
	for _, tc := range []struct {
		text string
		want int64
		err  string
	}{
		{"0", 0, ""}, {"-0", 0, ""}, {"0.0000", 0, ""}, {"12.99", 129900, ""}, {"-0.5", -5000, ""}, {"1e2", 1_000_000, ""},
		{"1E+2", 1_000_000, ""}, {"125e-2", 12500, ""}, {"0.0001", 1, ""}, {"1.50000000", 15000, ""}, {"10.50", 105000, ""},
		{"99999999999999.9999", 999_999_999_999_999_999, ""}, {"-99999999999999.9999", -999_999_999_999_999_999, ""},
		{"123456789012.3456", 1234567890123456, ""}, {"0e999999999999", 0, ""}, {"0.000e-99999", 0, ""}, {"1000e-3", 10000, ""},
		{`"4.50"`, 45000, ""}, {`"1e1"`, 100000, ""},
		{"0.00001", 0, "more than 4 fraction digits"}, {"12.34567", 0, "more than 4 fraction digits"}, {"1e-5", 0, "more than 4 fraction digits"},
		{"100000000000000", 0, "more than 14 integer digits"}, {"1e14", 0, "more than 14 integer digits"}, {"1e999999999", 0, "more than 14 integer digits"},
		{"1e-999999999", 0, "more than 4 fraction digits"}, {`"12,5"`, 0, "not a JSON number"}, {`" 12"`, 0, "not a JSON number"}, {`""`, 0, "not a JSON number"},
		{`"01"`, 0, "not a JSON number"},
	} {
		t.Run(tc.text, func(t *testing.T) {
			var s Scanner
			s.Reset(tc.text)
			got := s.Money(4, 18)
			if tc.err != "" {
				require.Error(t, s.Err())
				assert.Contains(t, s.Err().Error(), tc.err)
				var me *MoneyError
				assert.True(t, errors.As(s.Err(), &me))
				return
			}
			require.NoError(t, s.Err())
			assert.Equal(t, tc.want, got)
		})
	}
}

// exactUnscaled is the reference: big.Rat's exact parse × 10^4. parsed is
// false when big.Rat cannot parse text (it refuses exponents beyond its
// limits, which ParseMoney handles).
func exactUnscaled(text string) (v int64, parsed, ok bool) {
	r, parsed := new(big.Rat).SetString(text)
	if !parsed {
		return 0, false, false
	}
	r.Mul(r, big.NewRat(10_000, 1))
	if !r.IsInt() || !r.Num().IsInt64() {
		return 0, true, false
	}
	v = r.Num().Int64()
	if v > 999_999_999_999_999_999 || v < -999_999_999_999_999_999 {
		return 0, true, false
	}
	return v, true, true
}

func TestParseTime(t *testing.T) {
	for _, tc := range []struct {
		text string
		want string // RFC 3339 in UTC; empty: refused
	}{
		{"2014-01-01T10:30:00.000+01:00", "2014-01-01T09:30:00Z"},
		{"2014-01-01T10:30:00.000+0100", "2014-01-01T09:30:00Z"},
		{"2014-01-01T10:30:00.000Z", "2014-01-01T10:30:00Z"},
		{"2014-01-01T10:30:00Z", "2014-01-01T10:30:00Z"},
		{"2014-01-01t10:30:00z", "2014-01-01T10:30:00Z"},
		{"2014-01-01T10:30:00-0530", "2014-01-01T16:00:00Z"},
		{"2014-01-01T10:30:00.123456789-05:30", "2014-01-01T16:00:00.123456789Z"},
		{"2014-01-01T10:30:00.1234567891234Z", "2014-01-01T10:30:00.123456789Z"},
		{"2024-02-29T23:59:59.5+00:00", "2024-02-29T23:59:59.5Z"},
		{"2014-01-01T00:00:00+23:59", "2013-12-31T00:01:00Z"},
		{"2014-01-01T10:30:00+01", "2014-01-01T09:30:00Z"},
		{"2014-01-01T10:30:00", ""}, {"2014-01-01", ""}, {"2014-01-01 10:30:00Z", ""}, {"2014-13-01T10:30:00Z", ""},
		{"2023-02-29T10:30:00Z", ""}, {"2014-04-31T10:30:00Z", ""}, {"2014-01-01T24:00:00Z", ""}, {"2014-01-01T10:60:00Z", ""},
		{"2014-01-01T10:30:60Z", ""}, {"2014-01-01T10:30:00.Z", ""}, {"2014-01-01T10:30:00+1:00", ""},
		{"2014-01-01T10:30:00+24:00", ""}, {"2014-01-01T10:30:00+01:60", ""}, {"2014-01-01T10:30:00Zx", ""}, {"2014-01-01T10:30:00+01:00:00", ""},
		{"14-01-01T10:30:00Z", ""}, {"", ""}, {"2014-1-01T10:30:00Z", ""},
	} {
		t.Run(tc.text, func(t *testing.T) {
			got, ok := ParseTime(tc.text)
			if tc.want == "" {
				assert.False(t, ok)
				return
			}
			require.True(t, ok)
			want, err := time.Parse(time.RFC3339Nano, tc.want)
			require.NoError(t, err)
			assert.True(t, want.Equal(got), "%v, want %v", got, want)
			assert.Equal(t, time.UTC, got.Location())
			if ref, err := time.Parse(time.RFC3339Nano, tc.text); err == nil {
				assert.True(t, ref.Equal(got), "agrees with time.RFC3339Nano")
			}
		})
	}
}

func TestParseDate(t *testing.T) {
	for text, want := range map[string]string{
		"2026-11-30": "2026-11-30", "2024-02-29": "2024-02-29", "2014-01-01T23:30:00.000-0800": "2014-01-01",
		"2023-02-29": "", "2026-11-31": "", "2026-11-3": "", "2026-11-30T": "", "20261130": "",
	} {
		got, ok := ParseDate(text)
		if want == "" {
			assert.False(t, ok, text)
			continue
		}
		require.True(t, ok, text)
		assert.Equal(t, want, got.Format(time.DateOnly))
		assert.Equal(t, got, got.Truncate(24*time.Hour), text)
		assert.Equal(t, time.UTC, got.Location())
	}
}

func TestExtraKeepsUnknownMembersExactly(t *testing.T) {
	text := `{"known":1, "a" : [1, {"x":"\u00e9"}] ,"inner":{"k":2,"z":null},"b":"\"q\"" ,"known2":true}`
	var s Scanner
	s.Reset(text)
	require.True(t, s.BeginObject())
	mark := s.ExtraMark()
	var inner string
	for i := 0; ; i++ {
		key, ok := s.NextKey(i)
		if !ok {
			break
		}
		switch key {
		case "known":
			s.Int(32)
		case "known2":
			s.Bool()
		case "inner":
			require.True(t, s.BeginObject())
			m := s.ExtraMark()
			for j := 0; ; j++ {
				k, ok := s.NextKey(j)
				if !ok {
					break
				}
				if k == "k" {
					s.Int(32)
				} else {
					s.SkipMember()
				}
			}
			inner, ok = s.Extra(m)
			require.True(t, ok)
		default:
			s.SkipMember()
		}
	}
	s.End()
	require.NoError(t, s.Err())
	extra, ok := s.Extra(mark)
	require.True(t, ok)
	assert.Equal(t, `{"a" : [1, {"x":"\u00e9"}],"b":"\"q\""}`, extra)
	assert.Equal(t, `{"z":null}`, inner)
	_, ok = s.Extra(s.ExtraMark())
	assert.False(t, ok, "no members, no extra")
}

func TestErrorPath(t *testing.T) {
	var s Scanner
	s.Reset(`"x"`)
	s.Int(32)
	s.Within("cost")
	s.WithinIndex(2)
	s.Within("items")
	s.Within("data")
	var e *Error
	require.ErrorAs(t, s.Err(), &e)
	assert.Equal(t, "data.items[2].cost", e.Path())
	assert.Equal(t, "data.items[2].cost: want an integer, got a string", e.Error())
}

// TestEndOfInput: a text that ends inside an object or an array fails with
// encoding/json's "unexpected end of JSON input", whether the value is
// skipped or read member by member, not with the 0 that marks the end.
func TestEndOfInput(t *testing.T) {
	readObject := func(s *Scanner) {
		if !s.BeginObject() {
			return
		}
		for i := 0; ; i++ {
			if _, ok := s.NextKey(i); !ok {
				return
			}
			s.Skip()
		}
	}
	readArray := func(s *Scanner) {
		if !s.BeginArray() {
			return
		}
		for i := 0; s.NextElem(i); i++ {
			s.Skip()
		}
	}
	for _, tc := range []struct {
		text string
		read func(*Scanner)
	}{
		{`{"a":1`, readObject},
		{`{"a":1,`, readObject},
		{`{"a":1 `, readObject},
		{`{"a"`, readObject},
		{`[1`, readArray},
		{`[1,2 `, readArray},
		{`{"a":1`, (*Scanner).Skip},
		{`{"a":[1`, (*Scanner).Skip},
		{`{"a"`, (*Scanner).Skip},
		{`{`, (*Scanner).Skip},
		{`[1`, (*Scanner).Skip},
	} {
		t.Run(tc.text, func(t *testing.T) {
			require.Error(t, json.Unmarshal([]byte(tc.text), new(any)))
			var s Scanner
			s.Reset(tc.text)
			tc.read(&s)
			var e *Error
			require.ErrorAs(t, s.Err(), &e)
			assert.True(t, e.Syntax)
			assert.Equal(t, "unexpected end of JSON input", e.Reason)
		})
	}
}

// TestPlainRun: plainRun finds the first byte that ends or complicates a
// string wherever it is in the words it tests, whatever follows it (bytes
// that are special too, or that a subtraction's borrow could mark), and
// with another special byte just before start.
func TestPlainRun(t *testing.T) {
	ref := func(src string, i int) int {
		for ; i < len(src); i++ {
			if c := src[i]; c == '"' || c == '\\' || c < 0x20 || c >= 0x80 {
				return i
			}
		}
		return i
	}
	specials := []byte{'"', '\\', 0, 0x1f, 0x80, 0xff}
	after := []byte{'a', '"', '\\', 0, 0x1f, 0x20, 0x21, 0x5b, 0x5d, 0x7f, 0x80, 0xa0, 0xff}
	// The plain bytes before the special one, the edges of what a
	// subtraction could borrow from among them.
	before := []string{"x", " ", "!", "#", "]", "\x7f"}
	for n := 0; n <= 24; n++ {
		for at := 0; at <= n; at++ {
			for _, sp := range specials {
				for _, next := range after {
					for _, fill := range before {
						b := []byte(strings.Repeat(fill, n))
						if at < n {
							b[at] = sp
							for k := at + 1; k < n; k++ {
								b[k] = next
							}
						}
						src := string(b)
						for start := 0; start <= n; start++ {
							if got, want := plainRun(src, start), ref(src, start); got != want {
								t.Fatalf("plainRun(%q, %d) = %d, want %d", src, start, got, want)
							}
						}
					}
				}
			}
		}
	}
}
