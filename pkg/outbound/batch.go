package outbound

import (
	"context"
	"errors"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/sony/gobreaker/v2"

	"github.com/dscokafka/connector/pkg/dsco"
)

// batcher gathers the commands of one kind into batches and runs each batch. Handler
// calls queue their commands (enqueue) and return; a command's done callback is called
// once its batch completed it.
type batcher struct {
	p *Pipeline
	k *kind
	// pending counts handler calls of this kind that are under way but have not queued
	// their command yet.
	pending atomic.Int64

	mu     sync.Mutex
	queue  []*command
	closed bool          // no more commands are queued; the queued ones were released
	wake   chan struct{} // a token once the queue grew or a batch finished
	// spare holds the slices of batches done, emptied, for the next batches to fill.
	spare chan []*command
}

func newBatcher(p *Pipeline, k *kind) *batcher {
	return &batcher{p: p, k: k, wake: make(chan struct{}, 1), spare: make(chan []*command, p.cfg.MaxConcurrentBatches)}
}

// spareBatch returns an empty slice for a batch to fill: a done batch's, or nil.
func (b *batcher) spareBatch() []*command {
	select {
	case batch := <-b.spare:
		return batch
	default:
		return nil
	}
}

// keepBatch keeps the slice of a batch nothing refers to any more for a later batch.
func (b *batcher) keepBatch(batch []*command) {
	if cap(batch) == 0 {
		return
	}
	clear(batch)
	select {
	case b.spare <- batch[:0]:
	default:
	}
}

// enqueue queues c for the next batch; false when the batcher has stopped.
func (b *batcher) enqueue(c *command) bool {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return false
	}
	b.queue = append(b.queue, c)
	b.mu.Unlock()
	b.notify()
	return true
}

// decoded ends a handler call counted in pending: a batch waiting for it may go.
func (b *batcher) decoded() {
	b.pending.Add(-1)
	b.notify()
}

// notify wakes run: the queue grew, or a Dsco call finished (a batch that waited for
// it may go at once).
func (b *batcher) notify() {
	select {
	case b.wake <- struct{}{}:
	default:
	}
}

// take moves queued commands to batch while it has fewer than MaxBatchItems commands and
// less than MaxBatchBytes (a command that would pass it starts the next batch; a batch's
// first command always joins). It returns the batch, its size, and whether the batch
// is full. A queued command whose record was given up (its context ended: the partition
// was revoked and its drain is over, so the next owner has the record) is not taken but
// settled with that error: sent, it could run beside the next owner's copy.
func (b *batcher) take(batch []*command, size int) ([]*command, int, bool) {
	cfg := b.p.cfg
	var gone []*command
	b.mu.Lock()
	n := 0
	full := false
	for _, c := range b.queue {
		if c.ctx.Err() != nil {
			gone = append(gone, c)
			n++
			continue
		}
		if len(batch) >= cfg.MaxBatchItems || size >= cfg.MaxBatchBytes || (len(batch) > 0 && size+c.size > cfg.MaxBatchBytes) {
			full = true
			break
		}
		batch = append(batch, c)
		size += c.size
		n++
	}
	// The rest moves to the front: the queue keeps its array.
	m := copy(b.queue, b.queue[n:])
	clear(b.queue[m:])
	b.queue = b.queue[:m]
	b.mu.Unlock()
	for _, c := range gone {
		c.settle(c.ctx.Err())
	}
	return batch, size, full || len(batch) >= cfg.MaxBatchItems || size >= cfg.MaxBatchBytes
}

// stop ends queueing and refuses the queued commands and batch (see Pipeline.refuse).
func (b *batcher) stop(batch []*command) {
	b.mu.Lock()
	b.closed = true
	q := b.queue
	b.queue = nil
	b.mu.Unlock()
	for _, c := range append(q, batch...) {
		b.p.refuse(c.settle)
	}
}

