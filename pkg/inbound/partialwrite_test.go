package inbound_test

import (
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/dscokafka/connector/pkg/dsco/dscotest"
	"github.com/dscokafka/connector/pkg/inbound"
	"github.com/dscokafka/connector/pkg/kafka/kafkatest"
)

// TestPipelineRetriesOnlyWhatKafkaRefused: a page whose produce fails for
// one partition of the event topic (after the producer's attempts) is
// produced again, but only its records Kafka did not acknowledge: each
// event reaches its topic once. The whole page was produced again, so the
// records of the other partitions were written once more at every try,
// without bound while the partition stayed short of replicas.
func TestPipelineRetriesOnlyWhatKafkaRefused(t *testing.T) {
	sb, client, brokers, serde := newStack(t, dscotest.Config{Seed: 37}, "order")
	_, err := sb.SeedOrders(40)
	require.NoError(t, err)
	base := &kafkago.Transport{}
	t.Cleanup(base.CloseIdleConnections)
	// Three writes of the page fail, with two attempts each.
	tr := &kafkatest.FailingPartition{RoundTripper: base, Topic: "dsco.order.v1", Partition: 0, Fails: 6}
	cfg := testConfig(client, serde, brokers, inbound.StreamConfig{ObjectType: "order"})
	cfg.Kafka.Transport, cfg.Kafka.MaxAttempts = tr, 2
	r := startPipeline(t, cfg)
	cons := newConsumer(t, brokers, "dsco.order.v1")
	recs := cons.until(t, func(rs []*kgo.Record) bool {
		return len(rs) >= 40 && tr.Left() == 0
	})
	require.NoError(t, r.stop(t))
	writtenOnce(t, append(recs, drain(t, cons)...), 40)
}

// writtenOnce checks that recs hold n events (or item changes), each once, some of them
// on partition 0, the one that refused writes.
func writtenOnce(t *testing.T, recs []*kgo.Record, n int) {
	t.Helper()
	ids := map[string]int{}
	onFailing := 0
	for _, rec := range recs {
		ids[header(rec, inbound.HeaderEventID)]++
		if rec.Partition == 0 {
			onFailing++
		}
	}
	assert.Len(t, ids, n, "every one")
	assert.Positive(t, onFailing, "the partition that refused writes had some")
	for id, k := range ids {
		assert.Equal(t, 1, k, "%s written once", id)
	}
}

// TestPollerRetriesOnlyWhatKafkaRefused: items whose produce fails for one
// partition of the item inventory topic (after the producer's attempts)
// are produced again, but only those Kafka did not acknowledge: each change
// reaches the topic once. The poll was made again from the same mark and
// all its items produced again, so the items of the other partitions were
// written once more at every try.
func TestPollerRetriesOnlyWhatKafkaRefused(t *testing.T) {
	_, _, cons, cfg := objectsPoller(t, 38, nil)
	base := &kafkago.Transport{}
	t.Cleanup(base.CloseIdleConnections)
	// Three writes fail, with two attempts each.
	tr := &kafkatest.FailingPartition{RoundTripper: base, Topic: "dsco.iteminventory.v1", Partition: 0, Fails: 6}
	cfg.Kafka.Transport, cfg.Kafka.MaxAttempts = tr, 2
	_, stop := runPoller(t, cfg)
	recs := cons.until(t, func(rs []*kgo.Record) bool {
		return len(rs) >= 50 && tr.Left() == 0
	})
	stop()
	writtenOnce(t, append(recs, drain(t, cons)...), 50)
}

// TestPollerNewestEventAfterARetriedWrite: a poll whose Kafka write was asked again
// reports the newest change it delivered, as one written at the first try does: the
// newest-event metric was left where it was, so the lag computed from it grew until a
// later poll's write worked at once.
func TestPollerNewestEventAfterARetriedWrite(t *testing.T) {
	newest := &newestMetrics{}
	_, _, cons, cfg := objectsPoller(t, 38, newest)
	cfg.Limit = 100 // one page: its write is the one asked again
	base := &kafkago.Transport{}
	t.Cleanup(base.CloseIdleConnections)
	tr := &kafkatest.FailingPartition{RoundTripper: base, Topic: "dsco.iteminventory.v1", Partition: 0, Fails: 2}
	cfg.Kafka.Transport, cfg.Kafka.MaxAttempts = tr, 2
	_, stop := runPoller(t, cfg)
	defer stop()
	cons.until(t, func(rs []*kgo.Record) bool { return len(rs) >= 50 && tr.Left() == 0 })
	require.Eventually(t, func() bool { return !newest.get(inbound.ItemInventoryObjectType, -1).IsZero() },
		waitLimit, 10*time.Millisecond, "the newest-event metric reported")
}
