package schemas

import (
	"errors"
	"io"
	"math/big"
	"testing"

	"github.com/hamba/avro/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func parse(t *testing.T, text string) avro.Schema {
	t.Helper()
	s, err := avro.ParseWithCache(text, "", &avro.SchemaCache{})
	require.NoError(t, err)
	return s
}

// fresh returns a hamba/avro API with its own codec cache: its default
// one keys codecs of named types by name, so that the writer's and the
// reader's versions of a type would share one.
func fresh() avro.API { return avro.Config{}.Freeze() }

// resolveValue writes v with writer (hamba/avro's encoder) and resolves the
// bytes into reader.
func resolveValue(t *testing.T, reader, writer string, v any) ([]byte, error) {
	t.Helper()
	w := parse(t, writer)
	body, err := fresh().Marshal(w, v)
	require.NoError(t, err)
	p, err := compilePlan(parse(t, reader), w)
	require.NoError(t, err)
	rs := &resolver{maxBytes: 1 << 20, maxItems: 1 << 10}
	return rs.resolve(p, body, "test.R")
}

// TestResolutionRules checks each Avro resolution rule against hamba/avro's
// encoder: resolving a value written with the writer schema gives the bytes
// hamba/avro writes for the expected value with the reader schema.
func TestResolutionRules(t *testing.T) {
	tests := []struct {
		name           string
		reader, writer string
		value, want    any
	}{
		{
			name:   "promotions",
			writer: `{"type":"record","name":"R","fields":[{"name":"a","type":"int"},{"name":"b","type":"int"},{"name":"c","type":"long"},{"name":"d","type":"float"},{"name":"e","type":"string"},{"name":"f","type":"bytes"},{"name":"g","type":"int"},{"name":"h","type":"long"}]}`,
			reader: `{"type":"record","name":"R","fields":[{"name":"a","type":"long"},{"name":"b","type":"double"},{"name":"c","type":"float"},{"name":"d","type":"double"},{"name":"e","type":"bytes"},{"name":"f","type":"string"},{"name":"g","type":"float"},{"name":"h","type":"double"}]}`,
			value:  map[string]any{"a": -3, "b": 1 << 30, "c": int64(1) << 40, "d": float32(1.25), "e": "é", "f": []byte("hi"), "g": -7, "h": int64(-1) << 50},
			want:   map[string]any{"a": int64(-3), "b": float64(1 << 30), "c": float32(1 << 40), "d": 1.25, "e": []byte("é"), "f": "hi", "g": float32(-7), "h": float64(int64(-1) << 50)},
		},
		{
			name:   "plain value into a nullable union",
			writer: `{"type":"record","name":"R","fields":[{"name":"a","type":"string"},{"name":"b","type":"int"}]}`,
			reader: `{"type":"record","name":"R","fields":[{"name":"a","type":["null","string"]},{"name":"b","type":["null","string","long"]}]}`,
			value:  map[string]any{"a": "x", "b": 9},
			want:   map[string]any{"a": map[string]any{"string": "x"}, "b": map[string]any{"long": int64(9)}},
		},
		{
			name:   "union branches in another order",
			writer: `{"type":"record","name":"R","fields":[{"name":"a","type":["string","null"]},{"name":"b","type":["string","null"]}]}`,
			reader: `{"type":"record","name":"R","fields":[{"name":"a","type":["null","string"]},{"name":"b","type":["null","string"]}]}`,
			value:  map[string]any{"a": map[string]any{"string": "x"}, "b": nil},
			want:   map[string]any{"a": map[string]any{"string": "x"}, "b": nil},
		},
		{
			name:   "union into a plain value",
			writer: `{"type":"record","name":"R","fields":[{"name":"a","type":["int","long"]},{"name":"b","type":["int","long"]}]}`,
			reader: `{"type":"record","name":"R","fields":[{"name":"a","type":"long"},{"name":"b","type":"long"}]}`,
			value:  map[string]any{"a": map[string]any{"int": 5}, "b": map[string]any{"long": int64(1) << 40}},
			want:   map[string]any{"a": int64(5), "b": int64(1) << 40},
		},
		{
			name:   "enum symbols reordered and one unknown to the reader",
			writer: `{"type":"record","name":"R","fields":[{"name":"a","type":{"type":"enum","name":"E","symbols":["c","b","a","z"]}},{"name":"b","type":{"type":"array","items":"E"}}]}`,
			reader: `{"type":"record","name":"R","fields":[{"name":"a","type":{"type":"enum","name":"E","symbols":["a","b","c"],"default":"b"}},{"name":"b","type":{"type":"array","items":"E"}}]}`,
			value:  map[string]any{"a": "c", "b": []any{"a", "z", "b"}},
			want:   map[string]any{"a": "c", "b": []any{"a", "b", "b"}},
		},
		{
			name:   "fields added with defaults of every kind",
			writer: `{"type":"record","name":"R","fields":[{"name":"keep","type":"string"}]}`,
			reader: `{"type":"record","name":"R","fields":[
				{"name":"i","type":"int","default":5},{"name":"l","type":"long","default":-2},
				{"name":"s","type":"string","default":"x"},{"name":"by","type":"bytes","default":"\u00ff"},
				{"name":"keep","type":"string"},
				{"name":"bo","type":"boolean","default":true},{"name":"f","type":"float","default":0.5},{"name":"d","type":"double","default":1.5},
				{"name":"a","type":{"type":"array","items":"int"},"default":[1,2]},
				{"name":"m","type":{"type":"map","values":"int"},"default":{"k":1,"j":2}},
				{"name":"r","type":{"type":"record","name":"S","fields":[{"name":"x","type":"int"},{"name":"y","type":["null","string"],"default":null}]},"default":{"x":3}},
				{"name":"e","type":{"type":"enum","name":"E","symbols":["a","b"]},"default":"b"},
				{"name":"fx","type":{"type":"fixed","name":"F","size":2},"default":"ab"},
				{"name":"u","type":["null","int"],"default":null},{"name":"u2","type":["int","null"],"default":4}]}`,
			value: map[string]any{"keep": "k"},
			want: map[string]any{"i": 5, "l": int64(-2), "s": "x", "by": []byte{0xff}, "keep": "k", "bo": true, "f": float32(0.5), "d": 1.5,
				"a": []any{1, 2}, "m": map[string]any{"j": 2, "k": 1}, "r": map[string]any{"x": 3, "y": nil}, "e": "b", "fx": [2]byte{'a', 'b'},
				"u": nil, "u2": map[string]any{"int": 4}},
		},
		{
			name:   "fields removed, renamed by alias, and reordered at two levels",
			writer: `{"type":"record","name":"R","fields":[{"name":"gone","type":{"type":"array","items":{"type":"map","values":"string"}}},{"name":"b","type":"string"},{"name":"old","type":{"type":"record","name":"In","fields":[{"name":"y","type":"int"},{"name":"drop","type":"double"},{"name":"x","type":"string"}]}}]}`,
			reader: `{"type":"record","name":"R","fields":[{"name":"a","aliases":["old"],"type":{"type":"record","name":"In","fields":[{"name":"x","type":"string"},{"name":"y","type":"long"},{"name":"z","type":"int","default":7}]}},{"name":"b","type":"string"}]}`,
			value:  map[string]any{"gone": []any{map[string]any{"k": "v"}}, "b": "bee", "old": map[string]any{"y": 2, "drop": 0.5, "x": "ex"}},
			want:   map[string]any{"a": map[string]any{"x": "ex", "y": int64(2), "z": 7}, "b": "bee"},
		},
		{
			name:   "a recursive writer and reader",
			writer: `{"type":"record","name":"R","fields":[{"name":"v","type":"int"},{"name":"next","type":["null","R"]}]}`,
			reader: `{"type":"record","name":"R","fields":[{"name":"next","type":["null","R"]},{"name":"v","type":"long"}]}`,
			value:  map[string]any{"v": 1, "next": map[string]any{"R": map[string]any{"v": 2, "next": nil}}},
			want:   map[string]any{"v": int64(1), "next": map[string]any{"R": map[string]any{"v": int64(2), "next": nil}}},
		},
		{
			name:   "map of strings to decimals rescaled",
			writer: `{"type":"record","name":"R","fields":[{"name":"m","type":{"type":"map","values":{"type":"bytes","logicalType":"decimal","precision":10,"scale":2}}}]}`,
			reader: `{"type":"record","name":"R","fields":[{"name":"m","type":{"type":"map","values":{"type":"bytes","logicalType":"decimal","precision":18,"scale":4}}}]}`,
			value:  map[string]any{"m": map[string]any{"a": big.NewRat(1299, 100), "b": big.NewRat(-5, 1)}},
			want:   map[string]any{"m": map[string]any{"a": big.NewRat(1299, 100), "b": big.NewRat(-5, 1)}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := resolveValue(t, tt.reader, tt.writer, tt.value)
			require.NoError(t, err)
			// Compare by value: read both with the reader schema.
			r := parse(t, tt.reader)
			want, err := fresh().Marshal(r, tt.want)
			require.NoError(t, err)
			var gotV, wantV any
			require.NoError(t, fresh().Unmarshal(r, got, &gotV))
			require.NoError(t, fresh().Unmarshal(r, want, &wantV))
			assert.Equal(t, wantV, gotV)
		})
	}
}

