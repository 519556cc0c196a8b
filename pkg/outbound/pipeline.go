package outbound

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"
	"github.com/sony/gobreaker/v2"

	"github.com/dscokafka/connector/pkg/dsco"
	"github.com/dscokafka/connector/pkg/kafka"
)

// source is where a command was read.
type source struct {
	topic     string
	partition int32
	offset    int64
	key       string
}

// command is one decoded, valid command on its way through a batch.
type command struct {
	kind          *kind
	id            string
	correlationID *string
	item          any
	size          int
	msg           *message.Message
	src           source

	// reconcile: an earlier send may have applied the command (the store says sending
	// or unknown): decide before sending.
	reconcile bool
	// maybeApplied: a send of this command had an unknown outcome; an item error meaning
	// "already there" (kind.dupCode) then means applied.
	maybeApplied bool
	// intent: a call carrying the command was made; its sending mark is in the store
	// unless its kind is sent again to reconcile (redoResend).
	intent    bool
	attempts  int
	firstSent time.Time

	out  Outcome
	done chan error // receives nil once the outcome is durable, or why it is not
}

// Pipeline consumes command topics into Dsco batch calls; see the package doc. Handler
// calls are safe for concurrent use (that is how batches form); Run blocks; Close is
// idempotent.
type Pipeline struct {
	cfg     Config
	logger  watermill.LoggerAdapter
	store   *Store
	metrics *metrics
	breaker *gobreaker.CircuitBreaker[*dsco.BatchResponse]
	kinds   map[string]*kind // by command name, of the configured role
	topics  map[string]string

	batchers map[*kind]*batcher
	ready    chan struct{}

	closing   chan struct{} // Close was called
	closeOnce sync.Once
	// draining is closed when Run stops taking commands (Close, or the end of its
	// context); aborted when the batches still in flight must give up (CloseTimeout
	// passed, or Run returned); cut records that CloseTimeout passed.
	draining  chan struct{}
	aborted   chan struct{}
	abortOnce sync.Once
	cut       atomic.Bool
	stopped   chan struct{}
	running   atomic.Bool
}

// NewPipeline returns a Pipeline; Run starts it.
func NewPipeline(cfg Config, logger watermill.LoggerAdapter) (*Pipeline, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = watermill.NopLogger{}
	}
	store, err := NewStore(cfg.Store, logger)
	if err != nil {
		return nil, err
	}
	m, err := newMetrics(cfg.Registerer)
	if err != nil {
		return nil, err
	}
	p := &Pipeline{
		cfg:      cfg,
		logger:   logger,
		store:    store,
		metrics:  m,
		kinds:    make(map[string]*kind),
		topics:   make(map[string]string),
		batchers: make(map[*kind]*batcher),
		ready:    make(chan struct{}),
		closing:  make(chan struct{}),
		draining: make(chan struct{}),
		aborted:  make(chan struct{}),
		stopped:  make(chan struct{}),
	}
	p.breaker = gobreaker.NewCircuitBreaker[*dsco.BatchResponse](gobreaker.Settings{
		Name:        "dsco",
		MaxRequests: 1,
		Timeout:     cfg.Breaker.OpenTimeout,
		ReadyToTrip: func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= uint32(cfg.Breaker.ConsecutiveFailures) },
		// Only failures that say Dsco is unwell count; an answer (even a 4xx) is Dsco up.
		IsSuccessful: func(err error) bool { return err == nil || Classify(err) != Retryable },
		IsExcluded:   func(err error) bool { return Classify(err) == Stopped },
		OnStateChange: func(_ string, from, to gobreaker.State) {
			m.breakerState.Set(float64(breakerGauge(to)))
			logger.Info("Dsco circuit breaker changed state", watermill.LogFields{"from": from.String(), "to": to.String()})
		},
	})
	for _, k := range kinds {
		if k.role != cfg.Role {
			continue
		}
		p.kinds[k.name] = k
		p.topics[k.name] = cfg.Serde.Topic(k.desc)
		p.batchers[k] = newBatcher(p, k)
	}
	return p, nil
}

func breakerGauge(s gobreaker.State) int {
	switch s {
	case gobreaker.StateHalfOpen:
		return 1
	case gobreaker.StateOpen:
		return 2
	}
	return 0
}

