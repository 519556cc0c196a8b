package kafka

import (
	"errors"
	"slices"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"
)

// FuzzBatches reads a fetch response's record batches (magic 2) and messages of the old
// formats (magic 0 and 1), as FetchMessage reads them, a batch that does not decode
// standing in for itself (standIn) once fetched enough times: whatever the bytes, the
// reader does not panic, decompresses into no more than MaxDecompressedBytes, returns
// records at increasing offsets from the one asked for, never moves its offset back, and
// each of its records lies within the batch it came from.
func FuzzBatches(f *testing.F) {
	now := time.UnixMilli(1_700_000_000_000)
	recs := []kafkago.Message{
		{Key: []byte("k"), Value: []byte("one"), Time: now, Headers: []kafkago.Header{{Key: "h", Value: []byte("x")}, {Key: "null"}}},
		{Value: []byte("two"), Time: now.Add(time.Second)},
	}
	v := []byte("v")
	for _, codec := range []Compression{CompressionNone, CompressionGzip, CompressionSnappy, CompressionLz4, CompressionZstd} {
		f.Add(slices.Concat(RecordBatch(10, codec, recs...), RecordBatch(12, codec, recs[1])), int64(10))
	}
	for _, codec := range []Compression{CompressionGzip, CompressionSnappy, CompressionLz4} {
		attrs := map[Compression]byte{CompressionGzip: 1, CompressionSnappy: 2, CompressionLz4: 3}[codec]
		f.Add(slices.Concat(LegacyMessage(0, 0, 10, 0, []byte("k"), v),
			LegacyMessage(1, attrs, 12, 0, nil, Compressed(codec, slices.Concat(LegacyMessage(1, 0, 0, 0, nil, v), LegacyMessage(1, 0, 1, 0, nil, v)))),
			LegacyMessage(0, attrs, 14, 0, nil, Compressed(codec, slices.Concat(LegacyMessage(0, 0, 13, 0, nil, v), LegacyMessage(0, 0, 14, 0, nil, v))))),
			int64(11))
	}
	f.Fuzz(func(t *testing.T, batches []byte, from int64) {
		const limit = 1 << 20
		r := NewPartitionReader(PartitionReaderConfig{Topic: "t", MaxBytes: 64 << 10, MaxDecompressedBytes: limit})
		defer r.Close()
		from &= 1<<40 - 1
		r.SetOffset(from)
		r.batches = batches
		prev := from - 1
		for {
			offset := r.offset
			rec, ok, err := r.next()
			if r.offset < offset {
				t.Fatalf("the offset moved back from %d to %d", offset, r.offset)
			}
			var bad *batchError
			if !ok && errors.As(err, &bad) {
				if r.batch.last < r.offset {
					continue
				}
				for !ok {
					rec, ok = r.standIn(bad)
				}
				if r.offset != rec.Offset+1 || Undecodable(rec) == nil {
					t.Fatalf("stand-in at %d, reader at %d", rec.Offset, r.offset)
				}
			}
			if len(r.plain) > limit || cap(r.plain) > 2*64<<10 {
				t.Fatalf("decompressed buffer of %d bytes, capacity %d", len(r.plain), cap(r.plain))
			}
			if !ok {
				if err != nil && !errors.Is(err, errMalformed) {
					t.Fatalf("an error that is neither a batch's nor the response's: %v", err)
				}
				return
			}
			if rec.Offset <= prev || rec.Offset > r.batch.last {
				t.Fatalf("a record at offset %d after offset %d, in a batch ending at %d", rec.Offset, prev, r.batch.last)
			}
			prev = rec.Offset
		}
	})
}
