package schemas

import (
	"bytes"
	"errors"
	"fmt"
	"math/big"
	"strconv"
	"strings"

	"github.com/dscokafka/connector/pkg/schemas/internal/dscojson"
)

// The Avro decimal type of every money field: bytes, precision 18, scale 4.
// 18 digits with 4 after the point hold amounts up to 99,999,999,999,999.9999
// and fit a Java long, so every standard client handles them.
const (
	DecimalPrecision = 18
	DecimalScale     = 4
)

// maxUnscaled is 10^18 - 1, the largest unscaled value of a decimal(18,4).
const maxUnscaled = 999_999_999_999_999_999

// Decimal is a money amount as the records carry it: the unscaled value
// (the amount × 10^4) of a decimal(18,4) in the form Avro writes it,
// big-endian two's complement of minimal length. A nil Decimal is null.
//
// Build one with ParseDecimal (from a JSON number's text, as Dsco sends
// money) or DecimalFromRat, and read it with Rat, String or Unscaled; treat
// the bytes as opaque. Decimal is a byte slice rather than a *big.Rat
// because hamba/avro then writes and reads the bytes as they are: its
// big.Rat decimal codec costs about six allocations per amount, and it
// cannot decode a nullable decimal into a *big.Rat (hamba/avro issue #453).
//
// Decimal marshals to JSON as a JSON number ("12.99") and unmarshals from
// one, so a Dsco JSON amount can be decoded into it directly.
type Decimal []byte

// ParseDecimal returns the exact value of a JSON number's text (for example
// "12.99", "-0.5", "1e2") as a Decimal, without passing through float64. It
// fails with a *DecimalError (errors.Is ErrInvalidDecimal) when the text is
// not a JSON number, has more than DecimalScale significant fraction digits
// (trailing zeros are fine), or does not fit DecimalPrecision digits.
func ParseDecimal(s string) (Decimal, error) {
	v, err := dscojson.ParseMoney(s, DecimalScale, DecimalPrecision)
	if err != nil {
		return nil, decimalError(err)
	}
	return DecimalFromUnscaled(v), nil
}

// decimalError returns the *DecimalError of an amount dscojson.ParseMoney
// refuses (a *dscojson.MoneyError); any other error as it is.
func decimalError(err error) error {
	var me *dscojson.MoneyError
	if errors.As(err, &me) {
		return &DecimalError{Text: me.Text, Reason: me.Reason}
	}
	return err
}

// DecimalFromUnscaled returns the Decimal whose value is v × 10^-4 (v in
// ten-thousandths). v must not exceed 18 digits; values beyond are still
// encoded exactly, but break the schema's declared precision.
func DecimalFromUnscaled(v int64) Decimal {
	d := appendUnscaled(make([]byte, 0, 8), v)
	return Decimal(d[:len(d):len(d)])
}

// appendUnscaled appends v in the form of a Decimal's bytes: minimal
// big-endian two's complement, as Java's BigInteger.toByteArray writes it.
func appendUnscaled(dst []byte, v int64) []byte {
	n := 8
	for n > 1 {
		// A leading byte that only extends the sign of the next is dropped.
		b, next := byte(v>>(8*(n-1))), byte(v>>(8*(n-2)))
		if (b == 0x00 && next&0x80 == 0) || (b == 0xFF && next&0x80 != 0) {
			n--
			continue
		}
		break
	}
	for i := n - 1; i >= 0; i-- {
		dst = append(dst, byte(v>>(8*i)))
	}
	return dst
}

// DecimalFromRat returns r as a Decimal. It fails with a *DecimalError when
// r has more than 4 fraction digits or more than 18 digits in all. A nil r
// gives a nil (null) Decimal.
func DecimalFromRat(r *big.Rat) (Decimal, error) {
	if r == nil {
		return nil, nil
	}
	n := new(big.Int).Mul(r.Num(), big.NewInt(10_000))
	q, m := new(big.Int).QuoRem(n, r.Denom(), new(big.Int))
	if m.Sign() != 0 {
		return nil, &DecimalError{Text: r.RatString(), Reason: "more than " + strconv.Itoa(DecimalScale) + " fraction digits"}
	}
	if !q.IsInt64() || q.Int64() > maxUnscaled || q.Int64() < -maxUnscaled {
		return nil, &DecimalError{Text: r.RatString(), Reason: "more than " + strconv.Itoa(DecimalPrecision-DecimalScale) + " integer digits"}
	}
	return DecimalFromUnscaled(q.Int64()), nil
}

