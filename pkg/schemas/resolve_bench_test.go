package schemas_test

import (
	"math/big"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dscokafka/connector/pkg/schemas"
)

// Decoding an order event (five items) written under a foreign writer
// schema: decimals at scale 6, two fields added to every record, one
// removed, fields in reverse order. The value is resolved into our schema's
// encoding and read by the same decoder as our own values; compare with
// BenchmarkDecodeOrderEvent and BenchmarkDecodeOrderEventReuse.

func foreignOrderEvent(b *testing.B) (*schemas.Serde, []byte) {
	b.Helper()
	reg := newRegistry(b)
	serde := newSerde(b, reg, schemas.Config{Records: schemas.Events})
	d := schemas.Events[0]
	fs := deriveForeign(b, d, foreignSpec{scale: 6, precision: 20})
	id := registerSubject(b, reg.URL(), "foreign-order-value", fs.text)
	data := foreignValue(b, serde, fs, id, orderEvent(5), func(_ string, v *big.Rat) *big.Rat { return v })
	var ev schemas.OrderEvent
	require.NoError(b, serde.Decode(b.Context(), data, &ev)) // fetch and compile once
	return serde, data
}

func BenchmarkDecodeOrderEventForeign(b *testing.B) {
	serde, data := foreignOrderEvent(b)
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
	serde, data := foreignOrderEvent(b)
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
