// Package outbound turns command records read from Kafka into Dsco batch writes, with one
// result per command and no command applied twice.
//
// A [Pipeline] serves one record handler per command topic (see [Pipeline.Handler], for
// kafka.Subscriber.Consume). A handler call decodes its record with the [schemas.Serde],
// validates it ([Validate]), queues it for the batcher of its Dsco endpoint and returns;
// the record is done (acked) only once the command has its outcome and that outcome is in
// Kafka (the result record, the poison record where there is one, and the applied-ids
// store, all of a batch in one Kafka write), so the Kafka offset is committed only after
// the command's outcome is durable. pkg/router's Outbound consumes the command topics
// key-ordered: up to OutboundConfig.MaxInFlightPerPartition commands of a partition at
// once, one per record key, so commands on one order or sku stay in order; the batcher
// gathers them into one Dsco call per endpoint (Config.MaxBatchItems, MaxBatchBytes,
// MaxBatchWait). Commands decided without a call (invalid, already applied) are written
// with a batch too. Dsco's answer is mapped back to each command through the item index in
// each error's field path. An error that names no item, or a failed batch without an error
// for a command, leaves the commands without one of their own unclear: they are reconciled
// (as below) and those to send again are sent by halves, down to one command per call,
// whose answer decides it. A queued batch (accepted, processing) is not split: Dsco took
// it, and its commands are queued, the error in their results.
//
// Outcomes ([Status]): applied; queued (Dsco answered accepted or processing); rejected
// (validation, an item error, a non-retryable 4xx) and failed (retries exhausted, or an
// outcome that could not be decided) both go to the poison topic as well. Every failure is
// classified in one place, [Classify].
//
// Exactly-once effect toward Dsco: before a batch is sent, a "sending" mark for each of its
// commands is written to the applied-ids store ([Store], a compacted topic); after the
// outcome, "applied" or "released". A command redelivered by Kafka, or requeued, whose id
// is applied is not sent again (its result is written again): applied is final, no later
// mark takes its place (see [Store]). A partition that moves to another replica has its
// first command decided there only once that replica's store has read every mark in the
// topic ([Store.CatchUp], which pkg/router's Outbound calls as the partition is
// assigned): a command the replica before applied is found applied. One still marked
// "sending" (the process died during the call) is reconciled by reading Dsco's state
// first, exactly like a write the client reports as dsco.ErrOutcomeUnknown. Inventory, catalog and retailer catalog
// attribution commands get no "sending" mark: they are reconciled by sending them again,
// which is what a command without a mark gets anyway. A command delivered again while a
// call of this process still carries its earlier delivery (the Subscriber gave the record
// up DrainTimeout after a revocation, and the partition came back) waits for that call
// before it is reconciled or sent. Reconciliation per command:
//
//   - ship, cancel, acknowledge: the order read back (SupplierGetOrder) shows whether the
//     line is shipped or cancelled (a cancel of the whole order: the order is cancelled, or
//     has nothing left open and some of it cancelled), or the order acknowledged; read
//     once the answer came, and again right before a command is sent again after a
//     backoff or the breaker's pause, as a write a gateway gave up on (504) may land in
//     the meantime (where that second read fails, the command is sent);
//   - invoice and retailer order: sent again; DUPLICATE_INVOICE or ORDER_EXISTS for that
//     item means the first call applied it;
//   - inventory, catalog and retailer catalog attribution: setting the same values again is
//     harmless, so they are sent again;
//   - return, retailer return and retailer cancel: Dsco's state cannot tell whether this
//     command was applied, so they are poisoned with reason outcome_unknown.
//
// Shutdown (Pipeline.Close, or the end of Run's context) does not throw calls away: the
// pipeline stops taking commands (records not yet in a batch get ErrClosed, and Kafka
// delivers their commands again), but the batches already dispatched finish, their Dsco
// calls on a context the shutdown does not cancel, and their outcomes are completed as
// usual, so their records are done and their offsets can be committed; a call
// cut short would leave a "sending" mark, which makes a return, retailer return or
// retailer cancel outcome_unknown when delivered again. Waiting for a retry (a backoff, an
// open circuit breaker) is not part of finishing: such a batch is released, its commands
// marked released where Dsco certainly did not apply them. Config.CloseTimeout bounds the
// wait; past it the remaining calls are cancelled, and their commands are reconciled when
// delivered again, as after a crash (sent, if the client reports the request unsent).
//
// Result and poison records are written at least once (a crash between writing them and
// the offset commit writes them again, with the same key, the command id); Dsco's effects
// are exactly once within the store's retention (Config.Store).
package outbound
