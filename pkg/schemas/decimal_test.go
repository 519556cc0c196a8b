package schemas_test

import (
	"math/big"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dscokafka/connector/pkg/schemas"
)

func TestDecimalFromString(t *testing.T) {
	tests := []struct {
		in      string
		want    string // FormatDecimal of the result
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
		{in: "1e999999999", wantErr: "exponent out of range"},
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
			got, err := schemas.DecimalFromString(tt.in)
			if tt.wantErr != "" {
				require.ErrorIs(t, err, schemas.ErrInvalidDecimal)
				var de *schemas.DecimalError
				require.ErrorAs(t, err, &de)
				assert.Equal(t, tt.in, de.Text)
				assert.Contains(t, err.Error(), tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, schemas.FormatDecimal(got))
		})
	}
	t.Run("exact value", func(t *testing.T) {
		got, err := schemas.DecimalFromString("0.1")
		require.NoError(t, err)
		assert.Equal(t, 0, got.Cmp(big.NewRat(1, 10)))
	})
}

func FuzzDecimalFromString(f *testing.F) {
	for _, s := range []string{"12.99", "-0.5", "1e2", "125e-4", "99999999999999.9999", "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := schemas.DecimalFromString(s)
		if err != nil {
			return
		}
		// Whatever parses must survive formatting and parsing again.
		again, err := schemas.DecimalFromString(schemas.FormatDecimal(r))
		require.NoError(t, err)
		require.Equal(t, 0, r.Cmp(again))
	})
}
