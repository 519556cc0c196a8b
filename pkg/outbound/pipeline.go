package outbound

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"
	kafkago "github.com/segmentio/kafka-go"
	"github.com/sony/gobreaker/v2"

	"github.com/dscokafka/connector/pkg/dsco"
	"github.com/dscokafka/connector/pkg/kafka"
	"github.com/dscokafka/connector/pkg/schemas"
)

// command is one decoded, valid command on its way through a batch.
type command struct {
	kind          *kind
	id            string
	correlationID *string
	// item is the command's Dsco item, a pointer to its kind's item type (see kindOf)
	// in the command's own allocation (commandWith): validate writes it.
	item any
	size int
	rec  kafkago.Message

	// reconcile: an earlier send may have applied the command (the store says sending
	// or unknown): decide before sending.
	reconcile bool
	// maybeApplied: a send of this command had an unknown outcome; an item error meaning
	// "already there" (kind.dupCode) then means applied.
	maybeApplied bool
	// recheck: a call may have applied the command (maybeApplied), it is to be sent
	// again after a pause, and its kind reads the order back: it is read again right
	// before the next call (see recheck).
	recheck bool
	// intent: a call carrying the command was made; its sending mark is in the store
	// unless its kind is sent again to reconcile (redoResend).
	intent bool
	// pooled: made by kind.newCommand, the command goes back to its kind's pool once
	// its batch is done (kind.recycle).
	pooled    bool
	attempts  int
	firstSent time.Time

	out Outcome
	// ctx is the record's handler context: it ends once the Subscriber gave the record
	// up (see kafka.RecordHandler).
	ctx context.Context
	// undecodable: the record did not decode (no id): its poison record is written with
	// the batch, no result and no mark.
	undecodable bool
	// finish is the record's done callback (kafka.RecordHandler): settle calls it once, with
	// nil once the outcome is durable, or with why it is not (the record is delivered
	// again).
	finish  func(error)
	settled atomic.Bool
	// flown counts the calls that carried the command whose flights have not ended
	// (see flights): guarded by flights.mu.
	flown int
}

