package kafka_test

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"
	"github.com/stretchr/testify/require"

	"github.com/dscokafka/connector/pkg/kafka"
	"github.com/dscokafka/connector/pkg/kafka/kafkatest"
)

// TestBrokerKilledMidStream SIGKILLs the leader of a partition (scripts/kafka.sh kill)
// while a Producer writes records and a Subscriber consumes them (OrderPerKey, many in
// flight), then starts it again: every record a write returned nil for is consumed, and
// the records of each key arrive in order (a record consumed again after a redelivery
// restarts its key's sequence where the committed offset was, never skips).
func TestBrokerKilledMidStream(t *testing.T) {
	nodes := kafkatest.KillableNodes(t) // the killed node is started again when the test ends
	brokers := kafkatest.Brokers(t)

	topic, group := kafkatest.Name("kill"), kafkatest.Name("g")
	const partitions, keys = 4, 20
	adm := kafkatest.Admin(t, brokers)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	kafkatest.CreateTopic(t, brokers, topic, partitions) // 3 replicas: scripts/kafka.sh's default

	pub := startPublisher(t, brokers)
	sub := startSubscriber(t, brokers, group, func(c *kafka.SubscriberConfig) {
		c.Ordering, c.MaxInFlightPerPartition = kafka.OrderPerKey, 64
	})
	var mu sync.Mutex
	seen := map[string]bool{} // record ids consumed
	last := map[string]int{}  // per key: the sequence consumed last
	var outOfOrder []string
	cctx, stop := context.WithCancel(ctx)
	consumed := make(chan error, 1)
	go func() {
		consumed <- sub.Consume(cctx, topic, func(_ context.Context, rec kafkago.Message, done func(error)) {
			var key string
			var seq int
			_, _ = fmt.Sscanf(string(rec.Value), "%s %d", &key, &seq)
			mu.Lock()
			if prev, ok := last[key]; ok && seq > prev+1 {
				outOfOrder = append(outOfOrder, fmt.Sprintf("%s: %d after %d", key, seq, prev))
			}
			last[key] = seq
			seen[string(rec.Value)] = true
			mu.Unlock()
			done(nil)
		})
	}()

	var written []string
	next := map[string]int{}
	for i := range 300 {
		recs := make([]kafkago.Message, keys)
		for k := range recs {
			key := "k" + strconv.Itoa(k)
			recs[k] = kafkago.Message{Topic: topic, Key: []byte(key), Value: fmt.Appendf(nil, "%s %d", key, next[key])}
		}
		if err := pub.WriteRecords(recs...); err != nil {
			// Not acknowledged: the same sequence numbers are written again.
			t.Logf("write %d failed: %v", i, err)
			continue
		}
		for _, r := range recs {
			written = append(written, string(r.Value))
			next[string(r.Key)]++
		}
		if i == 100 {
			leader := kafkatest.Leader(ctx, t, adm, topic, 0)
			t.Logf("killing node %d, the leader of %s/0, after %d records", leader, topic, len(written))
			nodes.Kill(leader)
		}
		time.Sleep(10 * time.Millisecond)
	}

	require.Eventually(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		for _, w := range written {
			if !seen[w] {
				return false
			}
		}
		return true
	}, 2*time.Minute, 200*time.Millisecond, "records written but not consumed")
	stop()
	require.NoError(t, <-consumed)
	mu.Lock()
	defer mu.Unlock()
	require.Empty(t, outOfOrder, "a key's records skipped ahead")
	t.Logf("%d records written and consumed across the kill", len(written))
}
