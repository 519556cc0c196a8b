package main

import (
	"context"
	"net"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestEnsureTopicsStopped: a start-up stopped while the topics are not ready says so,
// not that a time limit passed that did not.
func TestEnsureTopicsStopped(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close()) // nothing listens: Kafka is down
	cl := &kafkago.Client{Addr: kafkago.TCP(addr), Timeout: time.Second}
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	err = ensureTopics(ctx, cl, []topicSpec{{name: "t", partitions: 1}}, time.Minute)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "kafka topics not ready when stopped")
	assert.NotContains(t, err.Error(), "within")
}