// Topics returns the command topics of the configured role, by command name.
func (p *Pipeline) Topics() map[string]string {
	out := make(map[string]string, len(p.topics))
	for k, v := range p.topics {
		out[k] = v
	}
	return out
}

// Store returns the applied-ids store.
func (p *Pipeline) Store() *Store { return p.store }

// Ready is closed once Run has loaded the store and handlers process commands.
func (p *Pipeline) Ready() <-chan struct{} { return p.ready }

// Run loads the applied-ids store, then serves handler calls until ctx ends or Close is
// called, and then shuts down as Close describes: it returns once the batches in flight
// have finished, at most CloseTimeout later (plus the time their cancelled calls take to
// return). It returns nil then, or the error that stopped the store.
func (p *Pipeline) Run(ctx context.Context) error {
	if !p.running.CompareAndSwap(false, true) {
		return errors.New("outbound: Run called twice")
	}
	defer close(p.stopped)
	// work carries the Dsco calls and Kafka writes of the batches dispatched: it does not
	// end with ctx, so that a shutdown lets them finish, but at most CloseTimeout later.
	work, cancelWork := context.WithCancel(context.WithoutCancel(ctx))
	abort := func() {
		p.abortOnce.Do(func() {
			close(p.aborted)
			cancelWork()
		})
	}
	watched := make(chan struct{})
	defer func() {
		abort()
		<-watched
	}()
	// ctx ends the intake: the store's following, the batchers taking commands.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		defer close(watched)
		select {
		case <-p.closing:
			cancel()
		case <-ctx.Done():
		}
		close(p.draining)
		t := time.NewTimer(p.cfg.CloseTimeout)
		defer t.Stop()
		select {
		case <-t.C:
			p.cut.Store(true)
			p.logger.Error("Batches in flight did not finish within CloseTimeout; cancelling their Dsco calls (their commands are delivered again)",
				ErrClosed, watermill.LogFields{"close_timeout": p.cfg.CloseTimeout.String()})
			abort()
		case <-p.aborted:
		}
	}()
	storeErr := make(chan error, 1)
	go func() { storeErr <- p.store.Run(ctx) }()
	select {
	case <-p.store.Loaded():
	case err := <-storeErr:
		if ctx.Err() != nil {
			return nil
		}
		return err
	case <-ctx.Done():
		<-storeErr
		return nil
	}
	var wg sync.WaitGroup
	for _, b := range p.batchers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b.run(ctx, work)
		}()
	}
	close(p.ready)
	var err error
	select {
	case err = <-storeErr:
		if ctx.Err() != nil {
			err = nil
		}
		cancel()
	case <-ctx.Done():
		<-storeErr
	}
	wg.Wait()
	return err
}

// closeGrace is how long Close waits, past CloseTimeout, for Run to return once it has
// cancelled the calls still in flight and released or completed their commands.
const closeGrace = 5 * time.Second

// Close shuts the pipeline down and waits for Run to return. It is idempotent.
//
// The shutdown contract (Close, or the end of Run's context):
//   - no command is taken any more: a handler call whose command is not yet in a
//     dispatched batch returns ErrClosed, once Run has returned (returned earlier, the
//     record would be delivered again at once, and refused again, for as long as the
//     shutdown lasts), and Kafka delivers the command again;
//   - batches already dispatched finish: their Dsco calls run to their answers on a
//     context that the shutdown does not cancel, a write whose outcome is unknown is
//     reconciled as usual, and the outcomes are completed (store marks, poison and
//     result records), so that those handler calls return nil and their offsets can be
//     committed;
//   - no retry is waited for: a batch that would sleep before a retry, or wait for the
//     circuit breaker, is released instead (ErrClosed; commands Dsco certainly did not
//     apply are marked released, so their next delivery sends them rather than
//     reconciling them);
//   - CloseTimeout bounds the wait: then the calls still in flight are cancelled, the
//     outcomes already known are completed, and the other commands are released
//     (ErrClosed). Delivered again, a command whose request may have reached Dsco is
//     reconciled, as after a crash; one whose request the client reports unsent was
//     marked released and is sent. Close returns an error saying so.
//
// Close returns an error too if Run has not returned closeGrace (5s) after CloseTimeout.
func (p *Pipeline) Close() error {
	p.closeOnce.Do(func() { close(p.closing) })
	if !p.running.Load() {
		return nil
	}
	t := time.NewTimer(p.cfg.CloseTimeout + closeGrace)
	defer t.Stop()
	select {
	case <-p.stopped:
	case <-t.C:
		return fmt.Errorf("outbound: Close timed out after %s", p.cfg.CloseTimeout+closeGrace)
	}
	if p.cut.Load() {
		return fmt.Errorf("outbound: batches in flight did not finish within CloseTimeout (%s): their Dsco calls were cancelled and their commands will be delivered again", p.cfg.CloseTimeout)
	}
	return nil
}