// run takes commands until ctx ends (the pipeline's intake) and dispatches them in
// batches; each batch runs on work, which outlives ctx by CloseTimeout at most. It returns
// once every batch it dispatched has finished; the batch it was filling, or waiting to
// dispatch, when ctx ended is released.
func (b *batcher) run(ctx, work context.Context) {
	cfg := b.p.cfg
	sem := make(chan struct{}, cfg.MaxConcurrentBatches)
	var wg sync.WaitGroup
	defer wg.Wait()
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		batch, size, full := b.take(b.spareBatch(), 0)
		if len(batch) == 0 {
			b.keepBatch(batch)
			select {
			case <-b.wake:
				continue
			case <-ctx.Done():
				b.stop(nil)
				return
			}
		}
		// A batch that is not full waits for more commands, up to MaxBatchWait, while
		// more are on their way or while Dsco calls of this kind are in flight (under
		// load, a batch fills while the calls before it run); otherwise it goes at once.
		timer.Reset(cfg.MaxBatchWait)
	fill:
		for !full && (b.pending.Load() > 0 || len(sem) > 0) {
			select {
			case <-b.wake:
				batch, size, full = b.take(batch, size)
			case <-timer.C:
				break fill
			case <-ctx.Done():
				timer.Stop()
				b.stop(batch)
				return
			}
		}
		timer.Stop()
		if !b.dispatch(ctx, work, sem, &wg, batch) {
			return
		}
	}
}

// dispatch runs batch, on work, in a goroutine of its own once one of the
// MaxConcurrentBatches slots is free; false when ctx ended first (batch was refused).
func (b *batcher) dispatch(ctx, work context.Context, sem chan struct{}, wg *sync.WaitGroup, batch []*command) bool {
	if ctx.Err() != nil { // select would pick at random between a free slot and the end
		b.stop(batch)
		return false
	}
	select {
	case sem <- struct{}{}:
	case <-ctx.Done():
		b.stop(batch)
		return false
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer b.notify() // after the slot is free
		defer func() { <-sem }()
		b.p.process(work, b.k, batch)
		b.k.recycle(batch)
		b.keepBatch(batch)
	}()
	return true
}

// process gives every command of batch its outcome and completes them. When the pipeline
// shuts down, commands that get no outcome (a retry would be needed, or ctx was cancelled
// at CloseTimeout) are released: complete hands them ErrClosed, and marks released those
// Dsco certainly did not act on. Nothing process started refers to the commands, or to
// batch, once it returned: their memory is used again (see kind.recycle, keepBatch).
func (p *Pipeline) process(ctx context.Context, k *kind, batch []*command) {
	// A command delivered again while a call of this process still carries its earlier
	// delivery (the Subscriber gave that record up, see live) waits for the call: its
	// reconciliation must see what the call did, and a command sent again must not
	// overtake it.
	if !p.flights.wait(ctx, batch) {
		p.complete(batch)
		return
	}
	// A command the store said to reconcile when it was delivered: its earlier delivery
	// may have had its outcome written since (its call, waited for above or ended
	// before, was answered "accepted", say, which reading Dsco's state back cannot see
	// yet). Looked up again.
	for _, c := range batch {
		if c.reconcile && c.out.Status == "" {
			p.fromStore(c)
		}
	}
	// The calls carrying the commands end for the deliveries waiting for them once
	// their outcomes are written.
	defer p.flights.endAll(batch)
	send := make([]*command, 0, len(batch))
	var check []*command
	for _, c := range batch {
		switch {
		case c.out.Status != "": // decided without a call
		case c.reconcile:
			c.maybeApplied = true
			check = append(check, c)
		default:
			send = append(send, c)
		}
	}
	if len(check) > 0 {
		send = append(send, p.reconcile(ctx, k, check)...)
	}
	p.send(ctx, k, send)
	p.complete(batch)
}

