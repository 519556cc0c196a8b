package kafka

import (
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io"
	"math"
	"net"
	"slices"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/compress"
	"github.com/segmentio/kafka-go/protocol"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// encodedBatch returns recs as one uncompressed record batch from offset base.
func encodedBatch(t *testing.T, base int64, recs ...kafkago.Message) []byte {
	t.Helper()
	return RecordBatch(base, CompressionNone, recs...)
}

// resealed sets the CRC of batch b after a change.
func resealed(b []byte) []byte {
	binary.BigEndian.PutUint32(b[17:], crc32.Checksum(b[21:], castagnoli))
	return b
}

// craftedBatch returns a record batch from offset 10 to 10+lastDelta declaring count
// records whose records section is records, compressed with codec (its compression
// attribute): the header as the Producer writes it, its CRC right.
func craftedBatch(codec byte, lastDelta, count int, records []byte) []byte {
	b := RecordBatch(10, CompressionNone, kafkago.Message{Time: time.UnixMilli(1_700_000_000_000)})[:batchHeaderSize]
	b = append(bytes.Clone(b), records...)
	binary.BigEndian.PutUint32(b[8:], uint32(len(b)-12))
	binary.BigEndian.PutUint16(b[21:], uint16(codec))
	binary.BigEndian.PutUint32(b[23:], uint32(lastDelta))
	binary.BigEndian.PutUint32(b[57:], uint32(count))
	return resealed(b)
}

// TestPartitionReaderBatches decodes record batches as a fetch response carries them: the
// Producer's own encoding read back, a batch cut short at the end of a response, and
// batches that do not decode, each refused with ErrUndecodable naming the batch's offsets
// and what is wrong (errMalformed where the response's framing itself is wrong).
func TestPartitionReaderBatches(t *testing.T) {
	now := time.UnixMilli(time.Now().UnixMilli())
	recs := []kafkago.Message{
		{Key: []byte("a"), Value: []byte("one"), Time: now, Headers: []kafkago.Header{{Key: "h", Value: []byte("x")}, {Key: "null"}}},
		{Key: nil, Value: nil, Time: now.Add(time.Second)},
		{Key: []byte{}, Value: []byte{}, Time: now.Add(2 * time.Second)},
	}
	good := encodedBatch(t, 10, recs...)
	for _, tc := range []struct {
		name    string
		batches func() []byte
		offset  int64
		want    []int64 // offsets returned
		err     string  // in the error after them
		framing bool    // the error is errMalformed, not ErrUndecodable
	}{
		{name: "read back", batches: func() []byte { return good }, offset: 10, want: []int64{10, 11, 12}},
		{name: "from inside the batch", batches: func() []byte { return good }, offset: 12, want: []int64{12}},
		{name: "two batches", batches: func() []byte { return append(bytes.Clone(good), encodedBatch(t, 13, recs[0])...) }, offset: 10, want: []int64{10, 11, 12, 13}},
		{name: "cut short", batches: func() []byte { return append(bytes.Clone(good), encodedBatch(t, 13, recs[0])[:30]...) }, offset: 10, want: []int64{10, 11, 12}},
		{name: "header cut short", batches: func() []byte { return bytes.Clone(good)[:11] }, offset: 10},
		{name: "size smaller than a header", batches: func() []byte {
			b := bytes.Clone(good)
			binary.BigEndian.PutUint32(b[8:], 20)
			return b
		}, offset: 10, err: "claims 20 bytes, fewer than its header", framing: true},
		{name: "bad CRC", batches: func() []byte {
			b := bytes.Clone(good)
			b[len(b)-1] ^= 1
			return b
		}, offset: 10, err: "the record batch of t/0 at offsets 10 to 12 fails its CRC"},
		{name: "magic 1, not a message", batches: func() []byte {
			b := bytes.Clone(good)
			b[16] = 1
			return b
		}, offset: 10, err: "at offsets 10 to 10 has a message that fails its CRC"},
		{name: "unknown format", batches: func() []byte {
			b := bytes.Clone(good)
			b[16] = 3
			return b
		}, offset: 10, err: "at offsets 10 to 12 has an unknown message format, v3"},
		{name: "unknown compression", batches: func() []byte {
			b := bytes.Clone(good)
			b[22] |= 7
			return resealed(b)
		}, offset: 10, err: "at offsets 10 to 12 has unknown compression 7"},
		{name: "record size past the batch", batches: func() []byte {
			b := bytes.Clone(good)
			b[batchHeaderSize] = 0x7e // first record's size: 63
			return resealed(b)
		}, offset: 10, err: "at offsets 10 to 12 has a record whose size does not parse"},
		{name: "header count past the record", batches: func() []byte {
			b := bytes.Clone(good)
			// The second record has no key, value or header: its last byte is its header count.
			size, n := binary.Varint(b[batchHeaderSize:])
			second := batchHeaderSize + n + int(size)
			size2, n2 := binary.Varint(b[second:])
			b[second+n2+int(size2)-1] = 0x7e
			return resealed(b)
		}, offset: 10, err: "at offsets 10 to 12 has a record that does not parse (record 2 of 3)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := NewPartitionReader(PartitionReaderConfig{Topic: "t"})
			r.SetOffset(tc.offset)
			r.batches = tc.batches()
			var got []int64
			var err error
			for {
				var rec kafkago.Message
				var ok bool
				rec, ok, err = r.next()
				if !ok {
					break
				}
				got = append(got, rec.Offset)
				want := recs[int(rec.Offset-10)%len(recs)]
				assert.Equal(t, want.Key, rec.Key)
				assert.Equal(t, want.Key == nil, rec.Key == nil)
				assert.Equal(t, want.Value, rec.Value)
				assert.Equal(t, want.Value == nil, rec.Value == nil)
				assert.Equal(t, want.Headers, rec.Headers)
				assert.True(t, want.Time.Equal(rec.Time))
			}
			assert.Equal(t, tc.want, got)
			if tc.err == "" {
				require.NoError(t, err)
				return
			}
			if tc.framing {
				require.ErrorIs(t, err, errMalformed)
			} else {
				require.ErrorIs(t, err, ErrUndecodable)
			}
			assert.ErrorContains(t, err, tc.err)
			assert.True(t, fetchRetriable(err), "fetched again (an undecodable batch, until standIn gives it up)")
		})
	}
}

