package kafka

import (
	"bytes"
	"encoding/binary"
	"fmt"

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
	idx := make([]int, len(recs))
	for i := range idx {
		idx[i] = i
	}
	b, n, err := p.encodeBatch(recs, idx)
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
