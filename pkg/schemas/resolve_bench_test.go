package schemas_test

import (
	"math/big"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dscokafka/connector/pkg/schemas"
)

// Decoding an order event (five items) written under a foreign writer
// schema: decimals at scale 6, two fields added to every record (an array
// of maps and a nested record, skipped), one removed, fields in reverse
// order (the worst case: every record is reordered); and, for the
// Rescaled benchmarks, decimals at scale 6 and nothing else changed. The
// value is resolved into our schema's encoding and read by the same decoder
// as our own values; compare with BenchmarkDecodeOrderEvent and
// BenchmarkDecodeOrderEventReuse.

var (
	reshaped = foreignSpec{scale: 6, precision: 20}
	rescaled = foreignSpec{scale: 6, precision: 20, decimalsOnly: true}
)

func foreignOrderEvent(b *testing.B, spec foreignSpec) (*schemas.Serde, []byte) {
	b.Helper()
	reg := newRegistry(b)
	serde := newSerde(b, reg, schemas.Config{Records: schemas.Events})
	d := schemas.Events[0]
	fs := deriveForeign(b, d, spec)
	id := registerSubject(b, reg.URL(), "foreign-order-value", fs.text)
	data := foreignValue(b, serde, fs, id, orderEvent(5), func(_ string, v *big.Rat) *big.Rat { return v })
	var ev schemas.OrderEvent
	require.NoError(b, serde.Decode(b.Context(), data, &ev)) // fetch and compile once
	return serde, data
}

func BenchmarkDecodeOrderEventForeign(b *testing.B) {
	serde, data := foreignOrderEvent(b, reshaped)
	b.SetBytes(int64(len(data)))
	ctx := b.Context()
	b.ReportAllocs()
	for b.Loop() {
		var ev schemas.OrderEvent
		if err := serde.Decode(ctx, data, &ev); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeOrderEventForeignReuse(b *testing.B) {
	serde, data := foreignOrderEvent(b, reshaped)
	b.SetBytes(int64(len(data)))
	ctx := b.Context()
	var ev schemas.OrderEvent
	b.ReportAllocs()
	for b.Loop() {
		if err := serde.Decode(ctx, data, &ev); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeOrderEventForeignCPU(b *testing.B) {
	for _, c := range []struct {
		name string
		spec foreignSpec
	}{{"reshaped", reshaped}, {"rescaled", rescaled}} {
		serde, data := foreignOrderEvent(b, c.spec)
		b.Run(c.name+"/new", func(b *testing.B) { benchDecodeCPU(b, serde, data, false) })
		b.Run(c.name+"/reuse", func(b *testing.B) { benchDecodeCPU(b, serde, data, true) })
	}
}
