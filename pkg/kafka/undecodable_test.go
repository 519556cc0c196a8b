package kafka_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	kafkago "github.com/segmentio/kafka-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/dscokafka/connector/pkg/kafka"
	"github.com/dscokafka/connector/pkg/kafka/kafkatest"
)

// reseal sets the CRC of record batch b after a change: a batch written so by its
// producer, which only decoding finds wrong.
func reseal(b []byte) []byte {
	binary.BigEndian.PutUint32(b[17:], crc32.Checksum(b[21:], crc32.MakeTable(crc32.Castagnoli)))
	return b
}

// batchOf returns n records, "v0".."v<n-1>", as one record batch from offset 0 compressed
// with codec.
func batchOf(n int, codec kafka.Compression) []byte {
	recs := make([]kafkago.Message, n)
	for i := range recs {
		recs[i] = kafkago.Message{Value: fmt.Appendf(nil, "v%d", i), Time: time.UnixMilli(1_700_000_000_000)}
	}
	return kafka.RecordBatch(0, codec, recs...)
}

// craftedLog starts a kfake cluster whose topic's partition 0 holds the record batches
// crafted (offsets 0 to last), served as they are, followed by the records "after-0" and
// "after-1". It returns the brokers, the topic, and the count of fetches crafted answered.
func craftedLog(t *testing.T, last int64, crafted []byte) ([]string, string, func() int32) {
	t.Helper()
	if kafkatest.Real() {
		t.Skip("answers fetches with kfake's controls")
	}
	cluster := kafkatest.NewCluster(t)
	brokers := cluster.ListenAddrs()
	topic := kafkatest.Name("crafted")
	kafkatest.CreateTopic(t, brokers, topic, 1)
	placeholders := make([]*kgo.Record, last+1)
	for i := range placeholders {
		placeholders[i] = &kgo.Record{Topic: topic, Value: []byte("never served")}
	}
	produceRecords(t, brokers, placeholders)
	produceRecords(t, brokers, []*kgo.Record{{Topic: topic, Value: []byte("after-0")}, {Topic: topic, Value: []byte("after-1")}})
	answered := kafkatest.ServeBatches(cluster, topic, 0, last, crafted)
	return brokers, topic, answered.Load
}

// TestPartitionReaderUndecodableBatch: a record batch that does not decode is fetched
// three times, then FetchMessage returns one record in its place (at its first offset,
// the whole batch for value, UndecodableHeader saying what is wrong and naming the topic,
// partition and offsets) and reads on with the records after the batch; it was fetched
// again for ever.
func TestPartitionReaderUndecodableBatch(t *testing.T) {
	for _, tc := range []struct {
		name    string
		damaged func() []byte
		reason  string
	}{
		{name: "CRC", damaged: func() []byte {
			b := batchOf(3, kafka.CompressionNone)
			b[len(b)-1] ^= 1
			return b
		}, reason: "at offsets 0 to 2 fails its CRC"},
		{name: "compressed data", damaged: func() []byte {
			b := batchOf(3, kafka.CompressionGzip)
			b[len(b)-10] ^= 0xff
			return reseal(b)
		}, reason: "at offsets 0 to 2 does not decompress (gzip)"},
		{name: "a record", damaged: func() []byte {
			b := batchOf(3, kafka.CompressionNone)
			b[61] = 0x7e // the first record's size: 63, past the batch
			return reseal(b)
		}, reason: "at offsets 0 to 2 has a record whose size does not parse"},
		{name: "a last offset claimed past the log's end", damaged: func() []byte {
			b := batchOf(3, kafka.CompressionNone)
			binary.BigEndian.PutUint32(b[23:], 1000) // its last offset delta; the CRC fails
			return b
		}, reason: "at offsets 0 to 2 fails its CRC"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			damaged := tc.damaged()
			brokers, topic, answered := craftedLog(t, 2, damaged)
			var retried []error
			r := newReader(t, brokers, topic, func(c *kafka.PartitionReaderConfig) { c.Retrying = func(err error) { retried = append(retried, err) } })
			got := fetchN(t, r, 3)

			standIn := got[0]
			assert.Equal(t, int64(0), standIn.Offset)
			assert.Equal(t, damaged, standIn.Value, "the whole batch")
			assert.Nil(t, standIn.Key)
			err := kafka.Undecodable(standIn)
			require.ErrorIs(t, err, kafka.ErrUndecodable)
			assert.ErrorContains(t, err, fmt.Sprintf("the record batch of %s/0 %s", topic, tc.reason))
			assert.Equal(t, int32(3), answered(), "fetches of the damaged batch")
			assert.Len(t, retried, 2)

			for i, m := range got[1:] {
				assert.Equal(t, int64(3+i), m.Offset)
				assert.Equal(t, fmt.Sprintf("after-%d", i), string(m.Value))
				assert.NoError(t, kafka.Undecodable(m))
			}

			// FetchView's stands in alike, its value in the reader's buffer.
			view := newReader(t, brokers, topic)
			ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
			defer cancel()
			m, err := view.FetchView(ctx)
			require.NoError(t, err)
			assert.Equal(t, damaged, m.Value)
			require.ErrorIs(t, kafka.Undecodable(m), kafka.ErrUndecodable)
		})
	}
}

// TestUndecodableBatchDelivered: the Subscriber delivers the record standing for a batch
// that does not decode, logged at error level with the batch's offsets and why, as a
// message for the poison route (Subscribe: UnmarshalErrorMetadata; Consume: the record
// with UndecodableHeader), then the records after it, and commits past the batch. It
// delivered nothing of the partition again, for ever.
func TestUndecodableBatchDelivered(t *testing.T) {
	forEachAPI(t, func(t *testing.T, subscribe subscribeFunc) {
		damaged := batchOf(3, kafka.CompressionNone)
		damaged[len(damaged)-1] ^= 1
		brokers, topic, _ := craftedLog(t, 2, damaged)
		logs := newLogRecorder()
		group := kafkatest.Name("g")
		sub, err := kafka.NewSubscriber(testSubscriberConfig(brokers, group), logs)
		require.NoError(t, err)
		t.Cleanup(func() { require.NoError(t, sub.Close()) })
		ch := subscribe(t, sub, topic)

		reason := fmt.Sprintf("the record batch of %s/0 at offsets 0 to 2 fails its CRC", topic)
		msg := receive(t, ch)
		assert.Equal(t, damaged, []byte(msg.Payload))
		assert.Equal(t, reason, msg.Metadata.Get(kafka.UndecodableHeader))
		if unmarshal := kafka.UnmarshalError(msg); unmarshal != nil { // Subscribe's
			assert.ErrorContains(t, unmarshal, reason)
		}
		require.True(t, msg.Ack())
		for i := range 2 {
			msg := receive(t, ch)
			assert.Equal(t, fmt.Sprintf("after-%d", i), string(msg.Payload))
			require.True(t, msg.Ack())
		}
		require.Eventually(t, func() bool { return kafkatest.CommittedOffsets(t, brokers, group, topic)[0] == 5 },
			waitLimit, 50*time.Millisecond, "the commit passes the batch and the records after it")

		lines := logs.find(watermill.ErrorLogLevel, "A record batch does not decode")
		require.Len(t, lines, 1)
		assert.ErrorContains(t, lines[0].err, reason)
		assert.Equal(t, topic, lines[0].fields["topic"])
		assert.Equal(t, 0, lines[0].fields["partition"])
		assert.Equal(t, int64(0), lines[0].fields["offset"])
	})
}
