package outbound

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/sony/gobreaker/v2"

	"github.com/dscokafka/connector/pkg/dsco"
	"github.com/dscokafka/connector/pkg/kafka"
	"github.com/dscokafka/connector/pkg/schemas"
)

// Status is what became of a command: the CommandStatus of its result record
// (schemas.CommandStatus is the one definition; CommandResult.outcome is derived
// from it by CommandStatus.Outcome for readers on the older schema).
type Status = schemas.CommandStatus

// The statuses of a command's outcome.
const (
	// StatusApplied: Dsco answered the batch as completed with no error for the command,
	// or reconciliation found the command's effect in Dsco.
	StatusApplied = schemas.StatusApplied
	// StatusQueued: Dsco answered accepted or processing: queued, not yet confirmed.
	StatusQueued = schemas.StatusQueued
	// StatusRejected: the command is invalid and will never succeed as it is (the
	// connector's validation, an item error, a non-retryable 4xx). Also poisoned.
	StatusRejected = schemas.StatusRejected
	// StatusFailed: transient failures outlasted the retry budget. Also poisoned.
	StatusFailed = schemas.StatusFailed
	// StatusOutcomeUnknown: the write may or may not have been applied and Dsco's state
	// cannot tell. Also poisoned, with reason outcome_unknown.
	StatusOutcomeUnknown = schemas.StatusOutcomeUnknown
)

// poisoned reports whether the status sends the command to the poison topic.
func poisoned(s Status) bool {
	return s == StatusRejected || s == StatusFailed || s == StatusOutcomeUnknown
}

// ReasonOutcomeUnknown starts the reason of a command poisoned because its outcome could
// not be decided.
const ReasonOutcomeUnknown = "outcome_unknown"

// Outcome is the outcome of one command.
type Outcome struct {
	Status Status
	// Reason says why a command was rejected, failed or is unknown; for queued commands
	// Dsco's batch status.
	Reason string
	// BatchID is Dsco's id of the batch that carried the command, when there was one.
	BatchID string
	// Errors are Dsco's errors for the command's item.
	Errors []dsco.BatchError
	// Attempts is how many Dsco calls carried the command.
	Attempts int
}

// Class is the classification of a failure.
type Class int

// The failure classes.
const (
	// Permanent: the same request will fail again; reject the command.
	Permanent Class = iota + 1
	// Retryable: Dsco did not act on the request and may accept it later.
	Retryable
	// Unknown: Dsco may have applied the request; never send it again blindly.
	Unknown
	// Paused: the circuit breaker is open; wait without spending the retry budget.
	Paused
	// Stopped: the pipeline is shutting down; the command gets no outcome and Kafka
	// delivers it again.
	Stopped
)

// Classify is the one place that classifies failures: of decoding, of the Dsco client and
// of the breaker. Only a cancellation is Stopped: a timeout (a dial, an answer too slow,
// context.DeadlineExceeded in the chain) is Dsco or the network failing, classified like
// any other failure of the call.
func Classify(err error) Class {
	switch {
	case err == nil:
		return 0
	case errors.Is(err, context.Canceled), errors.Is(err, ErrClosed), errors.Is(err, dsco.ErrClosed):
		// dsco.ErrClosed: the client was closed before the call could send (again). It
		// wraps the call's last failure too, which must not decide: nothing was.
		return Stopped
	case breakerRefused(err):
		return Paused
	case credentialsRefused(err):
		// The connector's own credentials, refused (or the token endpoint down): not a
		// verdict on the commands, which wait (the breaker opens) until they are mended.
		return Retryable
	case errors.Is(err, dsco.ErrOutcomeUnknown):
		return Unknown
	case dsco.IsRetryable(err):
		return Retryable
	case errors.Is(err, kafka.ErrUnmarshal), schemas.IsPermanent(err), errors.Is(err, ErrInvalidCommand):
		return Permanent
	}
	var apiErr *dsco.APIError
	if errors.As(err, &apiErr) {
		return Permanent // every other HTTP status is a final answer
	}
	if errors.Is(err, dsco.ErrInvalidRequest) {
		return Permanent
	}
	// Anything else (a registry that cannot be reached, an unexpected error of the
	// transport) may pass: retry.
	return Retryable
}

// breakerRefused reports whether err is the breaker refusing a call (open, or half-open
// with its trial under way): no call was made.
func breakerRefused(err error) bool {
	return errors.Is(err, gobreaker.ErrOpenState) || errors.Is(err, gobreaker.ErrTooManyRequests)
}

// credentialsRefused reports whether err says the connector has no access token Dsco
// takes: none could be had (dsco.ErrToken), or Dsco answered 401 to the one it sent, after
// the client's one refresh (a revoked token, a static token that expired).
func credentialsRefused(err error) bool {
	return errors.Is(err, dsco.ErrToken) || errors.Is(err, dsco.ErrUnauthorized)
}

// ErrClosed is returned by a handler when the pipeline was closed before its command had an
// outcome; Kafka delivers the command again.
var ErrClosed = errors.New("outbound: pipeline closed")

// ErrInvalidCommand matches every *ValidationError.
var ErrInvalidCommand = errors.New("outbound: invalid command")

// ValidationError is a command the connector refuses to send: Field names the offending
// field of the command record.
type ValidationError struct {
	Command string // command name, e.g. "ship"
	Field   string
	Reason  string
}

func (e *ValidationError) Error() string {
	return fmt.Sprintf("invalid %s command: %s: %s", e.Command, e.Field, e.Reason)
}

// Is matches ErrInvalidCommand.
func (e *ValidationError) Is(target error) bool { return target == ErrInvalidCommand }

// fillResult is the one mapping from an outcome to the CommandResult record: it sets *r to
// the result of c's outcome (r's Errors storage used again; Reason and BatchID point into
// c.out). The schema's outcome enum has accepted, rejected and failed: applied and queued
// are accepted (the reason says queued), outcome_unknown is failed with a reason starting
// "outcome_unknown".
func fillResult(r *schemas.CommandResult, c *command, now time.Time) *schemas.CommandResult {
	o := &c.out
	errs := r.Errors[:0]
	*r = schemas.CommandResult{
		CommandID:       c.id,
		CorrelationID:   c.correlationID,
		CommandType:     c.kind.name,
		Attempts:        int32(o.Attempts),
		SourceTopic:     c.rec.Topic,
		SourcePartition: int32(c.rec.Partition),
		SourceOffset:    c.rec.Offset,
		Time:            now.UTC().Truncate(time.Millisecond),
		Status:          o.Status,
		Outcome:         o.Status.Outcome(),
	}
	if o.Reason != "" {
		r.Reason = &o.Reason
	}
	if o.BatchID != "" {
		r.BatchID = &o.BatchID
	}
	for _, e := range o.Errors {
		errs = append(errs, schemas.BatchError{Code: nonEmpty(e.Code), Message: nonEmpty(e.Message), Field: nonEmpty(e.Field)})
	}
	if len(errs) > 0 {
		r.Errors = errs
	}
	return r
}

func nonEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// errorsReason renders Dsco's item errors as a reason.
func errorsReason(errs []dsco.BatchError) string {
	parts := make([]string, len(errs))
	for i, e := range errs {
		parts[i] = e.String()
	}
	return "dsco: " + strings.Join(parts, "; ")
}
