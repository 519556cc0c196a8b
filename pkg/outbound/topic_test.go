package outbound_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/dscokafka/connector/pkg/kafka/kafkatest"
	"github.com/dscokafka/connector/pkg/outbound"
)

// TestTopicReaderBrokerDown: the applied-ids store and the poison tools bootstrap from
// whichever listed broker answers, so a broker down (the first one listed) stops neither
// creating a topic nor reading it; with none answering, the error names each broker.
func TestTopicReaderBrokerDown(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	dead := kafkatest.DeadAddr(t)
	tr := outbound.TopicReader{Brokers: append([]string{dead}, brokers...)}
	topic := kafkatest.Name("reader")
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	require.NoError(t, tr.CreateTopic(ctx, topic, 2, nil))

	pc, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	require.NoError(t, err)
	defer pc.Close()
	for i := range 6 {
		rec := &kgo.Record{Topic: topic, Partition: int32(i % 2), Value: fmt.Appendf(nil, "v-%d", i)}
		require.NoError(t, pc.ProduceSync(ctx, rec).FirstErr())
	}
	var mu sync.Mutex
	var got []string
	require.NoError(t, tr.Read(ctx, topic, false, nil, func(m kafkago.Message) {
		mu.Lock()
		got = append(got, string(m.Value))
		mu.Unlock()
	}))
	assert.ElementsMatch(t, []string{"v-0", "v-1", "v-2", "v-3", "v-4", "v-5"}, got)

	other := kafkatest.DeadAddr(t)
	err = outbound.TopicReader{Brokers: []string{dead, other}}.Read(ctx, topic, false, nil, func(kafkago.Message) {})
	require.Error(t, err)
	assert.ErrorContains(t, err, dead)
	assert.ErrorContains(t, err, other)
}

// TestTopicReaderMissingTopic: reading a topic that does not exist, once or following it,
// is an error naming the topic (outbound.ErrTopicNotFound), and leaves no topic behind
// although the brokers create topics on first use (kafkatest's kfake does): a mistyped
// `connector poison list -topic` created the topic it named.
func TestTopicReaderMissingTopic(t *testing.T) {
	brokers := kafkatest.Brokers(t) // kfake with AllowAutoTopicCreation, or KAFKA_BROKERS
	for _, tc := range []struct {
		name   string
		follow bool
	}{
		{"read", false},
		{"follow", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			topic := kafkatest.Name("missing")
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()
			var loaded, records bool
			err := outbound.TopicReader{Brokers: brokers}.Read(ctx, topic, tc.follow, func() { loaded = true },
				func(kafkago.Message) { records = true })
			require.ErrorIs(t, err, outbound.ErrTopicNotFound)
			assert.ErrorContains(t, err, topic)
			assert.False(t, loaded, "nothing was loaded")
			assert.False(t, records)

			topics, err := kafkatest.Admin(t, brokers).ListTopics(ctx)
			require.NoError(t, err)
			assert.False(t, topics.Has(topic), "reading %s created it", topic)
		})
	}
}
