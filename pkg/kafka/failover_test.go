package kafka_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	kafkago "github.com/segmentio/kafka-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/dscokafka/connector/pkg/kafka"
	"github.com/dscokafka/connector/pkg/kafka/kafkatest"
)

// TestLeaderAndCoordinatorMoves publishes (Publish and WriteRecords in turn) and consumes while kfake moves every partition
// leader and the group coordinator to another of three brokers, four times: every acknowledged publish is consumed,
// and at the end everything is committed.
func TestLeaderAndCoordinatorMoves(t *testing.T) {
	if kafkatest.Real() {
		t.Skip("moves leaders with kfake's controls")
	}
	cluster := kafkatest.NewCluster(t, kfake.NumBrokers(3))
	brokers := cluster.ListenAddrs()
	topic, group := kafkatest.Name("moves"), kafkatest.Name("g")
	const partitions, batches, perBatch int32 = 4, 40, 10
	kafkatest.CreateTopic(t, brokers, topic, partitions)
	pub := startPublisher(t, brokers)
	sub := startSubscriber(t, brokers, group)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch, err := sub.Subscribe(ctx, topic)
	require.NoError(t, err)

	var mu sync.Mutex
	received := map[string]bool{}
	consumed := make(chan struct{})
	go func() {
		defer close(consumed)
		for msg := range ch {
			mu.Lock()
			received[msg.UUID] = true
			mu.Unlock()
			msg.Ack()
		}
	}()

	var published []string
	for i := range batches {
		msgs := make([]*message.Message, perBatch)
		for j := range msgs {
			msgs[j] = message.NewMessage(watermill.NewUUID(), fmt.Appendf(nil, "%d-%d", i, j))
		}
		if i%2 == 1 {
			require.NoError(t, pub.Publish(topic, msgs...), "batch %d", i)
		} else { // the same through WriteRecords, which routes requests itself (first after each move)
			recs := make([]kafkago.Message, len(msgs))
			for j, m := range msgs {
				var err error
				recs[j], err = kafka.DefaultMarshaler{}.Marshal(topic, m)
				require.NoError(t, err)
			}
			require.NoError(t, pub.WriteRecords(recs...), "batch %d", i)
		}
		for _, m := range msgs {
			published = append(published, m.UUID)
		}
		if i%10 == 5 {
			moveEverything(t, cluster, topic, group, partitions)
		}
		time.Sleep(5 * time.Millisecond)
	}

	require.Eventually(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(received) >= len(published)
	}, waitLimit, 20*time.Millisecond)
	mu.Lock()
	for _, id := range published {
		assert.True(t, received[id], "message %s consumed", id)
	}
	mu.Unlock()
	require.NoError(t, sub.Close())
	<-consumed
	var sum int64
	for _, off := range kafkatest.CommittedOffsets(t, brokers, group, topic) {
		sum += off
	}
	assert.Equal(t, int64(len(published)), sum)
}

// moveEverything moves every partition of topic to another broker and the coordinator of
// group to another broker.
func moveEverything(t *testing.T, cluster *kfake.Cluster, topic, group string, partitions int32) {
	t.Helper()
	brokers, err := kafkatest.Admin(t, cluster.ListenAddrs()).ListBrokers(context.Background())
	require.NoError(t, err)
	nodes := brokers.NodeIDs()
	for p := range partitions {
		leader := cluster.LeaderFor(topic, p)
		next := slices.Index(nodes, leader) + 1
		require.NoError(t, cluster.MoveTopicPartition(topic, p, nodes[next%len(nodes)]))
	}
	coordinator := cluster.CoordinatorFor(group)
	for range 100 {
		cluster.RehashCoordinators()
		if cluster.CoordinatorFor(group) != coordinator {
			return
		}
	}
	t.Fatal("the group coordinator did not move")
}