func TestResolutionDecimals(t *testing.T) {
	reader := `{"type":"record","name":"R","fields":[{"name":"amount","type":{"type":"bytes","logicalType":"decimal","precision":18,"scale":4}}]}`
	writer := func(typ string) string {
		return `{"type":"record","name":"R","fields":[{"name":"amount","type":` + typ + `}]}`
	}
	tests := []struct {
		name   string
		writer string
		value  string // as a Rat
		want   string // at the reader's scale; "" when refused
		reason string
	}{
		{"scale 6, exact", `{"type":"bytes","logicalType":"decimal","precision":18,"scale":6}`, "12.99", "12.9900", ""},
		{"scale 6, negative exact", `{"type":"bytes","logicalType":"decimal","precision":18,"scale":6}`, "-0.0001", "-0.0001", ""},
		{"scale 6, inexact", `{"type":"bytes","logicalType":"decimal","precision":18,"scale":6}`, "12.345678", "", "more than 4 fraction digits"},
		{"scale 6, inexact negative", `{"type":"bytes","logicalType":"decimal","precision":18,"scale":6}`, "-0.00001", "", "more than 4 fraction digits"},
		{"scale 2, exact", `{"type":"bytes","logicalType":"decimal","precision":18,"scale":2}`, "-12.5", "-12.5000", ""},
		{"scale 2, too many digits", `{"type":"bytes","logicalType":"decimal","precision":18,"scale":2}`, "123456789012345.5", "", "more than 14 integer digits"},
		{"scale 0, largest that fits", `{"type":"bytes","logicalType":"decimal","precision":18}`, "99999999999999", "99999999999999.0000", ""},
		{"scale 0, one more", `{"type":"bytes","logicalType":"decimal","precision":18}`, "100000000000000", "", "more than 14 integer digits"},
		{"scale 30, exact (big)", `{"type":"bytes","logicalType":"decimal","precision":40,"scale":30}`, "-12.99", "-12.9900", ""},
		{"scale 30, inexact (big)", `{"type":"bytes","logicalType":"decimal","precision":40,"scale":30}`, "1/1000000000000", "", "more than 4 fraction digits"},
		{"precision 38, too many digits (big)", `{"type":"bytes","logicalType":"decimal","precision":38,"scale":4}`, "100000000000000000000", "", "more than 14 integer digits"},
		{"fixed(16), scale 4", `{"type":"fixed","name":"F","size":16,"logicalType":"decimal","precision":30,"scale":4}`, "-7.5", "-7.5000", ""},
		{"fixed(3), scale 1", `{"type":"fixed","name":"F","size":3,"logicalType":"decimal","precision":6,"scale":1}`, "1234.5", "1234.5000", ""},
		{"same scale, precision 20, fits", `{"type":"bytes","logicalType":"decimal","precision":20,"scale":4}`, "99999999999999.9999", "99999999999999.9999", ""},
		{"same scale, precision 20, too many digits", `{"type":"bytes","logicalType":"decimal","precision":20,"scale":4}`, "100000000000000", "", "more than 14 integer digits"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, ok := new(big.Rat).SetString(tt.value)
			require.True(t, ok)
			got, err := resolveValue(t, reader, writer(tt.writer), map[string]any{"amount": v})
			if tt.want == "" {
				var de *DecimalError
				require.ErrorAs(t, err, &de)
				assert.Equal(t, "amount", de.Field)
				assert.Equal(t, "test.R", de.Record)
				assert.Equal(t, tt.reason, de.Reason)
				assert.ErrorIs(t, err, ErrInvalidDecimal)
				return
			}
			require.NoError(t, err)
			var out struct {
				Amount Decimal `avro:"amount"`
			}
			require.NoError(t, fresh().Unmarshal(parse(t, reader), got, &out))
			want, err := ParseDecimal(tt.want)
			require.NoError(t, err)
			assert.Equal(t, want, out.Amount, "minimal two's complement of %s", tt.want)
		})
	}
}

