package router

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill"

	"github.com/dscokafka/connector/pkg/kafka"
	"github.com/dscokafka/connector/pkg/outbound"
)

// OutboundConfig configures the outbound router: the command topics of the pipeline's role,
// consumed through one Kafka consumer group, each into its pipeline handler.
type OutboundConfig struct {
	// Subscriber configures the Kafka consumers of the command topics: one Subscriber per
	// topic, in consumer group "<ConsumerGroup>.<command>", so that a member joining or
	// leaving for one topic does not rebalance the others. ConsumerGroup defaults to
	// "dsco-connector-outbound". SourceMetadata is set: poison records keep where the
	// command came from. Ordering and MaxInFlightPerPartition are set from
	// MaxInFlightPerPartition below. OnAssigned is set to the pipeline's
	// outbound.Store.CatchUp: a partition assigned to this process delivers its first
	// command once the applied-ids store has read every mark its topic held then, those
	// another replica wrote for the partition's commands before it moved included.
	Subscriber kafka.SubscriberConfig
	// MaxInFlightPerPartition is how many commands of one partition are handled at once:
	// the command topics are consumed with kafka.OrderPerKey, so commands with the same
	// record key (the business key of docs/kafka-contract.md: the order id, or the sku for
	// inventory and catalog) stay in order, one at a time, while commands of other keys of
	// the same partition wait in the pipeline's batcher together. It bounds the commands
	// held per partition (delivered, or read and waiting for their key). Keep it at least
	// Pipeline.MaxBatchItems, or batches cannot fill from one partition. 1 is Watermill's
	// one message per partition. Default 256.
	MaxInFlightPerPartition int
	// Pipeline configures the outbound pipeline (role, Dsco client, serde, writer...).
	Pipeline outbound.Config
	// CloseTimeout bounds the pipeline's Close and each subscriber's, unless
	// Pipeline.CloseTimeout or Subscriber.CloseTimeout say otherwise. Default 30s.
	CloseTimeout time.Duration
}

func (c *OutboundConfig) setDefaults() {
	if c.Subscriber.ConsumerGroup == "" {
		c.Subscriber.ConsumerGroup = "dsco-connector-outbound"
	}
	c.Subscriber.SourceMetadata = true
	if c.MaxInFlightPerPartition == 0 {
		c.MaxInFlightPerPartition = 256
	}
	c.Subscriber.Ordering = kafka.OrderPerKey
	c.Subscriber.MaxInFlightPerPartition = c.MaxInFlightPerPartition
	if c.CloseTimeout == 0 {
		c.CloseTimeout = 30 * time.Second
	}
	if c.Subscriber.CloseTimeout == 0 {
		c.Subscriber.CloseTimeout = c.CloseTimeout
	}
	if c.Pipeline.CloseTimeout == 0 {
		c.Pipeline.CloseTimeout = c.CloseTimeout
	}
}

// Validate reports whether the configuration is usable; the subscriber and the pipeline
// are validated by their constructors.
func (c OutboundConfig) Validate() error {
	if c.CloseTimeout < 0 {
		return errors.New("router: CloseTimeout must not be negative")
	}
	if c.MaxInFlightPerPartition < 0 {
		return fmt.Errorf("router: MaxInFlightPerPartition must not be negative (got %d)", c.MaxInFlightPerPartition)
	}
	return nil
}

// Outbound is the outbound side of the connector: one kafka.Subscriber per command topic
// of the role, each handing its records (kafka.Subscriber.Consume) to the topic's pipeline
// handler, key-ordered with up to MaxInFlightPerPartition commands of a partition in
// flight. The handlers recover from panics (the record is delivered again). Offsets are
// committed only once the record is done, that is once the command's outcome is in
// Kafka. Records are not wrapped in Watermill messages nor routed through a Watermill
// router: that costs a goroutine, two channel hand-offs and a dozen allocations per
// command, more than the pipeline's own work. Run blocks; Close is idempotent.
type Outbound struct {
	cfg      OutboundConfig
	logger   watermill.LoggerAdapter
	subs     map[string]*kafka.Subscriber // by topic
	handlers map[string]kafka.RecordHandler
	pipeline *outbound.Pipeline
	running  chan struct{}
}

