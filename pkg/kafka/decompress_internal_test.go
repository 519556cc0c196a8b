package kafka

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	kafkago "github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/compress"
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
	// A batch's records split into zstd frames, each without its content size.
	frames := func(rec kafkago.Message) []byte {
		records := RecordBatch(10, CompressionNone, rec)[batchHeaderSize:]
		half := len(records) / 2
		return craftedBatch(4, 0, 1, slices.Concat(zstdFrame(t, records[:half], false), zstdFrame(t, records[half:], false)))
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
		tc{name: "zstd frames together past the limit", batch: frames(zeros(400 << 10)),
			err: "at offsets 10 to 10 (zstd) decompresses to more than MaxDecompressedBytes (262144 bytes)"},
		tc{name: "zstd frames together within the limit", batch: frames(zeros(200 << 10)), value: 200 << 10},
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

// TestDecompressionStorageBounded: the storage a batch past MaxDecompressedBytes is
// decompressed into grows no larger than MaxDecompressedBytes (and a byte, to find that
// the batch is past it; and a block of 128 KiB with zstd), with every codec, whatever the
// limit. It grew by append's rounding up, as much as a quarter more than what it held
// (84 KiB past this limit with gzip and lz4, 44 KiB with Snappy).
func TestDecompressionStorageBounded(t *testing.T) {
	const limit = 1<<20 + 100<<10 // not a power of two, to which storage doubling from 64 KiB would come
	p := zstdText(limit+300<<10, 6)
	for _, tc := range []struct {
		codec Compression
		src   []byte
		most  int
	}{
		{CompressionGzip, Compressed(CompressionGzip, p), limit + 1},
		{CompressionSnappy, Compressed(CompressionSnappy, p), limit},
		{CompressionLz4, Compressed(CompressionLz4, p), limit + 1},
		{CompressionZstd, zstdFrame(t, p, false), limit + zstdBlockMax + zstdOverAlloc},
	} {
		t.Run(string(tc.codec), func(t *testing.T) {
			r := NewPartitionReader(PartitionReaderConfig{Topic: "t", MaxDecompressedBytes: limit})
			defer r.Close()
			c, err := tc.codec.codec()
			require.NoError(t, err)
			out, err := r.decompress(c, tc.src)
			require.ErrorIs(t, err, errTooLarge)
			assert.Less(t, cap(out), tc.most+8<<10, "storage (the allocator rounds up to 8 KiB)")
		})
	}
}

// TestZstdFramesBounded: the zstd frames of a batch are bounded together, not one at a
// time: a batch whose frames, each within MaxDecompressedBytes, decompress to more
// together is refused having decompressed at most one block (128 KiB) past it, whether
// its frames declare their content size or not, and so is a single frame that declares
// none and decompresses past it; frames within it together decode, skippable frames
// among them. A frame after the first asking for a window larger than what the frames
// before it leave is refused where its blocks could take more than that, as the first is
// when it asks for more than MaxDecompressedBytes, and decodes where they could not (the
// decoder's bound was what is left for every such frame: it was refused). Frames cut short, or followed by what is not a frame, do not
// decode, with what is wrong. After each, the reader decodes a batch of one frame up to
// MaxDecompressedBytes. The decoder bounded each frame alone: frames without their
// content size decompressed to up to twice MaxDecompressedBytes before they were refused.
func TestZstdFramesBounded(t *testing.T) {
	const limit = 256 << 10
	a, b := zstdText(250<<10, 1), zstdText(250<<10, 2)
	skippable := []byte{0x50, 0x2a, 0x4d, 0x18, 3, 0, 0, 0, 'a', 'b', 'c'}
	full := zstdFrame(t, zstdText(limit, 3), false)
	// A frame without content size asking for a window of 64 KiB (its descriptor 6<<3),
	// 1 KiB in one raw block (its header 1024<<3 | last, little-endian).
	// The frame of 1 KiB in one compressed block that zstd's writer makes, which declares
	// its content size, made to declare none and to ask for a window of 64 KiB.
	compressedFrame := zstdFrame(t, b[:1<<10], false)
	var h zstd.Header
	require.NoError(t, h.Decode(compressedFrame))
	require.True(t, h.HasFCS && h.FirstBlock.Last && h.FirstBlock.Compressed && h.FirstBlock.DecompressedSize == 0)
	compressedFrame = slices.Concat(compressedFrame[:4], []byte{compressedFrame[4] &^ 0xc0, 6 << 3}, compressedFrame[h.HeaderSize:])
	withoutLast := func(b []byte, n int) []byte { return b[:len(b)-n] }
	rawFrame := slices.Concat([]byte{0x28, 0xb5, 0x2f, 0xfd, 0, 6 << 3, 0x01, 0x20, 0}, b[:1<<10])
	for _, tc := range []struct {
		name string
		src  []byte
		want []byte // nil: err, or too large
		err  string
	}{
		{name: "frames without content size", src: slices.Concat(zstdFrame(t, a, false), zstdFrame(t, b, false))},
		{name: "frames with content size", src: slices.Concat(zstdFrame(t, a, true), zstdFrame(t, b, true))},
		{name: "a frame with content size after one without", src: slices.Concat(zstdFrame(t, a, false), zstdFrame(t, b, true))},
		{name: "one frame without content size", src: zstdFrame(t, zstdText(1<<20, 4), false)},
		{name: "frames within the limit, a skippable frame among them",
			src:  slices.Concat(rawFrame, zstdFrame(t, a[:100<<10], false), skippable, zstdFrame(t, b[:100<<10], true), zstdFrame(t, a[:50<<10], false)),
			want: slices.Concat(b[:1<<10], a[:100<<10], b[:100<<10], a[:50<<10])},
		{name: "a frame that may take more than what is left, asking for a larger window", src: slices.Concat(zstdFrame(t, a, false), compressedFrame)},
		{name: "a frame that fits what is left, asking for a larger window",
			src: slices.Concat(zstdFrame(t, a, false), rawFrame), want: slices.Concat(a, b[:1<<10])},
		{name: "a frame's header cut short", src: rawFrame[:5], err: "zstd: frame header: unexpected EOF"},
		{name: "a block cut short", src: withoutLast(rawFrame, 1), err: "zstd: a block of 1024 bytes where 1023 are left"},
		{name: "a block's header cut short", src: slices.Concat(zstdFrame(t, a[:1<<10], false), rawFrame[:8]), err: "zstd: a frame cut short"},
		{name: "a checksum cut short", src: withoutLast(zstdFrame(t, a[:1<<10], false), 2), err: "zstd: a frame's checksum cut short"},
		{name: "a skippable frame cut short", src: skippable[:10], err: "zstd: a skippable frame of 3 bytes where 2 are left"},
		{name: "bytes after the frames", src: slices.Concat(rawFrame, []byte("garbage")), err: "zstd: frame header: invalid input: magic number mismatch"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := NewPartitionReader(PartitionReaderConfig{Topic: "t", MaxDecompressedBytes: limit})
			defer r.Close()
			out, err := r.decompress(compress.Zstd, tc.src)
			switch {
			case tc.want != nil:
				require.NoError(t, err)
				assert.Equal(t, tc.want, out)
			case tc.err != "":
				assert.EqualError(t, err, tc.err)
			default:
				require.ErrorIs(t, err, errTooLarge)
				assert.LessOrEqual(t, len(out), limit+128<<10, "bytes decompressed")
			}
			out, err = r.decompress(compress.Zstd, full)
			require.NoError(t, err)
			assert.Len(t, out, limit)
		})
	}
}

