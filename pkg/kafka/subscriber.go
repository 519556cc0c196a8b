package kafka

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	kafkago "github.com/segmentio/kafka-go"
)

// ErrSubscriberClosed is returned by Subscribe and SubscribeInitialize after Close.
var ErrSubscriberClosed = errors.New("kafka: subscriber closed")

// StartOffset says where a consumer group with no committed offset for a partition starts.
// The zero value is StartEarliest.
type StartOffset int

// Start positions.
const (
	// StartEarliest starts at the oldest retained record.
	StartEarliest StartOffset = iota
	// StartLatest starts after the newest record: only records written later are consumed.
	// A partition that appears while a subscription runs (partitions added to its topic,
	// or the topic created after Subscribe) starts at its earliest record all the same:
	// everything in it was written later.
	StartLatest
)

// Ordering says which messages of one partition wait for each other. The zero value is
// OrderPerPartition.
type Ordering int

// Orderings.
const (
	// OrderPerPartition delivers the messages of a partition one at a time, in offset order:
	// the next is sent only after the previous one was acked (Watermill's model). It needs
	// MaxInFlightPerPartition 1.
	OrderPerPartition Ordering = iota
	// OrderPerKey delivers up to MaxInFlightPerPartition messages of a partition at once, at
	// most one per record key: a message is sent only after every earlier message of the
	// partition with the same key was acked, so the order holds per key. Records without a
	// key (nil or empty) count as one key: they stay in offset order among themselves.
	OrderPerKey
)

func (o Ordering) String() string {
	switch o {
	case OrderPerPartition:
		return "OrderPerPartition"
	case OrderPerKey:
		return "OrderPerKey"
	}
	return fmt.Sprintf("Ordering(%d)", int(o))
}

// SubscriberConfig configures a Subscriber.
type SubscriberConfig struct {
	Connection ConnectionConfig

	// ConsumerGroup is the Kafka consumer group ID. Required.
	ConsumerGroup string
	// Unmarshaler maps records to messages. Default DefaultMarshaler{}.
	Unmarshaler Unmarshaler
	// StartOffset applies to partitions the group has no committed offset for, and to
	// partitions whose committed offset lies past the end of the log. Either way the member
	// resolves it to an absolute offset when it gets the partition and commits that
	// position before it delivers anything, so that the next owner starts there too (not
	// past a message left unacked, as a "latest" resolved anew would). A partition that
	// appeared while the subscription ran starts at its earliest record whatever
	// StartOffset says (see StartLatest); so does a partition whose committed offset lies
	// before the start of the log (records deleted before they were consumed: logged as an
	// error). Default StartEarliest.
	StartOffset StartOffset
	// SourceMetadata, when true, adds the record's topic, partition and offset to each
	// message's metadata (TopicMetadata, PartitionMetadata, OffsetMetadata) so that a poison
	// queue stores where a message came from. They are always in the message context.
	SourceMetadata bool

	// Ordering says which messages of a partition may be in flight together. Default
	// OrderPerPartition.
	Ordering Ordering
	// MaxInFlightPerPartition is the most messages of one partition held at once: delivered
	// and not yet acked, plus those read and waiting because an earlier message of their
	// key is in flight (OrderPerKey). It bounds memory: at most this many records per
	// partition on top of its reader's two fetch responses (MaxBytes). While the limit is
	// reached, the partition reads nothing more; so one slow key can hold up its partition
	// once its waiting messages fill the limit. Default 1; more than 1 needs OrderPerKey.
	MaxInFlightPerPartition int

	// NackResendDelay is how long after a Nack the same record is delivered again. Default
	// 100ms. Until then, later messages of its key (OrderPerKey) or of its partition
	// (OrderPerPartition) wait.
	NackResendDelay time.Duration
	// CommitInterval is how often acked offsets are committed. Offsets are also committed
	// when a generation ends and on Close. Default 1s.
	CommitInterval time.Duration
	// DrainTimeout is how long a generation end (rebalance) or Close waits for messages in
	// flight to be acked or nacked before abandoning them: an abandoned message is not
	// committed, its context is canceled, and it is delivered again later. The member
	// heartbeats while it drains and commits (kafka-go's own heartbeats end with the
	// generation), so the group keeps it whatever SessionTimeout says: on Close until it
	// leaves (CloseTimeout bounds that), in a rebalance until it rejoins, for at most
	// RebalanceTimeout from the rebalance's start. With HeartbeatInterval it must be
	// shorter than RebalanceTimeout (Validate refuses it otherwise): a member learns of a
	// rebalance at its next heartbeat and drains before it rejoins, and the group evicts a
	// member that has not rejoined within RebalanceTimeout, so a longer drain would be in
	// vain (its commits refused as stale) and make the group rebalance again. Leave a
	// margin for the generation's final commit and the join request. Default 5s.
	DrainTimeout time.Duration
	// CloseTimeout bounds Close as a whole: draining, the final commit and leaving the
	// group. Past it (brokers stalled or unreachable: kafka-go waits up to DialTimeout for
	// each of those requests) Close closes the Subscriber's connections, so the remaining
	// requests fail at once, and returns an error; uncommitted acks are then redelivered
	// later; messages still being drained are abandoned then. It is generous by default:
	// a busy group takes seconds to let many members leave, and a Close cut short costs
	// redeliveries. Default 30s, or DrainTimeout + 5s if that is longer.
	CloseTimeout time.Duration

	// Consumer group timings; see kafka-go's ConsumerGroupConfig. Defaults: session 30s,
	// heartbeat 3s, rebalance 30s, join-group backoff 5s. HeartbeatInterval must be
	// shorter than SessionTimeout, and DrainTimeout + HeartbeatInterval shorter than
	// RebalanceTimeout (how long the group waits for its members to rejoin once a
	// rebalance started). SessionTimeout is how long after its last heartbeat the group
	// drops a member that died or lost Kafka; it does not bound a drain, during which the
	// member heartbeats.
	SessionTimeout    time.Duration
	HeartbeatInterval time.Duration
	RebalanceTimeout  time.Duration
	JoinGroupBackoff  time.Duration

	// Fetch settings of each partition's PartitionReader: MaxBytes bounds the records one
	// fetch returns, and so the memory a partition's reader holds (two responses; a larger
	// record batch still comes whole); MaxWait is how long the broker holds a fetch that finds nothing
	// new. Defaults: MaxBytes 256 KiB, MaxWait 500ms.
	MaxBytes int
	MaxWait  time.Duration
	// MaxDecompressedBytes bounds what one compressed record batch may decompress to, and
	// so the memory a partition's reader holds beside its responses: a batch that would
	// take more is delivered as one undecodable record (see Subscriber). Default
	// DefaultMaxDecompressedBytes, 128 MiB (see PartitionReaderConfig).
	MaxDecompressedBytes int
	// ReadCommitted consumes with isolation read_committed (PartitionReaderConfig): records
	// of aborted transactions are never delivered, nor those of a transaction still open
	// until it commits, and StartLatest starts at the last stable offset. Default
	// read_uncommitted.
	ReadCommitted bool

	// OnAssigned, when set, is called for each partition assigned to a member, once per
	// generation, before any record of the partition is delivered in that generation (on
	// the partition's goroutine, the partitions of a generation concurrently): a partition
	// that stays with the member across a rebalance gets a call in each generation. ctx
	// ends with the generation (the partition revoked, the subscription ended). An error
	// is logged (at error level, then as a Streak: once a minute, with how long it has
	// been failing) and the call is made again after JoinGroupBackoff, until it returns
	// nil or ctx ends; meanwhile the partition delivers nothing. The outbound side waits
	// there until its applied-ids store has read the marks other replicas wrote (see
	// outbound.Store.CatchUp).
	OnAssigned func(ctx context.Context, topic string, partition int) error

	// Topics created by SubscribeInitialize get InitializePartitions partitions and
	// InitializeReplicationFactor replicas. Default -1 for both: the broker's defaults.
	InitializePartitions        int
	InitializeReplicationFactor int

	// drainPastRebalance lets DrainTimeout + HeartbeatInterval reach RebalanceTimeout:
	// only tests of a member that the group evicts while it drains set it (export_test.go).
	drainPastRebalance bool
}

