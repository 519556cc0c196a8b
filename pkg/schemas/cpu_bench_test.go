package schemas_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dscokafka/connector/pkg/schemas"
)

// Decode CPU per record, measured as process CPU time (getrusage: user +
// system, garbage collection included) rather than wall time, which on a
// shared machine measures the neighbours. Reported as cpu-ns/op.

// benchDecodeCPU decodes data into a new record per op, or into one record
// again and again with reuse.
func benchDecodeCPU(b *testing.B, serde *schemas.Serde, data []byte, reuse bool) {
	ctx := b.Context()
	var ev schemas.OrderEvent
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	start := cpuTime()
	n := 0
	for b.Loop() {
		if !reuse {
			ev = schemas.OrderEvent{}
		}
		if err := serde.Decode(ctx, data, &ev); err != nil {
			b.Fatal(err)
		}
		n++
	}
	b.ReportMetric(float64(cpuTime()-start)/float64(n), "cpu-ns/op")
}

func BenchmarkDecodeOrderEventCPU(b *testing.B) {
	serde := newSerde(b, newRegistry(b), schemas.Config{Records: schemas.Events})
	data, err := serde.Encode(orderEvent(5))
	require.NoError(b, err)
	b.Run("new", func(b *testing.B) { benchDecodeCPU(b, serde, data, false) })
	b.Run("reuse", func(b *testing.B) { benchDecodeCPU(b, serde, data, true) })
}