// settle hands err to the command's done callback, unless that was done already.
func (c *command) settle(err error) {
	if c.settled.CompareAndSwap(false, true) {
		c.finish(err)
	}
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
	flights  flights // the ids of the commands in Dsco calls
	// bufs keeps the memory of complete calls for the next ones, one for each call that
	// can run at once (MaxConcurrentBatches per command type): about 700 bytes per
	// command (a result record and a mark, their bytes and headers) that the collector
	// had to collect. A call keeps its memory only once every write of its records
	// returned nil at its first try, when nothing holds the records any more: a
	// RecordWriter does not keep them once WriteRecords returned, the store keeps hashes
	// of the marks' keys, not the keys (Store.remember), and no write failed, whose error
	// could hold a record (kafkago.MessageTooLargeError does) where it went (the logger,
	// a done callback): the memory of a call whose write failed is left to the collector.
	bufs  chan *completeBufs
	ready chan struct{}

	// callFails is the run of Dsco calls failing, of every batcher (logCall).
	callFails struct {
		sync.Mutex
		kafka.Streak
	}

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
		// Only failures that say Dsco is unwell count (a transient failure, or an answer
		// such as a 502 that leaves the outcome unknown); an answer (even a 4xx) is Dsco up.
		IsSuccessful: func(err error) bool { return !dscoUnwell(err) },
		IsExcluded:   func(err error) bool { return err == errAnswered || Classify(err) == Stopped },
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
	p.bufs = make(chan *completeBufs, len(p.batchers)*cfg.MaxConcurrentBatches)
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

// Run loads the applied-ids store, then serves the handlers until ctx ends or Close is
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
//   - no command is taken any more: a record whose command is not yet in a dispatched
//     batch gets ErrClosed, once Run has returned (given earlier, the record would be
//     delivered again at once, and refused again, for as long as the shutdown lasts),
//     and Kafka delivers the command again;
//   - batches already dispatched finish: their Dsco calls run to their answers on a
//     context that the shutdown does not cancel, a write whose outcome is unknown is
//     reconciled as usual, and the outcomes are completed (store marks, poison and
//     result records), so that those records are done and their offsets can be
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

// Handler returns the record handler of a command (a name of Commands(role)), for
// kafka.Subscriber.Consume on the command's topic. A call decodes and validates the
// record and queues the command for its batch; its done callback gets nil once the
// command has its outcome and the outcome is in Kafka, or an error (the record is
// delivered again) when that could not be done: the pipeline is closing, the Serde could
// not reach the registry. A record whose decoding or validation panics gets an outcome
// (poisoned with the panic, see decode); a panic elsewhere has it delivered again.
func (p *Pipeline) Handler(command string) (kafka.RecordHandler, error) {
	k, ok := p.kinds[command]
	if !ok {
		return nil, fmt.Errorf("outbound: no command %q for role %s (want one of %v)", command, p.cfg.Role, Commands(p.cfg.Role))
	}
	return func(ctx context.Context, rec kafkago.Message, done func(error)) {
		handed := false // done is the command's now
		defer func() {
			if r := recover(); r != nil && !handed {
				err := fmt.Errorf("outbound: handling %s record %s/%d/%d panicked: %v\n%s", k.name, rec.Topic, rec.Partition, rec.Offset, r, debug.Stack())
				p.logger.Error("Handler panicked; the record will be delivered again", err, nil)
				done(err)
			}
		}()
		p.handle(ctx, k, rec, done, &handed)
	}, nil
}

// handle prepares rec and queues its command; done is called as Handler says. *handed is
// set once done was called or handed to the command.
func (p *Pipeline) handle(ctx context.Context, k *kind, rec kafkago.Message, done func(error), handed *bool) {
	if refused, err := p.admit(ctx); refused || err != nil {
		*handed = true
		if err != nil {
			done(err)
		} else {
			p.refuse(done)
		}
		return
	}
	b := p.batchers[k]
	b.pending.Add(1)
	defer b.decoded() // after enqueue; also when prepare fails or panics
	c, err := p.prepare(ctx, k, rec)
	if err != nil {
		*handed = true
		done(err)
		return
	}
	c.ctx, c.finish = ctx, done
	*handed = true
	// A command decided without a call (invalid, undecodable, already applied) joins a
	// batch too: its outcome is written with the batch's. Once queued, the batch completes
	// or releases it, also when shutting down.
	if !b.enqueue(c) {
		p.refuse(c.settle)
	}
}

// admit waits until the pipeline takes records. It reports refused when it is shutting
// down (the record is to be refused), or an error for done when the pipeline has stopped
// or ctx ended.
func (p *Pipeline) admit(ctx context.Context) (refused bool, err error) {
	select {
	case <-p.ready: // closed: no lock taken
		select {
		case <-p.draining:
			return true, nil
		default:
			return false, nil
		}
	default:
	}
	select {
	case <-p.ready:
		return false, nil
	case <-p.closing:
		return true, nil
	case <-p.draining:
		return true, nil
	case <-p.stopped:
		return false, ErrClosed
	case <-ctx.Done():
		return false, ctx.Err()
	}
}

// refuse hands ErrClosed to done for a command the pipeline does not take because it is
// shutting down, once Run has returned: handed at once, the record would be delivered
// again after the Subscriber's NackResendDelay, and refused again, in a loop for as long
// as the batches in flight take to finish.
func (p *Pipeline) refuse(done func(error)) {
	if !p.running.Load() {
		done(ErrClosed)
		return
	}
	go func() {
		<-p.stopped
		done(ErrClosed)
	}()
}

// decode is Serde.Decode, with a panic (a bug the record's bytes reach) made a
// Permanent error: the record is poisoned as undecodable with the panic for its reason,
// and its partition goes on, as on the inbound side (Recoverer, then Poison).
func (p *Pipeline) decode(ctx context.Context, rec kafkago.Message, value schemas.Record) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: decoding it panicked: %v", ErrInvalidCommand, r)
			p.logger.Error("Decoding a command panicked; the record is poisoned", err, watermill.LogFields{
				"topic": rec.Topic, "partition": rec.Partition, "offset": rec.Offset, "stack": string(debug.Stack())})
		}
	}()
	return p.cfg.Serde.Decode(ctx, rec.Value, value)
}