// NewOutbound builds the outbound side. It connects to nothing: Run does.
func NewOutbound(cfg OutboundConfig, logger watermill.LoggerAdapter) (*Outbound, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = watermill.NopLogger{}
	}
	pipeline, err := outbound.NewPipeline(cfg.Pipeline, logger)
	if err != nil {
		return nil, err
	}
	o := &Outbound{cfg: cfg, logger: logger, pipeline: pipeline, running: make(chan struct{}),
		subs: make(map[string]*kafka.Subscriber), handlers: make(map[string]kafka.RecordHandler)}
	store := pipeline.Store()
	for name, topic := range pipeline.Topics() {
		h, err := pipeline.Handler(name)
		if err != nil {
			return nil, err
		}
		sc := cfg.Subscriber
		sc.ConsumerGroup += "." + name
		sc.OnAssigned = func(ctx context.Context, _ string, _ int) error { return store.CatchUp(ctx) }
		sub, err := kafka.NewSubscriber(sc, logger)
		if err != nil {
			for _, s := range o.subs {
				_ = s.Close() // built a moment ago: nothing of theirs is running
			}
			return nil, err
		}
		o.subs[topic], o.handlers[topic] = sub, h
	}
	return o, nil
}

// Pipeline returns the pipeline the subscribers feed.
func (o *Outbound) Pipeline() *outbound.Pipeline { return o.pipeline }

// Running is closed once the pipeline is ready and every command topic is being consumed
// (the consumer groups may still be joining).
func (o *Outbound) Running() <-chan struct{} { return o.running }

// Refused returns, joined, the refusals Kafka answers this client's command consumer
// groups (see kafka.Subscriber.Refused), one per group refused, in the order of their
// topics; nil while none is refused. A command topic whose group is refused is not
// consumed, though Run runs: a readiness check reports it.
func (o *Outbound) Refused() error {
	var errs []error
	for _, topic := range slices.Sorted(maps.Keys(o.subs)) {
		errs = append(errs, o.subs[topic].Refused())
	}
	return errors.Join(errs...)
}

// Run runs the pipeline and consumes the command topics until ctx ends or Close is
// called, or the pipeline fails. A shutdown goes in the order Close describes: when ctx
// ends, the pipeline finishes its batches in flight first (see outbound.Pipeline.Close)
// while the subscriptions still run, so that their acks are committed when the
// subscriptions end after it.
func (o *Outbound) Run(ctx context.Context) error {
	// The router does not see ctx end: it stops once the pipeline has returned.
	rctx, stopRouter := context.WithCancel(context.WithoutCancel(ctx))
	defer stopRouter()
	pctx, stopPipeline := context.WithCancel(ctx)
	defer stopPipeline()
	perr := make(chan error, 1)
	go func() {
		perr <- o.pipeline.Run(pctx)
		stopRouter()
	}()
	var wg sync.WaitGroup
	errs := make(chan error, len(o.subs))
	select {
	case <-o.pipeline.Ready():
		for topic, sub := range o.subs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := sub.Consume(rctx, topic, o.handlers[topic]); err != nil && !errors.Is(err, kafka.ErrSubscriberClosed) {
					errs <- fmt.Errorf("router: consuming %s: %w", topic, err)
				}
			}()
		}
		close(o.running)
	case <-rctx.Done():
	}
	wg.Wait()
	stopPipeline()
	close(errs)
	var all []error
	for err := range errs {
		all = append(all, err)
	}
	return errors.Join(append(all, <-perr)...)
}

// Close shuts down in this order, and is idempotent:
//  1. the pipeline (outbound.Pipeline.Close, within Pipeline.CloseTimeout): commands not
//     yet in a batch are refused (delivered again), batches in flight finish and their
//     outcomes are written, so that their records are done (acked);
//  2. the subscribers (within Subscriber.CloseTimeout): each subscription drains what is
//     still in flight, commits the offsets of the acked records (the kafka.Subscriber
//     commits on generation end and on Close) and leaves its group.
//
// Closing the subscribers first would end the subscriptions while batches are in flight:
// their acks would come after the final commit, and the commands be delivered again.
func (o *Outbound) Close() error {
	var errs []error
	if err := o.pipeline.Close(); err != nil {
		errs = append(errs, err)
	}
	for _, sub := range o.subs {
		if err := sub.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