func TestResolutionIncompatible(t *testing.T) {
	rec := func(fields string) string { return `{"type":"record","name":"R","fields":[` + fields + `]}` }
	tests := []struct {
		name           string
		reader, writer string
		path, reason   string
	}{
		{"new field without a default", rec(`{"name":"a","type":"int"},{"name":"b","type":"int"}`), rec(`{"name":"a","type":"int"}`), "b", "without a default"},
		{"type changed", rec(`{"name":"a","type":"int"}`), rec(`{"name":"a","type":"string"}`), "a", "type changed from string to int"},
		{"long no longer fits an int", rec(`{"name":"a","type":"int"}`), rec(`{"name":"a","type":"long"}`), "a", "type changed from long to int"},
		{"union branch unreadable", rec(`{"name":"a","type":["null","string"]}`), rec(`{"name":"a","type":["null","string","int"]}`), "a", "int can no longer be read"},
		{"null into a plain value", rec(`{"name":"a","type":"string"}`), rec(`{"name":"a","type":["null","string"]}`), "a", "type changed from null to string"},
		{"enum lost a symbol", rec(`{"name":"a","type":{"type":"enum","name":"E","symbols":["x"]}}`), rec(`{"name":"a","type":{"type":"enum","name":"E","symbols":["x","y"]}}`), "a", "lost symbol y"},
		{"record renamed", rec(`{"name":"a","type":{"type":"record","name":"S","fields":[]}}`), rec(`{"name":"a","type":{"type":"record","name":"T","fields":[]}}`), "a", "record T replaced by S"},
		{"fixed resized", rec(`{"name":"a","type":{"type":"fixed","name":"F","size":4}}`), rec(`{"name":"a","type":{"type":"fixed","name":"F","size":8}}`), "a", "size from 8 to 4"},
		{"decimal from plain bytes", rec(`{"name":"a","type":{"type":"bytes","logicalType":"decimal","precision":18,"scale":4}}`), rec(`{"name":"a","type":"bytes"}`), "a", "decimal(18,4) cannot be read from bytes"},
		{"decimal from a string", rec(`{"name":"a","type":{"type":"bytes","logicalType":"decimal","precision":18,"scale":4}}`), rec(`{"name":"a","type":"string"}`), "a", "decimal(18,4) cannot be read from string"},
		{"decimal into a string", rec(`{"name":"a","type":"string"}`), rec(`{"name":"a","type":{"type":"bytes","logicalType":"decimal","precision":18,"scale":4}}`), "a", "decimal(18,4) cannot be read as string"},
		{"timestamp unit", rec(`{"name":"a","type":{"type":"long","logicalType":"timestamp-millis"}}`), rec(`{"name":"a","type":{"type":"long","logicalType":"timestamp-micros"}}`), "a", "timestamp-millis cannot be read from a timestamp-micros"},
		{"timestamp from a plain long", rec(`{"name":"a","type":{"type":"long","logicalType":"timestamp-millis"}}`), rec(`{"name":"a","type":"long"}`), "a", "timestamp-millis cannot be read from a plain long"},
		{"date from a plain int", rec(`{"name":"a","type":{"type":"int","logicalType":"date"}}`), rec(`{"name":"a","type":"int"}`), "a", "date cannot be read from a plain int"},
		{"nested path", rec(`{"name":"a","type":{"type":"array","items":{"type":"record","name":"S","fields":[{"name":"b","type":["null","int"]}]}}}`), rec(`{"name":"a","type":{"type":"array","items":{"type":"record","name":"S","fields":[{"name":"b","type":["null","string"]}]}}}`), "a[].b", "string can no longer be read"},
		{"two fields from one", rec(`{"name":"a","type":"int"},{"name":"b","aliases":["a"],"type":"int"}`), rec(`{"name":"a","type":"int"}`), "b", "both be read from the writer's field a"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := compilePlan(parse(t, tt.reader), parse(t, tt.writer))
			require.Error(t, err)
			field, reason, cerr := checkCompatible(parse(t, tt.reader), parse(t, tt.writer))
			require.Error(t, cerr)
			assert.Equal(t, tt.path, field)
			assert.Contains(t, reason, tt.reason)
			assert.Equal(t, err.Error(), cerr.Error(), "the check and the decoding give one verdict")
		})
	}
}

