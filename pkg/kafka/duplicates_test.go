package kafka_test

import (
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/dscokafka/connector/pkg/kafka"
	"github.com/dscokafka/connector/pkg/kafka/kafkatest"
)

// TestPublishDuplicatesBoundedByMaxCopies: the broker appends a batch but its answer never
// reaches the Publisher (kfake holds the answer of the first attempts until the last one
// succeeded). kafka-go re-sends the batch on its own, so Publish returns nil with the record
// in the log MaxCopies times: the documented bound, reached and not exceeded.
func TestPublishDuplicatesBoundedByMaxCopies(t *testing.T) {
	if kafkatest.Real() {
		t.Skip("stalls produce answers with kfake's controls")
	}
	cluster := kafkatest.NewCluster(t)
	brokers := cluster.ListenAddrs()
	topic := kafkatest.Name("dup")
	kafkatest.CreateTopic(t, brokers, topic, 1)
	const attempts = 3
	pub := startPublisher(t, brokers, func(c *kafka.PublisherConfig) {
		c.MaxAttempts = attempts
		c.WriteTimeout = 500 * time.Millisecond
	})
	require.Equal(t, attempts, pub.MaxCopies())

	published := make(chan struct{})
	var mu sync.Mutex
	stalled := 0
	cluster.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
		mu.Lock()
		stall := stalled < attempts-1
		if stall {
			stalled++
		}
		mu.Unlock()
		if stall {
			// Appended only after the Publisher gave up on this attempt and re-sent.
			cluster.SleepControl(func() { <-published })
		}
		return nil, nil, false
	})
	sent := publishN(t, pub, topic, 1, "")[0]
	close(published)

	sub := startSubscriber(t, brokers, kafkatest.Name("g"))
	ch := subscribe(t, sub, topic)
	for i := range pub.MaxCopies() {
		msg := receive(t, ch)
		assert.Equal(t, sent.UUID, msg.UUID, "copy %d", i+1)
		require.True(t, msg.Ack())
	}
	closeSubscriber(t, sub, ch)
	end, err := kafkatest.Admin(t, brokers).ListEndOffsets(t.Context(), topic)
	require.NoError(t, err)
	o, _ := end.Lookup(topic, 0)
	assert.Equal(t, int64(pub.MaxCopies()), o.Offset, "no more copies than MaxCopies")
}
