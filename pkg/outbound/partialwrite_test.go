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

	"github.com/dscokafka/connector/pkg/dsco/dscotest"
	"github.com/dscokafka/connector/pkg/kafka"
	"github.com/dscokafka/connector/pkg/kafka/kafkatest"
	"github.com/dscokafka/connector/pkg/outbound"
	"github.com/dscokafka/connector/pkg/router"
	"github.com/dscokafka/connector/pkg/schemas"
)

// producerWriter is a RecordWriter on a kafka.Producer.
type producerWriter struct{ p *kafka.Producer }

func (w producerWriter) WriteRecords(recs ...kafkago.Message) error {
	return w.p.Write(context.Background(), recs...)
}

// TestOutcomesWrittenAgainOnlyWhereKafkaRefused: a write of results and marks that fails
// for one partition of the results topic (after the producer's attempts) is made again
// with only the records Kafka did not acknowledge: each command's result and applied mark
// reach their topics once. The whole write was made again, so the results and marks of
// the other partitions were written once more at every try, for as long as the
// partition refused.
func TestOutcomesWrittenAgainOnlyWhereKafkaRefused(t *testing.T) {
	e := newEnv(t, dscotest.Config{Seed: 72})
	orders := e.seedOrders(20)
	var cmds []schemas.Record
	ids := make([]string, len(orders))
	for i, o := range orders {
		ids[i] = fmt.Sprintf("ship-%02d", i)
		cmds = append(cmds, &schemas.ShipCommand{CommandID: ids[i], OrderID: o.OrderID, LineItemID: str(o.Items[0].LineItemID),
			TrackingNumber: str("1Z" + o.OrderID), Carrier: str("UPS")})
	}
	base := &kafkago.Transport{}
	t.Cleanup(base.CloseIdleConnections)
	// Three writes fail, with two attempts each.
	tr := &kafkatest.FailingPartition{RoundTripper: base, Topic: e.results, Partition: 0, Fails: 6}
	prod, err := kafka.NewProducer(kafka.ProducerConfig{Brokers: e.brokers, Transport: tr, MaxAttempts: 2, AllowAutoTopicCreation: true})
	require.NoError(t, err)
	cfg := e.pipelineConfig(outbound.RoleSupplier)
	cfg.Writer = producerWriter{prod}
	cfg.Store.Writer = e.pub // the sending marks: only the outcomes' write fails
	cfg.MaxBatchWait = 200 * time.Millisecond
	e.send(cmds...)
	e.start(router.OutboundConfig{Subscriber: e.subscriberConfig(kafkatest.Name("g")), Pipeline: cfg})
	e.waitResults(ids...)
	require.Zero(t, tr.Left(), "the results partition refused writes")

	got, n := e.resultsByID()
	for _, id := range ids {
		assert.Equal(t, schemas.OutcomeAccepted, got[id].Outcome, id)
	}
	assert.Equal(t, len(ids), n, "one result per command")
	var mu sync.Mutex // Read calls fn from a goroutine per partition
	applied := map[string]int{}
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	require.NoError(t, outbound.TopicReader{Brokers: e.brokers}.Read(ctx, e.applied, false, nil, func(m kafkago.Message) {
		if string(m.Value) == outbound.MarkApplied.String() {
			mu.Lock()
			applied[string(m.Key)]++
			mu.Unlock()
		}
	}))
	for _, id := range ids {
		assert.Equal(t, 1, applied[id], "applied marks of %s", id)
	}
}