func (c *SubscriberConfig) setDefaults() {
	c.Connection.setDefaults()
	if c.Unmarshaler == nil {
		c.Unmarshaler = DefaultMarshaler{}
	}
	setDuration(&c.NackResendDelay, 100*time.Millisecond)
	setDuration(&c.CommitInterval, time.Second)
	setDuration(&c.DrainTimeout, 5*time.Second)
	setDuration(&c.CloseTimeout, max(30*time.Second, c.DrainTimeout+5*time.Second))
	setGroupDefaults(&c.SessionTimeout, &c.HeartbeatInterval, &c.RebalanceTimeout, &c.JoinGroupBackoff)
	setDuration(&c.MaxWait, 500*time.Millisecond)
	if c.MaxBytes == 0 {
		c.MaxBytes = 256 << 10
	}
	if c.MaxDecompressedBytes == 0 {
		c.MaxDecompressedBytes = DefaultMaxDecompressedBytes
	}
	if c.MaxInFlightPerPartition == 0 {
		c.MaxInFlightPerPartition = 1
	}
	if c.InitializePartitions == 0 {
		c.InitializePartitions = -1
	}
	if c.InitializeReplicationFactor == 0 {
		c.InitializeReplicationFactor = -1
	}
}

// setGroupDefaults gives the consumer group timings left zero their defaults (session 30s,
// heartbeat 3s, rebalance 30s, join-group backoff 5s): SubscriberConfig's and LeaseConfig's.
func setGroupDefaults(session, heartbeat, rebalance, joinBackoff *time.Duration) {
	setDuration(session, 30*time.Second)
	setDuration(heartbeat, 3*time.Second)
	setDuration(rebalance, 30*time.Second)
	setDuration(joinBackoff, 5*time.Second)
}

func setDuration(d *time.Duration, def time.Duration) {
	if *d == 0 {
		*d = def
	}
}

// Validate reports whether the configuration is usable. It judges the values as they are:
// NewSubscriber applies the defaults first, so a duration left zero is judged as its
// default there. DrainTimeout is judged against RebalanceTimeout, not SessionTimeout: a
// draining member heartbeats (see DrainTimeout).
func (c SubscriberConfig) Validate() error {
	if err := c.Connection.Validate(); err != nil {
		return err
	}
	if c.ConsumerGroup == "" {
		return errors.New("kafka: ConsumerGroup is required")
	}
	if c.StartOffset != StartEarliest && c.StartOffset != StartLatest {
		return fmt.Errorf("kafka: invalid StartOffset %d (want StartEarliest or StartLatest)", c.StartOffset)
	}
	for name, d := range map[string]time.Duration{
		"NackResendDelay": c.NackResendDelay, "CommitInterval": c.CommitInterval,
		"DrainTimeout": c.DrainTimeout, "CloseTimeout": c.CloseTimeout,
		"SessionTimeout": c.SessionTimeout, "HeartbeatInterval": c.HeartbeatInterval,
		"RebalanceTimeout": c.RebalanceTimeout, "JoinGroupBackoff": c.JoinGroupBackoff,
		"MaxWait": c.MaxWait,
	} {
		if d < 0 {
			return fmt.Errorf("kafka: %s must not be negative", name)
		}
	}
	switch c.Ordering {
	case OrderPerPartition, OrderPerKey:
	default:
		return fmt.Errorf("kafka: invalid Ordering %d (want OrderPerPartition or OrderPerKey)", int(c.Ordering))
	}
	if c.MaxInFlightPerPartition < 1 {
		return fmt.Errorf("kafka: MaxInFlightPerPartition must be at least 1 (got %d)", c.MaxInFlightPerPartition)
	}
	if c.MaxInFlightPerPartition > 1 && c.Ordering != OrderPerKey {
		return fmt.Errorf("kafka: MaxInFlightPerPartition %d needs Ordering OrderPerKey (OrderPerPartition holds one message of a partition at a time)", c.MaxInFlightPerPartition)
	}
	if c.HeartbeatInterval >= c.SessionTimeout {
		return errors.New("kafka: HeartbeatInterval must be shorter than SessionTimeout")
	}
	if c.DrainTimeout+c.HeartbeatInterval >= c.RebalanceTimeout && !c.drainPastRebalance {
		return fmt.Errorf("kafka: DrainTimeout %s plus HeartbeatInterval %s must be shorter than RebalanceTimeout %s: a member learns of a rebalance at its next heartbeat "+
			"and drains its messages in flight for up to DrainTimeout before it rejoins, and the group evicts a member that has not rejoined within RebalanceTimeout "+
			"(its drain in vain, the group rebalancing again); lower DrainTimeout or HeartbeatInterval, or raise RebalanceTimeout",
			c.DrainTimeout, c.HeartbeatInterval, c.RebalanceTimeout)
	}
	if c.MaxBytes < 1 {
		return errors.New("kafka: MaxBytes must be positive")
	}
	if c.MaxDecompressedBytes < 0 {
		return errors.New("kafka: MaxDecompressedBytes must not be negative")
	}
	if c.InitializePartitions < -1 || c.InitializeReplicationFactor < -1 {
		return errors.New("kafka: InitializePartitions and InitializeReplicationFactor must be positive or -1")
	}
	return nil
}