// Handler returns the Watermill handler of a command (a name of Commands(role)). Each call
// returns once the command has its outcome and the outcome is in Kafka, or with an error
// (the command is delivered again) when that could not be done: the pipeline is closing,
// the Serde could not reach the registry.
func (p *Pipeline) Handler(command string) (message.NoPublishHandlerFunc, error) {
	k, ok := p.kinds[command]
	if !ok {
		return nil, fmt.Errorf("outbound: no command %q for role %s (want one of %v)", command, p.cfg.Role, Commands(p.cfg.Role))
	}
	return func(msg *message.Message) error { return p.handle(k, msg) }, nil
}

func sourceOf(msg *message.Message) source {
	ctx := msg.Context()
	var s source
	s.topic, _ = kafka.MessageTopicFromCtx(ctx)
	if s.topic == "" {
		s.topic = message.SubscribeTopicFromCtx(ctx)
	}
	s.partition, _ = kafka.MessagePartitionFromCtx(ctx)
	s.offset, _ = kafka.MessagePartitionOffsetFromCtx(ctx)
	if key, ok := kafka.MessageKeyFromCtx(ctx); ok {
		s.key = string(key)
	}
	return s
}

func (p *Pipeline) handle(k *kind, msg *message.Message) error {
	select {
	case <-p.ready:
	case <-p.closing:
		return p.refuse(msg)
	case <-p.draining:
		return p.refuse(msg)
	case <-p.stopped:
		return ErrClosed
	case <-msg.Context().Done():
		return msg.Context().Err()
	}
	b := p.batchers[k]
	b.pending.Add(1)
	c, err := p.prepare(k, msg)
	if c == nil || err != nil {
		b.pending.Add(-1)
		return err
	}
	if c.out.Status != "" { // decided without a call
		b.pending.Add(-1)
		return p.complete([]*command{c})
	}
	select {
	case b.in <- c:
	case <-p.draining:
		b.pending.Add(-1)
		return p.refuse(msg)
	case <-p.stopped:
		b.pending.Add(-1)
		return ErrClosed
	}
	// The batcher took it: the batch completes or releases it, also when shutting down.
	return <-c.done
}

// refuse returns ErrClosed for a command the pipeline does not take because it is
// shutting down, once Run has returned (or the message's context ended): returned at
// once, the message would be delivered again at once, and refused again, in a loop for as
// long as the batches in flight take to finish.
func (p *Pipeline) refuse(msg *message.Message) error {
	if p.running.Load() {
		select {
		case <-p.stopped:
		case <-msg.Context().Done():
		}
	}
	return ErrClosed
}

