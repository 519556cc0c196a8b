package inbound

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	kafkago "github.com/segmentio/kafka-go"
	metadataAPI "github.com/segmentio/kafka-go/protocol/metadata"
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
		Transport:              &metadataCache{RoundTripper: tr, ttl: metadataCacheTTL},
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

// metadataCacheTTL is how long metadataCache keeps a topic's metadata.
const metadataCacheTTL = 100 * time.Millisecond

// metadataCache is the writer's RoundTripper: kafka-go's Writer asks for
// the metadata of a record's topic once per record (WriteMessages looks up
// the partition count of each), and each lookup through the Transport's
// own cache costs four allocations and a round through its connection
// pool: most of the pipeline's allocations per event. metadataCache
// answers a lookup of one topic from the last successful answer for up to
// metadataCacheTTL; a topic unknown or failing is asked again each time,
// so that a topic created meanwhile is found. Other requests pass through.
// The cached answer is shared: kafka-go's Writer only reads it. Safe for
// concurrent use.
type metadataCache struct {
	kafkago.RoundTripper
	ttl time.Duration

	mu     sync.RWMutex
	topics map[metadataKey]cachedMetadata
}

type metadataKey struct {
	topic      string
	autoCreate bool
}

type cachedMetadata struct {
	res *metadataAPI.Response
	at  time.Time
}

// RoundTrip implements kafkago.RoundTripper.
func (c *metadataCache) RoundTrip(ctx context.Context, addr net.Addr, req kafkago.Request) (kafkago.Response, error) {
	mr, ok := req.(*metadataAPI.Request)
	if !ok || len(mr.TopicNames) != 1 {
		return c.RoundTripper.RoundTrip(ctx, addr, req)
	}
	key := metadataKey{topic: mr.TopicNames[0], autoCreate: mr.AllowAutoTopicCreation}
	c.mu.RLock()
	e, ok := c.topics[key]
	c.mu.RUnlock()
	if ok && time.Since(e.at) < c.ttl {
		return e.res, nil
	}
	res, err := c.RoundTripper.RoundTrip(ctx, addr, req)
	if err != nil {
		return res, err
	}
	if r, ok := res.(*metadataAPI.Response); ok && len(r.Topics) == 1 && r.Topics[0].Name == key.topic && r.Topics[0].ErrorCode == 0 {
		c.mu.Lock()
		if c.topics == nil {
			c.topics = map[metadataKey]cachedMetadata{}
		}
		c.topics[key] = cachedMetadata{res: r, at: time.Now()}
		c.mu.Unlock()
	}
	return res, nil
}

func (w *writer) close() error {
	err := w.Writer.Close()
	if w.own != nil {
		w.own.CloseIdleConnections()
	}
	return err
}