// send gives each of cmds an outcome through Dsco calls. Commands whose records were
// given up meanwhile are left without one (see live).
func (p *Pipeline) send(ctx context.Context, k *kind, cmds []*command) {
	for cmds = p.live(cmds); len(cmds) > 0 && ctx.Err() == nil; cmds = p.live(cmds) {
		if cmds = p.recheck(ctx, k, cmds); len(cmds) == 0 {
			return
		}
		// The sending marks tell a later delivery to reconcile. Kinds Dsco may be sent
		// again (redoResend) reconcile by sending again, which is what a command without
		// a mark gets: their marks would cost a Kafka write per batch for nothing.
		if k.redo != redoResend {
			var intents []string
			for _, c := range cmds {
				if !c.intent {
					intents = append(intents, c.id)
				}
			}
			if err := p.untilDone(func() error { return p.store.Set(MarkSending, intents...) }); err != nil {
				return
			}
		}
		// The call is in flights before the records are looked at again: a record given
		// up from now on has its next delivery wait for the call (see process). One
		// given up before (while its mark was written: that lasts as long as Kafka is
		// away) is not sent: its next delivery is already on its way, and it may have
		// looked in the store before the mark was there.
		p.flights.begin(cmds)
		if cmds = p.live(cmds); len(cmds) == 0 {
			return
		}
		now := p.cfg.Now()
		for _, c := range cmds {
			c.intent = true
			c.attempts++
			if c.firstSent.IsZero() {
				c.firstSent = now
			}
		}
		p.metrics.batchSize.WithLabelValues(k.name).Observe(float64(len(cmds)))
		start := time.Now()
		trial := p.breaker.State() != gobreaker.StateClosed
		resp, err := p.breaker.Execute(func() (*dsco.BatchResponse, error) { return k.send(ctx, p.cfg.Client, cmds) })
		if !breakerRefused(err) {
			for _, c := range cmds {
				c.recheck = false // checked before this call (see recheck)
			}
		}
		class := Classify(err)
		switch {
		case err != nil && ctx.Err() != nil:
			class = Stopped // cancelled at CloseTimeout, whatever the failure looks like
		case class == Retryable && credentialsRefused(err):
			// No token, so nothing was sent, or one Dsco refused, so nothing was
			// applied: the commands wait without spending their budget (the breaker
			// counts the failure, and opens). Not a token request that failed because
			// the client was closed (dsco.ErrClosed): Stopped, as Classify has it.
			class = Paused
		}
		p.metrics.callSeconds.WithLabelValues(k.name, className(class)).Observe(time.Since(start).Seconds())
		p.logCall(k, class, err)
		// A failure while the breaker holds Dsco for down spends no retry budget: the
		// breaker's trial call, and the failure that opened it (with one call in flight
		// and as many attempts as the breaker's threshold, the commands of the first
		// batch of an outage would fail just as the breaker opens). The commands wait.
		held := trial || p.breaker.State() != gobreaker.StateClosed
		wait := false
		switch class {
		case 0:
			cmds = p.mapResponse(ctx, k, cmds, resp)
		case Unknown:
			// Those to send again spend their retry budget like any retry (a Dsco that
			// answers every write with a 502 must not be called in a loop), unless the
			// breaker holds them (a gateway answering 502 while Dsco is down).
			if cmds = p.reconcile(ctx, k, cmds); len(cmds) > 0 {
				if wait = held; !wait {
					cmds = p.retryOrFail(ctx, k, cmds, err)
				}
			}
		case Paused:
			wait = true
		case Retryable:
			if wait = held; !wait {
				cmds = p.retryOrFail(ctx, k, cmds, err)
			}
		case Stopped:
			// Cancelled at CloseTimeout. The client tells whether the request may have
			// reached Dsco (it was written): then the commands keep their sending marks.
			if errors.Is(err, dsco.ErrOutcomeUnknown) {
				for _, c := range cmds {
					c.maybeApplied = true
				}
			}
			return
		case Permanent:
			cmds = p.rejectOrSplit(ctx, k, cmds, err)
		}
		if class == Unknown || class == Retryable || class == Paused {
			// Sent again after a pause, in which a call that may have applied them
			// (this one, or one before it) can land: read again first (see recheck).
			for _, c := range cmds {
				c.recheck = c.maybeApplied && k.redo == redoReadOrder
			}
		}
		if wait && !pause(ctx, p, cmds, now) {
			return
		}
	}
}

