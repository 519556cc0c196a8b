package kafka

// The message formats before Kafka 0.11, magic 0 and 1. A broker serves records as it
// stored them, and Kafka 2.x and 3.x brokers still hold messages that old producers wrote
// in them; Kafka's Java consumer reads them, and so does the PartitionReader. Where a
// fetch response holds a message set instead of record batches, each of its entries is an
// offset, a size and a message; the layouts share their first 17 bytes (offset, size,
// then the magic at byte 16), so each entry is split off as a batch is (wholeBatch) and
// told apart by its magic. A compressed message (a wrapper) holds a message set of
// uncompressed messages of its own magic as its value: their offsets are absolute with
// magic 0, and relative with magic 1, where the wrapper's offset is its last inner
// message's.

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math"
	"math/bits"
	"time"

	kafkago "github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/compress"
)

// legacyOverhead is the size of a message of magic 0 and 1 without its key and value:
// CRC, magic, attributes, timestamp (magic 1), and the key's and value's lengths.
var legacyOverhead = [2]int{14, 22}

// legacyMessage is a message of magic 0 or 1.
type legacyMessage struct {
	offset     int64 // as its entry says: absolute, or relative within a wrapper of magic 1
	magic      byte
	attrs      byte   // codec (bits 0-2); with magic 1, the broker's timestamps (bit 3)
	time       int64  // milliseconds; magic 1 only
	key, value []byte // nil when null
}

// parseLegacy reads the message set entry at the start of b. It returns the message, the
// bytes after the entry, and what is wrong with it: "" when it parses to its end and its
// CRC holds.
func parseLegacy(b []byte) (m legacyMessage, rest []byte, why string) {
	d := decoder{b: b}
	m.offset = d.int64()
	size := int(d.int32())
	if d.failed || size < 0 || size > len(d.rest()) {
		return m, nil, "has a message whose size does not parse"
	}
	rest = d.rest()[size:]
	d = decoder{b: d.rest()[:size]}
	crc := uint32(d.int32())
	if !d.failed && crc32.ChecksumIEEE(d.rest()) != crc {
		return m, rest, "has a message that fails its CRC"
	}
	if head := d.take(2); head != nil {
		m.magic, m.attrs = head[0], head[1]
	}
	switch m.magic {
	case 0:
	case 1:
		m.time = d.int64()
	default:
		return m, rest, fmt.Sprintf("has a message of the unknown format v%d", m.magic)
	}
	m.key = d.bytes32()
	m.value = d.bytes32()
	if d.failed || len(d.rest()) > 0 {
		return m, rest, "has a message that does not parse"
	}
	return m, rest, ""
}

// startLegacy makes the message of magic 0 or 1 b (a whole message set entry) the current
// batch: the one record it is, or the inner messages it holds compressed, checked whole
// before any is returned as checkRecords does for a record batch.
func (r *PartitionReader) startLegacy(b []byte) error {
	m, _, why := parseLegacy(b)
	last := batchLast(b)
	r.batch = batchHeader{base: last, last: last, firstTime: m.time, maxTime: m.time, raw: b, magic: b[16],
		appendTime: m.magic == 1 && m.attrs&0x08 != 0}
	r.inBatch = true
	if why != "" {
		return r.undecodable(why)
	}
	codec := compress.Compression(m.attrs & 0x07)
	if codec == compress.None {
		r.recs, r.left = b, 1
		return nil
	}
	r.batch.base = math.MinInt64 // the first inner message's, once read
	switch {
	case codec == compress.Zstd:
		return r.undecodable(fmt.Sprintf("is compressed with zstd, which the message format v%d does not allow", m.magic))
	case m.value == nil:
		return r.undecodable("is a compressed message without a value")
	}
	value := m.value
	if codec == compress.Lz4 && m.magic == 0 {
		value = lz4HeaderChecksum(value)
	}
	inner, err := r.unpack(codec, value)
	if err != nil {
		return err
	}
	n, lastInner, firstInner := 0, int64(math.MinInt64), int64(0)
	for rest := inner; len(rest) > 0; n++ {
		var im legacyMessage
		if im, rest, why = parseLegacy(rest); why != "" {
			return r.undecodable(why)
		}
		switch {
		case im.magic != m.magic:
			return r.undecodable(fmt.Sprintf("holds a message of format v%d in one of v%d", im.magic, m.magic))
		case im.attrs&0x07 != 0:
			return r.undecodable("holds a compressed message in a compressed one")
		case im.offset <= lastInner:
			return r.undecodable(fmt.Sprintf("holds a message at offset %d after offset %d", im.offset, lastInner))
		}
		if n == 0 {
			firstInner = im.offset
		}
		lastInner = im.offset
	}
	if n == 0 {
		return r.undecodable("is a compressed message without messages in it")
	}
	if m.magic == 1 {
		r.batch.legacyBase = last - lastInner
	}
	if first := r.batch.legacyBase + firstInner; first < 0 || r.batch.legacyBase+lastInner != last {
		return r.undecodable(fmt.Sprintf("holds messages at offsets %d to %d, not ending at its own", first, r.batch.legacyBase+lastInner))
	}
	r.batch.base = r.batch.legacyBase + firstInner
	r.recs, r.left = inner, n
	return nil
}