// validators are the validators of Pipeline.validate, reused: handed to kind.build, a
// function value, a validator escapes, and took an allocation per command.
var validators = sync.Pool{New: func() any { return new(validator) }}

// validate is the validation of c (value: its record, decoded) into its item, with a
// panic made a validation failure: the command is rejected with the panic for its reason
// (see decode).
func (p *Pipeline) validate(c *command, value schemas.Record) (verr *ValidationError) {
	v := validators.Get().(*validator)
	defer func() {
		*v = validator{} // nothing keeps it: build writes the item, validate returns the error
		validators.Put(v)
		if r := recover(); r != nil {
			verr = &ValidationError{Command: c.kind.name, Field: "(record)", Reason: fmt.Sprintf("validating it panicked: %v", r)}
			p.logger.Error("Validating a command panicked; the command is rejected", verr, watermill.LogFields{
				"topic": c.rec.Topic, "partition": c.rec.Partition, "offset": c.rec.Offset, "stack": string(debug.Stack())})
		}
	}()
	return validate(v, c.kind, value, c.item, p.cfg.Carriers, p.cfg.Now)
}

// prepare decodes and validates a record. It returns a command, with an outcome when none
// needs a call (invalid, undecodable, already applied), or an error to have the record
// delivered again.
func (p *Pipeline) prepare(ctx context.Context, k *kind, rec kafkago.Message) (*command, error) {
	// A record standing for a record batch Kafka could not decode holds the batch, not a
	// command: decoding it might even pass (its first bytes are an offset).
	if err := kafka.Undecodable(rec); err != nil {
		return &command{kind: k, rec: rec, undecodable: true,
			out: Outcome{Status: StatusRejected, Reason: "undecodable " + k.name + " command: " + err.Error()}}, nil
	}
	c, value := k.newCommand()
	c.kind, c.rec = k, rec
	if err := p.decode(ctx, rec, value); err != nil {
		if Classify(err) == Permanent {
			c.undecodable = true
			c.out = Outcome{Status: StatusRejected, Reason: "undecodable " + k.name + " command: " + err.Error()}
			return c, nil
		}
		return nil, fmt.Errorf("outbound: decoding a %s command: %w", k.name, err)
	}
	c.id, c.correlationID = ids(value)
	c.size = 2*len(rec.Value) + 16
	var verr *ValidationError
	if len(rec.Value) > p.cfg.MaxRecordBytes { // before validating what may be megabytes
		verr = &ValidationError{Command: k.name, Field: "(record)", Reason: fmt.Sprintf("the record is %d bytes, more than the %d allowed", len(rec.Value), p.cfg.MaxRecordBytes)}
	} else {
		verr = p.validate(c, value)
	}
	if verr != nil {
		c.out = Outcome{Status: StatusRejected, Reason: verr.Error()}
		return c, nil
	}
	p.fromStore(c)
	return c, nil
}

// fromStore decides c from its mark in the store: applied (whatever the record, a
// requeued one too: applied is final, see Store), to reconcile, or to send (none, or
// released: Dsco certainly did not apply it). Asked again once the calls of an earlier
// delivery have ended (see process), it decides from the mark they left.
func (p *Pipeline) fromStore(c *command) {
	rec := c.rec
	switch mark, at := p.store.get(c.id); mark {
	case MarkApplied:
		c.out = Outcome{Status: StatusApplied, Reason: "already applied; delivered again"}
	case MarkSending:
		c.reconcile = true
	case MarkUnknown:
		// Requeued by an operator (it carries the poison metadata, and was written
		// after the mark): send. Delivered again by Kafka, the original record or a
		// requeued one whose own outcome was unknown too (its mark is later than the
		// record: see unknownMarkTime): reconcile again.
		c.reconcile = header(rec, middleware.ReasonForPoisonedKey) == "" || rec.Time.UnixMilli() <= at
	case MarkReleased:
		c.reconcile = false
	}
}

// unknownMarkTime is the time (unix milliseconds) of the unknown mark of a command whose
// record Kafka timestamped rec: now, or just after rec when that is later (the record was
// requeued by a clock ahead of this one), so that every later delivery of the same record
// finds the mark newer than itself and is reconciled, not sent again (see prepare). A
// clock behind this one makes an operator's next requeue look older than the mark: it is
// then reconciled, which never sends a command twice.
func unknownMarkTime(now, rec time.Time) int64 {
	return max(now.UnixMilli(), rec.UnixMilli()+1)
}