// IsNull reports whether d is null.
func (d Decimal) IsNull() bool { return d == nil }

// Unscaled returns d × 10^4 as an int64. It fails for a null Decimal and
// for one (written by a foreign producer) that does not fit 64 bits.
func (d Decimal) Unscaled() (int64, error) {
	if d == nil {
		return 0, errors.New("schemas: null decimal")
	}
	// Sign-extension bytes (a foreign writer's fixed-width form) carry no
	// digits.
	for len(d) > 8 && ((d[0] == 0x00 && d[1]&0x80 == 0) || (d[0] == 0xFF && d[1]&0x80 != 0)) {
		d = d[1:]
	}
	switch {
	case len(d) == 0:
		return 0, nil
	case len(d) > 8:
		return 0, &DecimalError{Text: d.errorText(), Reason: "does not fit 64 bits"}
	}
	v := int64(int8(d[0])) // sign-extend
	for _, b := range d[1:] {
		v = v<<8 | int64(b)
	}
	return v, nil
}

// errorText is d's value as text for an error: exact up to 32 bytes (77
// digits), beyond that only its size, since printing a number costs time
// quadratic in its digits (a megabyte of them, seconds). Not d.String():
// it calls Unscaled.
func (d Decimal) errorText() string {
	if len(d) <= 32 {
		return formatRat(d.bigRat())
	}
	return fmt.Sprintf("(a number of %d bytes, about %d digits)", len(d), len(d)*8*30103/100000)
}

// Rat returns d's exact value, or nil for a null Decimal.
func (d Decimal) Rat() *big.Rat {
	if d == nil {
		return nil
	}
	if v, err := d.Unscaled(); err == nil {
		return big.NewRat(v, 10_000)
	}
	return d.bigRat()
}

// bigRat returns the value of a non-empty d of any length.
func (d Decimal) bigRat() *big.Rat {
	n := new(big.Int).SetBytes(d)
	if d[0]&0x80 != 0 {
		n.Sub(n, new(big.Int).Lsh(big.NewInt(1), uint(len(d))*8))
	}
	return new(big.Rat).SetFrac(n, big.NewInt(10_000))
}

// String returns d as decimal text with no trailing fraction zeros ("12.99",
// "5", "-0.5"), the form a JSON number for Dsco takes; "null" for null.
func (d Decimal) String() string {
	if d == nil {
		return "null"
	}
	v, err := d.Unscaled()
	if err != nil {
		return formatRat(d.Rat())
	}
	neg := v < 0
	u := uint64(v)
	if neg {
		u = uint64(-v)
	}
	s := strconv.FormatUint(u, 10)
	if len(s) <= DecimalScale {
		s = strings.Repeat("0", DecimalScale-len(s)+1) + s
	}
	s = s[:len(s)-DecimalScale] + "." + s[len(s)-DecimalScale:]
	s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	if neg && s != "0" {
		s = "-" + s
	}
	return s
}

// MarshalJSON writes d as a JSON number, or null.
func (d Decimal) MarshalJSON() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalJSON reads a JSON number (or null) with ParseDecimal's rules.
func (d *Decimal) UnmarshalJSON(b []byte) error {
	s := string(bytes.TrimSpace(b))
	if s == "null" {
		*d = nil
		return nil
	}
	v, err := ParseDecimal(s)
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// formatRat returns r as decimal text with DecimalScale fraction digits at
// most, trailing fraction zeros dropped (the form Decimal.String writes).
func formatRat(r *big.Rat) string {
	s := r.FloatString(DecimalScale)
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	if s == "-0" {
		return "0"
	}
	return s
}

// Ptr returns a pointer to v: a shorthand for the nullable fields of the
// records (Ptr("abc"), Ptr(int32(3)), Ptr(time.Now())).
func Ptr[T any](v T) *T { return &v }
