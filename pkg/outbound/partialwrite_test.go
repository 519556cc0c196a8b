package outbound_test

import (
	"bytes"
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

// failsOnce fails the first write that carries a result with an error holding that result,
// as a Producer's error for a record over BatchBytes does, keeping the error and a copy of
// the result as it was then; it hands the other writes to w.
type failsOnce struct {
	w          outbound.RecordWriter
	results    string
	mu         sync.Mutex
	err        *kafkago.MessageTooLargeError
	key, value []byte
}

func (f *failsOnce) WriteRecords(recs ...kafkago.Message) error {
	f.mu.Lock()
	if f.err == nil {
		for _, r := range recs {
			if r.Topic == f.results {
				f.err = &kafkago.MessageTooLargeError{Message: r}
				f.key, f.value = bytes.Clone(r.Key), bytes.Clone(r.Value)
				f.mu.Unlock()
				return f.err
			}
		}
	}
	f.mu.Unlock()
	return f.w.WriteRecords(recs...)
}

// TestFailedWriteKeepsItsRecords: the records of a write that failed, which its error may
// hold (it is logged), stay as they were once the write worked at its next try and the
// batches after it were completed: the memory of the batch's outcomes is not reused for
// theirs, as that of a batch whose writes all worked at once is. It was reused before the
// check, the next batch's results written over the records the error held.
func TestFailedWriteKeepsItsRecords(t *testing.T) {
	e := newEnv(t, dscotest.Config{})
	cfg := e.pipelineConfig(outbound.RoleSupplier)
	fw := &failsOnce{w: e.pub, results: e.results}
	cfg.Writer = fw
	cfg.Store.Writer = e.pub
	cfg.MaxBatchItems, cfg.MaxConcurrentBatches = 5, 1 // batches one after the other
	var cmds []schemas.Record
	var ids []string
	for i := range 30 {
		ids = append(ids, fmt.Sprintf("inv-%02d", i))
		cmds = append(cmds, &schemas.InventoryCommand{CommandID: ids[i], SKU: fmt.Sprintf("SKU-F%02d", i), Quantity: i32(int32(i))})
	}
	kafkatest.CreateTopic(t, e.brokers, e.topic("inventory"), 1)
	e.send(cmds...)
	e.start(router.OutboundConfig{Subscriber: e.subscriberConfig(kafkatest.Name("g")), Pipeline: cfg})
	e.waitResults(ids...)
	fw.mu.Lock()
	defer fw.mu.Unlock()
	require.NotNil(t, fw.err, "a write failed")
	assert.Equal(t, string(fw.key), string(fw.err.Message.Key), "the key of the record the error holds")
	assert.Equal(t, fw.value, fw.err.Message.Value, "the value of the record the error holds")
}