// TestResolutionDepth: a recursive writer type cannot exhaust the stack.
func TestResolutionDepth(t *testing.T) {
	writer := `{"type":"record","name":"R","fields":[{"name":"skipped","type":{"type":"record","name":"L","fields":[{"name":"next","type":["null","L"]}]}},{"name":"v","type":"int"}]}`
	reader := `{"type":"record","name":"R","fields":[{"name":"v","type":"int"}]}`
	p, err := compilePlan(parse(t, reader), parse(t, writer))
	require.NoError(t, err)
	for _, tt := range []struct {
		depth int
		want  error
	}{{maxResolveDepth - 2, nil}, {maxResolveDepth, errResolveTooDeep}, {1 << 16, errResolveTooDeep}} {
		body := make([]byte, 0, tt.depth+2)
		for range tt.depth {
			body = append(body, 2) // branch L
		}
		body = append(body, 0, 6) // null, then v = 3
		rs := &resolver{maxBytes: 1 << 20, maxItems: 1 << 10}
		out, err := rs.resolve(p, body, "test.R")
		if tt.want != nil {
			assert.ErrorIs(t, err, tt.want, "depth %d", tt.depth)
			continue
		}
		require.NoError(t, err, "depth %d", tt.depth)
		assert.Equal(t, []byte{6}, out)
	}
}

