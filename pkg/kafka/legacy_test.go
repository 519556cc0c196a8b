package kafka_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dscokafka/connector/pkg/kafka"
	"github.com/dscokafka/connector/pkg/kafka/kafkatest"
)

// TestLegacyMessageSets reads the message formats before Kafka 0.11 (magic 0 and 1),
// which a Kafka 2.x or 3.x broker still serves for messages old producers wrote: messages
// uncompressed and in compressed wrappers (gzip, Snappy, LZ4), inner offsets absolute (v0)
// or relative to the wrapper's (v1), timestamps of the producer or of the broker
// (LogAppendTime: the wrapper's), then the records after them; through the Subscriber too,
// which commits past them. A small v0 message did not parse as a record batch and held its
// partition for ever; a larger one was read as a v2 batch's header and given up as one
// that does not decode.
func TestLegacyMessageSets(t *testing.T) {
	ms := int64(1_700_000_000_000)
	appended := ms + 5000
	msg := kafka.LegacyMessage
	set := slices.Concat(
		msg(0, 0, 0, 0, []byte("k0"), []byte("v0")),
		msg(0, 0, 1, 0, nil, []byte("v1")),
		msg(1, 0, 2, ms+2, []byte("k2"), []byte("v2")),
		// v1 gzip: inner offsets 0 and 1, the wrapper's offset the last inner one's.
		msg(1, 1, 4, ms+4, nil, kafka.Compressed(kafka.CompressionGzip, slices.Concat(
			msg(1, 0, 0, ms+3, []byte("k3"), []byte("v3")), msg(1, 0, 1, ms+4, nil, []byte("v4"))))),
		// v0 Snappy (xerial framing, as the Java client writes it): inner offsets absolute.
		msg(0, 2, 6, 0, nil, kafka.Compressed(kafka.CompressionSnappy, slices.Concat(
			msg(0, 0, 5, 0, nil, []byte("v5")), msg(0, 0, 6, 0, []byte{}, []byte{})))),
		// v1 LZ4 with the broker's timestamps: every inner message has the wrapper's.
		msg(1, 3|0x08, 8, appended, nil, kafka.Compressed(kafka.CompressionLz4, slices.Concat(
			msg(1, 0, 0, ms+7, nil, []byte("v7")), msg(1, 0, 1, ms+8, nil, []byte("v8"))))),
	)
	type want struct {
		key, value string
		keyNil     bool
		time       time.Time
	}
	at := func(t int64) time.Time { return time.UnixMilli(t) }
	wants := []want{
		{key: "k0", value: "v0"}, {keyNil: true, value: "v1"}, {key: "k2", value: "v2", time: at(ms + 2)},
		{key: "k3", value: "v3", time: at(ms + 3)}, {keyNil: true, value: "v4", time: at(ms + 4)},
		{keyNil: true, value: "v5"}, {key: "", value: ""},
		{keyNil: true, value: "v7", time: at(appended)}, {keyNil: true, value: "v8", time: at(appended)},
		{keyNil: true, value: "after-0"}, {keyNil: true, value: "after-1"},
	}

	t.Run("PartitionReader", func(t *testing.T) {
		brokers, topic, _ := craftedLog(t, 8, set)
		for _, view := range []bool{false, true} {
			r := newReader(t, brokers, topic)
			ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
			defer cancel()
			for i, w := range wants {
				fetch := r.FetchMessage
				if view {
					fetch = r.FetchView
				}
				m, err := fetch(ctx)
				require.NoError(t, err, "record %d", i)
				assert.Equal(t, int64(i), m.Offset)
				assert.Equal(t, w.value, string(m.Value), "value of %d", i)
				assert.NotNil(t, m.Value, "value of %d", i)
				assert.Equal(t, w.keyNil, m.Key == nil, "null key of %d", i)
				assert.Equal(t, w.key, string(m.Key), "key of %d", i)
				if !w.time.IsZero() {
					assert.True(t, w.time.Equal(m.Time), "time of %d: %v, want %v", i, m.Time, w.time)
				}
				if i < 9 {
					assert.Empty(t, m.Headers)
				}
			}
		}
	})
	forEachAPI(t, func(t *testing.T, subscribe subscribeFunc) {
		brokers, topic, _ := craftedLog(t, 8, set)
		group := kafkatest.Name("g")
		sub := startSubscriber(t, brokers, group)
		ch := subscribe(t, sub, topic)
		for i, w := range wants {
			msg := receive(t, ch)
			assert.Equal(t, w.value, string(msg.Payload), fmt.Sprintf("message %d", i))
			require.True(t, msg.Ack())
		}
		require.Eventually(t, func() bool { return kafkatest.CommittedOffsets(t, brokers, group, topic)[0] == 11 },
			waitLimit, 50*time.Millisecond, "the commit passes the old messages and the records after them")
	})
}