// TestZstdManyFrames: a zstd batch of many small frames that declare their content size
// decodes having allocated little. The decoder grew its output to each such frame's end
// exactly, copying what the frames before it hold: for these thousand frames of 1000
// bytes, 500 MB allocated and copied; 16,000 frames of one RLE block of 2000 bytes each
// (176 KB compressed) took 69 s, and a MiB of them would take about half an hour.
func TestZstdManyFrames(t *testing.T) {
	p := zstdText(1000, 5)
	src := slices.Repeat(zstdFrame(t, p, true), 1000)
	r := NewPartitionReader(PartitionReaderConfig{Topic: "t"})
	defer r.Close()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	out, err := r.decompress(compress.Zstd, src)
	runtime.ReadMemStats(&after)
	require.NoError(t, err)
	assert.Equal(t, slices.Repeat(p, 1000), out)
	assert.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(16<<20), "bytes allocated")
}

// zstdText returns n bytes of text, varied by seed, that zstd compresses in blocks of
// sequences, as it does records.
func zstdText(n int, seed uint64) []byte {
	words := []string{"order ", "PO-1234 ", "sku ", "quantity ", "accepted ", "shipped ", "warehouse "}
	rnd := rand.New(rand.NewPCG(seed, seed))
	var b []byte
	for len(b) < n {
		b = append(b, words[rnd.IntN(len(words))]...)
	}
	return b[:n]
}

