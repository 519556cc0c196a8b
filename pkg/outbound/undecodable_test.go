package outbound_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"
	"github.com/stretchr/testify/require"

	"github.com/dscokafka/connector/pkg/dsco/dscotest"
	"github.com/dscokafka/connector/pkg/kafka"
	"github.com/dscokafka/connector/pkg/kafka/kafkatest"
	"github.com/dscokafka/connector/pkg/outbound"
)

// poisonFails fails every write that carries a record for the poison topic, until healed.
type poisonFails struct {
	w        outbound.RecordWriter
	poison   string
	attempts atomic.Int64
	healed   atomic.Bool
}

func (f *poisonFails) WriteRecords(recs ...kafkago.Message) error {
	for _, r := range recs {
		if r.Topic == f.poison && !f.healed.Load() {
			f.attempts.Add(1)
			return errors.New("poison topic not writable")
		}
	}
	return f.w.WriteRecords(recs...)
}

// TestUndecodableRecordDoesNotHoldItsPartition: an undecodable record is poisoned by a Kafka write
// batch, not by a Kafka write inside the handler call on the partition goroutine (which
// would retry until the pipeline aborts): ending the subscription (a rebalance, Close)
// returns within the Subscriber's DrainTimeout although the poison topic cannot be written.
func TestUndecodableRecordDoesNotHoldItsPartition(t *testing.T) {
	e := newEnv(t, dscotest.Config{})
	cfg := e.pipelineConfig(outbound.RoleSupplier)
	fw := &poisonFails{w: e.pub, poison: e.poison}
	cfg.Writer = fw
	cfg.Store.Writer = e.pub
	cfg.CloseTimeout = time.Minute
	p, err := outbound.NewPipeline(cfg, nil)
	require.NoError(t, err)
	pctx, stopPipeline := context.WithCancel(context.Background())
	defer stopPipeline()
	ran := make(chan error, 1)
	go func() { ran <- p.Run(pctx) }()
	<-p.Ready()
	h, err := p.Handler("ship")
	require.NoError(t, err)
	topic := e.topic("ship")
	kafkatest.CreateTopic(t, e.brokers, topic, 1)
	e.sendRaw(topic, "k2", []byte{0, 0, 0, 0x7f, 0x42, 1, 2})
	sc := e.subscriberConfig(kafkatest.Name("g"))
	sc.Ordering, sc.MaxInFlightPerPartition, sc.DrainTimeout = kafka.OrderPerKey, 16, time.Second
	sub, err := kafka.NewSubscriber(sc, nil)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	res := make(chan error, 1)
	go func() { res <- sub.Consume(ctx, topic, h) }()
	require.Eventually(t, func() bool { return fw.attempts.Load() > 0 }, waitLimit, 10*time.Millisecond)
	cancel()
	select {
	case <-res:
	case <-time.After(15 * time.Second):
		t.Errorf("Consume did not return 15s after its context ended (DrainTimeout 1s): the partition goroutine is in the handler's poison write")
	}
	// The poison topic works again: the batch's write ends, and so does Run, without
	// waiting for CloseTimeout.
	fw.healed.Store(true)
	stopPipeline()
	select {
	case <-ran:
	case <-time.After(waitLimit):
		t.Fatal("Run did not return")
	}
	require.NoError(t, sub.Close())
}
