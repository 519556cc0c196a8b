package inbound

import (
	"context"
	"log/slog"
	"net"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/dscokafka/connector/pkg/kafka"
)

// writer is the pipeline's Kafka producer (acks=all, the Java client's
// partitioner for keyed records), on a transport of its own when none is
// given. A page goes in one write: one produce request per partition leader.
type writer struct {
	*kafka.Producer
	Addr      net.Addr
	Transport kafkago.RoundTripper
	own       *kafkago.Transport // closed with the writer; nil when given one
}

func newWriter(k KafkaConfig, log *slog.Logger) (*writer, error) {
	w := &writer{Addr: kafkago.TCP(k.Brokers...), Transport: k.Transport}
	if w.Transport == nil {
		w.own = &kafkago.Transport{MetadataTTL: k.MetadataTTL}
		w.Transport = w.own
	}
	p, err := kafka.NewProducer(kafka.ProducerConfig{Brokers: k.Brokers, Transport: w.Transport, BatchBytes: k.BatchBytes,
		WriteTimeout: k.WriteTimeout, MaxAttempts: k.MaxAttempts, AllowAutoTopicCreation: k.AllowAutoTopicCreation,
		MetadataTTL: k.MetadataTTL, Retrying: func(err error) { log.Info("inbound: retrying a Kafka write", "error", err.Error()) }})
	if err != nil {
		return nil, err
	}
	w.Producer = p
	return w, nil
}

// write writes msgs and returns once Kafka acknowledged all of them
// (acks=all); a topic created after the transport's last metadata refresh
// is waited for (see kafka.Producer.Write).
func (w *writer) write(ctx context.Context, msgs ...kafkago.Message) error {
	return w.Write(ctx, msgs...)
}

func (w *writer) close() error {
	if w.own != nil {
		w.own.CloseIdleConnections()
	}
	return nil
}