// complete makes the outcomes of cmds durable: marks in the store, poison records and
// results, in one Kafka write; then settles the commands (ErrClosed for those without an
// outcome). If the write fails (the pipeline gave up, CloseTimeout), every command is
// released with the error and keeps the marks it had: reconciled when delivered again,
// as after a crash.
//
// A command whose record was given up still has its outcome written when its call was
// answered: a delivery of this process waiting for the call decides from its mark (a
// refusal's released mark has it sent, not reconciled). The same call on a replica that
// lost the partition is answered after the new owner decided the command; no mark but
// applied is written for an id the store holds applied (see Store.records), so once this
// process has read the new owner's applied mark, its stale outcome (a refusal, an
// unknown one) leaves only its result and poison record. A stale mark written before
// that, the store cannot fence (see Store).
func (p *Pipeline) complete(cmds []*command) {
	now := p.cfg.Now()
	bufs := p.takeBufs()
	applied, released, unknown, unknownAt := bufs.applied[:0], bufs.released[:0], bufs.unknown[:0], bufs.unknownAt[:0]
	n := 0 // records: results and poison records
	for _, c := range cmds {
		if c.undecodable {
			n++
			continue
		}
		if c.out.Status == "" {
			if c.ctx.Err() != nil {
				// Given up (see live): the next owner has the record and writes the
				// id's marks; a mark written now could overwrite one of its own.
				continue
			}
			// Left without an outcome by a shutdown: delivered again. If each call that
			// carried it was answered by a transient failure or a 4xx, or none was made,
			// Dsco certainly did not act on it: marked released, its next delivery sends
			// it instead of reconciling it (for the kinds whose reconciliation cannot
			// decide, that would poison it as outcome_unknown). Commands a call may have
			// applied keep their sending marks. (Kinds sent again to reconcile have none.)
			if c.intent && !c.maybeApplied && c.kind.redo != redoResend {
				released = append(released, c.id)
			}
			continue
		}
		switch {
		case c.out.Status == StatusApplied || c.out.Status == StatusQueued:
			if c.intent || c.reconcile {
				applied = append(applied, c.id)
			}
		case c.out.Status == StatusOutcomeUnknown:
			unknown = append(unknown, c.id)
			unknownAt = append(unknownAt, unknownMarkTime(now, c.rec.Time))
		case c.intent:
			released = append(released, c.id)
		}
		n++
		if poisoned(c.out.Status) {
			n++
		}
	}
	recs := slices.Grow(bufs.recs[:0], n+len(applied)+len(released)+len(unknown)) // then the marks
	arena := &bufs.arena
	arena.bytes = slices.Grow(arena.bytes[:0], n*resultBytesGuess)
	arena.headers = slices.Grow(arena.headers[:0], n*5)
	for _, c := range cmds {
		if c.undecodable {
			recs = append(recs, p.poisonRecord(c.rec, c.kind.name, c.out.Status, c.out.Reason, 0, "", now))
			continue
		}
		if c.out.Status == "" {
			continue
		}
		if poisoned(c.out.Status) {
			recs = append(recs, p.poisonRecord(c.rec, c.kind.name, c.out.Status, c.out.Reason, c.out.Attempts, c.id, now))
		}
		rec, err := p.resultRecord(c, now, arena)
		if err != nil {
			// Our own record failed to encode: a programming or registry-setup error.
			err = fmt.Errorf("outbound: encoding the result of %s: %w", c.id, err)
			p.release(cmds, err)
			return
		}
		recs = append(recs, rec)
	}
	marks := recs[len(recs):]
	marks, arena.bytes = p.store.records(marks, arena.bytes, MarkApplied, applied, nil)
	nApplied := len(marks)
	marks, arena.bytes = p.store.records(marks, arena.bytes, MarkReleased, released, nil)
	nReleased := len(marks)
	marks, arena.bytes = p.store.records(marks, arena.bytes, MarkUnknown, unknown, unknownAt)
	// One write, unless the batch's kind cannot be reconciled (return, retailer return,
	// retailer cancel): a write can land in part, and a result in Kafka whose "applied"
	// mark is not would make the command's next delivery outcome_unknown, contradicting
	// its result. Their marks go first.
	writes := [][]kafkago.Message{recs[:len(recs)+len(marks)]}
	if len(cmds) > 0 && cmds[0].kind.redo == redoUndecidable && len(marks) > 0 {
		writes = [][]kafkago.Message{marks, recs}
	}
	retried := false
	for _, w := range writes {
		again, err := p.write(w)
		if err != nil {
			p.release(cmds, err)
			return
		}
		retried = retried || again
	}
	p.store.remember(MarkApplied, marks[:nApplied])
	p.store.remember(MarkReleased, marks[nApplied:nReleased])
	p.store.remember(MarkUnknown, marks[nReleased:])
	if !retried {
		p.keepBufs(bufs, recs[:len(recs)+len(marks)], applied, released, unknown, unknownAt)
	}
	var commandsBuf, poisonedBuf [6]labelCount
	commands, poisonedN := commandsBuf[:0], poisonedBuf[:0]
	for _, c := range cmds {
		if c.undecodable {
			poisonedN = countLabels(poisonedN, c.kind.name, "undecodable")
			p.logger.Info("Poisoned an undecodable command", watermill.LogFields{"topic": c.rec.Topic, "partition": c.rec.Partition, "offset": c.rec.Offset, "reason": c.out.Reason})
			continue
		}
		if c.out.Status == "" {
			continue
		}
		commands = countLabels(commands, c.kind.name, string(c.out.Status))
		if poisoned(c.out.Status) {
			poisonedN = countLabels(poisonedN, c.kind.name, string(c.out.Status))
		}
	}
	for _, n := range commands {
		p.metrics.commands.WithLabelValues(n.command, n.status).Add(float64(n.n))
	}
	for _, n := range poisonedN {
		p.metrics.poisoned.WithLabelValues(n.command, n.status).Add(float64(n.n))
	}
	for _, c := range cmds {
		if c.out.Status == "" {
			// Stopped before it had an outcome: delivered again.
			c.settle(ErrClosed)
		} else {
			c.settle(nil)
		}
	}
}

