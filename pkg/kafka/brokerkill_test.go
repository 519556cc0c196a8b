package kafka_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"
	"github.com/stretchr/testify/require"

	"github.com/dscokafka/connector/pkg/kafka"
	"github.com/dscokafka/connector/pkg/kafka/kafkatest"
)

// BrokerKillEnv names the environment variable that lets TestBrokerKilledMidStream kill and
// restart brokers with scripts/kafka.sh: set it to 1 where KAFKA_BROKERS is a 3-node
// cluster that script started (CI does, after the 1-broker tier).
const brokerKillEnv = "KAFKA_KILL_BROKERS"

// TestBrokerKilledMidStream SIGKILLs the leader of a partition (scripts/kafka.sh kill)
// while a Producer writes records and a Subscriber consumes them (OrderPerKey, many in
// flight), then starts it again: every record a write returned nil for is consumed, and
// the records of each key arrive in order (a record consumed again after a redelivery
// restarts its key's sequence where the committed offset was, never skips).
func TestBrokerKilledMidStream(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	if !kafkatest.Real() || len(brokers) < 3 || os.Getenv(brokerKillEnv) != "1" {
		t.Skipf("needs a 3-node Kafka started by scripts/kafka.sh and %s=1", brokerKillEnv)
	}
	script, err := filepath.Abs(filepath.Join("..", "..", "scripts", "kafka.sh"))
	require.NoError(t, err)
	run := func(args ...string) {
		out, err := exec.Command(script, args...).CombinedOutput()
		require.NoError(t, err, "scripts/kafka.sh %v: %s", args, out)
		t.Logf("scripts/kafka.sh %v: %s", args, out)
	}
	t.Cleanup(func() { run("start", "--brokers", "3") }) // the killed node, back

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
			md, err := adm.Metadata(ctx, topic)
			require.NoError(t, err)
			leader := md.Topics[topic].Partitions[0].Leader
			t.Logf("killing node %d, the leader of %s/0, after %d records", leader, topic, len(written))
			run("kill", strconv.Itoa(int(leader)))
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
