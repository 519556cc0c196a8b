package main

import (
	"context"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dscokafka/connector/pkg/kafka/kafkatest"
)

// TestEnsureTopicsStopped: a start-up stopped while the topics are not ready says so,
// not that a time limit passed that did not.
func TestEnsureTopicsStopped(t *testing.T) {
	cl := &kafkago.Client{Addr: kafkago.TCP(kafkatest.DeadAddr(t)), Timeout: time.Second} // Kafka is down
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	err := ensureTopics(ctx, cl, []topicSpec{{name: "t", partitions: 1}}, time.Minute)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "kafka topics not ready when stopped")
	assert.NotContains(t, err.Error(), "within")
}