// Subscriber consumes Kafka topics through a consumer group.
//
// Every Subscribe call joins the group as its own member, for one topic, and gets its own
// output channel; every Consume call likewise, handing records to its RecordHandler
// instead of messages to a channel (all that follows holds for both, with done(nil) for
// an ack and done(err) for a nack). Each partition assigned to that member is read by its own goroutine, in
// offset order. With OrderPerPartition (the default) one message of a partition is in
// flight at a time: the next is sent only after the previous one was acked. With
// OrderPerKey up to MaxInFlightPerPartition messages of a partition are in flight at once,
// at most one per record key, and acks may come in any order. Either way a nacked message
// is sent again (as a new *message.Message with the same UUID, payload and metadata) after
// NackResendDelay, before any later message of its key (of its partition with
// OrderPerPartition), and is never skipped. Messages of different partitions, and of
// different keys, are interleaved on the channel.
//
// Offsets are committed with the generation they were consumed in, only up to the first
// message not yet acked (see package doc), every CommitInterval, when a generation ends
// (before the member rejoins) and on Close. A commit that fails is logged at info level
// (normal when a rebalance ends a generation); a streak of failures once at error level,
// with Kafka's answer, at its first failure when Kafka refuses the commit for want of
// rights, otherwise once it has lasted SessionTimeout (commits that keep failing are an
// operator's problem: the group's ACLs, its coordinator). A message's context is canceled once it is acked or nacked, or
// abandoned by a rebalance or Close.
//
// A record the Unmarshaler rejects is not skipped: it is delivered as a message whose
// payload is the raw record value, whose metadata are the record headers plus
// UnmarshalErrorMetadata (the error), so that the handler or the RejectUnmarshalFailures
// middleware sends it to the poison queue. A record batch that does not decode (damaged in
// the log) is delivered so too, as one message whose payload is the whole batch (see
// Undecodable), and logged at error level; Consume hands it to the handler as a record
// carrying UndecodableHeader. Nothing is skipped.
//
// Methods are safe for concurrent use.
type Subscriber struct {
	cfg    SubscriberConfig
	logger watermill.LoggerAdapter
	dialer *kafkago.Dialer
	admin  *kafkago.Client
	// socks made every connection of the Subscriber (admin, group, readers).
	socks *sockets
	// transport is admin's: its connection pools (and their metadata goroutines) live
	// until Close releases them.
	transport *kafkago.Transport

	closing   chan struct{}
	abandon   chan struct{} // closed when Close gives up waiting (CloseTimeout)
	closeOnce sync.Once
	closeErr  error      // the first Close's
	mu        sync.Mutex // guards closed and subs
	closed    bool
	subs      sync.WaitGroup

	refusal GroupRefusal // the group's, by its members' joins (Refused)
}

var (
	_ message.Subscriber           = (*Subscriber)(nil)
	_ message.SubscribeInitializer = (*Subscriber)(nil)
)

// Refused returns Kafka's refusal of the consumer group to this client, nil if none: set
// when a join of one of the Subscriber's members is refused for want of rights (the
// group's ACLs, the credentials: see Refused), cleared when a join works, and left as it
// is by other failures to join, which pass by themselves (see GroupRefusal). While it is
// not nil no member has a generation and nothing is consumed, though the Subscriber
// otherwise runs: a readiness check reports it. A refusal outlives the member it came
// from; the Subscriber's members share it, as they share the group.
func (s *Subscriber) Refused() error { return s.refusal.Err() }

// NewSubscriber returns a Subscriber. It does not connect: Subscribe does.
func NewSubscriber(cfg SubscriberConfig, logger watermill.LoggerAdapter) (*Subscriber, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = watermill.NopLogger{}
	}
	socks := newSockets(cfg.Connection.DialTimeout)
	dialer, err := cfg.Connection.dialer(socks)
	if err != nil {
		return nil, err
	}
	transport, err := cfg.Connection.transport(socks)
	if err != nil {
		return nil, err
	}
	return &Subscriber{
		cfg:       cfg,
		logger:    logger.With(watermill.LogFields{"consumer_group": cfg.ConsumerGroup}),
		dialer:    dialer,
		admin:     &kafkago.Client{Addr: kafkago.TCP(cfg.Connection.Brokers...), Transport: transport, Timeout: 30 * time.Second},
		transport: transport,
		socks:     socks,
		closing:   make(chan struct{}),
		abandon:   make(chan struct{}),
	}, nil
}

// SubscribeInitialize creates topic with the configured partitions and replication
// factor; an existing topic is left as it is.
func (s *Subscriber) SubscribeInitialize(topic string) error {
	select {
	case <-s.closing:
		return ErrSubscriberClosed
	default:
	}
	return createTopic(context.Background(), s.admin, topic, s.cfg.InitializePartitions, s.cfg.InitializeReplicationFactor)
}

// createTopic creates a topic unless it exists.
func createTopic(ctx context.Context, admin *kafkago.Client, topic string, partitions, replicationFactor int) error {
	resp, err := admin.CreateTopics(ctx, &kafkago.CreateTopicsRequest{
		Topics: []kafkago.TopicConfig{{Topic: topic, NumPartitions: partitions, ReplicationFactor: replicationFactor}},
	})
	if err != nil {
		return fmt.Errorf("kafka: creating topic %s: %w", topic, ClientError(err))
	}
	if err := resp.Errors[topic]; err != nil && !errors.Is(err, kafkago.TopicAlreadyExists) {
		return fmt.Errorf("kafka: creating topic %s: %w", topic, err)
	}
	return nil
}

// Subscribe joins the consumer group for topic and returns the channel messages arrive on.
// The channel is closed once the subscription ended: ctx canceled or Close called, in-flight
// messages drained (DrainTimeout), offsets committed and the group left.
func (s *Subscriber) Subscribe(ctx context.Context, topic string) (<-chan *message.Message, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sub, err := s.subscription(ctx, topic)
	if err != nil {
		return nil, err
	}
	sub.out = make(chan *message.Message)
	s.subs.Add(1)
	go func() {
		defer s.subs.Done()
		sub.run()
	}()
	return sub.out, nil
}

// RecordHandler handles one record for Consume, and calls done exactly once, from any
// goroutine, when it is done with it: done(nil) acks the record (its offset is committed
// once every earlier record of its partition was acked too); done(err) has it delivered
// again after NackResendDelay, before any later record of its key (OrderPerKey) or
// partition (OrderPerPartition). The handler itself runs on the partition's consuming
// goroutine, or on the goroutine that called done for the record before it in its lane:
// it must hand long work off and return (the partition reads nothing meanwhile), and it
// may call done before it returns. Within a partition at most MaxInFlightPerPartition
// records are handed out and not done, at most one per key (OrderPerKey). ctx ends
// DrainTimeout after the record's partition was revoked or the subscription ended (at
// once when Close gives up, CloseTimeout): a record done(nil) before then is committed
// with its generation; one done later, or not at all, is delivered again to the next
// owner.
type RecordHandler func(ctx context.Context, rec kafkago.Message, done func(error))

// Consume is Subscribe without Watermill messages, for handlers that work on records: it
// joins the consumer group for topic and hands every record to h, as kafka-go read it
// (topic, partition, offset, key, headers, value; the Unmarshaler and SourceMetadata do not
// apply), with the same delivery, ordering and commit guarantees. It blocks until ctx
// ends or Close is called, and returns once in-flight records were drained
// (DrainTimeout), offsets committed and the group left: nil then, or ErrSubscriberClosed
// when the Subscriber was closed before the call.
func (s *Subscriber) Consume(ctx context.Context, topic string, h RecordHandler) error {
	s.mu.Lock()
	sub, err := s.subscription(ctx, topic)
	if err != nil {
		s.mu.Unlock()
		return err
	}
	sub.handle = h
	s.subs.Add(1)
	s.mu.Unlock()
	defer s.subs.Done()
	sub.run()
	return nil
}