// recheck reads back again, right before they are sent again, the orders of the commands
// of cmds that a call may have applied (its outcome was unknown) and that are to be sent
// after a pause (a backoff, the breaker), whatever answered the calls since: the write
// may have landed after the read made at once after the answer (a gateway gives up on a
// slow Dsco with a 504, and Dsco finishes the write), and sent again it would be applied
// twice, or refused (nothing left to ship) while applied. It returns the commands
// to send. The read is a check on top of that reconciliation: when it fails, the commands
// are sent as they would be without it (a failed read does not make them
// outcome_unknown). While the breaker is open no call is made: the commands keep their
// check for the call that is, the half-open breaker's trial or one once it closed (see
// send, which drops the check once a call carrying them was made).
func (p *Pipeline) recheck(ctx context.Context, k *kind, cmds []*command) []*command {
	if p.breaker.State() == gobreaker.StateOpen {
		return cmds
	}
	orders := make(map[string]*dsco.Order)
	checked := false
	for _, c := range cmds {
		if !c.recheck {
			continue
		}
		checked = true
		id := k.orderID(c.item)
		o, ok := orders[id]
		if !ok {
			var err error
			if o, err = p.cfg.Client.SupplierGetOrder(ctx, id); err != nil {
				continue // sent, as without the check
			}
			orders[id] = o
		}
		if k.applied(o, c.item) {
			p.reconciled(k, c, id)
		}
	}
	if !checked {
		return cmds
	}
	send := cmds[:0:0]
	for _, c := range cmds {
		if c.out.Status == "" {
			send = append(send, c)
		}
	}
	return send
}

// logCall logs the Dsco calls that fail for a reason that passes or that a person must
// mend (Dsco away, the connector's credentials refused) as one run of the pipeline's calls, of
// every endpoint, as a kafka.Streak: the first failure with its error, at error level
// when the credentials were refused (by the token endpoint, or Dsco refused the token:
// the commands wait until they are mended) and at info level otherwise (the client's retries and the
// breaker ride an outage out), then a line a minute; and one line once Dsco answers a
// call again. The breaker's state changes alone said neither why nor what to check.
// Calls the breaker does not let through are not calls, and are not counted.
func (p *Pipeline) logCall(k *kind, class Class, err error) {
	f := &p.callFails
	switch {
	case class == 0, class == Permanent: // Dsco answered
		f.Lock()
		f.LogWorks(p.logger, "Dsco calls work again", watermill.LogFields{"endpoint": k.name})
		f.Unlock()
	case breakerRefused(err):
	case class == Retryable, class == Unknown, class == Paused:
		level := watermill.InfoLogLevel
		if credentialsRefused(err) {
			level = watermill.ErrorLogLevel
		}
		f.Lock()
		f.LogFailure(p.logger, level, "Dsco calls fail", err,
			watermill.LogFields{"endpoint": k.name})
		f.Unlock()
	}
}

// pause waits for the breaker to let a trial call through, without spending the
// commands' retry budget: neither the attempt that started at sent nor the time from then
// to the end of the wait counts toward Retry.MaxAttempts and MaxElapsed. It returns false
// when the pipeline shuts down (see backoff).
func pause(ctx context.Context, p *Pipeline, cmds []*command, sent time.Time) bool {
	ok := p.backoff(ctx, min(p.cfg.Breaker.OpenTimeout, time.Second))
	waited := p.cfg.Now().Sub(sent)
	for _, c := range cmds {
		c.attempts-- // the call was not made, or was the breaker's trial
		c.firstSent = c.firstSent.Add(waited)
	}
	return ok
}

// live returns cmds without the commands whose records were given up: their context
// ended because the partition was revoked and its drain is over, so the next owner has
// the record, and a call carrying them could run beside the next owner's copy (apply a
// command twice, or an older command after a newer one of the same key). They are left
// without an outcome, and their flights end: nothing of theirs is left to write, so a
// delivery waiting for them may go on.
func (p *Pipeline) live(cmds []*command) []*command {
	var out, gone []*command
	for i, c := range cmds {
		if c.ctx.Err() == nil {
			if out != nil {
				out = append(out, c)
			}
			continue
		}
		if out == nil {
			out = append(make([]*command, 0, len(cmds)), cmds[:i]...)
		}
		gone = append(gone, c)
	}
	if out == nil {
		return cmds
	}
	p.flights.endAll(gone)
	return out
}

func className(c Class) string {
	switch c {
	case 0:
		return "ok"
	case Permanent:
		return "permanent"
	case Retryable:
		return "retryable"
	case Unknown:
		return "unknown"
	case Paused:
		return "paused"
	}
	return "stopped"
}

