package outbound

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/components/requeuer"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"
	"github.com/ThreeDotsLabs/watermill/pubsub/gochannel"
	kafkago "github.com/segmentio/kafka-go"

	"github.com/dscokafka/connector/pkg/kafka"
)

// PoisonRecord is one record of the poison topic.
type PoisonRecord struct {
	// Partition and Offset locate the record in the poison topic.
	Partition int
	Offset    int64
	// Key is the record's Kafka key: the command's key (order id or sku).
	Key string
	// Reason, SourceTopic, SourcePartition, SourceOffset, Attempts, Time, Status,
	// CommandID and CommandType come from the poison metadata; CommandID is empty for
	// records that did not decode. Time is the record's Kafka time where the metadata
	// has none (the inbound side's records).
	Reason          string
	SourceTopic     string
	SourcePartition int
	SourceOffset    int64
	Attempts        int
	Time            time.Time
	Status          string
	CommandID       string
	CommandType     string
	// Value and Headers are the original record's bytes and headers, poison metadata
	// included.
	Value   []byte
	Headers map[string]string
}

// ListPoisoned reads the poison topic from its first record to its last and returns its
// records in (partition, offset) order. It keeps every record in memory: ScanPoisoned
// keeps none.
func ListPoisoned(ctx context.Context, reader TopicReader, topic string) ([]PoisonRecord, error) {
	var out []PoisonRecord
	if err := ScanPoisoned(ctx, reader, topic, func(r PoisonRecord) { out = append(out, r) }); err != nil {
		return nil, err
	}
	slices.SortFunc(out, ComparePoisonRecords)
	return out, nil
}

// ScanPoisoned reads the poison topic from its first record to its last, as ListPoisoned
// does, and passes each record to fn instead of keeping it, so that a caller keeping only
// what it selects lists a poison topic of any size in bounded memory. fn is called for one
// record at a time; a partition's records come in offset order, partitions interleaved.
// An error (ctx ending before the last record included) means fn saw part of the topic.
func ScanPoisoned(ctx context.Context, reader TopicReader, topic string, fn func(PoisonRecord)) error {
	var mu sync.Mutex
	return reader.Read(ctx, topic, false, nil, func(m kafkago.Message) {
		r := poisonRecord(m)
		mu.Lock()
		defer mu.Unlock()
		fn(r)
	})
}

// ComparePoisonRecords orders poison records by partition, then offset: ListPoisoned's order.
func ComparePoisonRecords(a, b PoisonRecord) int {
	return cmp.Or(cmp.Compare(a.Partition, b.Partition), cmp.Compare(a.Offset, b.Offset))
}

// ComparePoisonings orders poison records by Time, then partition and offset: of the
// poisonings of one command, the greatest is its latest (LatestPoisonings).
func ComparePoisonings(a, b PoisonRecord) int {
	return cmp.Or(a.Time.Compare(b.Time), ComparePoisonRecords(a, b))
}

func poisonRecord(m kafkago.Message) PoisonRecord {
	h := make(map[string]string, len(m.Headers))
	for _, hd := range m.Headers {
		h[hd.Key] = string(hd.Value)
	}
	r := PoisonRecord{
		Partition:   m.Partition,
		Offset:      m.Offset,
		Key:         string(m.Key),
		Reason:      h[middleware.ReasonForPoisonedKey],
		SourceTopic: h[middleware.PoisonedTopicKey],
		Status:      h[PoisonStatusKey],
		CommandID:   h[PoisonCommandIDKey],
		CommandType: h[PoisonCommandTypeKey],
		Value:       m.Value,
		Headers:     h,
	}
	r.SourcePartition, _ = strconv.Atoi(h[PoisonPartitionKey])
	r.SourceOffset, _ = strconv.ParseInt(h[PoisonOffsetKey], 10, 64)
	r.Attempts, _ = strconv.Atoi(h[PoisonAttemptsKey])
	var err error
	if r.Time, err = time.Parse(time.RFC3339Nano, h[PoisonTimeKey]); err != nil {
		r.Time = m.Time // the inbound side's poison records have no time header
	}
	return r
}

// LatestPoisonings finds the latest poisoning of each command among the poison records it
// is given (Add), so that a requeue sends a command once, and only from its latest
// poisoning: every requeued record of a command is an operator's decision to send it again,
// so two poisonings of one command requeued together may send it twice (a return, applied
// twice), and an earlier poisoning requeued alone sends again a command whose later
// delivery already had its own outcome. A command is its source topic and command id; its
// latest poisoning is its record with the latest Time, the later partition/offset when
// equal. Records that name no command id (a record that did not decode, an event that could
// not be mapped) each stand alone. Give it every record of the poison topic, not only those
// to requeue. It keeps a command's names and its latest's place and time, not the records'
// bytes. The zero value is ready to use; it is not safe for concurrent use.
type LatestPoisonings struct {
	latest map[poisonedCommand]poisoning
}

type poisonedCommand struct{ topic, id string }

// poisoning is where and when a command was poisoned.
type poisoning struct {
	partition int
	offset    int64
	time      time.Time
}

// record is p as a PoisonRecord with its Partition, Offset and Time only.
func (p poisoning) record() PoisonRecord {
	return PoisonRecord{Partition: p.partition, Offset: p.offset, Time: p.time}
}

// Add counts r among the poisonings of its command.
func (l *LatestPoisonings) Add(r PoisonRecord) {
	if r.CommandID == "" {
		return
	}
	if l.latest == nil {
		l.latest = map[poisonedCommand]poisoning{}
	}
	k := poisonedCommand{r.SourceTopic, r.CommandID}
	if q, ok := l.latest[k]; !ok || ComparePoisonings(r, q.record()) > 0 {
		l.latest[k] = poisoning{r.Partition, r.Offset, r.Time}
	}
}

