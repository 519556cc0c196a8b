package kafka

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	kafkago "github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/compress"
)

// ErrPublisherClosed is returned by Publish after Close.
var ErrPublisherClosed = errors.New("kafka: publisher closed")

// Acks is how many replicas must acknowledge a write before Publish returns. The zero
// value is AcksAll.
type Acks int

// Acknowledgement levels.
const (
	// AcksAll waits for all in-sync replicas (acks=all, -1).
	AcksAll Acks = iota
	// AcksLeader waits for the partition leader only (acks=1).
	AcksLeader
	// AcksNone does not wait (acks=0): Publish returns once the request is sent.
	AcksNone
)

func (a Acks) required() kafkago.RequiredAcks {
	switch a {
	case AcksLeader:
		return kafkago.RequireOne
	case AcksNone:
		return kafkago.RequireNone
	default:
		return kafkago.RequireAll
	}
}

// Compression names a record batch compression codec.
type Compression string

// Supported codecs. The empty value means none.
const (
	CompressionNone   Compression = ""
	CompressionGzip   Compression = "gzip"
	CompressionSnappy Compression = "snappy"
	CompressionLz4    Compression = "lz4"
	CompressionZstd   Compression = "zstd"
)

func (c Compression) codec() (compress.Compression, error) {
	switch c {
	case CompressionNone, "none":
		return 0, nil
	case CompressionGzip:
		return compress.Gzip, nil
	case CompressionSnappy:
		return compress.Snappy, nil
	case CompressionLz4:
		return compress.Lz4, nil
	case CompressionZstd:
		return compress.Zstd, nil
	}
	return 0, fmt.Errorf("unsupported compression %q (want none, gzip, snappy, lz4 or zstd)", string(c))
}

// PublisherConfig configures a Publisher.
type PublisherConfig struct {
	Connection ConnectionConfig

	// Marshaler maps messages to records. Default DefaultMarshaler{}.
	Marshaler Marshaler
	// Balancer chooses the partition of each record. Default kafka-go's Murmur2Balancer,
	// the Java client's partitioner for keyed records (so keys land where other clients put
	// them); records without key go to a random partition.
	Balancer kafkago.Balancer
	// Acks is the acknowledgement level Publish waits for. Default AcksAll.
	Acks Acks
	// BatchSize is the most records sent in one produce request per partition; a batch that
	// is full is sent at once, without waiting for BatchTimeout. A Publish call with more
	// records for one partition is split into several requests, sent one after another.
	// kafka-go allocates BatchSize record slots for every partition batch, so a large value
	// costs memory on every call (measured: 10000 allocates 12 MB per 100-record call on a
	// 4-partition topic and halves throughput). Default 100, kafka-go's default.
	BatchSize int
	// BatchBytes is the most bytes in one request per partition, and so the largest record
	// accepted. Default 1 MiB (the broker's default message.max.bytes).
	BatchBytes int64
	// BatchTimeout is how long a partially filled batch waits for more records (from
	// concurrent Publish calls) before it is sent: the linger. A Publish call whose batches
	// are not full waits this long before its records are sent. Default 1ms; a single
	// caller publishing sequentially gains from less (measured: 100µs gave +22% records/s
	// for 100-record calls), many concurrent callers from more.
	BatchTimeout time.Duration
	// Compression is the codec for record batches. Default none.
	Compression Compression
	// WriteTimeout bounds each produce request on the network. Default 10s.
	WriteTimeout time.Duration
	// MaxAttempts is how often kafka-go sends the produce request of a batch before it
	// gives up. It is also the bound on duplicates: a request whose answer is lost (a
	// timeout, a broker that stalls or loses leadership) may have been appended anyway, and
	// kafka-go has no idempotent producer to drop the copy, so one Publish call can leave
	// each of its records in the log up to MaxAttempts times, even when it returns nil (see
	// Publisher.MaxCopies). 1 means kafka-go never re-sends (a lost answer then fails the
	// call instead). Default 10.
	MaxAttempts int
	// AllowAutoTopicCreation asks the broker to create a missing topic on first publish
	// (the broker must allow it too). Default false.
	AllowAutoTopicCreation bool
	// CloseTimeout bounds Close: waiting for running Publish calls and flushing. Past it
	// (brokers stalled or unreachable: kafka-go retries a batch up to MaxAttempts times,
	// WriteTimeout each) Close closes the Publisher's connections, so the remaining
	// attempts fail at once (their Publish calls return errors), and returns an error.
	// Default 30s.
	CloseTimeout time.Duration
	// MetadataTTL is how long topic metadata is cached. kafka-go serves a topic created
	// after the last refresh as unknown until the cache expires, so Publish retries such a
	// failure (nothing was written then) for up to twice this long. Default 2s.
	MetadataTTL time.Duration
}