// TestParseFetchResponse reads the partition asked for out of Fetch v4 responses, and
// refuses those that do not parse or do not answer for it.
func TestParseFetchResponse(t *testing.T) {
	be := binary.BigEndian
	response := func(corr int32, topic string, partition int32, code int16, records []byte) []byte {
		b := be.AppendUint32(nil, uint32(corr))
		b = be.AppendUint32(b, 0) // throttle
		b = be.AppendUint32(b, 1) // topics
		b = be.AppendUint16(b, uint16(len(topic)))
		b = append(b, topic...)
		b = be.AppendUint32(b, 2) // partitions: another first
		for _, p := range []int32{partition + 1, partition} {
			b = be.AppendUint32(b, uint32(p))
			b = be.AppendUint16(b, uint16(code))
			b = be.AppendUint64(b, 42) // high watermark
			b = be.AppendUint64(b, 42) // last stable offset
			b = be.AppendUint32(b, 1)  // an aborted transaction
			b = be.AppendUint64(b, 7)
			b = be.AppendUint64(b, 3)
			b = be.AppendUint32(b, uint32(len(records)))
			b = append(b, records...)
		}
		return b
	}
	for _, tc := range []struct {
		name string
		body []byte
		want fetchPartition
		err  string
	}{
		{name: "records", body: response(5, "t", 3, 0, []byte("batches")),
			want: fetchPartition{highWatermark: 42, records: []byte("batches"), aborted: []abortedTxn{{producer: 7, first: 3}}}},
		{name: "error code", body: response(5, "t", 3, 1, nil),
			want: fetchPartition{errorCode: 1, highWatermark: 42, records: []byte{}, aborted: []abortedTxn{{producer: 7, first: 3}}}},
		{name: "correlation id", body: response(6, "t", 3, 0, nil), err: "correlation id 6, want 5"},
		{name: "other topic", body: response(5, "u", 3, 0, nil), err: "no answer for t/3"},
		{name: "cut short", body: response(5, "t", 3, 0, []byte("batches"))[:40], err: "malformed fetch response"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseFetchResponse(tc.body, 5, "t", 3)
			if tc.err != "" {
				require.True(t, errors.Is(err, errMalformed), "got %v", err)
				assert.ErrorContains(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}

// TestFetchRequest checks the Fetch v4 request's encoding field by field.
func TestFetchRequest(t *testing.T) {
	b := appendFetchRequest(nil, 9, "cid", "topic", 2, 1234, 250*time.Millisecond, 64<<10, 4096, true)
	d := decoder{b: b}
	assert.Equal(t, int32(len(b)-4), d.int32(), "size")
	assert.Equal(t, int16(1), d.int16(), "api key: Fetch")
	assert.Equal(t, int16(4), d.int16(), "version")
	assert.Equal(t, int32(9), d.int32(), "correlation id")
	assert.Equal(t, "cid", string(d.bytes16()))
	assert.Equal(t, int32(-1), d.int32(), "replica id")
	assert.Equal(t, int32(250), d.int32(), "max wait ms")
	assert.Equal(t, int32(64<<10), d.int32(), "min bytes")
	assert.Equal(t, int32(4096), d.int32(), "max bytes")
	assert.Equal(t, []byte{1}, d.take(1), "isolation level: read_committed")
	assert.Equal(t, int32(1), d.int32(), "topics")
	assert.Equal(t, "topic", string(d.bytes16()))
	assert.Equal(t, int32(1), d.int32(), "partitions")
	assert.Equal(t, int32(2), d.int32(), "partition")
	assert.Equal(t, int64(1234), d.int64(), "offset")
	assert.Equal(t, int32(4096), d.int32(), "partition max bytes")
	assert.False(t, d.failed)
	assert.Empty(t, d.rest())
}

// TestBatchesEnd finds where the next fetch starts: after the last whole batch of a
// response, where it was when the response is empty, and nowhere (an error, not the same
// fetch again) when the response holds records but not one whole batch.
func TestBatchesEnd(t *testing.T) {
	rec := kafkago.Message{Value: []byte("v"), Time: time.Now()}
	two := append(encodedBatch(t, 10, rec, rec), encodedBatch(t, 12, rec)...)
	for _, tc := range []struct {
		name    string
		records []byte
		from    int64
		want    int64
		err     string
	}{
		{name: "empty", from: 7, want: 7},
		{name: "two batches", records: two, from: 10, want: 13},
		{name: "from inside the last batch", records: two, from: 12, want: 13},
		{name: "the last cut short", records: two[:len(two)-3], from: 10, want: 12},
		{name: "the only one cut short", records: two[:30], from: 10, err: "the first record batch at offset 10 is cut short"},
		{name: "old messages", records: slices.Concat(LegacyMessage(0, 0, 10, 0, nil, []byte("v")),
			LegacyMessage(1, 1, 14, 0, nil, Compressed(CompressionGzip, LegacyMessage(1, 0, 0, 0, nil, []byte("v"))))), from: 10, want: 15},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := batchesEnd(tc.records, tc.from)
			if tc.err != "" {
				require.ErrorIs(t, err, errMalformed)
				assert.ErrorContains(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}

// TestUndecodableBatchSeenAfterCancel: a batch that does not decode (a record of it does
// not parse) met by a call whose context has ended is not skipped: the next call reads
// again from it and reports it (here, with no broker to read from again, as a failure),
// never returning its records, or those after it, as read.
func TestUndecodableBatchSeenAfterCancel(t *testing.T) {
	now := time.UnixMilli(time.Now().UnixMilli())
	b := encodedBatch(t, 10, kafkago.Message{Value: []byte("ten"), Time: now},
		kafkago.Message{Value: []byte("eleven"), Time: now}, kafkago.Message{Value: []byte("twelve"), Time: now})
	// Corrupt record 11's length (the CRC resealed: as if the producer wrote it so).
	size, n := binary.Varint(b[batchHeaderSize:])
	b[batchHeaderSize+n+int(size)] = 0x7e
	b = resealed(bytes.Clone(b))

	r := NewPartitionReader(PartitionReaderConfig{Topic: "t"}) // no brokers: a fetch fails
	defer r.Close()
	r.SetOffset(10)
	r.batches = b
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := r.FetchMessage(canceled) // meets the batch
	require.ErrorIs(t, err, context.Canceled)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err = r.FetchMessage(ctx)
	require.Error(t, err)
	assert.Equal(t, int64(10), r.Offset(), "the reader is still at the batch")
}

// TestRetryPause: attempt² × 100ms, at most a second, whatever the attempt (attempt²
// overflows after about 300,000 attempts, as many seconds of an unreachable partition).
func TestRetryPause(t *testing.T) {
	for attempt, want := range map[int]time.Duration{1: 100 * time.Millisecond, 2: 400 * time.Millisecond, 3: 900 * time.Millisecond,
		4: time.Second, 400_000: time.Second, math.MaxInt32: time.Second} {
		assert.Equal(t, want, RetryPause(attempt), "attempt %d", attempt)
	}
}

// TestBatchRecordCount: a batch holds as many records as its header declares, each of
// which parses to its end, at offsets that increase within the batch's; otherwise it does
// not decode (as Kafka's Java client, which trusts the count and fails a batch with bytes
// left after that many records, or too few of them), and none of its records is
// returned. A count below the records skipped those after it, a count of 0 or below
// every record, silently; a count above them was read to the end of the records.
func TestBatchRecordCount(t *testing.T) {
	// rec is a record at offset delta delta, of value "v", with tail after its headers.
	rec := func(delta int64, headers []byte, tail ...byte) []byte {
		body := []byte{0}                   // attributes
		body = binary.AppendVarint(body, 0) // timestamp delta
		body = binary.AppendVarint(body, delta)
		body = binary.AppendVarint(body, -1) // null key
		body = binary.AppendVarint(body, 1)
		body = append(body, 'v')
		if headers == nil {
			headers = binary.AppendVarint(nil, 0)
		}
		body = append(append(body, headers...), tail...)
		return append(binary.AppendVarint(nil, int64(len(body))), body...)
	}
	three := slices.Concat(rec(0, nil), rec(1, nil), rec(2, nil))
	var gzipped bytes.Buffer
	zw := compress.Gzip.Codec().NewWriter(&gzipped)
	_, err := zw.Write(three)
	require.NoError(t, err)
	require.NoError(t, zw.Close())
	nullKey := binary.AppendVarint(binary.AppendVarint(binary.AppendVarint(nil, 1), -1), -1)
	for _, tc := range []struct {
		name  string
		batch []byte
		err   string // "": offsets 10, 11, 12
	}{
		{name: "as declared", batch: craftedBatch(0, 2, 3, three)},
		{name: "as declared, compressed", batch: craftedBatch(1, 2, 3, gzipped.Bytes())},
		{name: "fewer declared than held", batch: craftedBatch(0, 2, 2, three), err: "declares 2 records but holds more (8 bytes after the last)"},
		{name: "fewer declared than held, compressed", batch: craftedBatch(1, 2, 2, gzipped.Bytes()), err: "declares 2 records but holds more"},
		{name: "more declared than held", batch: craftedBatch(0, 2, 4, three), err: "declares 4 records but holds 3"},
		{name: "none declared, some held", batch: craftedBatch(0, 2, 0, three), err: "declares 0 records but holds more"},
		{name: "a negative count", batch: craftedBatch(0, 2, -1, three), err: "declares -1 records"},
		{name: "offsets out of order", batch: craftedBatch(0, 2, 3, slices.Concat(rec(0, nil), rec(2, nil), rec(1, nil))),
			err: "has a record at offset 11 after offset 12"},
		{name: "an offset past the batch's last", batch: craftedBatch(0, 2, 3, slices.Concat(rec(0, nil), rec(1, nil), rec(3, nil))),
			err: "has a record at offset 13, past its last"},
		{name: "bytes after a record's headers", batch: craftedBatch(0, 2, 3, slices.Concat(rec(0, nil), rec(1, nil, 0), rec(2, nil))),
			err: "has a record that does not parse (record 2 of 3)"},
		{name: "a null header key", batch: craftedBatch(0, 2, 3, slices.Concat(rec(0, nullKey), rec(1, nil), rec(2, nil))),
			err: "has a record that does not parse (record 1 of 3)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := NewPartitionReader(PartitionReaderConfig{Topic: "t"})
			defer r.Close()
			r.SetOffset(10)
			r.batches = tc.batch
			var got []int64
			for {
				rec, ok, err := r.next()
				if !ok {
					if tc.err == "" {
						require.NoError(t, err)
						assert.Equal(t, []int64{10, 11, 12}, got)
						return
					}
					require.ErrorIs(t, err, ErrUndecodable)
					assert.ErrorContains(t, err, "the record batch of t/0 at offsets 10 to 12 "+tc.err)
					assert.Empty(t, got, "records of a batch that does not decode")
					return
				}
				got = append(got, rec.Offset)
				assert.Equal(t, []byte("v"), rec.Value)
			}
		})
	}
}

// TestLegacyMessagesChecked: messages of magic 0 and 1 (see TestLegacyMessageSets) are
// read beside record batches in one response, and one whose message or inner messages are
// damaged or inconsistent does not decode, none of its records returned, as a record
// batch that does not (TestBatchRecordCount).
func TestLegacyMessagesChecked(t *testing.T) {
	msg := LegacyMessage
	v := []byte("v")
	gzipped := func(inner ...[]byte) []byte { return Compressed(CompressionGzip, slices.Concat(inner...)) }
	damagedCRC := func(offset int64) []byte {
		b := msg(1, 0, offset, 0, nil, v)
		b[len(b)-1] ^= 1
		return b
	}
	for _, tc := range []struct {
		name    string
		batches []byte
		from    int64   // the offset asked for, 10 when 0
		want    []int64 // offsets returned
		err     string  // in the error after them
	}{
		{name: "beside a record batch", batches: slices.Concat(msg(0, 0, 10, 0, nil, v),
			msg(1, 1, 12, 0, nil, gzipped(msg(1, 0, 0, 0, nil, v), msg(1, 0, 1, 0, nil, v))),
			encodedBatch(t, 13, kafkago.Message{Value: v}, kafkago.Message{Value: v})), want: []int64{10, 11, 12, 13, 14}},
		{name: "from inside a wrapper", batches: msg(1, 1, 12, 0, nil, gzipped(msg(1, 0, 0, 0, nil, v), msg(1, 0, 1, 0, nil, v), msg(1, 0, 2, 0, nil, v))),
			from: 11, want: []int64{11, 12}},
		{name: "a CRC", batches: damagedCRC(10), err: "at offsets 10 to 10 has a message that fails its CRC"},
		{name: "an inner CRC", batches: msg(1, 1, 11, 0, nil, gzipped(msg(1, 0, 0, 0, nil, v), damagedCRC(1))),
			err: "at offsets 10 to 11 has a message that fails its CRC"},
		{name: "an inner message of another format", batches: msg(1, 1, 11, 0, nil, gzipped(msg(1, 0, 0, 0, nil, v), msg(0, 0, 1, 0, nil, v))),
			err: "holds a message of format v0 in one of v1"},
		{name: "an inner message compressed", batches: msg(0, 1, 11, 0, nil, gzipped(msg(0, 1, 11, 0, nil, gzipped(msg(0, 0, 11, 0, nil, v))))),
			err: "holds a compressed message in a compressed one"},
		{name: "inner offsets out of order", batches: msg(0, 1, 11, 0, nil, gzipped(msg(0, 0, 11, 0, nil, v), msg(0, 0, 10, 0, nil, v))),
			err: "holds a message at offset 10 after offset 11"},
		{name: "inner offsets not ending at the wrapper's", batches: msg(0, 1, 12, 0, nil, gzipped(msg(0, 0, 10, 0, nil, v), msg(0, 0, 11, 0, nil, v))),
			err: "at offsets 10 to 12 holds messages at offsets 10 to 11, not ending at its own"},
		{name: "no inner message", batches: msg(1, 1, 10, 0, nil, gzipped()), err: "is a compressed message without messages in it"},
		{name: "no value", batches: msg(1, 1, 10, 0, nil, nil), err: "is a compressed message without a value"},
		// Kafka before 0.10 computed an LZ4 frame's header checksum over its magic number
		// too (KIP-57), which Kafka's Java consumer lets pass for v0 messages only.
		{name: "v0 LZ4 with the header checksum of Kafka before 0.10", batches: msg(0, 3, 11, 0, nil,
			brokenLZ4Checksum(t, Compressed(CompressionLz4, slices.Concat(msg(0, 0, 10, 0, nil, v), msg(0, 0, 11, 0, nil, v))))),
			want: []int64{10, 11}},
		{name: "v1 LZ4 with the header checksum of Kafka before 0.10", batches: msg(1, 3, 11, 0, nil,
			brokenLZ4Checksum(t, Compressed(CompressionLz4, slices.Concat(msg(1, 0, 0, 0, nil, v), msg(1, 0, 1, 0, nil, v))))),
			err: "at offsets 10 to 11 does not decompress (lz4)"},
		{name: "zstd", batches: msg(1, 4, 10, 0, nil, Compressed(CompressionZstd, msg(1, 0, 0, 0, nil, v))),
			err: "is compressed with zstd, which the message format v1 does not allow"},
		{name: "bytes after its value", batches: func() []byte {
			b := append(msg(0, 0, 10, 0, nil, v), 0)
			binary.BigEndian.PutUint32(b[8:], uint32(len(b)-12))
			binary.BigEndian.PutUint32(b[12:], crc32.ChecksumIEEE(b[16:]))
			return b
		}(), err: "has a message that does not parse"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := NewPartitionReader(PartitionReaderConfig{Topic: "t"})
			defer r.Close()
			r.SetOffset(cmp.Or(tc.from, 10))
			r.batches = tc.batches
			var got []int64
			for {
				rec, ok, err := r.next()
				if !ok {
					assert.Equal(t, tc.want, got)
					if tc.err == "" {
						require.NoError(t, err)
						return
					}
					require.ErrorIs(t, err, ErrUndecodable)
					assert.ErrorContains(t, err, tc.err)
					return
				}
				got = append(got, rec.Offset)
				assert.Equal(t, v, rec.Value)
			}
		})
	}
}

// brokenLZ4Checksum returns the LZ4 frame b with its header checksum as Kafka before 0.10
// computed it: over the frame's magic number and its descriptor (FLG, BD), where LZ4's
// covers the descriptor alone (which b's, LZ4's own, is checked to be).
func brokenLZ4Checksum(t *testing.T, b []byte) []byte {
	t.Helper()
	require.Equal(t, byte(xxh32(b[4:6])>>8), b[6], "the frame's own header checksum, a descriptor without options")
	b = bytes.Clone(b)
	b[6] = byte(xxh32(b[:6]) >> 8)
	require.NotEqual(t, byte(xxh32(b[4:6])>>8), b[6], "the broken checksum differs")
	return b
}

// TestDamagedBatchOffsets: a record batch whose CRC fails, or whose format is unknown, has
// a header that cannot be trusted past the offset and size that frame it, and the last
// offset it claims may be anything. It stands in for itself up to the next batch's base
// offset in the response (for the response's last batch, up to the last it claims, but
// not past the high watermark), and the records after it are returned. A last claimed
// before the offset asked for passed the batch over silently, without a stand-in; one
// claimed past the next batch's skipped that batch's records, and the reader read on
// from the last offset claimed.
func TestDamagedBatchOffsets(t *testing.T) {
	rec := kafkago.Message{Value: []byte("v"), Time: time.UnixMilli(1_700_000_000_000)}
	after := encodedBatch(t, 13, rec, rec)
	damaged := func(magic byte, lastDelta int32) []byte {
		b := encodedBatch(t, 10, rec, rec, rec)
		b[16] = magic
		binary.BigEndian.PutUint32(b[23:], uint32(lastDelta)) // not resealed: the CRC fails
		return b
	}
	for _, tc := range []struct {
		name    string
		batches []byte
		hwm     int64
		reason  string  // of the stand-in, at offset 10
		want    []int64 // the offsets of the records after it
		end     int64   // the reader's offset once they are read
	}{
		{name: "a last past the next batch's", batches: slices.Concat(damaged(2, 1000), after), hwm: 15,
			reason: "at offsets 10 to 12 fails its CRC", want: []int64{13, 14}, end: 15},
		{name: "a last before its first", batches: slices.Concat(damaged(2, -5), after), hwm: 15,
			reason: "at offsets 10 to 12 fails its CRC", want: []int64{13, 14}, end: 15},
		{name: "the response's last, a last past the high watermark", batches: damaged(2, 1000), hwm: 13,
			reason: "at offsets 10 to 12 fails its CRC", end: 13},
		{name: "an unknown format, a last before its first", batches: slices.Concat(damaged(3, -5), after), hwm: 15,
			reason: "at offsets 10 to 12 has an unknown message format, v3", want: []int64{13, 14}, end: 15},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := NewPartitionReader(PartitionReaderConfig{Topic: "t"}) // no brokers: the fetch after the batches fails
			defer r.Close()
			r.SetOffset(10)
			r.batches, r.hwm = tc.batches, tc.hwm
			r.bad.offset, r.bad.fetches = 10, undecodableFetches-1 // fetched so twice already
			got := untilFetch(t, r)
			require.NotEmpty(t, got)
			assert.Equal(t, int64(10), got[0].Offset, "the stand-in")
			assert.ErrorContains(t, Undecodable(got[0]), "the record batch of t/0 "+tc.reason)
			assert.Equal(t, tc.want, offsets(got[1:]))
			assert.Equal(t, tc.end, r.Offset())
		})
	}
}

// TestDamagedAbortMarker: with read_committed, a batch that does not decode while a
// producer's aborted transaction is under way may be its abort marker. The records after
// it in the response are not read with the producer still taken as aborting (its next
// transaction, committed, was skipped); they are fetched again, and Kafka's list of
// aborted transactions for that fetch decides. Without a transaction under way, the
// response is read on.
func TestDamagedAbortMarker(t *testing.T) {
	const producer = 7
	rec := kafkago.Message{Value: []byte("v"), Time: time.UnixMilli(1_700_000_000_000)}
	// of returns a batch at base of producer, transactional, or a control batch holding a
	// marker (0 abort, 1 commit) when marker >= 0.
	of := func(base int64, marker int16) []byte {
		b := encodedBatch(t, base, rec)
		binary.BigEndian.PutUint64(b[43:], producer)
		attrs := uint16(0x10)
		if marker >= 0 {
			attrs |= 0x20
			// The record's key: the marker's version (0) and type; its value is not read.
			b = encodedBatch(t, base, kafkago.Message{Key: []byte{0, 0, 0, byte(marker)}, Value: []byte{0, 0}, Time: rec.Time})
			binary.BigEndian.PutUint64(b[43:], producer)
		}
		binary.BigEndian.PutUint16(b[21:], attrs)
		return resealed(b)
	}
	damagedAbort := of(1, 0)
	damagedAbort[len(damagedAbort)-1] ^= 1 // the CRC fails
	for _, tc := range []struct {
		name    string
		aborted []abortedTxn
		want    []int64 // the offsets read after the stand-in, before the fetch
		end     int64   // the reader's offset then
	}{
		{name: "a transaction aborted under way", aborted: []abortedTxn{{producer: producer, first: 0}}, end: 2},
		{name: "none", want: []int64{0, 2}, end: 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := NewPartitionReader(PartitionReaderConfig{Topic: "t", ReadCommitted: true}) // no brokers: a fetch fails
			defer r.Close()
			r.SetOffset(0)
			r.batches, r.hwm, r.aborted = slices.Concat(of(0, -1), damagedAbort, of(2, -1), of(3, 1)), 4, tc.aborted
			r.bad.offset, r.bad.fetches = 1, undecodableFetches-1 // fetched so twice already
			var got, standIns []kafkago.Message
			for _, m := range untilFetch(t, r) {
				if Undecodable(m) != nil {
					standIns = append(standIns, m)
				} else {
					got = append(got, m)
				}
			}
			assert.Equal(t, []int64{1}, offsets(standIns), "the stand-in")
			assert.Equal(t, tc.want, offsets(got))
			assert.Equal(t, tc.end, r.Offset())
		})
	}
}

// untilFetch returns the records r reads from the batches it holds, until it must fetch,
// which fails: r has no brokers.
func untilFetch(t *testing.T, r *PartitionReader) []kafkago.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var got []kafkago.Message
	for {
		m, err := r.FetchMessage(ctx)
		if err != nil {
			require.ErrorIs(t, err, errNoBrokers)
			return got
		}
		got = append(got, m)
	}
}

// offsets returns the offsets of msgs (nil for none).
func offsets(msgs []kafkago.Message) []int64 {
	var out []int64
	for _, m := range msgs {
		out = append(out, m.Offset)
	}
	return out
}

// TestResponseBufferRoom: a response buffer is made with room to spare, so that the next
// responses, a few bytes larger, are read into it, up to a full response (MaxBytes and
// its fields) and no further. Each response larger than the buffer took a new one, of
// its size exactly.
func TestResponseBufferRoom(t *testing.T) {
	client, broker := net.Pipe()
	t.Cleanup(func() { _ = client.Close(); _ = broker.Close() })
	r := &PartitionReader{cfg: PartitionReaderConfig{MaxBytes: 1000, MaxWait: time.Second, Dialer: &kafkago.Dialer{}}, conn: protocol.NewConn(client, "t")}
	req := []byte("request")
	var buf []byte
	for _, tc := range []struct {
		size    int  // the response's, after its size
		same    bool // read into the buffer before
		maxRoom int  // the buffer's capacity at most
	}{
		{400, false, 450},
		{404, true, 450},
		{450, true, 450},
		{451, false, 507},
		{1900, false, 1000 + responseFields},
		{1000 + responseFields, true, 1000 + responseFields},
		{3000, false, 3000}, // a batch larger than MaxBytes comes whole
	} {
		answered := make(chan error, 1)
		go func() {
			if _, err := io.ReadFull(broker, make([]byte, len(req))); err != nil {
				answered <- err
				return
			}
			_, err := broker.Write(binary.BigEndian.AppendUint32(make([]byte, 0, 4+tc.size), uint32(tc.size))[:4+tc.size])
			answered <- err
		}()
		before := buf
		var err error
		buf, err = r.roundTrip(context.Background(), req, buf)
		require.NoError(t, err)
		require.NoError(t, <-answered)
		require.Len(t, buf, tc.size)
		assert.Equal(t, tc.same, before != nil && &before[:1][0] == &buf[0], "a response of %d read into the buffer before", tc.size)
		assert.LessOrEqual(t, cap(buf), tc.maxRoom, "the room after a response of %d", tc.size)
	}
}