// backoff waits d before a retry. It returns false, at once, when the pipeline shuts
// down (or ctx ends): waiting for retries would hold the shutdown for as long as the
// retry budget lasts, so the commands are released and delivered again instead.
func (p *Pipeline) backoff(ctx context.Context, d time.Duration) bool {
	select {
	case <-p.draining:
		return false
	default:
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-p.draining:
	case <-ctx.Done():
	}
	return false
}

// retryOrFail fails the commands whose retry budget is spent and returns the others after
// a backoff with full jitter; none when the pipeline shuts down (they are released).
func (p *Pipeline) retryOrFail(ctx context.Context, k *kind, cmds []*command, err error) []*command {
	r := p.cfg.Retry
	now := p.cfg.Now()
	var again []*command
	maxAttempts := 0
	for _, c := range cmds {
		if c.attempts >= r.MaxAttempts || now.Sub(c.firstSent) >= r.MaxElapsed {
			c.out = Outcome{Status: StatusFailed, Reason: "transient failures outlasted the retry budget: " + err.Error(), Attempts: c.attempts}
			if c.maybeApplied {
				c.out.Status = StatusOutcomeUnknown
				c.out.Reason = ReasonOutcomeUnknown + ": a call that may have been applied, then " + c.out.Reason
			}
			continue
		}
		maxAttempts = max(maxAttempts, c.attempts)
		again = append(again, c)
	}
	if len(again) > 0 {
		backoff := r.BaseDelay << min(maxAttempts-1, 20)
		if backoff <= 0 || backoff > r.MaxDelay {
			backoff = r.MaxDelay
		}
		var apiErr *dsco.APIError
		if errors.As(err, &apiErr) && apiErr.RetryAfter > backoff {
			backoff = min(apiErr.RetryAfter, r.MaxDelay) // a day's Retry-After must not hold the kind a day
		}
		if !p.backoff(ctx, time.Duration(rand.Int64N(int64(backoff))+1)) {
			return nil
		}
		p.metrics.retries.WithLabelValues(k.name).Inc()
	}
	return again
}

// mapResponse assigns outcomes from an HTTP 200 answer, item by item through the index in
// each error's field path, and returns the commands to send again.
func (p *Pipeline) mapResponse(ctx context.Context, k *kind, cmds []*command, resp *dsco.BatchResponse) []*command {
	byItem, unattributed := attribute(resp.Errors, k.prop, len(cmds))
	queued := resp.Status == dsco.BatchAccepted || resp.Status == dsco.BatchProcessing
	// A failed batch leaves each command without an error of its own unclear too: Dsco
	// did not say it applied it.
	failed := resp.Status == dsco.BatchFailed
	var unclear []*command
	for i, c := range cmds {
		errs := byItem[i]
		switch {
		case len(errs) > 0:
			c.out = itemOutcome(k, c, errs, resp.BatchID)
		case (len(unattributed) > 0 && !queued || failed) && len(cmds) > 1:
			// An error names no item, or the batch failed without an error for this
			// one: which commands it concerns (and whether they were applied) is not
			// known. Not so for a queued batch: Dsco took it, and neither the state
			// read back nor a call alone can tell more before it is applied; sent
			// again, its commands would be queued twice.
			unclear = append(unclear, c)
		case failed && len(unattributed) == 0:
			c.out = Outcome{Status: StatusRejected, Reason: "dsco: batch failed, with no error for the command", BatchID: resp.BatchID, Attempts: c.attempts}
		case failed:
			c.out = Outcome{Status: StatusRejected, Reason: errorsReason(unattributed), BatchID: resp.BatchID, Errors: unattributed, Attempts: c.attempts}
		case queued:
			c.out = Outcome{Status: StatusQueued, Reason: "dsco batch " + resp.Status, BatchID: resp.BatchID, Errors: unattributed, Attempts: c.attempts}
		default:
			c.out = Outcome{Status: StatusApplied, BatchID: resp.BatchID, Errors: unattributed, Attempts: c.attempts}
		}
		if len(unattributed) > 0 && c.out.Status != StatusRejected {
			// One command alone in its call: Dsco took it, and said more.
			c.out.Reason = strings.TrimSpace(c.out.Reason + " (Dsco also answered: " + errorsReason(unattributed) + ")")
		}
	}
	if len(unclear) == 0 {
		return nil
	}
	// Commands that may need sending again are isolated by halves, down to one command
	// per call, whose answer then decides it: sent again as one batch, the same error
	// could come back without end.
	again := p.reconcile(ctx, k, unclear)
	if len(again) > 1 {
		half := len(again) / 2
		p.send(ctx, k, again[:half])
		p.send(ctx, k, again[half:])
		return nil
	}
	return again
}