func (c *PublisherConfig) setDefaults() {
	c.Connection.setDefaults()
	if c.Marshaler == nil {
		c.Marshaler = DefaultMarshaler{}
	}
	if c.Balancer == nil {
		c.Balancer = &kafkago.Murmur2Balancer{}
	}
	if c.BatchSize == 0 {
		c.BatchSize = 100
	}
	if c.BatchBytes == 0 {
		c.BatchBytes = 1 << 20
	}
	if c.BatchTimeout == 0 {
		c.BatchTimeout = time.Millisecond
	}
	if c.WriteTimeout == 0 {
		c.WriteTimeout = 10 * time.Second
	}
	if c.MaxAttempts == 0 {
		c.MaxAttempts = 10
	}
	if c.MetadataTTL == 0 {
		c.MetadataTTL = 2 * time.Second
	}
	if c.CloseTimeout == 0 {
		c.CloseTimeout = 30 * time.Second
	}
}

// Validate reports whether the configuration is usable.
func (c PublisherConfig) Validate() error {
	if err := c.Connection.Validate(); err != nil {
		return err
	}
	if c.Acks < AcksAll || c.Acks > AcksNone {
		return fmt.Errorf("kafka: invalid Acks %d (want AcksAll, AcksLeader or AcksNone)", c.Acks)
	}
	if c.BatchSize < 0 || c.BatchBytes < 0 || c.BatchTimeout < 0 || c.WriteTimeout < 0 || c.MaxAttempts < 0 || c.MetadataTTL < 0 || c.CloseTimeout < 0 {
		return errors.New("kafka: publisher batch and timeout settings must not be negative")
	}
	if _, err := c.Compression.codec(); err != nil {
		return fmt.Errorf("kafka: %w", err)
	}
	return nil
}

// Publisher publishes Watermill messages to Kafka through one shared kafka-go Writer
// (concurrent Publish calls share its batches), and writes records already built through a
// Producer on the same transport (WriteRecords).
//
// Guarantees: Publish returns nil only once Kafka acknowledged every record of the call at
// the configured Acks level, so nothing acknowledged is lost (with AcksAll, while an
// in-sync replica survives). It does not guarantee exactly one copy: kafka-go retries a
// failed produce request by itself (MaxAttempts) and has no idempotent producer, so a
// broker that stalls or fails over after appending a batch but before answering can leave
// that batch in the log twice or more, although Publish returned nil; a Publish call that
// returns an error may have written some or all of its records, also more than once. The
// bound is MaxCopies copies of a record per call (times the caller's own retries of
// Publish). Consumers must therefore de-duplicate by an id carried in the record (the
// connector's events and commands carry event and command ids for this). Records of one
// call to one partition keep their order, duplicates included: a re-sent batch follows
// the first copy.
//
// Publish is safe for concurrent use; concurrent calls share batches (see
// PublisherConfig.BatchTimeout). Close flushes and is idempotent.
type Publisher struct {
	cfg       PublisherConfig
	logger    watermill.LoggerAdapter
	writer    *kafkago.Writer
	producer  *Producer // WriteRecords's
	transport *kafkago.Transport
	socks     *sockets // made every connection of the writer

	mu        sync.RWMutex // guards closed against Publish racing Close
	closed    bool
	closeOnce sync.Once
	closeErr  error // the first Close's
}

var _ message.Publisher = (*Publisher)(nil)

// publisherMetadataCacheTTL is how long a Publisher's writer answers a topic's
// metadata lookups from its MetadataCache.
const publisherMetadataCacheTTL = 100 * time.Millisecond

// NewPublisher returns a Publisher. It does not connect: the first Publish does.
func NewPublisher(cfg PublisherConfig, logger watermill.LoggerAdapter) (*Publisher, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = watermill.NopLogger{}
	}
	socks := newSockets(cfg.Connection.DialTimeout)
	transport, err := cfg.Connection.transport(socks)
	if err != nil {
		return nil, err
	}
	transport.MetadataTTL = cfg.MetadataTTL
	codec, _ := cfg.Compression.codec() // validated above
	w := &kafkago.Writer{
		Addr:         kafkago.TCP(cfg.Connection.Brokers...),
		Balancer:     cfg.Balancer,
		MaxAttempts:  cfg.MaxAttempts,
		BatchSize:    cfg.BatchSize,
		BatchBytes:   cfg.BatchBytes,
		BatchTimeout: cfg.BatchTimeout,
		WriteTimeout: cfg.WriteTimeout,
		RequiredAcks: cfg.Acks.required(),
		Compression:  codec,
		// Lookups of one topic's metadata (one per record) answered from a short cache.
		Transport:              &MetadataCache{RoundTripper: transport, TTL: publisherMetadataCacheTTL},
		AllowAutoTopicCreation: cfg.AllowAutoTopicCreation,
		// kafka-go reports every failed attempt here, also those it retries (leader moves);
		// the final outcome is Publish's error, so attempts are logged at info level.
		ErrorLogger: kafkago.LoggerFunc(func(f string, a ...any) { logger.Info("kafka-go writer: "+fmt.Sprintf(f, a...), nil) }),
	}
	prod, err := NewProducer(ProducerConfig{Brokers: cfg.Connection.Brokers, Transport: transport, Balancer: cfg.Balancer,
		Acks: cfg.Acks, Compression: cfg.Compression, WriteTimeout: cfg.WriteTimeout, MaxAttempts: cfg.MaxAttempts,
		BatchBytes: cfg.BatchBytes, AllowAutoTopicCreation: cfg.AllowAutoTopicCreation, MetadataTTL: cfg.MetadataTTL,
		Retrying: func(err error) { logger.Info("kafka: retrying a write: "+err.Error(), nil) }})
	if err != nil {
		return nil, err
	}
	return &Publisher{cfg: cfg, logger: logger, writer: w, producer: prod, transport: transport, socks: socks}, nil
}