// labelCount is how many commands of a batch count toward a counter's labels (command,
// status): complete adds each count with one look-up of its labels, not one a command
// (prometheus hashes the label values at each look-up).
type labelCount struct {
	command, status string
	n               int
}

// countLabels counts one more for (command, status) in counts.
func countLabels(counts []labelCount, command, status string) []labelCount {
	for i := range counts {
		if counts[i].command == command && counts[i].status == status {
			counts[i].n++
			return counts
		}
	}
	return append(counts, labelCount{command: command, status: status, n: 1})
}

// Headers of a result record (besides kafka.UUIDHeader: the command id and "/result").
const (
	ResultCommandIDHeader     = "command_id"
	ResultCommandTypeHeader   = "command_type"
	ResultStatusHeader        = "status"
	ResultCorrelationIDHeader = "correlation_id"
)

// completeBufs is the memory of one complete call, which later calls reuse (see
// Pipeline.bufs): its records, their bytes and headers, and its lists of the ids to mark.
type completeBufs struct {
	recs                       []kafkago.Message
	arena                      resultArena
	applied, released, unknown []string
	unknownAt                  []int64
}

// maxKeptArenaBytes bounds the arena kept for a later complete call: one grown for a batch
// of long results (Dsco's errors, many commands) is left to the collector.
const maxKeptArenaBytes = 256 << 10

// takeBufs returns the memory a complete call left for reuse, or new memory.
func (p *Pipeline) takeBufs() *completeBufs {
	select {
	case b := <-p.bufs:
		return b
	default:
		return new(completeBufs)
	}
}