// subscription returns a subscription to topic, not yet running. s.mu must be held.
func (s *Subscriber) subscription(ctx context.Context, topic string) (*subscription, error) {
	if s.closed {
		return nil, ErrSubscriberClosed
	}
	startOffset := kafkago.FirstOffset
	if s.cfg.StartOffset == StartLatest {
		startOffset = kafkago.LastOffset
	}
	logger := s.logger.With(watermill.LogFields{"topic": topic})
	cg, err := kafkago.NewConsumerGroup(kafkago.ConsumerGroupConfig{
		ID:                s.cfg.ConsumerGroup,
		Brokers:           s.cfg.Connection.Brokers,
		Dialer:            s.dialer,
		Topics:            []string{topic},
		HeartbeatInterval: s.cfg.HeartbeatInterval,
		SessionTimeout:    s.cfg.SessionTimeout,
		RebalanceTimeout:  s.cfg.RebalanceTimeout,
		JoinGroupBackoff:  s.cfg.JoinGroupBackoff,
		StartOffset:       startOffset,
		Timeout:           s.cfg.Connection.DialTimeout,
		Logger:            kafkaLogger(logger, false),
		ErrorLogger:       kafkaLogger(logger, true),
	})
	if err != nil {
		return nil, fmt.Errorf("kafka: subscribing to %s: %w", topic, err)
	}
	sub := &subscription{s: s, topic: topic, ctx: ctx, logger: logger, cg: cg}
	sub.partitionsAtStart.Store(-1)
	return sub, nil
}

// Close ends every subscription (see Subscribe) and waits for them: each drains its
// messages in flight (DrainTimeout), commits and leaves the group. If that has not
// finished within CloseTimeout, Close closes every connection of the Subscriber and
// returns an error naming the timeout. Either way, when Close returns, no goroutine and
// no connection of the Subscriber remains. It is idempotent: later calls wait for the
// first and return its result.
func (s *Subscriber) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		close(s.closing)
		s.mu.Unlock()
		done := make(chan struct{})
		go func() {
			s.subs.Wait()
			close(done)
		}()
		select {
		case <-done:
		case <-time.After(s.cfg.CloseTimeout):
			s.closeErr = fmt.Errorf("kafka: subscriber did not close within %s (CloseTimeout): connections closed; messages acked but not committed will be redelivered", s.cfg.CloseTimeout)
			// Every request still waiting on the network now fails at once, and drains
			// still waiting for handlers give up.
			close(s.abandon)
			s.socks.closeAll()
			<-done
		}
		// The subscriptions, which list offsets with the admin client, are over. Closing
		// the pools ends their metadata goroutines; closing the sockets ends what kafka-go
		// still has connecting (a handshake waits for DialTimeout otherwise).
		s.transport.CloseIdleConnections()
		s.socks.closeAll()
	})
	return s.closeErr
}

func kafkaLogger(l watermill.LoggerAdapter, isError bool) kafkago.LoggerFunc {
	return func(format string, args ...any) {
		if isError {
			// kafka-go reports rebalances and retried fetches here; they are expected, so
			// they are logged at info level.
			l.Info("kafka-go: "+fmt.Sprintf(format, args...), nil)
			return
		}
		l.Trace("kafka-go: "+fmt.Sprintf(format, args...), nil)
	}
}

// subscription is one Subscribe or Consume call: one group member for one topic.
type subscription struct {
	s      *Subscriber
	topic  string
	ctx    context.Context // the Subscribe context: parent of every message context
	logger watermill.LoggerAdapter
	cg     *kafkago.ConsumerGroup
	out    chan *message.Message // Subscribe's
	handle RecordHandler         // Consume's

	commitMu sync.Mutex // one commit at a time (see commit)
	// commitFails is the streak of commits that failed since the last one that landed,
	// over generations: logged once at error level. Guarded by commitMu.
	commitFails Streak
	// partitionsAtStart is how many partitions the topic had when the subscription first
	// saw it, -1 until then: partitions numbered from it on appeared later (Kafka only adds
	// partitions, numbered after the existing ones).
	partitionsAtStart atomic.Int64
}

// sawPartitions records that the topic has n partitions now (0: it does not exist), if
// no count was seen before.
func (sub *subscription) sawPartitions(n int) {
	sub.partitionsAtStart.CompareAndSwap(-1, int64(n))
}

// run takes generations from the group until the subscription ends, then leaves the group
// and closes the output channel.
func (sub *subscription) run() {
	if sub.out != nil {
		defer close(sub.out)
	}
	runCtx, cancel := context.WithCancel(sub.ctx)
	defer cancel()
	go func() {
		select {
		case <-sub.s.closing:
			cancel()
		case <-runCtx.Done():
		}
	}()
	// The partitions there are as the subscription starts: any partition numbered past
	// them appeared later (see resolveStartOffsets). If this fails, watchPartitions'
	// first count stands in.
	if n, err := sub.partitionCount(runCtx); err == nil {
		sub.sawPartitions(n)
	}

	var genDone chan struct{}
	joins := newGroupJoins("Consumer group", sub.s.cfg.ConsumerGroup, &sub.s.refusal)
	for {
		gen, err := sub.cg.Next(runCtx)
		if err != nil {
			if runCtx.Err() != nil || errors.Is(err, kafkago.ErrGroupClosed) {
				break
			}
			joins.failed(sub.logger, err)
			continue
		}
		joins.joined(sub.logger, gen.ID)
		genDone = make(chan struct{})
		done := genDone
		gen.Start(func(gctx context.Context) {
			defer close(done)
			sub.runGeneration(gctx, gen)
		})
		select {
		case <-done:
			continue
		case <-runCtx.Done():
		}
		break
	}
	// Closing the group ends the current generation (its context is canceled), waits for
	// runGeneration to drain and commit with that generation, and then leaves the group.
	// The group is marked closed before the generation ends, so it never rejoins.
	if err := sub.cg.Close(); err != nil {
		sub.logger.Error("Closing consumer group", err, nil)
	}
	if genDone != nil {
		<-genDone
	}
}

