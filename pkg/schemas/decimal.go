package schemas

import (
	"math/big"
	"strconv"
	"strings"
)

// The Avro decimal type of every money field: bytes, precision 18, scale 4.
// 18 digits with 4 after the point hold amounts up to 99,999,999,999,999.9999
// and fit a Java long, so every standard client handles them.
const (
	DecimalPrecision = 18
	DecimalScale     = 4
)

// DecimalFromString returns the exact value of a JSON number's text (for
// example "12.99", "-0.5", "1e2") as a *big.Rat, without passing through
// float64. It fails with a *DecimalError (errors.Is ErrInvalidDecimal) when
// the text is not a JSON number, has more than DecimalScale significant
// fraction digits (trailing zeros are fine), or does not fit
// DecimalPrecision digits.
func DecimalFromString(s string) (*big.Rat, error) {
	fail := func(reason string) (*big.Rat, error) {
		return nil, &DecimalError{Text: s, Reason: reason}
	}
	rest := s
	neg := false
	if strings.HasPrefix(rest, "-") {
		neg = true
		rest = rest[1:]
	}
	mant, expText, hasExp := strings.Cut(strings.ToLower(rest), "e")
	intPart, fracPart, hasPoint := strings.Cut(mant, ".")
	if !isDigits(intPart) || (hasPoint && !isDigits(fracPart)) ||
		(len(intPart) > 1 && intPart[0] == '0') {
		return fail("not a JSON number")
	}
	exp := 0
	if hasExp {
		e := strings.TrimPrefix(expText, "+")
		if !isDigits(strings.TrimPrefix(e, "-")) {
			return fail("not a JSON number")
		}
		n, err := strconv.Atoi(e)
		if err != nil || n > 1000 || n < -1000 {
			// Only a zero survives such an exponent; anything else is far
			// outside decimal(18,4) either way.
			if strings.Trim(intPart+fracPart, "0") == "" {
				return new(big.Rat), nil
			}
			return fail("exponent out of range")
		}
		exp = n
	}
	digits := strings.TrimLeft(intPart+fracPart, "0")
	scale := len(fracPart) - exp // value = digits × 10^-scale
	for len(digits) > 0 && digits[len(digits)-1] == '0' && scale > 0 {
		digits = digits[:len(digits)-1]
		scale--
	}
	if digits == "" {
		return new(big.Rat), nil
	}
	if scale > DecimalScale {
		return fail("more than " + strconv.Itoa(DecimalScale) + " fraction digits")
	}
	if len(digits)-scale > DecimalPrecision-DecimalScale {
		return fail("more than " + strconv.Itoa(DecimalPrecision-DecimalScale) + " integer digits")
	}
	if scale < 0 {
		digits += strings.Repeat("0", -scale)
		scale = 0
	}
	num, ok := new(big.Int).SetString(digits, 10)
	if !ok {
		return fail("not a JSON number")
	}
	if neg {
		num.Neg(num)
	}
	den := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(scale)), nil)
	return new(big.Rat).SetFrac(num, den), nil
}

// FormatDecimal returns r as decimal text with DecimalScale fraction digits
// at most and no trailing zeros after the point ("12.99", "5", "-0.5"), the
// form a JSON number for Dsco takes.
func FormatDecimal(r *big.Rat) string {
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
// records (Ptr("abc"), Ptr(int32(3)), and Ptr(rat) for a **big.Rat).
func Ptr[T any](v T) *T { return &v }

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
