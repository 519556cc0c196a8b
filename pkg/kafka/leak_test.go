package kafka_test

import (
	"bytes"
	"context"
	"runtime/pprof"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dscokafka/connector/pkg/kafka"
	"github.com/dscokafka/connector/pkg/kafka/kafkatest"
)

// labelledGoroutines returns the stacks of the goroutines carrying the pprof label
// leakcheck=value (goroutines inherit the labels of the goroutine that starts them).
func labelledGoroutines(t *testing.T, value string) string {
	t.Helper()
	var buf bytes.Buffer
	require.NoError(t, pprof.Lookup("goroutine").WriteTo(&buf, 1))
	var out bytes.Buffer
	for rec := range bytes.SplitSeq(buf.Bytes(), []byte("\n\n")) {
		if bytes.Contains(rec, []byte(`"leakcheck":"`+value+`"`)) {
			out.Write(rec)
			out.WriteString("\n\n")
		}
	}
	return out.String()
}

// TestCloseLeavesNoGoroutines starts everything a Subscriber runs (topic creation, a
// subscription, a delivered message) from goroutines labelled for this test, and checks
// that none of them, nor any they started, outlives Close.
func TestCloseLeavesNoGoroutines(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	topic := kafkatest.Name("leak")
	pub := startPublisher(t, brokers)
	cfg := testSubscriberConfig(brokers, kafkatest.Name("g"))
	cfg.InitializePartitions = 1
	sub, err := kafka.NewSubscriber(cfg, nil)
	require.NoError(t, err)
	label := kafkatest.Name("sub")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pprof.Do(ctx, pprof.Labels("leakcheck", label), func(ctx context.Context) {
		require.NoError(t, sub.SubscribeInitialize(topic))
	})
	sent := publishN(t, pub, topic, 1, "") // the publisher's goroutines are not the subscriber's
	pprof.Do(ctx, pprof.Labels("leakcheck", label), func(ctx context.Context) {
		ch, err := sub.Subscribe(ctx, topic)
		require.NoError(t, err)
		msg := receive(t, ch)
		require.Equal(t, sent[0].UUID, msg.UUID)
		require.True(t, msg.Ack())
		closeSubscriber(t, sub, ch)
	})
	var left string
	assert.Eventually(t, func() bool {
		left = labelledGoroutines(t, label)
		return left == ""
	}, waitLimit, 10*time.Millisecond, "goroutines left after Close")
	require.Empty(t, left)
}
