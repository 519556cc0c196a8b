package kafka

// The decompression of record batches, bounded: Kafka bounds what a batch takes
// compressed (message.max.bytes), not what it decompresses to, and the codecs' own
// readers allocate what a batch's headers claim (a Snappy chunk's length, a zstd frame's
// window) before they find the data is not there. A batch of a few bytes could make a
// reader allocate gigabytes.

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/klauspost/compress/snappy"
	"github.com/klauspost/compress/zstd"
	"github.com/segmentio/kafka-go/compress"
)

// errTooLarge is a batch that decompresses to more than MaxDecompressedBytes.
var errTooLarge = errors.New("decompresses to more than MaxDecompressedBytes")

// decompress appends the records of a batch compressed with codec, src, to r.plain's
// storage and returns them, or fails (errTooLarge among others) having allocated at most
// MaxDecompressedBytes for them, whatever src claims (about twice that for a zstd batch of
// several frames, which the library bounds one frame at a time; producers write one).
func (r *PartitionReader) decompress(codec compress.Compression, src []byte) ([]byte, error) {
	limit := r.cfg.MaxDecompressedBytes
	var out []byte
	var err error
	switch codec {
	case compress.Snappy:
		out, err = unsnappy(r.plain[:0], src, limit)
	case compress.Zstd:
		if r.zstd == nil {
			// Its limit bounds the window a frame may ask for as well as the output.
			if r.zstd, err = zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(uint64(limit))); err != nil {
				return nil, err
			}
		}
		out, err = r.zstd.DecodeAll(src, r.plain[:0])
		if errors.Is(err, zstd.ErrDecoderSizeExceeded) || errors.Is(err, zstd.ErrWindowSizeExceeded) {
			err = errTooLarge
		}
	default: // gzip and lz4: streams whose readers hold a window or block of bounded size
		c := codec.Codec()
		if c == nil {
			return nil, fmt.Errorf("unknown compression %d", codec)
		}
		zr := c.NewReader(bytes.NewReader(src))
		out, err = readAtMost(r.plain[:0], zr, limit)
		_ = zr.Close()
	}
	if cap(out) > cap(r.plain) && cap(out) <= 2*r.cfg.MaxBytes {
		r.plain = out[:0] // kept for the next batch; a larger one goes with its records
	}
	if errors.Is(err, errTooLarge) {
		return nil, fmt.Errorf("%w (%d bytes)", errTooLarge, limit)
	}
	return out, err
}

// readAtMost appends what zr yields to dst, failing with errTooLarge past limit bytes in
// all; its storage grows no further than limit+1 bytes.
func readAtMost(dst []byte, zr io.Reader, limit int) ([]byte, error) {
	for {
		if len(dst) == cap(dst) {
			dst = slices.Grow(dst, min(max(len(dst), 64<<10), limit+1-len(dst)))
		}
		n, err := zr.Read(dst[len(dst):min(cap(dst), limit+1)])
		dst = dst[:len(dst)+n]
		switch {
		case len(dst) > limit:
			return dst, errTooLarge
		case err == io.EOF:
			return dst, nil
		case err != nil:
			return dst, err
		}
	}
}

// xerialHeader starts Snappy data in the framing of the xerial library, which the Java
// client writes: the header (magic, version, compatible version), then chunks, each a
// 4-byte length and a Snappy block.
var xerialHeader = []byte{0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0}

// unsnappy appends the Snappy data src (xerial-framed, or one bare block as librdkafka
// writes it) to dst, checking each block's claimed length against limit before it
// allocates room for it.
func unsnappy(dst, src []byte, limit int) ([]byte, error) {
	if len(src) < 16 || !bytes.Equal(src[:8], xerialHeader) {
		return unsnappyBlock(dst, src, limit)
	}
	for src = src[16:]; len(src) > 0; {
		if len(src) < 4 {
			return dst, fmt.Errorf("snappy: a chunk's length cut short")
		}
		n := int(binary.BigEndian.Uint32(src))
		if src = src[4:]; n > len(src) {
			return dst, fmt.Errorf("snappy: a chunk of %d bytes where %d are left", n, len(src))
		}
		var err error
		if dst, err = unsnappyBlock(dst, src[:n], limit); err != nil {
			return dst, err
		}
		src = src[n:]
	}
	return dst, nil
}

// unsnappyBlock appends the Snappy block src to dst.
func unsnappyBlock(dst, src []byte, limit int) ([]byte, error) {
	n, err := snappy.DecodedLen(src)
	if err != nil {
		return dst, fmt.Errorf("snappy: %w", err)
	}
	if n > limit-len(dst) {
		return dst, errTooLarge
	}
	dst = slices.Grow(dst, n)
	if _, err := snappy.Decode(dst[len(dst):len(dst)+n], src); err != nil {
		return dst, fmt.Errorf("snappy: %w", err)
	}
	return dst[:len(dst)+n], nil
}
