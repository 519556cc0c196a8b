package kafka_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	kafkago "github.com/segmentio/kafka-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dscokafka/connector/pkg/kafka"
	"github.com/dscokafka/connector/pkg/kafka/kafkatest"
)

// TestHandlerFailuresLoggedAsARun: a Consume handler that fails a record many times in a
// row (a service refusing records while it stops, a dependency down) has the run logged
// once at info level, the other failures at debug level, and a line once the record is
// handled, in both orderings. Each failure was an info line: a pipeline refusing its
// records while it stopped logged one per record and retry.
func TestHandlerFailuresLoggedAsARun(t *testing.T) {
	const fails = 20
	brokers := kafkatest.Brokers(t)
	for _, ordering := range []kafka.Ordering{kafka.OrderPerPartition, kafka.OrderPerKey} {
		t.Run(ordering.String(), func(t *testing.T) {
			topic := kafkatest.Name("handlerfail")
			kafkatest.CreateTopic(t, brokers, topic, 1)
			pub := startPublisher(t, brokers)
			publishN(t, pub, topic, 1, "k")

			logs := newLogRecorder()
			cfg := testSubscriberConfig(brokers, kafkatest.Name("g"))
			cfg.Ordering, cfg.NackResendDelay = ordering, time.Millisecond
			if ordering == kafka.OrderPerKey {
				cfg.MaxInFlightPerPartition = 8
			}
			sub, err := kafka.NewSubscriber(cfg, logs)
			require.NoError(t, err)
			t.Cleanup(func() { require.NoError(t, sub.Close()) })

			var calls atomic.Int32
			var once sync.Once
			handled := make(chan struct{})
			ctx, cancel := context.WithCancel(context.Background())
			consumed := make(chan error, 1)
			go func() {
				consumed <- sub.Consume(ctx, topic, func(_ context.Context, _ kafkago.Message, done func(error)) {
					if calls.Add(1) <= fails {
						done(errors.New("not now"))
						return
					}
					done(nil)
					once.Do(func() { close(handled) })
				})
			}()
			select {
			case <-handled:
			case <-time.After(waitLimit):
				t.Fatal("the record was never handled")
			}
			cancel()
			require.NoError(t, <-consumed)

			loud := logs.find(watermill.InfoLogLevel, "Handler failed")
			require.Len(t, loud, 1, "one info line for %d failures in a row", fails)
			assert.EqualValues(t, 1, loud[0].fields["failures_in_a_row"])
			assert.EqualError(t, loud[0].fields["err"].(error), "not now")
			assert.Len(t, logs.find(watermill.DebugLogLevel, "Handler failed"), fails-1)
			works := logs.find(watermill.InfoLogLevel, "Handler works again")
			require.Len(t, works, 1)
			assert.EqualValues(t, fails, works[0].fields["failures_in_a_row"])
		})
	}
}