// runGeneration consumes the partitions assigned in gen until gctx ends (or the topic's
// partitions change, see watchPartitions), then commits what
// was acked, using gen, before returning. Every commit carries gen's generation and member
// ID, and this member does not rejoin before runGeneration returns: so its commits either
// land while it still owns the partitions, or (if the group moved on without it, e.g. after
// a handler outlived the rebalance timeout) the coordinator rejects them as stale. From
// gctx's end until it returns it heartbeats for the member (keepMember), so that the
// group does not drop it SessionTimeout into its drain. Offsets are tracked per
// generation and never carried into the next one.
func (sub *subscription) runGeneration(gctx context.Context, gen *kafkago.Generation) {
	assignments := gen.Assignments[sub.topic]
	sub.logger.Debug("Generation started", watermill.LogFields{
		"generation": gen.ID, "member": gen.MemberID, "partitions": len(assignments),
	})
	// The member stays in the group while it drains and commits, after kafka-go's
	// heartbeats ended with gen.
	release := keepMember(gctx, sub.s.admin, sub.s.cfg.ConsumerGroup, sub.s.cfg.HeartbeatInterval, gen, sub.logger)
	defer release()
	// ctx also ends when the topic's partition count changes: returning ends the
	// generation, and the member rejoins so that the group assigns the new partitions.
	ctx, cancel := context.WithCancel(gctx)
	defer cancel()
	starts := make(map[int]int64, len(assignments))
	for _, a := range assignments {
		starts[a.ID] = a.Offset
	}
	if !sub.resolveStartOffsets(ctx, starts) {
		return
	}
	trackers := make(map[int]*offsetTracker, len(assignments))
	resolved := false
	for _, a := range assignments {
		tr := newOffsetTracker(starts[a.ID])
		if a.Offset < 0 {
			tr.reset(starts[a.ID]) // committed at once, below
			resolved = true
		}
		trackers[a.ID] = tr
	}
	// The resolved start offsets are committed before any message is delivered.
	if resolved && !sub.commitStart(ctx, gen, trackers) {
		return
	}
	var wg sync.WaitGroup
	for _, a := range assignments {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tr := trackers[a.ID]
			commitReset := func() bool { return sub.commitStart(ctx, gen, map[int]*offsetTracker{a.ID: tr}) }
			sub.consumePartition(ctx, a.ID, starts[a.ID], tr, commitReset)
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		sub.watchPartitions(ctx, cancel)
	}()

	ticker := time.NewTicker(sub.s.cfg.CommitInterval)
	defer ticker.Stop()
loop:
	for {
		select {
		case <-ticker.C:
			sub.commit(gen, trackers)
		case <-ctx.Done():
			break loop
		}
	}
	wg.Wait()
	sub.commit(gen, trackers)
	sub.logger.Debug("Generation ended", watermill.LogFields{"generation": gen.ID})
}

// partitionWatchInterval is how often a member checks its topic's partitions against the
// group's assignment.
const partitionWatchInterval = 5 * time.Second