// Publish writes msgs to topic as one write and returns once Kafka acknowledged every one
// of them at the configured Acks level, or with an error if any failed; on error some
// messages may have been written (retrying the call may produce duplicates). Even on
// success a record may be in the log up to MaxCopies times (see Publisher). Records of
// one call to the same partition keep the order of msgs.
func (p *Publisher) Publish(topic string, msgs ...*message.Message) error {
	return p.open(func() error {
		if len(msgs) == 0 {
			return nil
		}
		recs := make([]kafkago.Message, len(msgs))
		for i, msg := range msgs {
			rec, err := p.cfg.Marshaler.Marshal(topic, msg)
			if err != nil {
				return fmt.Errorf("kafka: marshaling message %s for topic %s: %w", msg.UUID, topic, err)
			}
			if rec.Topic == "" {
				rec.Topic = topic
			}
			recs[i] = rec
		}
		send := func() error { return p.writer.WriteMessages(context.Background(), recs...) }
		if err := waitForTopic(context.Background(), p.cfg.MetadataTTL, send); err != nil {
			return fmt.Errorf("kafka: publishing %d messages to %s: %w", len(msgs), topic, err)
		}
		return nil
	})
}

// WriteRecords writes records that are already marshaled, each to its own Topic (which
// must be set), as one write, for callers that build records themselves or write to
// several topics at once. Its guarantees are Publish's (acknowledged at the Acks level;
// up to MaxCopies copies of a record; order kept per partition), but it does not wait for
// concurrent calls to share their batches (BatchSize and BatchTimeout do not apply): it
// sends at once, through a Producer: one produce request per partition leader holding one
// record batch per partition. It sets the Time of records that have none. It must not be called with
// records a concurrent call still uses. It reads the records only until it returns, whatever
// its error (see Producer): the caller may then reuse their memory.
func (p *Publisher) WriteRecords(recs ...kafkago.Message) error {
	return p.open(func() error {
		if len(recs) == 0 {
			return nil
		}
		if err := p.producer.Write(context.Background(), recs...); err != nil {
			return fmt.Errorf("kafka: writing %d records: %w", len(recs), err)
		}
		return nil
	})
}

// open runs f unless the Publisher is closed (ErrPublisherClosed); Close waits for it.
func (p *Publisher) open(f func() error) error {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.closed {
		return ErrPublisherClosed
	}
	return f()
}

// MaxCopies is the most copies of one record a single Publish call can leave in the log:
// PublisherConfig.MaxAttempts, since kafka-go sends each batch up to that many times and
// any attempt whose answer was lost may have been appended. It holds whether Publish
// returned nil or an error; every retry of Publish by the caller adds as many again.
// Consumers that de-duplicate by record id need a window covering that many copies.
func (p *Publisher) MaxCopies() int { return p.cfg.MaxAttempts }

// Close waits for running Publish calls, flushes the writer and releases its connections.
// If that has not finished within CloseTimeout, it closes every connection of the
// Publisher (running Publish calls then fail) and returns an error naming the timeout.
// Either way, when Close returns, no goroutine and no connection of the Publisher
// remains. It is idempotent: later calls wait for the first and return its result.
func (p *Publisher) Close() error {
	p.closeOnce.Do(func() {
		done := make(chan error, 1)
		go func() {
			p.mu.Lock() // waits for running Publish calls
			p.closed = true
			p.mu.Unlock()
			err := p.writer.Close()
			p.transport.CloseIdleConnections()
			done <- err
		}()
		var err error
		select {
		case err = <-done:
		case <-time.After(p.cfg.CloseTimeout):
			// Every attempt still waiting on the network now fails at once, and no new
			// connection is made: the writer's retries end quickly.
			p.socks.closeAll()
			p.producer.abort()
			err = errors.Join(fmt.Errorf("did not close within %s (CloseTimeout): connections closed", p.cfg.CloseTimeout), <-done)
		}
		p.socks.closeAll()
		if err != nil {
			p.closeErr = fmt.Errorf("kafka: closing publisher: %w", err)
		}
	})
	return p.closeErr
}