// prepare decodes and validates a message. It returns nil and nil when the record was
// poisoned as undecodable, a command with an outcome when none needs a call, or an error
// to have the record delivered again.
func (p *Pipeline) prepare(k *kind, msg *message.Message) (*command, error) {
	src := sourceOf(msg)
	if err := kafka.UnmarshalError(msg); err != nil {
		return nil, p.poisonUndecodable(k, msg, src, err)
	}
	rec := k.desc.New()
	if err := p.cfg.Serde.Decode(msg.Context(), msg.Payload, rec); err != nil {
		if Classify(err) == Permanent {
			return nil, p.poisonUndecodable(k, msg, src, err)
		}
		return nil, fmt.Errorf("outbound: decoding a %s command: %w", k.name, err)
	}
	id, corr := ids(rec)
	c := &command{kind: k, id: id, correlationID: corr, msg: msg, src: src, size: 2*len(msg.Payload) + 16, done: make(chan error, 1)}
	item, verr := validate(k, rec, p.cfg.Carriers, p.cfg.Now())
	if verr == nil && len(msg.Payload) > p.cfg.MaxRecordBytes {
		verr = &ValidationError{Command: k.name, Field: "(record)", Reason: fmt.Sprintf("the record is %d bytes, more than the %d allowed", len(msg.Payload), p.cfg.MaxRecordBytes)}
	}
	if verr != nil {
		c.out = Outcome{Status: StatusRejected, Reason: verr.Error()}
		return c, nil
	}
	c.item = item
	switch p.store.Get(id) {
	case MarkApplied:
		c.out = Outcome{Status: StatusApplied, Reason: "already applied; delivered again"}
		return c, nil
	case MarkSending:
		c.reconcile = true
	case MarkUnknown:
		// Requeued by an operator (it carries the poison metadata): send; delivered
		// again by Kafka: reconcile again.
		c.reconcile = msg.Metadata.Get(middleware.ReasonForPoisonedKey) == ""
	}
	return c, nil
}

// complete makes the outcomes of cmds durable: marks in the store, poison records,
// results, in that order; then releases the handler calls. It returns the error of the
// first command's handler call (for callers that complete a single command).
func (p *Pipeline) complete(cmds []*command) error {
	now := p.cfg.Now()
	var applied, released, unknown []string
	var poison, results []*message.Message
	for _, c := range cmds {
		if c.out.Status == "" {
			continue
		}
		switch {
		case c.out.Status == StatusApplied || c.out.Status == StatusQueued:
			if c.intent || c.reconcile {
				applied = append(applied, c.id)
			}
		case c.out.Status == StatusOutcomeUnknown:
			unknown = append(unknown, c.id)
		case c.intent:
			released = append(released, c.id)
		}
		if poisoned(c.out.Status) {
			poison = append(poison, p.poisonMessage(c.msg, c.src, c.kind.name, c.out.Status, c.out.Reason, c.out.Attempts, c.id, now))
		}
		res, err := p.cfg.Serde.Encode(resultRecord(c, c.out, now))
		if err != nil {
			// Our own record failed to encode: a programming or registry-setup error.
			err = fmt.Errorf("outbound: encoding the result of %s: %w", c.id, err)
			p.release(cmds, err)
			return err
		}
		m := message.NewMessage(c.id+"/result", res)
		m.Metadata = message.Metadata{
			kafka.DefaultPartitionKeyMetadata: c.id,
			"command_id":                      c.id,
			"command_type":                    c.kind.name,
			"status":                          string(c.out.Status),
		}
		if c.correlationID != nil {
			m.Metadata["correlation_id"] = *c.correlationID
		}
		results = append(results, m)
	}
	steps := []func() error{
		func() error { return p.store.Set(MarkApplied, applied...) },
		func() error { return p.store.Set(MarkReleased, released...) },
		func() error { return p.store.Set(MarkUnknown, unknown...) },
		func() error { return p.publish(p.cfg.PoisonTopic, poison) },
		func() error { return p.publish(p.cfg.ResultsTopic, results) },
	}
	for _, step := range steps {
		if err := p.untilDone(step); err != nil {
			p.release(cmds, err)
			return err
		}
	}
	for _, c := range cmds {
		if c.out.Status == "" {
			continue
		}
		p.metrics.commands.WithLabelValues(c.kind.name, string(c.out.Status)).Inc()
		if poisoned(c.out.Status) {
			p.metrics.poisoned.WithLabelValues(c.kind.name, string(c.out.Status)).Inc()
		}
	}
	for _, c := range cmds {
		if c.out.Status == "" {
			// Stopped before it had an outcome: delivered again.
			c.done <- ErrClosed
		} else {
			c.done <- nil
		}
	}
	if cmds[0].out.Status == "" {
		return ErrClosed
	}
	return nil
}

func (p *Pipeline) publish(topic string, msgs []*message.Message) error {
	if len(msgs) == 0 {
		return nil
	}
	return p.cfg.Publisher.Publish(topic, msgs...)
}

