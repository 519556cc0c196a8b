package schemas_test

import (
	"testing"

	"github.com/stretchr/testify/require"

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
			if len(data) >= 5 && data[0] == 0 {
				// The reflective decoder refuses the same bytes.
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
