package kafka

import (
	"encoding/binary"
	"runtime"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	kafkago "github.com/segmentio/kafka-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestDecompressionBounded: a compressed record batch that decompresses to more than
// MaxDecompressedBytes does not decode, with every codec, and one within it does; and
// batches whose headers claim gigabytes (a Snappy chunk, a Snappy block, a zstd window:
// the codecs' own readers allocated 2, 4 and 0.5 GiB for them) fail having allocated
// little. Each such batch goes the way of every batch that does not decode (see
// TestPartitionReaderUndecodableBatch); decompressing them had no bound at all.
func TestDecompressionBounded(t *testing.T) {
	const limit = 256 << 10
	zeros := func(n int) kafkago.Message {
		return kafkago.Message{Key: []byte("k"), Value: make([]byte, n), Time: time.UnixMilli(1_700_000_000_000)}
	}
	type tc struct {
		name  string
		batch []byte
		err   string // "": the batch decodes, one record of its value
		value int
	}
	// zstd's frames as kafka-go's writer makes them ask for an 8 MiB window, past this
	// limit: these are made as a producer that knows the size makes them (librdkafka),
	// with a window of their content's size.
	compressed := func(codec Compression, rec kafkago.Message) []byte {
		if codec != CompressionZstd {
			return RecordBatch(10, codec, rec)
		}
		enc, err := zstd.NewWriter(nil)
		require.NoError(t, err)
		defer enc.Close()
		return craftedBatch(4, 0, 1, enc.EncodeAll(RecordBatch(10, CompressionNone, rec)[batchHeaderSize:], nil))
	}
	var cases []tc
	for _, codec := range []Compression{CompressionGzip, CompressionSnappy, CompressionLz4, CompressionZstd} {
		cases = append(cases,
			tc{name: string(codec) + " past the limit", batch: compressed(codec, zeros(1<<20)),
				err: "at offsets 10 to 10 (" + string(codec) + ") decompresses to more than MaxDecompressedBytes (262144 bytes)"},
			tc{name: string(codec) + " within the limit", batch: compressed(codec, zeros(200<<10)), value: 200 << 10},
		)
	}
	xerial := append([]byte{0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0, 0, 0, 0, 1, 0, 0, 0, 1}, 0x7f, 0xff, 0xff, 0xff, 1, 2, 3)
	block := append(binary.AppendUvarint(nil, 1<<32-1), 0, 'x')
	zstdFrame := []byte{0x28, 0xb5, 0x2f, 0xfd, 0, 19 << 3, 16<<3 | 1<<1 | 1, 0, 0, 'x'} // a 512 MiB window, one RLE block
	cases = append(cases,
		tc{name: "a Snappy chunk claiming 2 GiB", batch: craftedBatch(2, 0, 1, xerial), err: "a chunk of 2147483647 bytes where 3 are left"},
		tc{name: "a Snappy block claiming 4 GiB", batch: craftedBatch(2, 0, 1, block), err: "(snappy) decompresses to more than MaxDecompressedBytes"},
		tc{name: "a zstd window of 512 MiB", batch: craftedBatch(4, 0, 1, zstdFrame), err: "(zstd) decompresses to more than MaxDecompressedBytes"},
	)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := NewPartitionReader(PartitionReaderConfig{Topic: "t", MaxDecompressedBytes: limit})
			defer r.Close()
			r.SetOffset(10)
			r.batches = tc.batch
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			rec, ok, err := r.next()
			runtime.ReadMemStats(&after)
			if tc.err == "" {
				require.NoError(t, err)
				require.True(t, ok)
				assert.Len(t, rec.Value, tc.value)
				return
			}
			assert.False(t, ok)
			require.ErrorIs(t, err, ErrUndecodable)
			assert.ErrorContains(t, err, tc.err)
			assert.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(16<<20), "bytes allocated")
		})
	}
}
