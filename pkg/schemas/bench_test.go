package schemas_test

import (
	"syscall"
	"testing"
	"time"

	"github.com/hamba/avro/v2"

	"github.com/stretchr/testify/require"

	"github.com/dscokafka/connector/pkg/schemas"
)

// The hot paths: the inbound pipeline encodes an order event per Dsco
// event; the outbound one decodes commands. Target: ≤ 2 µs each for an
// order with five items. Decode of values written with our own schemas goes
// through the generated decoders of avrodecode_gen.go; the Reflect and
// HambaBaseline benchmarks measure hamba/avro's reflective decoder.

func BenchmarkEncodeOrderEvent(b *testing.B) {
	serde := newSerde(b, newRegistry(b), schemas.Config{Records: schemas.Events})
	ev := orderEvent(5)
	buf := make([]byte, 0, 2048)
	b.ReportAllocs()
	start := cpuTime()
	defer reportCPU(b, start)
	for b.Loop() {
		var err error
		buf, err = serde.AppendEncode(buf[:0], ev)
		if err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(int64(len(buf)))
}

func BenchmarkEncodeOrderEventNewSlice(b *testing.B) {
	serde := newSerde(b, newRegistry(b), schemas.Config{Records: schemas.Events})
	ev := orderEvent(5)
	b.ReportAllocs()
	start := cpuTime()
	defer reportCPU(b, start)
	for b.Loop() {
		if _, err := serde.Encode(ev); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeOrderEvent(b *testing.B) {
	serde := newSerde(b, newRegistry(b), schemas.Config{Records: schemas.Events})
	data, err := serde.Encode(orderEvent(5))
	require.NoError(b, err)
	b.SetBytes(int64(len(data)))
	ctx := b.Context()
	b.ReportAllocs()
	start := cpuTime()
	defer reportCPU(b, start)
	for b.Loop() {
		var ev schemas.OrderEvent
		if err := serde.Decode(ctx, data, &ev); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeOrderEventReuse decodes into one record again and again,
// as a hot consumer that keeps one record per goroutine does.
func BenchmarkDecodeOrderEventReuse(b *testing.B) {
	serde := newSerde(b, newRegistry(b), schemas.Config{Records: schemas.Events})
	data, err := serde.Encode(orderEvent(5))
	require.NoError(b, err)
	b.SetBytes(int64(len(data)))
	ctx := b.Context()
	var ev schemas.OrderEvent
	b.ReportAllocs()
	start := cpuTime()
	defer reportCPU(b, start)
	for b.Loop() {
		if err := serde.Decode(ctx, data, &ev); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeOrderEventReflect is Decode through hamba/avro's
// reflective decoder (values of foreign writer schemas are resolved by
// resolve.go and read by the hand-written decoders: see
// BenchmarkDecodeOrderEventForeign).
func BenchmarkDecodeOrderEventReflect(b *testing.B) {
	serde := newSerde(b, newRegistry(b), schemas.Config{Records: schemas.Events})
	data, err := serde.Encode(orderEvent(5))
	require.NoError(b, err)
	b.SetBytes(int64(len(data)))
	ctx := b.Context()
	b.ReportAllocs()
	start := cpuTime()
	defer reportCPU(b, start)
	for b.Loop() {
		var ev schemas.OrderEvent
		if err := serde.DecodeReflect(ctx, data, &ev); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncodeShipCommand(b *testing.B) {
	serde := newSerde(b, newRegistry(b), schemas.Config{Records: schemas.Commands})
	cmd := fixtures()["io.dscokafka.v1.ShipCommand"]
	buf := make([]byte, 0, 256)
	b.ReportAllocs()
	start := cpuTime()
	defer reportCPU(b, start)
	for b.Loop() {
		var err error
		buf, err = serde.AppendEncode(buf[:0], cmd)
		if err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeShipCommandReuse(b *testing.B) {
	serde := newSerde(b, newRegistry(b), schemas.Config{Records: schemas.Commands})
	data, err := serde.Encode(fixtures()["io.dscokafka.v1.ShipCommand"])
	require.NoError(b, err)
	ctx := b.Context()
	var cmd schemas.ShipCommand
	b.ReportAllocs()
	start := cpuTime()
	defer reportCPU(b, start)
	for b.Loop() {
		if err := serde.Decode(ctx, data, &cmd); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeShipCommand(b *testing.B) {
	serde := newSerde(b, newRegistry(b), schemas.Config{Records: schemas.Commands})
	data, err := serde.Encode(fixtures()["io.dscokafka.v1.ShipCommand"])
	require.NoError(b, err)
	ctx := b.Context()
	b.ReportAllocs()
	start := cpuTime()
	defer reportCPU(b, start)
	for b.Loop() {
		var cmd schemas.ShipCommand
		if err := serde.Decode(ctx, data, &cmd); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseDecimal(b *testing.B) {
	b.ReportAllocs()
	start := cpuTime()
	defer reportCPU(b, start)
	for b.Loop() {
		if _, err := schemas.ParseDecimal("12345.6789"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeOrderEventHambaBaseline is hamba/avro's Unmarshal of the
// same body with no framing, registry or resolution: the floor the Serde's
// Decode is measured against.
func BenchmarkDecodeOrderEventHambaBaseline(b *testing.B) {
	serde := newSerde(b, newRegistry(b), schemas.Config{Records: schemas.Events})
	data, err := serde.Encode(orderEvent(5))
	require.NoError(b, err)
	body := data[5:]
	schema := schemas.Events[0].Schema
	b.ReportAllocs()
	start := cpuTime()
	defer reportCPU(b, start)
	for b.Loop() {
		var ev schemas.OrderEvent
		if err := avro.Unmarshal(schema, body, &ev); err != nil {
			b.Fatal(err)
		}
	}
}

// cpuTime is the CPU time the process has used (getrusage): benchmarks
// report it per operation as cpu-ns/op, which a machine shared with other
// work disturbs less than the wall-clock ns/op.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func reportCPU(b *testing.B, start time.Duration) {
	b.ReportMetric(float64(cpuTime()-start)/float64(b.N), "cpu-ns/op")
}
