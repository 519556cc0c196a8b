package inbound

import (
	"log/slog"
	"net"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/dscokafka/connector/pkg/kafka"
)

// writer is the pipeline's Kafka producer (acks=all, the Java client's
// partitioner for keyed records), on a transport of its own when none is
// given. A page goes in one Write (acks=all): one produce request per
// partition leader; a topic created after the transport's last metadata
// refresh is waited for.
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

func (w *writer) close() error {
	if w.own != nil {
		w.own.CloseIdleConnections()
	}
	return nil
}
