package kafka_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	kafkago "github.com/segmentio/kafka-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/dscokafka/connector/pkg/kafka"
	"github.com/dscokafka/connector/pkg/kafka/kafkatest"
)

// TestHeadersAndKeyRoundTrip checks the record written with an independent client
// (franz-go) and the message read back through the Subscriber.
func TestHeadersAndKeyRoundTrip(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	topic, group := kafkatest.Name("roundtrip"), kafkatest.Name("g")
	kafkatest.CreateTopic(t, brokers, topic, 3)
	pub := startPublisher(t, brokers)

	msg := message.NewMessage(watermill.NewUUID(), []byte{0, 1, 2, 0xff})
	msg.Metadata.Set(kafka.DefaultPartitionKeyMetadata, "order-42")
	msg.Metadata.Set("event_id", "ev-1")
	msg.Metadata.Set("event_type", "order.created")
	msg.Metadata.Set("correlation_id", "corr-9")
	require.NoError(t, pub.Publish(topic, msg))

	// What is on the wire, read by a client that shares no code with the package.
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	require.NoError(t, err)
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	fetches := cl.PollRecords(ctx, 1)
	require.NoError(t, fetches.Err())
	recs := fetches.Records()
	require.Len(t, recs, 1)
	rec := recs[0]
	assert.Equal(t, []byte("order-42"), rec.Key)
	assert.Equal(t, []byte(msg.Payload), rec.Value)
	wire := map[string]string{}
	for _, h := range rec.Headers {
		wire[h.Key] = string(h.Value)
	}
	assert.Equal(t, map[string]string{
		kafka.UUIDHeader:                  msg.UUID,
		kafka.DefaultPartitionKeyMetadata: "order-42",
		"event_id":                        "ev-1",
		"event_type":                      "order.created",
		"correlation_id":                  "corr-9",
	}, wire)

	sub := startSubscriber(t, brokers, group, func(c *kafka.SubscriberConfig) { c.SourceMetadata = true })
	ch := subscribe(t, sub, topic)
	got := receive(t, ch)
	require.True(t, got.Ack())
	assert.Equal(t, msg.UUID, got.UUID)
	assert.Equal(t, []byte(msg.Payload), []byte(got.Payload))
	for k, v := range msg.Metadata {
		assert.Equal(t, v, got.Metadata.Get(k), k)
	}
	assert.Equal(t, topic, got.Metadata.Get(kafka.TopicMetadata))
	assert.Equal(t, strconv.Itoa(int(rec.Partition)), got.Metadata.Get(kafka.PartitionMetadata))
	assert.Equal(t, strconv.FormatInt(rec.Offset, 10), got.Metadata.Get(kafka.OffsetMetadata))

	key, ok := kafka.MessageKeyFromCtx(got.Context())
	assert.True(t, ok)
	assert.Equal(t, []byte("order-42"), key)
	p, ok := kafka.MessagePartitionFromCtx(got.Context())
	assert.True(t, ok)
	assert.Equal(t, rec.Partition, p)
	off, ok := kafka.MessagePartitionOffsetFromCtx(got.Context())
	assert.True(t, ok)
	assert.Equal(t, rec.Offset, off)
	tp, ok := kafka.MessageTopicFromCtx(got.Context())
	assert.True(t, ok)
	assert.Equal(t, topic, tp)
	ts, ok := kafka.MessageTimestampFromCtx(got.Context())
	assert.True(t, ok)
	assert.WithinDuration(t, rec.Timestamp, ts, time.Millisecond)
}