// attribute maps errs to the items of a batch of n through the index in each error's
// field path (prop[i]...). An error that names no item of this batch (no index, another
// property, an index out of range) is unattributed: it may concern any of them.
func attribute(errs []dsco.BatchError, prop string, n int) (byItem map[int][]dsco.BatchError, unattributed []dsco.BatchError) {
	for _, e := range errs {
		p, i, ok := e.Index()
		if !ok || p != prop || i < 0 || i >= n {
			unattributed = append(unattributed, e)
			continue
		}
		if byItem == nil {
			byItem = make(map[int][]dsco.BatchError)
		}
		byItem[i] = append(byItem[i], e)
	}
	return byItem, unattributed
}

// itemOutcome is the outcome of c, whose item Dsco answered with errs (with HTTP 200 or
// a 4xx): rejected, unless an earlier call of it may have applied it and errs say "already
// there" (kind.dupCode), which means that call did.
func itemOutcome(k *kind, c *command, errs []dsco.BatchError, batchID string) Outcome {
	if c.maybeApplied && k.dupCode != "" && allCode(errs, k.dupCode) {
		return Outcome{Status: StatusApplied, Reason: "applied by an earlier call whose outcome was unknown (" + errorsReason(errs) + ")", BatchID: batchID, Attempts: c.attempts}
	}
	return Outcome{Status: StatusRejected, Reason: errorsReason(errs), BatchID: batchID, Errors: errs, Attempts: c.attempts}
}

func allCode(errs []dsco.BatchError, code string) bool {
	for _, e := range errs {
		if e.Code != code {
			return false
		}
	}
	return true
}

// rejectOrSplit handles an answer that applied nothing (a 4xx): item errors reject their
// commands and the others go again; an error that names no item is isolated by splitting
// the batch in halves, down to the one command it concerns.
func (p *Pipeline) rejectOrSplit(ctx context.Context, k *kind, cmds []*command, err error) []*command {
	var apiErr *dsco.APIError
	errors.As(err, &apiErr)
	var byItem map[int][]dsco.BatchError
	batchID := ""
	if apiErr != nil {
		byItem, _ = attribute(apiErr.Errors, k.prop, len(cmds))
		batchID = apiErr.BatchID
	}
	if len(byItem) > 0 {
		var again []*command
		for i, c := range cmds {
			if errs := byItem[i]; len(errs) > 0 {
				c.out = itemOutcome(k, c, errs, batchID)
			} else {
				again = append(again, c)
			}
		}
		return again
	}
	if len(cmds) == 1 {
		c := cmds[0]
		c.out = Outcome{Status: StatusRejected, Reason: err.Error(), BatchID: batchID, Attempts: c.attempts}
		if apiErr != nil {
			c.out.Errors = apiErr.Errors
		}
		return nil
	}
	half := len(cmds) / 2
	p.send(ctx, k, cmds[:half])
	p.send(ctx, k, cmds[half:])
	return nil
}

