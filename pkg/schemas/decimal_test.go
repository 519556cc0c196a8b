package schemas_test

import (
	"encoding/json"
	"math/big"
	"strconv"
	"testing"

	"github.com/hamba/avro/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dscokafka/connector/pkg/schemas"
)

func TestParseDecimal(t *testing.T) {
	tests := []struct {
		in      string
		want    string // the result's String
		wantErr string
	}{
		{in: "12.99", want: "12.99"},
		{in: "0", want: "0"},
		{in: "-0", want: "0"},
		{in: "-0.5", want: "-0.5"},
		{in: "12.990000", want: "12.99"},
		{in: "1e2", want: "100"},
		{in: "1.5E+3", want: "1500"},
		{in: "125e-4", want: "0.0125"},
		{in: "0.0001", want: "0.0001"},
		{in: "0e999999999", want: "0"},
		{in: "99999999999999.9999", want: "99999999999999.9999"},
		{in: "-99999999999999.9999", want: "-99999999999999.9999"},
		{in: "0.1", want: "0.1"}, // exact, unlike float64
		{in: "12.99001", wantErr: "more than 4 fraction digits"},
		{in: "1e-5", wantErr: "more than 4 fraction digits"},
		{in: "100000000000000", wantErr: "more than 14 integer digits"},
		{in: "1e14", wantErr: "more than 14 integer digits"},
		{in: "1e999999999", wantErr: "more than 14 integer digits"},
		{in: "", wantErr: "not a JSON number"},
		{in: "12.", wantErr: "not a JSON number"},
		{in: ".5", wantErr: "not a JSON number"},
		{in: "+1", wantErr: "not a JSON number"},
		{in: "01", wantErr: "not a JSON number"},
		{in: "1,5", wantErr: "not a JSON number"},
		{in: "NaN", wantErr: "not a JSON number"},
		{in: "1e", wantErr: "not a JSON number"},
		{in: "--1", wantErr: "not a JSON number"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := schemas.ParseDecimal(tt.in)
			if tt.wantErr != "" {
				require.ErrorIs(t, err, schemas.ErrInvalidDecimal)
				var de *schemas.DecimalError
				require.ErrorAs(t, err, &de)
				assert.Equal(t, tt.in, de.Text)
				assert.Contains(t, err.Error(), tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got.String())
		})
	}
	t.Run("exact value", func(t *testing.T) {
		got, err := schemas.ParseDecimal("0.1")
		require.NoError(t, err)
		assert.Equal(t, 0, got.Rat().Cmp(big.NewRat(1, 10)))
	})
}

func FuzzParseDecimal(f *testing.F) {
	for _, s := range []string{"12.99", "-0.5", "1e2", "125e-4", "99999999999999.9999", "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := schemas.ParseDecimal(s)
		if err != nil {
			return
		}
		// Whatever parses must survive formatting and parsing again.
		again, err := schemas.ParseDecimal(d.String())
		require.NoError(t, err)
		require.Equal(t, d, again)
	})
}

// TestDecimalBytesMatchHamba checks that hamba/avro's own decimal codec
// reads a Decimal as the same value, and that the bytes are what hamba
// writes except where hamba is not minimal (it writes -128 as FF 80; Java's
// BigInteger.toByteArray, like Decimal, writes 80).
func TestDecimalBytesMatchHamba(t *testing.T) {
	schema := avro.MustParse(`{"type":"bytes","logicalType":"decimal","precision":18,"scale":4}`)
	plain := avro.MustParse(`"bytes"`)
	for _, in := range []string{"0", "1", "-1", "12.99", "-12.99", "0.0001", "-0.0001", "0.0128", "-0.0128",
		"0.0127", "3.2768", "-3.2768", "99999999999999.9999", "-99999999999999.9999", "1e10", "6.5536"} {
		t.Run(in, func(t *testing.T) {
			d, err := schemas.ParseDecimal(in)
			require.NoError(t, err)
			r, ok := new(big.Rat).SetString(in)
			require.True(t, ok)
			want, err := avro.Marshal(schema, r)
			require.NoError(t, err)
			got, err := avro.Marshal(plain, []byte(d))
			require.NoError(t, err)
			if len(want) == len(got) {
				assert.Equal(t, want, got)
			} else {
				assert.Equal(t, want[2:], got[1:], "hamba adds one sign byte")
				assert.Equal(t, byte(0xFF), want[1])
			}

			var back *big.Rat
			require.NoError(t, avro.Unmarshal(schema, got, &back))
			assert.Equal(t, 0, back.Cmp(r))
			assert.Equal(t, 0, d.Rat().Cmp(r))
			again, err := schemas.ParseDecimal(d.String())
			require.NoError(t, err)
			assert.Equal(t, d, again, "String reads back as the same value")

			fromRat, err := schemas.DecimalFromRat(r)
			require.NoError(t, err)
			assert.Equal(t, d, fromRat)
		})
	}
}