func TestKeyFuncPlacesEqualKeysOnOnePartition(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	topic := kafkatest.Name("keys")
	kafkatest.CreateTopic(t, brokers, topic, 4)
	pub := startPublisher(t, brokers, func(c *kafka.PublisherConfig) {
		c.Marshaler = kafka.DefaultMarshaler{KeyFunc: func(_ string, m *message.Message) ([]byte, error) {
			return []byte(m.Metadata.Get("sku")), nil
		}}
	})
	var msgs []*message.Message
	for i := range 20 {
		m := message.NewMessage(watermill.NewUUID(), nil)
		m.Metadata.Set("sku", fmt.Sprintf("sku-%d", i%2))
		msgs = append(msgs, m)
	}
	require.NoError(t, pub.Publish(topic, msgs...))

	sub := startSubscriber(t, brokers, kafkatest.Name("g"))
	ch := subscribe(t, sub, topic)
	partitionOf := map[string]map[int32]bool{}
	lastSeq := map[string]int{}
	for range msgs {
		m := receive(t, ch)
		p, _ := kafka.MessagePartitionFromCtx(m.Context())
		sku := m.Metadata.Get("sku")
		if partitionOf[sku] == nil {
			partitionOf[sku] = map[int32]bool{}
		}
		partitionOf[sku][p] = true
		key, _ := kafka.MessageKeyFromCtx(m.Context())
		assert.Equal(t, sku, string(key))
		idx := indexOf(msgs, m.UUID)
		if prev, ok := lastSeq[sku]; ok {
			assert.Greater(t, idx, prev, "order per key")
		}
		lastSeq[sku] = idx
		require.True(t, m.Ack())
	}
	for sku, ps := range partitionOf {
		assert.Len(t, ps, 1, "all records of %s on one partition", sku)
	}
}

func indexOf(msgs []*message.Message, uuid string) int {
	for i, m := range msgs {
		if m.UUID == uuid {
			return i
		}
	}
	return -1
}

func TestCompressionRoundTrip(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	payload := bytes.Repeat([]byte("dsco order payload "), 64)
	for _, codec := range []kafka.Compression{
		kafka.CompressionNone, kafka.CompressionGzip, kafka.CompressionSnappy,
		kafka.CompressionLz4, kafka.CompressionZstd,
	} {
		name := string(codec)
		if name == "" {
			name = "none"
		}
		t.Run(name, func(t *testing.T) {
			topic := kafkatest.Name("codec")
			kafkatest.CreateTopic(t, brokers, topic, 1)
			pub := startPublisher(t, brokers, func(c *kafka.PublisherConfig) { c.Compression = codec })
			var sent []*message.Message
			for i := range 10 {
				m := message.NewMessage(watermill.NewUUID(), append(fmt.Appendf(nil, "%d:", i), payload...))
				m.Metadata.Set("i", strconv.Itoa(i))
				sent = append(sent, m)
			}
			require.NoError(t, pub.Publish(topic, sent...))
			sub := startSubscriber(t, brokers, kafkatest.Name("g"))
			ch := subscribe(t, sub, topic)
			for i := range sent {
				got := receive(t, ch)
				assert.Equal(t, sent[i].UUID, got.UUID)
				assert.Equal(t, sent[i].Payload, got.Payload)
				assert.Equal(t, strconv.Itoa(i), got.Metadata.Get("i"))
				require.True(t, got.Ack())
			}
		})
	}
}

// rejectingUnmarshaler fails for records whose value is "bad".
type rejectingUnmarshaler struct{}

func (rejectingUnmarshaler) Unmarshal(rec kafkago.Message) (*message.Message, error) {
	if string(rec.Value) == "bad" {
		return nil, errors.New("not a valid record")
	}
	return kafka.DefaultMarshaler{}.Unmarshal(rec)
}

func TestUnmarshalFailureIsDeliveredMarked(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	topic := kafkatest.Name("badinput")
	kafkatest.CreateTopic(t, brokers, topic, 1)
	pub := startPublisher(t, brokers)
	bad := message.NewMessage(watermill.NewUUID(), []byte("bad"))
	bad.Metadata.Set("event_id", "ev-bad")
	good := message.NewMessage(watermill.NewUUID(), []byte("good"))
	require.NoError(t, pub.Publish(topic, bad, good))

	sub := startSubscriber(t, brokers, kafkatest.Name("g"), func(c *kafka.SubscriberConfig) {
		c.Unmarshaler = rejectingUnmarshaler{}
	})
	ch := subscribe(t, sub, topic)
	got := receive(t, ch)
	assert.Equal(t, bad.UUID, got.UUID)
	assert.Equal(t, []byte("bad"), []byte(got.Payload))
	assert.Equal(t, "ev-bad", got.Metadata.Get("event_id"))
	assert.Equal(t, "not a valid record", got.Metadata.Get(kafka.UnmarshalErrorMetadata))
	require.True(t, got.Ack())
	next := receive(t, ch)
	assert.Equal(t, good.UUID, next.UUID)
	assert.Empty(t, next.Metadata.Get(kafka.UnmarshalErrorMetadata))
	require.True(t, next.Ack())
}

