package kafka_test

import (
	"crypto/sha256"
	"encoding/hex"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/pubsub/tests"
	"github.com/stretchr/testify/require"

	"github.com/dscokafka/connector/pkg/kafka"
	"github.com/dscokafka/connector/pkg/kafka/kafkatest"
)

// testSubscriberConfig returns a subscriber configuration with group timings short enough
// for tests that start and stop many members. The session timeout stays at Kafka's default
// group.min.session.timeout.ms so that the same tests run on real brokers.
func testSubscriberConfig(brokers []string, group string) kafka.SubscriberConfig {
	return kafka.SubscriberConfig{
		Connection:           kafka.ConnectionConfig{Brokers: brokers},
		ConsumerGroup:        group,
		SessionTimeout:       6 * time.Second,
		HeartbeatInterval:    100 * time.Millisecond,
		RebalanceTimeout:     5 * time.Second,
		JoinGroupBackoff:     100 * time.Millisecond,
		CommitInterval:       100 * time.Millisecond,
		DrainTimeout:         time.Second,
		MaxWait:              100 * time.Millisecond,
		NackResendDelay:      10 * time.Millisecond,
		InitializePartitions: 4,
	}
}

func newPubSub(t *testing.T, brokers []string, group string, marshaler kafka.DefaultMarshaler, mutate ...func(*kafka.SubscriberConfig)) (*kafka.Publisher, *kafka.Subscriber) {
	t.Helper()
	pub, err := kafka.NewPublisher(kafka.PublisherConfig{
		Connection:             kafka.ConnectionConfig{Brokers: brokers},
		Marshaler:              marshaler,
		AllowAutoTopicCreation: true,
	}, nil)
	require.NoError(t, err)
	cfg := testSubscriberConfig(brokers, group)
	for _, m := range mutate {
		m(&cfg)
	}
	sub, err := kafka.NewSubscriber(cfg, nil)
	require.NoError(t, err)
	t.Cleanup(func() {
		require.NoError(t, pub.Close())
		require.NoError(t, sub.Close())
	})
	return pub, sub
}

// groupFor returns one group name per test: every constructor call in a test joins the same
// group, as the suite expects of a Kafka-like Pub/Sub (TestConcurrentSubscribe splits the
// work between members; TestContinueAfterSubscribeClose resumes from committed offsets).
func groupFor(t *testing.T) string {
	sum := sha256.Sum256([]byte(t.Name()))
	return "group-" + hex.EncodeToString(sum[:8])
}

func TestPubSub(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	tests.TestPubSub(
		t,
		tests.Features{
			ConsumerGroups:      true,
			ExactlyOnceDelivery: false,
			// Order holds per partition only; without keys the suite's messages are spread
			// over partitions. TestPubSubOrdered covers keyed order.
			GuaranteedOrder:                  false,
			Persistent:                       true,
			NewSubscriberReceivesOldMessages: false,
		},
		func(t *testing.T) (message.Publisher, message.Subscriber) {
			return newPubSub(t, brokers, groupFor(t), kafka.DefaultMarshaler{})
		},
		func(t *testing.T, group string) (message.Publisher, message.Subscriber) {
			return newPubSub(t, brokers, group, kafka.DefaultMarshaler{})
		},
	)
}

// TestPubSubOrdered runs the suite with GuaranteedOrder: messages are keyed by payload (the
// suite's order test sends its message "type" as payload, as watermill-kafka's partitioned
// variant relies on), so each key stays on one partition, in order.
func TestPubSubOrdered(t *testing.T) {
	if testing.Short() {
		t.Skip("the ordered variant repeats the suite; skipped in -short")
	}
	brokers := kafkatest.Brokers(t)
	byPayload := kafka.DefaultMarshaler{KeyFunc: func(_ string, msg *message.Message) ([]byte, error) {
		return msg.Payload, nil
	}}
	tests.TestPubSub(
		t,
		tests.Features{
			ConsumerGroups:      true,
			ExactlyOnceDelivery: false,
			GuaranteedOrder:     true,
			Persistent:          true,
		},
		func(t *testing.T) (message.Publisher, message.Subscriber) {
			return newPubSub(t, brokers, groupFor(t), byPayload)
		},
		func(t *testing.T, group string) (message.Publisher, message.Subscriber) {
			return newPubSub(t, brokers, group, byPayload)
		},
	)
}

// perKey is the OrderPerKey consumption model with many messages of a partition in flight.
func perKey(c *kafka.SubscriberConfig) {
	c.Ordering = kafka.OrderPerKey
	c.MaxInFlightPerPartition = 100
}

// TestPubSubPerKey runs the suite with OrderPerKey and every message keyed by its UUID: all
// messages of a partition may be in flight at once, so nothing is ordered.
func TestPubSubPerKey(t *testing.T) {
	if testing.Short() {
		t.Skip("the per-key variant repeats the suite; skipped in -short")
	}
	brokers := kafkatest.Brokers(t)
	byUUID := kafka.DefaultMarshaler{KeyFunc: func(_ string, msg *message.Message) ([]byte, error) {
		return []byte(msg.UUID), nil
	}}
	tests.TestPubSub(
		t,
		tests.Features{
			ConsumerGroups:      true,
			ExactlyOnceDelivery: false,
			GuaranteedOrder:     false,
			Persistent:          true,
		},
		func(t *testing.T) (message.Publisher, message.Subscriber) {
			return newPubSub(t, brokers, groupFor(t), byUUID, perKey)
		},
		func(t *testing.T, group string) (message.Publisher, message.Subscriber) {
			return newPubSub(t, brokers, group, byUUID, perKey)
		},
	)
}

// TestPubSubPerKeyOrdered runs the suite with OrderPerKey and messages keyed by payload (the
// suite's order test sends its message "type" as payload): messages of different types are
// in flight together, those of one type one at a time and in order, which is what
// GuaranteedOrder checks (TestNoAck sends two messages of one payload).
func TestPubSubPerKeyOrdered(t *testing.T) {
	if testing.Short() {
		t.Skip("the per-key variant repeats the suite; skipped in -short")
	}
	brokers := kafkatest.Brokers(t)
	byPayload := kafka.DefaultMarshaler{KeyFunc: func(_ string, msg *message.Message) ([]byte, error) {
		return msg.Payload, nil
	}}
	tests.TestPubSub(
		t,
		tests.Features{
			ConsumerGroups:      true,
			ExactlyOnceDelivery: false,
			GuaranteedOrder:     true,
			Persistent:          true,
		},
		func(t *testing.T) (message.Publisher, message.Subscriber) {
			return newPubSub(t, brokers, groupFor(t), byPayload, perKey)
		},
		func(t *testing.T, group string) (message.Publisher, message.Subscriber) {
			return newPubSub(t, brokers, group, byPayload, perKey)
		},
	)
}
