package schemas_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/dscokafka/connector/pkg/schemas"
)

// FuzzDecode shows that decoding arbitrary bytes never panics and never
// allocates without bound: every input either decodes or fails with an
// error. The seed corpus holds a valid frame of every record.
func FuzzDecode(f *testing.F) {
	reg := newRegistry(f)
	serde := newSerde(f, reg, schemas.Config{MaxBytes: 1 << 16, MaxItems: 1 << 12})
	for _, r := range fixtures() {
		b, err := serde.Encode(r)
		require.NoError(f, err)
		f.Add(b)
	}
	f.Add([]byte{})
	f.Add([]byte{0, 0, 0, 0, 1})
	f.Fuzz(func(t *testing.T, data []byte) {
		// Unknown ids are answered by the registry (404) and are not cached,
		// so keep the fuzzer on the ids that exist to exercise the decoder.
		if len(data) >= 5 && data[0] == 0 {
			data[1], data[2], data[3] = 0, 0, 0
			data[4] = 1 + data[4]%byte(len(schemas.All()))
		}
		r, err := serde.DecodeAny(t.Context(), data)
		if err != nil {
			require.Nil(t, r)
			if len(data) >= 5 && data[0] == 0 && !schemas.StricterThanReflect(err) {
				// The reflective decoder refuses the same bytes (but for what
				// it does not check).
				for _, d := range schemas.All() {
					require.Error(t, serde.DecodeReflect(t.Context(), data, d.New()))
				}
			}
			require.True(t, schemas.IsPermanent(err), "arbitrary bytes give permanent errors: %v", err)
			return
		}
		// Whatever decodes is a record of the contract whose frame named
		// it. (It need not encode again: like other Avro decoders, decoding
		// does not enforce a decimal's precision, so validation is the
		// consumer's job.)
		require.NotNil(t, r)
		_ = r.Key()
		again := schemas.DescriptorOf(r).New()
		require.NoError(t, serde.Decode(t.Context(), data, again))
		// The generated decoders agree with hamba/avro's reflective one.
		viaReflect := schemas.DescriptorOf(r).New()
		require.NoError(t, serde.DecodeReflect(t.Context(), data, viaReflect))
		require.Equal(t, viaReflect, r)
	})
}

// FuzzDecodeForeign is FuzzDecode under foreign writer schemas: every record
// is registered in three more versions than ours (decimals at scale 6 as
// bytes, at scale 2 as fixed, and at scale 6 with a wider precision; fields
// added, removed and reordered; enum symbols reordered), and the seed
// corpus holds values written with each of them. Whatever the bytes, a
// decode either succeeds or fails with a permanent error; the process never
// crashes (hamba/avro's own resolution crashed on an array block count of
// math.MinInt64 after about 118,000 iterations). What decodes from a
// foreign writer decodes the same on both paths and is a valid record of
// ours: it encodes with our schema and reads back equal.
func FuzzDecodeForeign(f *testing.F) {
	reg := newRegistry(f)
	serde := newSerde(f, reg, schemas.Config{MaxBytes: 1 << 16, MaxItems: 1 << 12})
	var ids []int
	foreign := map[int]bool{}
	scale6 := map[*schemas.Descriptor]int{} // id of the first foreign version
	for _, d := range schemas.All() {
		id, _ := serde.SchemaID(d)
		ids = append(ids, id)
		want := fixtures()[d.RecordName]
		own, err := serde.Encode(want)
		require.NoError(f, err)
		f.Add(own)
		for i, spec := range []foreignSpec{{scale: 6, precision: 20}, {scale: 2, precision: 20, fixed: true}, {scale: 6, precision: 30}} {
			fs := deriveForeign(f, d, spec)
			id := registerSubject(f, reg.URL(), fmt.Sprintf("foreign-%d-%s", i, d.Topic), fs.text)
			ids = append(ids, id)
			foreign[id] = true
			if i == 0 {
				scale6[d] = id
			}
			f.Add(foreignValue(f, serde, fs, id, want, func(_ string, v *big.Rat) *big.Rat {
				if v == nil || spec.scale >= 4 {
					return v
				}
				return new(big.Rat).SetFrac(new(big.Int).Quo(new(big.Int).Mul(v.Num(), big.NewInt(100)), v.Denom()), big.NewInt(100))
			}))
			if spec.precision == 30 {
				// Amounts the reader refuses: too many digits either way.
				f.Add(foreignValue(f, serde, fs, id, want, func(_ string, v *big.Rat) *big.Rat {
					return mustRat("-1234567890123456.123456")
				}))
			}
		}
	}
	// The crash class itself: block counts of math.MinInt64 where the
	// first foreign versions (fields in reverse order, two added fields
	// first) have an array: the added array, the order's items (after the
	// order's added fields and a null shipping address), the result's
	// errors (after time, offset, partition, topic and attempts).
	header := func(id int) []byte { return []byte{0, byte(id >> 24), byte(id >> 16), byte(id >> 8), byte(id)} }
	f.Add(slices.Concat(header(scale6[schemas.Events[0]]), []byte{0}, varintMinInt64))
	f.Add(slices.Concat(header(scale6[schemas.Events[0]]), []byte{0, 0, 0, 0, 0}, varintMinInt64))
	f.Add(slices.Concat(header(scale6[schemas.Result]), []byte{0, 0, 2, 2, 2, 0, 2}, varintMinInt64))
	f.Fuzz(func(t *testing.T, data []byte) {
		// Keep the fuzzer on the ids that exist (unknown ids go to the
		// registry and are not cached).
		id := 0
		if len(data) >= 5 && data[0] == 0 {
			id = int(binary.BigEndian.Uint32(data[1:5]))
			if !slices.Contains(ids, id) {
				id = ids[int(data[4])%len(ids)]
				binary.BigEndian.PutUint32(data[1:5], uint32(id))
			}
		}
		r, err := serde.DecodeAny(t.Context(), data)
		if err != nil {
			require.Nil(t, r)
			require.True(t, schemas.IsPermanent(err), "arbitrary bytes give permanent errors: %v", err)
			if foreign[id] {
				var me *schemas.MalformedError
				var de *schemas.DecimalError
				require.True(t, errors.As(err, &me) || errors.As(err, &de), "a body that does not decode is malformed or holds an amount we cannot hold: %v", err)
				if de != nil {
					require.NotEmpty(t, de.Field)
				}
			}
			return
		}
		require.NotNil(t, r)
		_ = r.Key()
		again := schemas.DescriptorOf(r).New()
		require.NoError(t, serde.Decode(t.Context(), data, again))
		require.Equal(t, r, again)
		viaReflect := schemas.DescriptorOf(r).New()
		require.NoError(t, serde.DecodeReflect(t.Context(), data, viaReflect))
		require.Equal(t, viaReflect, r)
		if foreign[id] {
			// Resolution produced a valid record of ours.
			b, err := serde.Encode(r)
			require.NoError(t, err)
			back := schemas.DescriptorOf(r).New()
			require.NoError(t, serde.Decode(t.Context(), b, back))
			require.Equal(t, r, back)
		}
	})
}

// registerSubject registers schema text under subject and returns its id.
func registerSubject(t testing.TB, url, subject, text string) int {
	t.Helper()
	cl, err := newRegistryClient(url)
	require.NoError(t, err)
	ss, err := cl.CreateSchema(context.Background(), subject, sr.Schema{Schema: text, Type: sr.TypeAvro})
	require.NoError(t, err)
	return ss.ID
}
