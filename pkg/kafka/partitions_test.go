package kafka_test

import (
	"context"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"
	"github.com/stretchr/testify/require"

	"github.com/dscokafka/connector/pkg/kafka"
	"github.com/dscokafka/connector/pkg/kafka/kafkatest"
)

// waitGroupStable waits until group has finished its rebalance.
func waitGroupStable(t *testing.T, brokers []string, group string) {
	t.Helper()
	adm := kafkatest.Admin(t, brokers)
	require.Eventually(t, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
		defer cancel()
		groups, err := adm.DescribeGroups(ctx, group)
		return err == nil && groups[group].State == "Stable"
	}, waitLimit, 50*time.Millisecond)
}

// TestPartitionChangesAreConsumed: partitions that appear while a member consumes a topic
// (partitions added, or the topic created after Subscribe) are assigned and consumed too,
// without waiting for some unrelated rebalance; and a missing topic does not make the
// member rejoin the group in a loop.
func TestPartitionChangesAreConsumed(t *testing.T) {
	cases := []struct {
		name   string
		before int32 // partitions when Subscribe is called; 0: the topic does not exist
	}{
		{"partitions added", 1},
		{"topic created after Subscribe", 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			brokers := kafkatest.NewClusterWithoutAutoCreate(t).ListenAddrs()
			topic, group := kafkatest.Name("grow"), kafkatest.Name("g")
			if tc.before > 0 {
				kafkatest.CreateTopic(t, brokers, topic, tc.before)
			}
			sub := startSubscriber(t, brokers, group)
			ch := subscribe(t, sub, topic)
			waitGroupStable(t, brokers, group)

			ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
			defer cancel()
			if tc.before > 0 {
				resp, err := kafkatest.Admin(t, brokers).CreatePartitions(ctx, 1, topic)
				require.NoError(t, err)
				require.NoError(t, resp.Error())
			} else {
				kafkatest.CreateTopic(t, brokers, topic, 2)
			}

			// A publisher created now sees every partition; it writes to the last one, which
			// did not exist when the group was formed.
			pub := startPublisher(t, brokers, func(c *kafka.PublisherConfig) {
				c.Balancer = kafkago.BalancerFunc(func(_ kafkago.Message, partitions ...int) int {
					return partitions[len(partitions)-1]
				})
			})
			sent := publishN(t, pub, topic, 1, "")
			msg := receive(t, ch)
			require.Equal(t, sent[0].UUID, msg.UUID)
			p, ok := kafka.MessagePartitionFromCtx(msg.Context())
			require.True(t, ok)
			require.EqualValues(t, max(tc.before, 1), p)
			require.True(t, msg.Ack())
			closeSubscriber(t, sub, ch)
		})
	}
}