func TestRecordsWithoutUUIDGetStableIDs(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	topic := kafkatest.Name("foreign")
	kafkatest.CreateTopic(t, brokers, topic, 1)
	// A transport of its own: kafka-go's shared default one caches metadata from before
	// the topic existed and would call it unknown.
	// The Writer's Close leaves a transport it was given running: the test closes it.
	tr := &kafkago.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	w := &kafkago.Writer{Addr: kafkago.TCP(brokers...), Topic: topic, BatchTimeout: time.Millisecond, Transport: tr,
		RequiredAcks: kafkago.RequireAll} // acknowledged, not fire-and-forget (kafka-go's default)
	defer func() { require.NoError(t, w.Close()) }()
	require.NoError(t, w.WriteMessages(context.Background(), kafkago.Message{Value: []byte("from elsewhere")}))

	sub := startSubscriber(t, brokers, kafkatest.Name("g"))
	ch := subscribe(t, sub, topic)
	first := receive(t, ch)
	assert.Equal(t, topic+"-0-0", first.UUID)
	require.True(t, first.Nack())
	again := receive(t, ch)
	assert.Equal(t, first.UUID, again.UUID, "a redelivery keeps the UUID")
	require.True(t, again.Ack())
}

func TestSASL(t *testing.T) {
	if kafkatest.Real() {
		t.Skip("SASL is tested against kfake, which is started with SASL users here")
	}
	const user, pass = "connector", "s3cret-Pa55"
	cluster := kafkatest.NewCluster(t,
		kfake.EnableSASL(),
		kfake.Superuser("PLAIN", user, pass),
		kfake.Superuser("SCRAM-SHA-256", user, pass),
		kfake.Superuser("SCRAM-SHA-512", user, pass),
	)
	brokers := cluster.ListenAddrs()
	for _, mech := range []kafka.SASLMechanism{kafka.SASLPlain, kafka.SASLScramSHA256, kafka.SASLScramSHA512} {
		t.Run(string(mech), func(t *testing.T) {
			conn := kafka.ConnectionConfig{Brokers: brokers, SASL: kafka.SASLConfig{Mechanism: mech, Username: user, Password: pass}}
			topic := kafkatest.Name("sasl")
			pub := startPublisher(t, nil, func(c *kafka.PublisherConfig) { c.Connection = conn })
			sub := startSubscriber(t, nil, kafkatest.Name("g"), func(c *kafka.SubscriberConfig) {
				c.Connection = conn
				c.InitializePartitions = 1
			})
			require.NoError(t, sub.SubscribeInitialize(topic))
			sent := message.NewMessage(watermill.NewUUID(), []byte("authenticated"))
			require.NoError(t, pub.Publish(topic, sent))
			got := receive(t, subscribe(t, sub, topic))
			assert.Equal(t, sent.UUID, got.UUID)
			require.True(t, got.Ack())

			wrong := conn
			wrong.SASL.Password = "wrong-Pa55word"
			bad := startPublisher(t, nil, func(c *kafka.PublisherConfig) { c.Connection = wrong; c.MaxAttempts = 1 })
			err := bad.Publish(topic, message.NewMessage(watermill.NewUUID(), nil))
			require.Error(t, err)
			assert.NotContains(t, err.Error(), wrong.SASL.Password)
		})
	}
}

// TestPublishToTopicCreatedLater: kafka-go caches topic metadata; a topic created after the
// publisher loaded it must still be publishable (Publish waits for the cache to refresh).
func TestPublishToTopicCreatedLater(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	pub := startPublisher(t, brokers, func(c *kafka.PublisherConfig) { c.MetadataTTL = 500 * time.Millisecond })
	early := kafkatest.Name("early")
	kafkatest.CreateTopic(t, brokers, early, 1)
	publishN(t, pub, early, 1, "") // loads the metadata cache

	late := kafkatest.Name("late")
	kafkatest.CreateTopic(t, brokers, late, 1)
	sent := publishN(t, pub, late, 1, "")
	sub := startSubscriber(t, brokers, kafkatest.Name("g"))
	got := receive(t, subscribe(t, sub, late))
	assert.Equal(t, sent[0].UUID, got.UUID)
	require.True(t, got.Ack())
}