// legacyRecord decodes the next message of the current batch (magic 0 or 1), which
// startLegacy checked. Its key and value share one allocation, a copy (for FetchView,
// they point into the batch). A message of magic 0 has no timestamp: its Time is zero.
func (r *PartitionReader) legacyRecord() (kafkago.Message, error) {
	r.left--
	m, rest, why := parseLegacy(r.recs)
	if why != "" {
		return kafkago.Message{}, r.undecodable(why)
	}
	r.recs = rest
	key, value := m.key, m.value
	if !r.view {
		buf := make([]byte, len(key)+len(value)) // the record's own storage
		copy(buf, key)
		copy(buf[len(key):], value)
		if key != nil {
			key = buf[:len(key):len(key)]
		}
		if value != nil {
			value = buf[len(key):]
		}
	}
	rec := kafkago.Message{
		Topic:         r.cfg.Topic,
		Partition:     r.cfg.Partition,
		Offset:        r.batch.legacyBase + m.offset,
		HighWaterMark: r.hwm,
		Key:           key,
		Value:         value,
	}
	if m.magic == 1 {
		ms := m.time
		if r.batch.appendTime {
			ms = r.batch.maxTime // the wrapper's
		}
		rec.Time = time.UnixMilli(ms)
	}
	return rec, nil
}

// lz4HeaderChecksum returns the LZ4 frame src with the header checksum LZ4 defines, in a
// copy when src's differs. Kafka before 0.10 computed it over the frame's magic number as
// well as its descriptor, and the frames of v0 messages keep it so: Kafka's Java consumer
// does not check it for them (KIP-57), and LZ4's readers refuse it.
func lz4HeaderChecksum(src []byte) []byte {
	if len(src) < 7 || binary.LittleEndian.Uint32(src) != 0x184d2204 {
		return src // not an LZ4 frame: its reader says so
	}
	end := 6 // after the descriptor: FLG, BD, and the options FLG says it has
	if src[4]&0x08 != 0 {
		end += 8 // content size
	}
	if src[4]&0x01 != 0 {
		end += 4 // dictionary id
	}
	if len(src) <= end || src[end] == byte(xxh32(src[4:end])>>8) {
		return src
	}
	fixed := bytes.Clone(src)
	fixed[end] = byte(xxh32(src[4:end]) >> 8)
	return fixed
}

// xxh32 is the 32-bit xxHash of b (seed 0), which LZ4 frames check their descriptor
// with, for b shorter than 16 bytes (a descriptor is 2 to 14).
func xxh32(b []byte) uint32 {
	const p1, p2, p3, p4, p5 = 2654435761, 2246822519, 3266489917, 668265263, 374761393
	h := uint32(p5) + uint32(len(b))
	for ; len(b) >= 4; b = b[4:] {
		h += binary.LittleEndian.Uint32(b) * p3
		h = bits.RotateLeft32(h, 17) * p4
	}
	for _, c := range b {
		h += uint32(c) * p5
		h = bits.RotateLeft32(h, 11) * p1
	}
	h ^= h >> 15
	h *= p2
	h ^= h >> 13
	h *= p3
	return h ^ h>>16
}