// untilDone runs a Kafka write until it succeeds or the pipeline gives up on what is in
// flight (CloseTimeout passed after a shutdown began, or Run returned): the commands have
// outcomes that must not be lost, and Kafka being away is not the commands' fault.
func (p *Pipeline) untilDone(f func() error) error {
	delay := 100 * time.Millisecond
	for {
		err := f()
		if err == nil {
			return nil
		}
		p.logger.Error("Writing command outcomes to Kafka; trying again", err, nil)
		select {
		case <-p.aborted:
			return fmt.Errorf("%w: %v", ErrClosed, err)
		case <-time.After(delay):
		}
		delay = min(2*delay, 5*time.Second)
	}
}

// release hands err (nil: done) to the handler calls of cmds.
func (p *Pipeline) release(cmds []*command, err error) {
	for _, c := range cmds {
		select {
		case c.done <- err:
		default:
		}
	}
}

// Poison metadata added to a poisoned record beside Watermill's PoisonQueue keys
// (middleware.ReasonForPoisonedKey, PoisonedTopicKey, PoisonedHandlerKey,
// PoisonedSubscriberKey).
const (
	PoisonPartitionKey   = "partition_poisoned"
	PoisonOffsetKey      = "offset_poisoned"
	PoisonAttemptsKey    = "attempts_poisoned"
	PoisonTimeKey        = "time_poisoned"
	PoisonStatusKey      = "status_poisoned"
	PoisonCommandIDKey   = "command_id_poisoned"
	PoisonCommandTypeKey = "command_type_poisoned"
)

// poisonMessage is the poison record of msg: its bytes and headers, plus where it came
// from, why, and when; its Kafka key is the command's key so that a requeue keeps it on its
// partition.
func (p *Pipeline) poisonMessage(msg *message.Message, src source, command string, status Status, reason string, attempts int, id string, now time.Time) *message.Message {
	pm := message.NewMessage(msg.UUID, msg.Payload)
	pm.Metadata = make(message.Metadata, len(msg.Metadata)+12)
	for k, v := range msg.Metadata {
		pm.Metadata[k] = v
	}
	pm.Metadata[middleware.ReasonForPoisonedKey] = reason
	pm.Metadata[middleware.PoisonedTopicKey] = src.topic
	pm.Metadata[middleware.PoisonedHandlerKey] = message.HandlerNameFromCtx(msg.Context())
	pm.Metadata[middleware.PoisonedSubscriberKey] = message.SubscriberNameFromCtx(msg.Context())
	pm.Metadata[PoisonPartitionKey] = strconv.Itoa(int(src.partition))
	pm.Metadata[PoisonOffsetKey] = strconv.FormatInt(src.offset, 10)
	pm.Metadata[PoisonAttemptsKey] = strconv.Itoa(attempts)
	pm.Metadata[PoisonTimeKey] = now.UTC().Format(time.RFC3339Nano)
	pm.Metadata[PoisonStatusKey] = string(status)
	pm.Metadata[PoisonCommandTypeKey] = command
	if id != "" {
		pm.Metadata[PoisonCommandIDKey] = id
	}
	if src.key != "" {
		pm.Metadata[kafka.DefaultPartitionKeyMetadata] = src.key
	} else {
		delete(pm.Metadata, kafka.DefaultPartitionKeyMetadata)
	}
	return pm
}

// poisonUndecodable sends a record that does not decode to the poison topic. It has no
// command id, so no result is written.
func (p *Pipeline) poisonUndecodable(k *kind, msg *message.Message, src source, cause error) error {
	reason := "undecodable " + k.name + " command: " + cause.Error()
	pm := p.poisonMessage(msg, src, k.name, StatusRejected, reason, 0, "", p.cfg.Now())
	if err := p.untilDone(func() error { return p.publish(p.cfg.PoisonTopic, []*message.Message{pm}) }); err != nil {
		return err
	}
	p.metrics.poisoned.WithLabelValues(k.name, "undecodable").Inc()
	p.logger.Info("Poisoned an undecodable command", watermill.LogFields{"topic": src.topic, "partition": src.partition, "offset": src.offset, "reason": reason})
	return nil
}