// zstdFrame returns p compressed as one zstd frame asking for a window of 64 KiB, with its
// content size in its header (as librdkafka and EncodeAll write it) or without (as the
// streaming writers of kafka-go and Kafka's Java client write it).
func zstdFrame(t *testing.T, p []byte, contentSize bool) []byte {
	t.Helper()
	var buf bytes.Buffer
	enc, err := zstd.NewWriter(&buf, zstd.WithWindowSize(64<<10), zstd.WithEncoderConcurrency(1))
	require.NoError(t, err)
	defer enc.Close()
	if contentSize {
		return enc.EncodeAll(p, nil)
	}
	_, err = enc.Write(p)
	require.NoError(t, err)
	require.NoError(t, enc.Close())
	return buf.Bytes()
}

// BenchmarkDecompress decompresses the records of one record batch with each codec, and
// with zstd as one frame without its content size (as kafka-go's and the Java client's
// writers make it) and with it (librdkafka's): 100 records of 1 KiB of JSON, which the
// reader's kept storage holds, and 100 of 40 KiB, which it does not (MaxBytes 256 KiB).
func BenchmarkDecompress(b *testing.B) {
	enc, err := zstd.NewWriter(nil)
	require.NoError(b, err)
	defer enc.Close()
	for _, size := range []int{1 << 10, 40 << 10} {
		recs := make([]kafkago.Message, 100)
		for i := range recs {
			var v []byte
			for j := 0; len(v) < size; j++ {
				v = fmt.Appendf(v, `{"id":"PO-%07d-%d","sku":"SKU-%05d","quantity":%d,"status":"accepted"},`, i, j, (i*31+j*7)%100000, j%13)
			}
			recs[i] = kafkago.Message{Key: fmt.Appendf(nil, "PO-%07d", i), Value: v[:size]}
		}
		records := RecordBatch(10, CompressionNone, recs...)[batchHeaderSize:]
		for _, tc := range []struct {
			name  string
			codec compress.Compression
			src   []byte
		}{
			{"gzip", compress.Gzip, Compressed(CompressionGzip, records)},
			{"snappy", compress.Snappy, Compressed(CompressionSnappy, records)},
			{"lz4", compress.Lz4, Compressed(CompressionLz4, records)},
			{"zstd no content size", compress.Zstd, Compressed(CompressionZstd, records)},
			{"zstd content size", compress.Zstd, enc.EncodeAll(records, nil)},
		} {
			b.Run(fmt.Sprintf("%dKiB/%s", len(records)>>10, tc.name), func(b *testing.B) {
				r := NewPartitionReader(PartitionReaderConfig{Topic: "t"})
				defer r.Close()
				b.SetBytes(int64(len(records)))
				b.ReportAllocs()
				for b.Loop() {
					if _, err := r.decompress(tc.codec, tc.src); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// TestDecompressionLimitNearMaxInt: a MaxDecompressedBytes near the largest int (a
// configuration meaning "no bound") decompresses batches as any other: the arithmetic of
// the storage's growth (the limit and a byte, or a zstd block and the decoder's room past
// it) overflowed to a negative size and panicked, with every codec but Snappy.
func TestDecompressionLimitNearMaxInt(t *testing.T) {
	p := zstdText(100<<10, 7)
	for _, limit := range []int{math.MaxInt, math.MaxInt - zstdBlockMax, math.MaxInt - 2*zstdBlockMax} {
		for _, tc := range []struct {
			codec Compression
			src   []byte
		}{
			{CompressionGzip, Compressed(CompressionGzip, p)},
			{CompressionSnappy, Compressed(CompressionSnappy, p)},
			{CompressionLz4, Compressed(CompressionLz4, p)},
			{CompressionZstd, zstdFrame(t, p, false)},
			{CompressionZstd, zstdFrame(t, p, true)},
		} {
			t.Run(fmt.Sprintf("%s %d", tc.codec, limit), func(t *testing.T) {
				r := NewPartitionReader(PartitionReaderConfig{Topic: "t", MaxDecompressedBytes: limit})
				defer r.Close()
				c, err := tc.codec.codec()
				require.NoError(t, err)
				out, err := r.decompress(c, tc.src)
				require.NoError(t, err)
				assert.Equal(t, p, out)
			})
		}
	}
}