// watchPartitions calls changed once the group's assignment no longer covers the topic's
// partitions: partitions were added, the topic was created, or the group leader
// assigned from metadata that did not yet list the topic (on a cluster of several brokers
// a topic just created reaches the coordinator's metadata a little later; the leader then
// assigns nothing, and without a new rebalance nobody would ever consume it). Only a
// rebalance assigns partitions anew, and ending the generation makes this member rejoin.
// kafka-go's own watcher (WatchPartitionChanges) is not used: while the topic does not
// exist it ends every generation at once, a tight rejoin loop. The partition count comes
// from the admin client's metadata cache, the assignment from DescribeGroups; a group that
// is rebalancing is not compared.
func (sub *subscription) watchPartitions(ctx context.Context, changed context.CancelFunc) {
	t := time.NewTicker(partitionWatchInterval)
	defer t.Stop()
	warned := false
	for {
		n, err := sub.partitionCount(ctx)
		if err == nil {
			sub.sawPartitions(n)
		}
		if err == nil && n == 0 && !warned {
			sub.logger.Error("Topic does not exist; it is consumed once it is created", kafkago.UnknownTopicOrPartition, nil)
			warned = true
		}
		var assigned int
		var stable bool
		if err == nil {
			assigned, stable, err = sub.assignedPartitions(ctx)
		}
		switch {
		case err != nil:
			if ctx.Err() == nil {
				sub.logger.Debug("Checking the partition assignment failed", watermill.LogFields{"err": err})
			}
		case stable && n > assigned:
			// Only a shortfall counts: the admin client's metadata cache may lag behind the
			// group (a topic created elsewhere moments ago), and a count below the
			// assignment must not make the whole group rebalance.
			sub.logger.Info("The group's assignment does not cover the topic's partitions; rejoining the group",
				watermill.LogFields{"partitions_assigned": assigned, "partitions": n})
			changed()
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// assignedPartitions returns how many partitions of the topic the members of the group
// hold, and whether the group is Stable (otherwise its assignment is in flux and the count
// means nothing).
func (sub *subscription) assignedPartitions(ctx context.Context) (int, bool, error) {
	resp, err := sub.s.admin.DescribeGroups(ctx, &kafkago.DescribeGroupsRequest{GroupIDs: []string{sub.s.cfg.ConsumerGroup}})
	if err != nil {
		return 0, false, fmt.Errorf("describing group %s: %w", sub.s.cfg.ConsumerGroup, ClientError(err))
	}
	for _, g := range resp.Groups {
		if g.GroupID != sub.s.cfg.ConsumerGroup {
			continue
		}
		if g.Error != nil {
			return 0, false, g.Error
		}
		if g.GroupState != "Stable" {
			return 0, false, nil
		}
		held := map[int]bool{}
		for _, m := range g.Members {
			for _, t := range m.MemberAssignments.Topics {
				if t.Topic == sub.topic {
					for _, p := range t.Partitions {
						held[p] = true
					}
				}
			}
		}
		return len(held), true, nil
	}
	return 0, false, fmt.Errorf("no description of group %s", sub.s.cfg.ConsumerGroup)
}

// partitionCount returns the number of partitions of the topic, 0 if it does not exist.
func (sub *subscription) partitionCount(ctx context.Context) (int, error) {
	resp, err := sub.s.admin.Metadata(ctx, &kafkago.MetadataRequest{Topics: []string{sub.topic}})
	if err != nil {
		return 0, fmt.Errorf("reading the metadata of %s: %w", sub.topic, ClientError(err))
	}
	for _, t := range resp.Topics {
		if t.Name != sub.topic {
			continue
		}
		if errors.Is(t.Error, kafkago.UnknownTopicOrPartition) {
			return 0, nil
		}
		if t.Error != nil {
			return 0, t.Error
		}
		return len(t.Partitions), nil
	}
	return 0, fmt.Errorf("no metadata for topic %s", sub.topic)
}

// commit sends the committable offsets of trackers with gen's generation ID. A commit the
// broker refuses (the generation is over) is dropped: those messages are redelivered. It
// reports whether the commit landed, or there was nothing to commit.
//
// A failure is logged at info level: a rebalance, or the group's coordinator moving to
// another broker, fails the commits of a generation until the member rejoins, within the
// session timeout. A streak of failures is logged once at error level, with its cause,
// at its first failure when Kafka refuses the commit for want of rights (the group's or
// the topic's ACLs), otherwise once it has lasted SessionTimeout: commits that keep
// failing let the lag grow and the uncommitted messages be delivered again after the
// next rebalance or restart. The commit that lands after such a streak is logged at info
// level.
func (sub *subscription) commit(gen *kafkago.Generation, trackers map[int]*offsetTracker) bool {
	// The generation's ticker and a partition's reset (commitStart) both commit: an
	// offset read before a reset must not land after the reset position's.
	sub.commitMu.Lock()
	defer sub.commitMu.Unlock()
	offsets := map[int]int64{}
	points := map[int]commitPoint{}
	for p, tr := range trackers {
		if c, ok := tr.toCommit(); ok {
			offsets[p], points[p] = c.offset, c
		}
	}
	if len(offsets) == 0 {
		return true
	}
	if err := gen.CommitOffsets(map[string]map[int]int64{sub.topic: offsets}); err != nil {
		now := time.Now()
		after := sub.s.cfg.SessionTimeout
		if errors.Is(err, kafkago.GroupAuthorizationFailed) || errors.Is(err, kafkago.TopicAuthorizationFailed) {
			after = 0 // refused for want of rights: no rebalance mends that
		}
		logged := sub.commitFails.Fail(now, after)
		fields := sub.commitFails.LogFields(now, watermill.LogFields{"generation": gen.ID})
		if logged {
			sub.logger.Error("Committing offsets keeps failing; uncommitted messages will be redelivered and the group's lag grows until a commit lands: "+
				"check the ACLs (this client's principal needs Read on the group and the topic) and the group's coordinator", err, fields)
		} else {
			fields["err"] = err
			sub.logger.Info("Committing offsets failed; uncommitted messages will be redelivered", fields)
		}
		return false
	}
	sub.commitFails.LogWorks(sub.logger, "Committing offsets works again", watermill.LogFields{"generation": gen.ID})
	for p, c := range points {
		trackers[p].markCommitted(c)
	}
	return true
}

// errStartNotCommitted is logged while commitStart fails (commit logs why).
var errStartNotCommitted = errors.New("kafka: the start offset is not committed")

// commitStart commits the position trackers were reset to (a start offset resolved per
// StartOffset) before any message from there is delivered, retrying every
// JoinGroupBackoff until the commit lands; it returns false when ctx ended first. A
// message delivered before, held unacked by a member that then dies, would be skipped by
// the next member's "latest" resolved anew.
func (sub *subscription) commitStart(ctx context.Context, gen *kafkago.Generation, trackers map[int]*offsetTracker) bool {
	for attempt := 1; ; attempt++ {
		if ctx.Err() != nil { // the generation is over: the next one resolves again
			return false
		}
		if sub.commit(gen, trackers) {
			return true
		}
		if attempt%10 == 0 {
			sub.logger.Error("Committing the start offset keeps failing; its partition delivers nothing until it lands (the log says why: check the group's ACLs and the coordinator)",
				errStartNotCommitted, watermill.LogFields{"attempts": attempt, "generation": gen.ID})
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(sub.s.cfg.JoinGroupBackoff):
		}
	}
}

// consumePartition calls OnAssigned, then reads one partition from offset and delivers
// its messages until ctx ends: one at a time (MaxInFlightPerPartition 1), or through keyLanes (OrderPerKey). It
// returns only once no delivery of the partition is running, so that the generation's
// final commit sees every ack given while draining. commitReset commits the partition's
// position after a reset (see commitStart).
func (sub *subscription) consumePartition(ctx context.Context, partition int, offset int64, tr *offsetTracker, commitReset func() bool) {
	cfg := sub.s.cfg
	logger := sub.logger.With(watermill.LogFields{"partition": partition})
	if !sub.assigned(ctx, partition, logger) {
		return
	}
	// Failures the reader asks again by itself (Kafka away, a leader moving), and those
	// it returns (an authorization error, a topic that is gone), which are said loudly.
	retries, fetchFails := Streak{Every: StreakInterval}, Streak{Every: StreakInterval}
	r := NewPartitionReader(PartitionReaderConfig{
		Brokers:              cfg.Connection.Brokers,
		Dialer:               sub.s.dialer,
		Topic:                sub.topic,
		Partition:            partition,
		MaxBytes:             cfg.MaxBytes,
		MaxWait:              cfg.MaxWait,
		MaxDecompressedBytes: cfg.MaxDecompressedBytes,
		ReadCommitted:        cfg.ReadCommitted,
		Retrying: func(err error) { // called by FetchMessage, in this goroutine
			retries.LogFailure(logger, watermill.InfoLogLevel, "Fetching failed, retrying", err, nil)
		},
	})
	defer func() { _ = r.Close() }()
	r.passed = tr.passed
	r.deleted = func(from, to int64) {
		// Lost to retention: said loudly, and the commit follows the start of the log
		// even if no record comes after it.
		logger.Error("Records were deleted before they were consumed (retention or DeleteRecords); reading on from the start of the log",
			kafkago.OffsetOutOfRange, watermill.LogFields{"from": from, "to": to, "offsets_lost": to - from})
		tr.passed(to)
	}
	r.SetOffset(offset)
	var hctx context.Context // Consume's handler calls'
	if sub.handle != nil {
		var cancel context.CancelFunc
		hctx, cancel = sub.drainContext(ctx)
		defer cancel() // after the lanes ended, below
	}
	var lanes *keyLanes
	var running sync.WaitGroup // the lanes' goroutines
	defer running.Wait()
	if cfg.MaxInFlightPerPartition > 1 {
		lanes = newKeyLanes(cfg.MaxInFlightPerPartition)
	}
	deliver := func(rec kafkago.Message) bool { return sub.deliver(ctx, rec, tr, logger) }
	var async *asyncLanes // Consume's OrderPerKey
	if sub.handle != nil {
		deliver = func(rec kafkago.Message) bool { return sub.handleRecord(ctx, hctx, rec, tr, logger) }
		if lanes != nil {
			async = &asyncLanes{sub: sub, ctx: ctx, hctx: hctx, lanes: lanes, tr: tr, logger: logger, idle: make(chan struct{}, 1),
				fails: Streak{Every: StreakInterval}}
			defer async.drain()
		}
	}
	for {
		if lanes != nil && !lanes.acquire(ctx) {
			return
		}
		rec, err := r.FetchMessage(ctx)
		if err != nil {
			if lanes != nil {
				lanes.release()
			}
			if ctx.Err() != nil {
				return
			}
			if errors.Is(err, kafkago.OffsetOutOfRange) {
				// The reset restarts the tracker: nothing may be in flight.
				if lanes != nil && !lanes.waitIdle(ctx) {
					return
				}
				if !sub.resetOffset(ctx, r, partition, tr, logger) || !commitReset() {
					return
				}
				continue
			}
			// An error the reader does not retry by itself (an authorization error, a topic
			// that is gone): said loudly, and tried again after a while.
			fetchFails.LogFailure(logger, watermill.ErrorLogLevel, "Fetching failed; retrying after JoinGroupBackoff", err, nil)
			select {
			case <-ctx.Done():
				return
			case <-time.After(cfg.JoinGroupBackoff):
			}
			continue
		}
		retries.LogWorks(logger, "Fetching works again", nil)
		fetchFails.LogWorks(logger, "Fetching works again", nil)
		if err := Undecodable(rec); err != nil {
			logger.Error("A record batch does not decode; it is delivered as one record carrying the whole batch, for the poison route", err,
				watermill.LogFields{"offset": rec.Offset})
		}
		tr.delivered(rec.Offset)
		if async != nil {
			if ln, head := lanes.push(rec); head {
				async.start(ln)
			}
			continue
		}
		if lanes != nil {
			lanes.dispatch(rec, &running, deliver)
			continue
		}
		if !deliver(rec) {
			return
		}
	}
}

// assigned calls OnAssigned for partition, again after JoinGroupBackoff while it fails
// (see SubscriberConfig.OnAssigned). It returns false when ctx ended first.
func (sub *subscription) assigned(ctx context.Context, partition int, logger watermill.LoggerAdapter) bool {
	hook := sub.s.cfg.OnAssigned
	if hook == nil {
		return true
	}
	fails := Streak{Every: StreakInterval}
	for {
		err := hook(ctx, sub.topic, partition)
		if ctx.Err() != nil {
			return false
		}
		if err == nil {
			fails.LogWorks(logger, "OnAssigned works again", nil)
			return true
		}
		fails.LogFailure(logger, watermill.ErrorLogLevel, "OnAssigned failed; the partition delivers nothing until it succeeds, trying again after JoinGroupBackoff", err, nil)
		select {
		case <-ctx.Done():
			return false
		case <-time.After(sub.s.cfg.JoinGroupBackoff):
		}
	}
}

// resetOffset moves r, whose offset lies past the end of the partition (a committed offset
// beyond the log end: the topic was recreated or the log truncated), to where StartOffset
// says, as Kafka's auto.offset.reset does, and makes that position committable so that the
// reset outlives a restart (the caller commits it before delivering). Nothing is in flight when it is called. It returns false when
// ctx ended first. (An offset before the start of the log is not an error: the
// PartitionReader moves to the first offset by itself.)
func (sub *subscription) resetOffset(ctx context.Context, r *PartitionReader, partition int, tr *offsetTracker, logger watermill.LoggerAdapter) bool {
	fails := Streak{Every: StreakInterval}
	for {
		target, err := sub.startOffsetOf(ctx, partition)
		if err == nil {
			fails.LogWorks(logger, "Listing partition offsets works again", nil)
			r.SetOffset(target)
			tr.reset(target)
			logger.Error("Committed offset is out of range; reset per StartOffset", kafkago.OffsetOutOfRange,
				watermill.LogFields{"offset": target})
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		fails.LogFailure(logger, watermill.InfoLogLevel, "Listing partition offsets failed, retrying", err, nil)
		select {
		case <-ctx.Done():
			return false
		case <-time.After(sub.s.cfg.JoinGroupBackoff):
		}
	}
}

// startOffsetOf returns the absolute offset StartOffset designates in partition now.
func (sub *subscription) startOffsetOf(ctx context.Context, partition int) (int64, error) {
	offs, err := sub.startOffsets(ctx, []int{partition})
	if err != nil {
		return 0, err
	}
	return offs[partition], nil
}

// startOffsets returns the absolute offsets StartOffset designates in partitions now;
// partitions that appeared while the subscription ran start at their first offset.
func (sub *subscription) startOffsets(ctx context.Context, partitions []int) (map[int]int64, error) {
	seen := sub.partitionsAtStart.Load()
	reqs := make([]kafkago.OffsetRequest, len(partitions))
	for i, p := range partitions {
		reqs[i] = kafkago.FirstOffsetOf(p)
		if sub.s.cfg.StartOffset == StartLatest && (seen < 0 || int64(p) < seen) {
			reqs[i] = kafkago.LastOffsetOf(p)
		}
	}
	req := &kafkago.ListOffsetsRequest{Topics: map[string][]kafkago.OffsetRequest{sub.topic: reqs}}
	if sub.s.cfg.ReadCommitted {
		req.IsolationLevel = kafkago.ReadCommitted // latest: the last stable offset
	}
	resp, err := sub.s.admin.ListOffsets(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("listing the offsets of %s: %w", sub.topic, ClientError(err))
	}
	out := make(map[int]int64, len(partitions))
	for _, po := range resp.Topics[sub.topic] {
		if po.Error != nil {
			return nil, fmt.Errorf("partition %d: %w", po.Partition, po.Error)
		}
		if sub.s.cfg.StartOffset == StartLatest && (seen < 0 || int64(po.Partition) < seen) {
			out[po.Partition] = po.LastOffset
		} else {
			out[po.Partition] = po.FirstOffset
		}
	}
	for _, p := range partitions {
		if _, ok := out[p]; !ok {
			return nil, fmt.Errorf("no offsets listed for partition %d of %s", p, sub.topic)
		}
	}
	return out, nil
}

// resolveStartOffsets turns the start of every assigned partition that has no committed
// offset (kafka-go reports StartOffset's symbolic value, negative) into the absolute offset
// StartOffset designates now, and makes it committable. Without that, a member that
// holds a message unacked there and dies (or closes) leaves no commit, and the next member
// resolves "latest" anew, past the message (segmentio/kafka-go#904, #1319). A partition
// that appeared while the subscription ran starts at its first offset even under
// StartLatest: "latest" would skip what was written to it before this member got it (a
// partition count change is seen up to partitionWatchInterval late, and the rebalance
// takes a while more, while producers write to the new partition at once). It retries
// until ctx ends, and returns false then.
func (sub *subscription) resolveStartOffsets(ctx context.Context, starts map[int]int64) bool {
	var missing []int
	for p, off := range starts {
		if off < 0 {
			missing = append(missing, p)
		}
	}
	if len(missing) == 0 {
		return true
	}
	fails := Streak{Every: StreakInterval}
	for {
		offs, err := sub.startOffsets(ctx, missing)
		if err == nil {
			fails.LogWorks(sub.logger, "Listing start offsets works again", nil)
			maps.Copy(starts, offs)
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		fails.LogFailure(sub.logger, watermill.InfoLogLevel, "Listing start offsets failed, retrying", err, nil)
		select {
		case <-ctx.Done():
			return false
		case <-time.After(sub.s.cfg.JoinGroupBackoff):
		}
	}
}

// deliver sends rec until it is acked, redelivering after every nack. It returns false
// when ctx ended first (the message is then not acked, so never committed).
func (sub *subscription) deliver(ctx context.Context, rec kafkago.Message, tr *offsetTracker, logger watermill.LoggerAdapter) bool {
	for {
		msg := sub.toMessage(rec, logger)
		msgCtx, cancel := context.WithCancel(withRecordContext(sub.ctx, rec))
		msg.SetContext(msgCtx)
		select {
		case sub.out <- msg:
		case <-ctx.Done():
			cancel()
			return false
		}
		select {
		case <-msg.Acked():
			cancel()
			tr.ack(rec.Offset)
			return true
		case <-msg.Nacked():
			cancel()
			select {
			case <-time.After(sub.s.cfg.NackResendDelay):
				continue
			case <-ctx.Done():
				return false
			}
		case <-ctx.Done():
			// Rebalance or Close: give the handler DrainTimeout to finish, so that its ack
			// is committed with this generation and the message is not redelivered.
			t := time.NewTimer(sub.s.cfg.DrainTimeout)
			select {
			case <-msg.Acked():
				tr.ack(rec.Offset)
			case <-msg.Nacked():
			case <-t.C:
				logger.Info("Abandoning unacked message; it will be redelivered",
					watermill.LogFields{"message_uuid": msg.UUID, "offset": rec.Offset})
			case <-sub.s.abandon:
			}
			t.Stop()
			cancel()
			return false
		}
	}
}

// drainContext returns the context of Consume's handler calls on a partition consumed
// under ctx: it ends DrainTimeout after ctx, or when Close gives up.
func (sub *subscription) drainContext(ctx context.Context) (context.Context, context.CancelFunc) {
	hctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	go func() {
		select {
		case <-ctx.Done():
		case <-hctx.Done():
			return
		}
		t := time.NewTimer(sub.s.cfg.DrainTimeout)
		defer t.Stop()
		select {
		case <-t.C:
		case <-sub.s.abandon:
		case <-hctx.Done():
		}
		cancel()
	}()
	return hctx, cancel
}

// handleRecord is deliver for Consume one record at a time (OrderPerPartition): it hands
// rec to the handler until the handler is done with it (then it acks rec: true), or ctx
// ends (false: rec stays unacked). A call under way when ctx ends is waited for until hctx
// ends.
func (sub *subscription) handleRecord(ctx, hctx context.Context, rec kafkago.Message, tr *offsetTracker, logger watermill.LoggerAdapter) bool {
	fails := Streak{Every: StreakInterval}
	for ctx.Err() == nil {
		done := make(chan error, 1)
		sub.handle(hctx, rec, func(err error) { done <- err })
		var err error
		select {
		case err = <-done:
		case <-hctx.Done():
			return false
		}
		if err == nil {
			fails.LogWorks(logger, handlerWorksMsg, watermill.LogFields{"offset": rec.Offset})
			tr.ack(rec.Offset)
			return true
		}
		if ctx.Err() != nil {
			break
		}
		fails.LogFailure(logger, watermill.InfoLogLevel, handlerFailedMsg, err, watermill.LogFields{"offset": rec.Offset})
		t := time.NewTimer(sub.s.cfg.NackResendDelay)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return false
		}
	}
	return false
}

// asyncLanes delivers a partition's records to Consume's handler under OrderPerKey
// without a goroutine per lane: the partition's goroutine starts a lane's head, and the
// handler's done callback acks it and starts the lane's next record.
type asyncLanes struct {
	sub       *subscription
	ctx, hctx context.Context // the partition's, and its handler calls'
	lanes     *keyLanes
	tr        *offsetTracker
	logger    watermill.LoggerAdapter
	// inflight counts the handler calls not done and the records waiting to be handed
	// again; idle gets a token each time it falls to 0 (drain waits for that, and can
	// stop waiting: a WaitGroup's Wait could not, and would leak with a handler that
	// never calls done).
	inflight atomic.Int64
	idle     chan struct{}
	// fails is the run of the partition's handler failures in a row, logged as a Streak
	// (a handler that refuses every record while its service stops would log a line per
	// record and retry); failing says a run is under way, so that a success need not
	// take failMu to learn that there is none.
	failMu  sync.Mutex
	fails   Streak
	failing atomic.Bool
}

// The lines of a handler's failures (Consume).
const (
	handlerFailedMsg = "Handler failed; the record will be delivered again"
	handlerWorksMsg  = "Handler works again"
)

// leave ends one of the inflight.
func (a *asyncLanes) leave() {
	if a.inflight.Add(-1) == 0 {
		select {
		case a.idle <- struct{}{}:
		default:
		}
	}
}

// start hands ln's head to the handler.
func (a *asyncLanes) start(ln *lane) {
	a.inflight.Add(1)
	if ln.done == nil {
		ln.done = func(err error) { a.done(ln, err) }
	}
	a.sub.handle(a.hctx, ln.head, ln.done)
}

// done is the handler's callback for ln's head.
func (a *asyncLanes) done(ln *lane, err error) {
	if err != nil && a.ctx.Err() == nil {
		a.retry(ln, err)
		return
	}
	defer a.leave()
	if err != nil {
		return // the generation ended: the head stays unacked, and so does its lane
	}
	if a.failing.Load() {
		a.failMu.Lock()
		a.fails.LogWorks(a.logger, handlerWorksMsg, nil)
		a.failing.Store(false)
		a.failMu.Unlock()
	}
	a.tr.ack(ln.head.Offset)
	if a.lanes.pop(ln) && a.ctx.Err() == nil {
		a.start(ln)
	}
}

// retry hands ln's head, which the handler failed, to it again after NackResendDelay.
func (a *asyncLanes) retry(ln *lane, err error) {
	a.failMu.Lock()
	a.fails.LogFailure(a.logger, watermill.InfoLogLevel, handlerFailedMsg, err, watermill.LogFields{"offset": ln.head.Offset})
	a.failing.Store(true)
	a.failMu.Unlock()
	time.AfterFunc(a.sub.s.cfg.NackResendDelay, func() {
		defer a.leave()
		if a.ctx.Err() == nil {
			a.start(ln)
		}
	})
}

// drain waits, once the partition's context ended, for the handler calls under way, until
// hctx ends.
func (a *asyncLanes) drain() {
	for a.inflight.Load() > 0 {
		select {
		case <-a.idle: // a token may be stale: check again
		case <-a.hctx.Done():
			return
		}
	}
}

// toMessage unmarshals rec; a record the Unmarshaler rejects, and one that stands for a
// record batch that does not decode, become a message carrying the raw value and
// UnmarshalErrorMetadata (see Subscriber).
func (sub *subscription) toMessage(rec kafkago.Message, logger watermill.LoggerAdapter) *message.Message {
	err := Undecodable(rec) // logged as it was read
	var msg *message.Message
	if err == nil {
		if msg, err = sub.s.cfg.Unmarshaler.Unmarshal(rec); err == nil && msg == nil {
			err = errors.New("unmarshaler returned no message")
		}
		if err != nil {
			logger.Error("Unmarshaling record failed; delivering it raw with an error mark", err,
				watermill.LogFields{"offset": rec.Offset})
		}
	}
	if err != nil {
		msg = recordToMessage(rec)
		msg.Metadata.Set(UnmarshalErrorMetadata, err.Error())
	}
	sub.sourceMetadata(msg, rec)
	return msg
}

// sourceMetadata adds where rec came from to msg's metadata when SourceMetadata is set.
func (sub *subscription) sourceMetadata(msg *message.Message, rec kafkago.Message) {
	if sub.s.cfg.SourceMetadata {
		msg.Metadata.Set(TopicMetadata, rec.Topic)
		msg.Metadata.Set(PartitionMetadata, strconv.Itoa(rec.Partition))
		msg.Metadata.Set(OffsetMetadata, strconv.FormatInt(rec.Offset, 10))
	}
}
