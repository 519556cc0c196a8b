package kafka_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dscokafka/connector/pkg/kafka"
	"github.com/dscokafka/connector/pkg/kafka/kafkatest"
)

func TestPing(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	info, err := kafka.Ping(ctx, kafka.ConnectionConfig{Brokers: brokers})
	require.NoError(t, err)
	assert.GreaterOrEqual(t, info.Brokers, 1)
}

func TestPingUnreachable(t *testing.T) {
	addr := kafkatest.DeadAddr(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := kafka.Ping(ctx, kafka.ConnectionConfig{Brokers: []string{addr}, DialTimeout: 2 * time.Second})
	require.Error(t, err)
	assert.Contains(t, err.Error(), addr)

	_, err = kafka.Ping(ctx, kafka.ConnectionConfig{})
	require.EqualError(t, err, "kafka: at least one broker is required")
}
