package kafka

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"

	kafkago "github.com/segmentio/kafka-go"
)

// AllowDrainPastRebalance lets c's DrainTimeout (with HeartbeatInterval) reach its RebalanceTimeout, which
// SubscriberConfig.Validate refuses otherwise: tests of a member that the group evicts
// while it still drains (its late commits must not land) need one.
func AllowDrainPastRebalance(c *SubscriberConfig) { c.drainPastRebalance = true }

// RecordBatch returns recs as one record batch (magic 2) from offset base, compressed with
// codec, as the Producer encodes it and a broker's log holds it.
func RecordBatch(base int64, codec Compression, recs ...kafkago.Message) []byte {
	c, err := codec.codec()
	if err != nil {
		panic(err)
	}
	p := &Producer{cfg: ProducerConfig{BatchBytes: 1 << 30}, codec: c.Codec()}
	idx, fixed := make([]int, len(recs)), make([]int, len(recs))
	for i := range idx {
		idx[i], fixed[i] = i, fixedSize(&recs[i])
	}
	var b recordBatch
	n, err := p.encodeBatch(&b, new(writeScratch), recs, idx, fixed)
	if err != nil || n != len(recs) {
		panic(fmt.Sprintf("encoding %d records: %d encoded, %v", len(recs), n, err))
	}
	var buf bytes.Buffer
	if _, err := b.writeTo(&buf); err != nil {
		panic(err)
	}
	out := buf.Bytes()[4:]
	binary.BigEndian.PutUint64(out, uint64(base))
	return out
}

// LegacyMessage returns a message of the old formats (magic 0 or 1) as a message set
// entry holds it: offset, size, CRC (IEEE), then the message. attrs holds its codec and,
// with magic 1, its timestamp type (0x08: the broker's); ms is its timestamp (magic 1).
func LegacyMessage(magic, attrs byte, offset, ms int64, key, value []byte) []byte {
	be := binary.BigEndian
	msg := []byte{magic, attrs}
	if magic == 1 {
		msg = be.AppendUint64(msg, uint64(ms))
	}
	for _, f := range [][]byte{key, value} {
		if f == nil {
			msg = be.AppendUint32(msg, 0xffffffff)
			continue
		}
		msg = be.AppendUint32(msg, uint32(len(f)))
		msg = append(msg, f...)
	}
	b := be.AppendUint64(nil, uint64(offset))
	b = be.AppendUint32(b, uint32(4+len(msg)))
	b = be.AppendUint32(b, crc32.ChecksumIEEE(msg))
	return append(b, msg...)
}

// Compressed returns b compressed with codec, as a producer compresses a record batch's
// records or a wrapper message's inner messages.
func Compressed(codec Compression, b []byte) []byte {
	c, err := codec.codec()
	if err != nil {
		panic(err)
	}
	var buf bytes.Buffer
	w := c.Codec().NewWriter(&buf)
	if _, err := w.Write(b); err != nil {
		panic(err)
	}
	if err := w.Close(); err != nil {
		panic(err)
	}
	return buf.Bytes()
}