// TestResolverReuse: a pooled resolver starts clean after a failure.
func TestResolverReuse(t *testing.T) {
	reader := `{"type":"record","name":"R","fields":[{"name":"a","type":"string"},{"name":"b","type":"int"}]}`
	writer := `{"type":"record","name":"R","fields":[{"name":"b","type":"int"},{"name":"a","type":"string"}]}`
	p, err := compilePlan(parse(t, reader), parse(t, writer))
	require.NoError(t, err)
	rs := &resolver{maxBytes: 1 << 20, maxItems: 1 << 10}
	_, err = rs.resolve(p, []byte{2, 8, 'a'}, "test.R")
	require.True(t, errors.Is(err, io.ErrUnexpectedEOF), "%v", err)
	out, err := rs.resolve(p, []byte{2, 2, 'a'}, "test.R")
	require.NoError(t, err)
	assert.Equal(t, []byte{2, 'a', 2}, out)
}

// TestResolutionBounds: what a registered schema may declare cannot make a
// small body take long: huge scales are refused without computing huge
// powers of ten, and items that take no bytes are bounded per value.
func TestResolutionBounds(t *testing.T) {
	reader := `{"type":"record","name":"R","fields":[{"name":"a","type":{"type":"bytes","logicalType":"decimal","precision":18,"scale":4}}]}`
	for _, tt := range []struct {
		name, writer string
		body         []byte
		want         string
	}{
		{"scale 10^6 above ours", `{"type":"bytes","logicalType":"decimal","precision":1000000,"scale":1000000}`, []byte{2, 0x7f}, "more than 4 fraction digits"},
		{"scale 10^6 above ours, zero", `{"type":"bytes","logicalType":"decimal","precision":1000000,"scale":1000000}`, []byte{2, 0}, ""},
		{"nine bytes at scale 40", `{"type":"bytes","logicalType":"decimal","precision":60,"scale":40}`, []byte{18, 1, 0, 0, 0, 0, 0, 0, 0, 0}, "more than 4 fraction digits"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p, err := compilePlan(parse(t, reader), parse(t, `{"type":"record","name":"R","fields":[{"name":"a","type":`+tt.writer+`}]}`))
			require.NoError(t, err)
			rs := &resolver{maxBytes: 1 << 20, maxItems: 1 << 10}
			_, err = rs.resolve(p, tt.body, "test.R")
			if tt.want == "" {
				require.NoError(t, err)
				return
			}
			var de *DecimalError
			require.ErrorAs(t, err, &de)
			assert.Equal(t, tt.want, de.Reason)
		})
	}

	t.Run("items that take no bytes", func(t *testing.T) {
		writer := `{"type":"record","name":"R","fields":[{"name":"skipped","type":{"type":"array","items":{"type":"array","items":"null"}}}]}`
		p, err := compilePlan(parse(t, `{"type":"record","name":"R","fields":[]}`), parse(t, writer))
		require.NoError(t, err)
		rs := &resolver{maxBytes: 1 << 20, maxItems: 1 << 10}
		// 100 inner arrays of 1000 nulls each: each within MaxItems, all
		// of them together 100 times over.
		body := resolveVarintOf(100)
		for range 100 {
			body = append(body, resolveVarintOf(1000)...)
			body = append(body, 0)
		}
		body = append(body, 0)
		_, err = rs.resolve(p, body, "test.R")
		assert.ErrorIs(t, err, errResolveItemLimit)
	})
}

func resolveVarintOf(v int64) []byte { return resolveAppendLong(nil, v) }
