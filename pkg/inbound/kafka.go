package inbound

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/dscokafka/connector/pkg/kafka"
)

// writer is a kafka-go Writer with its own transport when none is given,
// and a write that rides out topics its metadata cache does not know yet.
type writer struct {
	*kafkago.Writer
	own *kafkago.Transport // closed with the writer; nil when given one
	ttl time.Duration
}

func newWriter(k KafkaConfig, batchSize int, log *slog.Logger) *writer {
	w := &writer{ttl: k.MetadataTTL}
	tr := k.Transport
	if tr == nil {
		w.own = &kafkago.Transport{MetadataTTL: k.MetadataTTL}
		tr = w.own
	}
	w.Writer = &kafkago.Writer{
		Addr:                   kafkago.TCP(k.Brokers...),
		Balancer:               &kafkago.Murmur2Balancer{}, // the Java client's partitioner for keyed records
		RequiredAcks:           kafkago.RequireAll,
		BatchSize:              batchSize,
		BatchBytes:             k.BatchBytes,
		BatchTimeout:           k.BatchTimeout,
		WriteTimeout:           k.WriteTimeout,
		MaxAttempts:            k.MaxAttempts,
		Transport:              &kafka.MetadataCache{RoundTripper: tr, TTL: metadataCacheTTL},
		AllowAutoTopicCreation: k.AllowAutoTopicCreation,
		ErrorLogger: kafkago.LoggerFunc(func(f string, a ...any) {
			log.Info("inbound: kafka-go writer: " + fmt.Sprintf(f, a...))
		}),
	}
	return w
}

// write writes msgs and returns once Kafka acknowledged all of them
// (acks=all). kafka-go serves a topic created after its last metadata
// refresh as unknown until the cache expires; that failure happens before
// anything is sent, so it is retried, for up to twice the metadata TTL.
func (w *writer) write(ctx context.Context, msgs ...kafkago.Message) error {
	deadline := time.Now().Add(2 * w.ttl)
	for {
		err := w.WriteMessages(ctx, msgs...)
		var werr kafkago.WriteErrors
		if err == nil || errors.As(err, &werr) || !errors.Is(err, kafkago.UnknownTopicOrPartition) || time.Now().After(deadline) {
			return err
		}
		if err := sleepCtx(ctx, 100*time.Millisecond); err != nil {
			return err
		}
	}
}

// metadataCacheTTL is how long the writer's kafka.MetadataCache keeps a
// topic's metadata.
const metadataCacheTTL = 100 * time.Millisecond

func (w *writer) close() error {
	err := w.Writer.Close()
	if w.own != nil {
		w.own.CloseIdleConnections()
	}
	return err
}
