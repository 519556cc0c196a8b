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
	"fmt"
	"hash/crc32"
	"math"
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
	if d.failed || size < 0 || size > len(d.b) {
		return m, nil, "has a message whose size does not parse"
	}
	rest = d.b[size:]
	d.b = d.b[:size]
	crc := uint32(d.int32())
	if !d.failed && crc32.ChecksumIEEE(d.b) != crc {
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
	if d.failed || len(d.b) > 0 {
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
	inner, err := r.unpack(codec, m.value)
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