// reconcile decides, for commands an earlier call may have applied, whether it did: it
// assigns outcomes to those it can decide and returns those to send (again).
func (p *Pipeline) reconcile(ctx context.Context, k *kind, cmds []*command) []*command {
	for _, c := range cmds {
		c.maybeApplied = true
	}
	switch k.redo {
	case redoResend, redoDuplicateApplied:
		p.metrics.reconciliations.WithLabelValues(k.name, "resend").Add(float64(len(cmds)))
		return cmds
	case redoUndecidable:
		for _, c := range cmds {
			c.out = Outcome{Status: StatusOutcomeUnknown, Attempts: c.attempts,
				Reason: ReasonOutcomeUnknown + ": a " + k.name + " call may have been applied and Dsco's state cannot tell; not sent again"}
		}
		p.metrics.reconciliations.WithLabelValues(k.name, "undecidable").Add(float64(len(cmds)))
		return nil
	}
	// redoReadOrder: read each order once.
	orders := make(map[string]*dsco.Order)
	var again []*command
	for _, c := range cmds {
		id := k.orderID(c.item)
		o, ok := orders[id]
		if !ok {
			var err error
			o, err = p.readOrder(ctx, id)
			if err != nil {
				if ctx.Err() != nil || Classify(err) == Stopped {
					return nil
				}
				c.out = Outcome{Status: StatusOutcomeUnknown, Attempts: c.attempts,
					Reason: ReasonOutcomeUnknown + ": a " + k.name + " call may have been applied and reading order " + id + " back failed: " + err.Error()}
				p.metrics.reconciliations.WithLabelValues(k.name, "undecidable").Inc()
				continue
			}
			orders[id] = o
		}
		if o != nil && k.applied(o, c.item) {
			p.reconciled(k, c, id)
			continue
		}
		p.metrics.reconciliations.WithLabelValues(k.name, "resend").Inc()
		again = append(again, c)
	}
	return again
}

// reconciled gives c, whose order id reads back with its effect, its applied outcome.
func (p *Pipeline) reconciled(k *kind, c *command, id string) {
	c.out = Outcome{Status: StatusApplied, Reason: "reconciled: order " + id + " shows the command applied", Attempts: c.attempts}
	p.metrics.reconciliations.WithLabelValues(k.name, "applied").Inc()
}

// readOrder reads an order back for reconciliation, retrying transient failures within
// the retry budget; an order Dsco does not know is nil (the write did not create it). A
// shutdown ends the retries (see backoff) with ErrClosed. The read goes through the
// breaker as the writes do: its failures say Dsco is unwell and count toward opening it
// (its answers do not count: they would close the count of a run of failing writes), and
// while the breaker holds Dsco for down the read waits for it, without spending the
// budget, as the commands do (see pause): Dsco down altogether, reads and writes alike,
// poisoned every command it had left unknown as outcome_unknown, and one per trial call
// after, instead of waiting for Dsco to tell.
func (p *Pipeline) readOrder(ctx context.Context, id string) (*dsco.Order, error) {
	r := p.cfg.Retry
	delay := r.BaseDelay
	for attempt := 1; ; {
		var o *dsco.Order
		var err error
		_, berr := p.breaker.Execute(func() (*dsco.BatchResponse, error) {
			if o, err = p.cfg.Client.SupplierGetOrder(ctx, id); dscoUnwell(err) {
				return nil, err
			}
			return nil, errAnswered
		})
		if breakerRefused(berr) {
			err = berr
		}
		switch c := Classify(err); {
		case err == nil:
			return o, nil
		case errors.Is(err, dsco.ErrNotFound):
			return nil, nil
		case c == Paused || c == Retryable && p.breaker.State() != gobreaker.StateClosed:
			// Dsco down: wait for the breaker's trial, the budget unspent.
			if !p.backoff(ctx, min(p.cfg.Breaker.OpenTimeout, time.Second)) {
				return nil, ErrClosed
			}
			continue
		case c != Retryable || attempt >= r.MaxAttempts:
			return nil, err
		}
		p.logger.Debug("Reading an order back failed; trying again", watermill.LogFields{"order": id, "err": err.Error()})
		if !p.backoff(ctx, time.Duration(rand.Int64N(int64(delay))+1)) {
			return nil, ErrClosed
		}
		delay = min(2*delay, r.MaxDelay)
		attempt++
	}
}

// errAnswered stands, toward the breaker, for a read Dsco answered (see readOrder), which
// it leaves out of its counts.
var errAnswered = errors.New("outbound: read answered")

// dscoUnwell reports whether err is a failure the breaker counts toward opening: Dsco,
// or the connector's credentials, unwell (see Config.Breaker).
func dscoUnwell(err error) bool {
	c := Classify(err)
	return c == Retryable || c == Unknown
}
