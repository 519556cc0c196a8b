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
	"math"

	"github.com/klauspost/compress/snappy"
	"github.com/klauspost/compress/zstd"
	"github.com/segmentio/kafka-go/compress"
)

// errTooLarge is a batch that decompresses to more than MaxDecompressedBytes.
var errTooLarge = errors.New("decompresses to more than MaxDecompressedBytes")

// decompress appends the records of a batch compressed with codec, src, to r.plain's
// storage and returns them, or fails (errTooLarge among others) having decompressed at
// most MaxDecompressedBytes of them (a zstd block, at most 128 KiB, more), whatever src
// claims.
func (r *PartitionReader) decompress(codec compress.Compression, src []byte) ([]byte, error) {
	// A limit near the largest int (no bound, in effect) is taken as the largest whose
	// storage sizes (the limit and a byte; a zstd block and the decoder's room past it)
	// do not overflow: no batch comes near either.
	limit := min(r.cfg.MaxDecompressedBytes, math.MaxInt-zstdBlockMax-zstdOverAlloc)
	var out []byte
	var err error
	switch codec {
	case compress.Snappy:
		out, err = unsnappy(r.plain[:0], src, limit)
	case compress.Zstd:
		out, err = r.unzstd(r.plain[:0], src, limit)
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
		err = fmt.Errorf("%w (%d bytes)", errTooLarge, limit)
	}
	return out, err
}

// readAtMost appends what zr yields to dst, failing with errTooLarge past limit bytes in
// all; its storage grows no further than limit+1 bytes.
func readAtMost(dst []byte, zr io.Reader, limit int) ([]byte, error) {
	for {
		if len(dst) == cap(dst) {
			dst = grown(dst, 1, limit+1)
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

// unzstd appends the zstd frames src to dst, failing with errTooLarge once they
// decompress to more than limit bytes in all (dst included), having decompressed at most
// one block (128 KiB) past it. The decoder bounds what one frame decompresses to, and
// DecodeAll bounds what it returns only after each frame: given a batch's frames together
// it decompressed up to twice limit. So each frame is decoded alone, within what the
// frames before it leave of limit: one that declares its content size is refused when
// that does not fit, and is held to it by the decoder; one that does not, and whose
// blocks' headers allow it more than what is left, is decoded with what is left as the
// decoder's bound, which bounds the window it may ask for as well: such a frame after the
// first does not decode when it asks for a window larger than what is left, even where
// its content would fit (as the first does not when it asks for more than limit).
// Producers write one frame a batch, which is decoded with limit as its bound, the
// decoder's options unchanged from batch to batch.
func (r *PartitionReader) unzstd(dst, src []byte, limit int) ([]byte, error) {
	for len(src) > 0 {
		var h zstd.Header
		n, most, err := zstdFrameLen(&h, src)
		if err != nil {
			return dst, err
		}
		frame, left := src[:n], limit-len(dst)
		src = src[n:]
		// With a content size, limit: the decoder checks it plus what dst already holds
		// against its bound, and would refuse with what is left a frame that fits.
		bound := uint64(limit)
		switch {
		case h.Skippable:
			continue
		case h.HasFCS && h.FrameContentSize > uint64(left):
			return dst, errTooLarge
		case h.HasFCS:
			most = int(h.FrameContentSize)
		case most > left:
			bound = uint64(max(left, 1)) // the decoder's least; one byte is then too many
		}
		// Room for the frame, so that the decoder need not grow dst: it would grow it to the
		// size of each frame with a content size, copying what the frames before hold, and
		// a batch of many such frames would cost their number squared.
		dst = grown(dst, min(most, left+zstdBlockMax)+zstdOverAlloc, limit+zstdBlockMax+zstdOverAlloc)
		if r.zstd == nil {
			if r.zstd, err = zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(bound)); err != nil {
				return dst, err
			}
		} else if bound != r.zstdMax {
			if err = r.zstd.ResetWithOptions(nil, zstd.WithDecoderMaxMemory(bound)); err != nil {
				return dst, err
			}
		}
		r.zstdMax = bound
		dst, err = r.zstd.DecodeAll(frame, dst)
		switch {
		case errors.Is(err, zstd.ErrDecoderSizeExceeded) || errors.Is(err, zstd.ErrWindowSizeExceeded) || len(dst) > limit:
			return dst, errTooLarge
		case err != nil:
			return dst, err
		}
	}
	return dst, nil
}

const (
	zstdBlockMax  = 128 << 10 // the most a zstd block decompresses to
	zstdOverAlloc = 16        // the room past a frame the decoder wants, to copy 16 bytes at a time
)

// zstdFrameLen returns the length of the zstd frame src starts with, a skippable frame or
// one of blocks, and the most it may decompress to, read from its header (into h) and its
// blocks' headers, without decoding it.
func zstdFrameLen(h *zstd.Header, src []byte) (size, most int, err error) {
	rest, err := h.DecodeAndStrip(src)
	switch {
	case err != nil:
		return 0, 0, fmt.Errorf("zstd: frame header: %w", err)
	case h.Skippable:
		if uint64(h.SkippableSize) > uint64(len(rest)) {
			return 0, 0, fmt.Errorf("zstd: a skippable frame of %d bytes where %d are left", h.SkippableSize, len(rest))
		}
		return h.HeaderSize + int(h.SkippableSize), 0, nil
	}
	for last := false; !last; {
		if len(rest) < 3 {
			return 0, 0, errors.New("zstd: a frame cut short")
		}
		bh := int(rest[0]) | int(rest[1])<<8 | int(rest[2])<<16
		size := bh >> 3
		switch bh >> 1 & 3 {
		case 0: // raw
			most += size
		case 1: // RLE: one byte, repeated size times
			most, size = most+size, 1
		default: // compressed, or reserved (which does not decode)
			most += zstdBlockMax
		}
		if rest = rest[3:]; size > len(rest) {
			return 0, 0, fmt.Errorf("zstd: a block of %d bytes where %d are left", size, len(rest))
		}
		rest, last = rest[size:], bh&1 == 1
	}
	if h.HasCheckSum {
		if len(rest) < 4 {
			return 0, 0, errors.New("zstd: a frame's checksum cut short")
		}
		rest = rest[4:]
	}
	return len(src) - len(rest), most, nil
}

// grown returns dst with room for n more bytes, its storage at least doubled where it
// must grow, but no larger than most bytes (at least len(dst)+n): append's growth, which
// slices.Grow uses, rounds up by as much as a quarter of what dst holds, past most.
func grown(dst []byte, n, most int) []byte {
	if n <= cap(dst)-len(dst) {
		return dst
	}
	return append(make([]byte, 0, min(max(len(dst)+n, 2*len(dst), 64<<10), most)), dst...)
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
	dst = grown(dst, n, limit)
	if _, err := snappy.Decode(dst[len(dst):len(dst)+n], src); err != nil {
		return dst, fmt.Errorf("snappy: %w", err)
	}
	return dst[:len(dst)+n], nil
}