func TestDecimalFromRat(t *testing.T) {
	tests := []struct {
		name    string
		in      *big.Rat
		wantErr string
	}{
		{name: "nil is null", in: nil},
		{name: "a third", in: big.NewRat(1, 3), wantErr: "fraction digits"},
		{name: "five fraction digits", in: big.NewRat(1, 100_000), wantErr: "fraction digits"},
		{name: "too large", in: new(big.Rat).SetInt64(1e14), wantErr: "integer digits"},
		{name: "largest", in: big.NewRat(999_999_999_999_999_999, 10_000)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := schemas.DecimalFromRat(tt.in)
			if tt.wantErr != "" {
				require.ErrorIs(t, err, schemas.ErrInvalidDecimal)
				assert.Contains(t, err.Error(), tt.wantErr)
				return
			}
			require.NoError(t, err)
			if tt.in == nil {
				assert.True(t, d.IsNull())
				assert.Nil(t, d.Rat())
				return
			}
			assert.Equal(t, 0, d.Rat().Cmp(tt.in))
		})
	}
}

func TestDecimalJSON(t *testing.T) {
	var v struct {
		Cost  schemas.Decimal `json:"cost"`
		Price schemas.Decimal `json:"price"`
	}
	require.NoError(t, json.Unmarshal([]byte(`{"cost": 12.990, "price": null}`), &v))
	assert.Equal(t, "12.99", v.Cost.String())
	assert.True(t, v.Price.IsNull())
	out, err := json.Marshal(v)
	require.NoError(t, err)
	assert.JSONEq(t, `{"cost": 12.99, "price": null}`, string(out))
	require.ErrorIs(t, json.Unmarshal([]byte(`{"cost": 0.00001}`), &v), schemas.ErrInvalidDecimal)
}

func TestDecimalFromUnscaledIsMinimalTwosComplement(t *testing.T) {
	// The vectors of Java's BigInteger.toByteArray.
	tests := []struct {
		v    int64
		want []byte
	}{
		{0, []byte{0x00}},
		{1, []byte{0x01}},
		{127, []byte{0x7F}},
		{128, []byte{0x00, 0x80}},
		{-1, []byte{0xFF}},
		{-128, []byte{0x80}},
		{-129, []byte{0xFF, 0x7F}},
		{32768, []byte{0x00, 0x80, 0x00}},
		{-32768, []byte{0x80, 0x00}},
		{999_999_999_999_999_999, []byte{0x0D, 0xE0, 0xB6, 0xB3, 0xA7, 0x63, 0xFF, 0xFF}},
	}
	for _, tt := range tests {
		t.Run(strconv.FormatInt(tt.v, 10), func(t *testing.T) {
			d := schemas.DecimalFromUnscaled(tt.v)
			assert.Equal(t, tt.want, []byte(d))
			v, err := d.Unscaled()
			require.NoError(t, err)
			assert.Equal(t, tt.v, v)
		})
	}
}

// TestDecimalBeyond64Bits: a Decimal longer than 8 bytes, as a foreign
// writer may send, formats and converts without recursing (String and
// Unscaled used to call each other without end on one).
func TestDecimalBeyond64Bits(t *testing.T) {
	wide := schemas.Decimal{0x01, 0, 0, 0, 0, 0, 0, 0, 0} // 2^64
	assert.Equal(t, "1844674407370955.1616", wide.String())
	assert.Equal(t, "1844674407370955.1616", wide.Rat().FloatString(4))
	_, err := wide.Unscaled()
	require.ErrorIs(t, err, schemas.ErrInvalidDecimal)

	negative := schemas.Decimal{0xfe, 0xff, 0, 0, 0, 0, 0, 0, 0, 0}
	assert.Equal(t, "-474081322694335476.5312", negative.String()) // -(2^72 + 2^64)

	padded := schemas.Decimal{0, 0, 0, 0, 0, 0, 0, 0, 0, 0x30, 0x39} // 12345, sign-extended
	v, err := padded.Unscaled()
	require.NoError(t, err)
	assert.Equal(t, int64(12345), v)
	assert.Equal(t, "1.2345", padded.String())
}