// keepBufs keeps b, with the slices a complete call made of it, for a later call, which
// overwrites them. The call must have made sure nothing references them any more (see
// Pipeline.bufs). What they refer to (the commands' ids and records, the storage an arena
// that grew left) is let go.
func (p *Pipeline) keepBufs(b *completeBufs, recs []kafkago.Message, applied, released, unknown []string, unknownAt []int64) {
	if cap(b.arena.bytes) > maxKeptArenaBytes {
		return
	}
	clear(recs)
	clear(applied)
	clear(released)
	clear(unknown)
	clear(b.arena.headers)
	b.recs, b.applied, b.released, b.unknown, b.unknownAt = recs[:0], applied[:0], released[:0], unknown[:0], unknownAt[:0]
	b.arena.bytes, b.arena.headers, b.arena.result = b.arena.bytes[:0], b.arena.headers[:0], schemas.CommandResult{}
	select {
	case p.bufs <- b:
	default: // as many kept as complete calls can run at once
	}
}

// resultArena holds the result records of one complete call: their values, keys and header
// values share one buffer, their headers another, and one CommandResult is filled for each
// in turn, so that a result costs no allocation of its own. The marks' keys join the
// values' buffer (Store.records). A record's slices are cut with their capacity at their
// length: nothing written later reaches them, and a buffer that grows leaves the records
// before it on the old storage, unchanged.
type resultArena struct {
	bytes   []byte
	headers []kafkago.Header
	result  schemas.CommandResult
}

// resultBytesGuess is the room a result record takes in its arena's bytes, about: the
// encoded value and the key and header values of an inventory command's result.
const resultBytesGuess = 192

// resultRecord is the Kafka record of c's result (value: the encoded CommandResult), keyed
// by the command id, made in a.
func (p *Pipeline) resultRecord(c *command, now time.Time, a *resultArena) (kafkago.Message, error) {
	b, err := p.cfg.Serde.AppendEncode(a.bytes, fillResult(&a.result, c, now))
	if err != nil {
		return kafkago.Message{}, err
	}
	start := len(a.bytes)
	valueEnd := len(b)
	corr := ""
	if c.correlationID != nil {
		corr = *c.correlationID
	}
	const suffix = "/result"
	b = append(append(b, c.id...), suffix...)
	b = append(b, c.kind.name...)
	b = append(b, c.out.Status...)
	b = append(b, corr...)
	a.bytes = b
	cut := func(from, n int) []byte { return b[from : from+n : from+n] }
	idAt := valueEnd
	kindAt := idAt + len(c.id) + len(suffix)
	statusAt := kindAt + len(c.kind.name)
	id := cut(idAt, len(c.id))
	h0 := len(a.headers)
	a.headers = append(a.headers,
		kafkago.Header{Key: kafka.UUIDHeader, Value: cut(idAt, len(c.id)+len(suffix))},
		kafkago.Header{Key: ResultCommandIDHeader, Value: id},
		kafkago.Header{Key: ResultCommandTypeHeader, Value: cut(kindAt, len(c.kind.name))},
		kafkago.Header{Key: ResultStatusHeader, Value: cut(statusAt, len(c.out.Status))})
	if c.correlationID != nil {
		a.headers = append(a.headers, kafkago.Header{Key: ResultCorrelationIDHeader, Value: cut(statusAt+len(c.out.Status), len(corr))})
	}
	h := a.headers[h0:len(a.headers):len(a.headers)]
	return kafkago.Message{Topic: p.cfg.ResultsTopic, Key: id, Value: cut(start, valueEnd-start), Headers: h}, nil
}

// write writes recs in one write, until it succeeds or the pipeline closes; retried says
// whether a write failed first.
func (p *Pipeline) write(recs []kafkago.Message) (retried bool, err error) {
	tries := 0
	err = p.untilDone(func() error {
		if len(recs) == 0 {
			return nil
		}
		tries++
		start := time.Now()
		err := p.cfg.Writer.WriteRecords(recs...)
		result := "ok"
		if err != nil {
			result = "error"
		}
		p.metrics.writeSeconds.WithLabelValues(result).Observe(time.Since(start).Seconds())
		recs = kafka.Unwritten(recs, err)
		return err
	})
	return tries > 1, err
}