// Earlier reports whether r is an earlier poisoning of its command than the latest one
// added, and then that latest, with its Partition, Offset and Time only. A record that
// names no command id, or whose command had no poisoning added, is no earlier one.
func (l *LatestPoisonings) Earlier(r PoisonRecord) (latest PoisonRecord, earlier bool) {
	if r.CommandID == "" {
		return PoisonRecord{}, false
	}
	p, ok := l.latest[poisonedCommand{r.SourceTopic, r.CommandID}]
	if !ok || ComparePoisonRecords(p.record(), r) == 0 {
		return PoisonRecord{}, false
	}
	return p.record(), true
}

// Requeue publishes the given poison records back to their source topics with Watermill's
// requeuer (which counts the requeues in the _watermill_requeuer_retries header), each
// with its original bytes, headers and key. Give pub a SourcePartitionBalancer (a
// kafka.Publisher's Balancer) so that each record goes back to the partition it was
// consumed from, behind the commands of its key. The pipeline sends a requeued command even
// when its earlier outcome was unknown (an operator decided), once per requeue: Kafka
// delivering the requeued record again does not send it again, but each requeued record of
// one command may send it: requeue only a command's latest poisoning (LatestPoisonings). It
// returns once every record was published, or with the first error.
func Requeue(ctx context.Context, pub message.Publisher, recs []PoisonRecord) error {
	if len(recs) == 0 {
		return nil
	}
	for _, r := range recs {
		if r.SourceTopic == "" {
			return fmt.Errorf("outbound: poison record %d/%d names no source topic", r.Partition, r.Offset)
		}
	}
	logger := watermill.NopLogger{}
	feed := gochannel.NewGoChannel(gochannel.Config{OutputChannelBuffer: int64(len(recs)), Persistent: true}, logger)
	defer feed.Close()
	const feedTopic = "requeue"
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	counted := &countingPublisher{Publisher: pub, want: len(recs), done: cancel}
	rq, err := requeuer.NewRequeuer(requeuer.Config{
		Subscriber:     feed,
		SubscribeTopic: feedTopic,
		Publisher:      counted,
		GeneratePublishTopic: func(p requeuer.GeneratePublishTopicParams) (string, error) {
			return p.Message.Metadata.Get(middleware.PoisonedTopicKey), nil
		},
	}, logger)
	if err != nil {
		return fmt.Errorf("outbound: %w", err)
	}
	runErr := make(chan error, 1)
	go func() { runErr <- rq.Run(ctx) }()
	msgs := make([]*message.Message, len(recs))
	for i, r := range recs {
		uuid := r.Headers[kafka.UUIDHeader]
		if uuid == "" {
			uuid = fmt.Sprintf("requeue-%d-%d", r.Partition, r.Offset)
		}
		m := message.NewMessage(uuid, r.Value)
		for k, v := range r.Headers {
			m.Metadata[k] = v
		}
		m.Metadata[kafka.DefaultPartitionKeyMetadata] = r.Key
		msgs[i] = m
	}
	if err := feed.Publish(feedTopic, msgs...); err != nil {
		return fmt.Errorf("outbound: %w", err)
	}
	select {
	case <-ctx.Done():
	case err := <-runErr:
		if err != nil {
			return fmt.Errorf("outbound: requeuer: %w", err)
		}
	}
	if n := counted.count(); n < len(recs) {
		if err := counted.firstErr(); err != nil {
			return fmt.Errorf("outbound: requeued %d of %d records: %w", n, len(recs), err)
		}
		return fmt.Errorf("outbound: requeued %d of %d records: %w", n, len(recs), context.Cause(ctx))
	}
	return nil
}

// countingPublisher ends the requeue once every record was published.
type countingPublisher struct {
	message.Publisher
	want int
	done func()

	mu  sync.Mutex
	n   int
	err error
}

func (c *countingPublisher) Publish(topic string, msgs ...*message.Message) error {
	if topic == "" {
		return errors.New("outbound: a poison record names no source topic")
	}
	err := c.Publisher.Publish(topic, msgs...)
	c.mu.Lock()
	defer c.mu.Unlock()
	if err != nil {
		if c.err == nil {
			c.err = err
		}
		return err
	}
	c.n += len(msgs)
	if c.n >= c.want {
		c.done()
	}
	return nil
}

func (c *countingPublisher) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

func (c *countingPublisher) firstErr() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Close does not close the wrapped publisher: it belongs to the caller.
func (c *countingPublisher) Close() error { return nil }

// SourcePartitionBalancer puts a requeued record back in the partition it was consumed
// from (its PoisonPartitionKey header), so that it keeps its place among the records of
// its key whichever partitioner their producer used: librdkafka's default (consistent_random,
// CRC32) puts keys elsewhere than the Java client's murmur2, and a requeued command in
// another partition than its key's would be handled beside them, out of order. A record
// without the header, or naming a partition the topic does not have, goes where Fallback
// puts it (nil: kafka-go's Murmur2Balancer, the Publisher's default).
type SourcePartitionBalancer struct {
	Fallback kafkago.Balancer
}

// Balance implements kafkago.Balancer.
func (b SourcePartitionBalancer) Balance(msg kafkago.Message, partitions ...int) int {
	for _, h := range msg.Headers {
		if h.Key != PoisonPartitionKey {
			continue
		}
		if p, err := strconv.Atoi(string(h.Value)); err == nil && slices.Contains(partitions, p) {
			return p
		}
		break
	}
	if b.Fallback == nil {
		return (&kafkago.Murmur2Balancer{}).Balance(msg, partitions...)
	}
	return b.Fallback.Balance(msg, partitions...)
}