// untilDone runs a Kafka write until it succeeds or the pipeline gives up on what is in
// flight (CloseTimeout passed after a shutdown began, or Run returned): the commands have
// outcomes that must not be lost, and Kafka being away is not the commands' fault. The
// failures are logged as a kafka.Streak: the first at error level, then one a minute.
func (p *Pipeline) untilDone(f func() error) error {
	delay := 100 * time.Millisecond
	fails := kafka.Streak{Every: kafka.StreakInterval}
	for {
		err := f()
		if err == nil {
			fails.LogWorks(p.logger, "Writing command outcomes to Kafka works again", nil)
			return nil
		}
		fails.LogFailure(p.logger, watermill.ErrorLogLevel, "Writing command outcomes to Kafka; trying again", err, nil)
		select {
		case <-p.aborted:
			return fmt.Errorf("%w: %v", ErrClosed, err)
		case <-time.After(delay):
		}
		delay = min(2*delay, 5*time.Second)
	}
}

// release settles cmds with err (nil: done).
func (p *Pipeline) release(cmds []*command, err error) {
	for _, c := range cmds {
		c.settle(err)
	}
}

// Poison headers added to a poisoned record beside Watermill's PoisonQueue keys
// (middleware.ReasonForPoisonedKey, PoisonedTopicKey, PoisonedHandlerKey).
const (
	PoisonPartitionKey   = "partition_poisoned"
	PoisonOffsetKey      = "offset_poisoned"
	PoisonAttemptsKey    = "attempts_poisoned"
	PoisonTimeKey        = "time_poisoned"
	PoisonStatusKey      = "status_poisoned"
	PoisonCommandIDKey   = "command_id_poisoned"
	PoisonCommandTypeKey = "command_type_poisoned"
)

// header returns the value of rec's last header named key, or "".
func header(rec kafkago.Message, key string) string {
	for i := len(rec.Headers) - 1; i >= 0; i-- {
		if rec.Headers[i].Key == key {
			return string(rec.Headers[i].Value)
		}
	}
	return ""
}

// poisonRecord is the poison record of rec: its key, bytes and headers (a record without
// kafka.UUIDHeader gets the UUID the Subscriber would give it), plus where it came from,
// why, and when. Its key stays the command's key, so that a requeue keeps it on its
// partition.
func (p *Pipeline) poisonRecord(rec kafkago.Message, command string, status Status, reason string, attempts int, id string, now time.Time) kafkago.Message {
	add := [...]kafkago.Header{
		{Key: middleware.ReasonForPoisonedKey, Value: []byte(reason)},
		{Key: middleware.PoisonedTopicKey, Value: []byte(rec.Topic)},
		{Key: middleware.PoisonedHandlerKey, Value: []byte("outbound-" + command)},
		{Key: PoisonPartitionKey, Value: strconv.AppendInt(nil, int64(rec.Partition), 10)},
		{Key: PoisonOffsetKey, Value: strconv.AppendInt(nil, rec.Offset, 10)},
		{Key: PoisonAttemptsKey, Value: strconv.AppendInt(nil, int64(attempts), 10)},
		{Key: PoisonTimeKey, Value: now.UTC().AppendFormat(nil, time.RFC3339Nano)},
		{Key: PoisonStatusKey, Value: []byte(status)},
		{Key: PoisonCommandTypeKey, Value: []byte(command)},
		{Key: PoisonCommandIDKey, Value: []byte(id)},
	}
	replaced := func(key string) bool {
		for _, h := range add {
			if h.Key == key {
				return true
			}
		}
		return false
	}
	headers := make([]kafkago.Header, 0, len(rec.Headers)+len(add)+1)
	if header(rec, kafka.UUIDHeader) == "" {
		headers = append(headers, kafkago.Header{Key: kafka.UUIDHeader,
			Value: []byte(rec.Topic + "-" + strconv.Itoa(rec.Partition) + "-" + strconv.FormatInt(rec.Offset, 10))})
	}
	for _, h := range rec.Headers {
		// Poison headers of an earlier poisoning (a requeued record) give way to these.
		if !replaced(h.Key) && h.Key != middleware.PoisonedSubscriberKey {
			headers = append(headers, h)
		}
	}
	for _, h := range add {
		if h.Key == PoisonCommandIDKey && id == "" {
			continue
		}
		headers = append(headers, h)
	}
	return kafkago.Message{Topic: p.cfg.PoisonTopic, Key: rec.Key, Value: rec.Value, Headers: headers}
}
