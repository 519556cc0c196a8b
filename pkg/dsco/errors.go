package dsco

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// Sentinel errors. Test for them with errors.Is; an *APIError matches the one
// of its status code.
var (
	// ErrBadRequest matches an HTTP 400: Dsco rejected the request as a
	// whole and applied nothing.
	ErrBadRequest = errors.New("dsco: bad request")
	// ErrUnauthorized matches an HTTP 401: missing, invalid or expired
	// bearer token, or wrong client credentials at the token endpoint.
	ErrUnauthorized = errors.New("dsco: unauthorized")
	// ErrForbidden matches an HTTP 403, such as a supplier call with a
	// retailer token.
	ErrForbidden = errors.New("dsco: forbidden")
	// ErrNotFound matches an HTTP 404.
	ErrNotFound = errors.New("dsco: not found")
	// ErrGone matches an HTTP 410, such as an expired inventory file.
	ErrGone = errors.New("dsco: gone")
	// ErrPositionExpired matches an HTTP 410 from getStreamEvents whose
	// error code is POSITION_EXPIRED: the position is older than the
	// stream's retention and the events after it are no longer there.
	ErrPositionExpired = errors.New("dsco: stream position expired")
	// ErrRateLimited matches an HTTP 429.
	ErrRateLimited = errors.New("dsco: rate limited")
	// ErrOutcomeUnknown matches an *OutcomeUnknownError.
	ErrOutcomeUnknown = errors.New("dsco: outcome unknown")
	// ErrInvalidRequest matches a request the client refused to send
	// because it breaks a rule of the contract; it is never retryable.
	ErrInvalidRequest = errors.New("dsco: invalid request")
)

// APIError is a non-2xx answer from Dsco, after the client's own retries.
type APIError struct {
	// Operation is the contract's operationId, or "getItemInventory" and
	// "downloadInventoryFile" for the extension calls.
	Operation  string
	StatusCode int
	// Code is Dsco's error code, from the OAuth2 "error" attribute or the
	// first BatchError that has one.
	Code string
	// BatchID and Errors come from the BatchResponse in the body, if any.
	BatchID string
	Errors  []BatchError
	// RetryAfter is the delay the Retry-After header asked for, or 0.
	RetryAfter time.Duration
}

func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "dsco: %s: HTTP %d %s", e.Operation, e.StatusCode, http.StatusText(e.StatusCode))
	for i, be := range e.Errors {
		if i == 3 {
			fmt.Fprintf(&b, "; and %d more", len(e.Errors)-i)
			break
		}
		b.WriteString("; ")
		b.WriteString(be.String())
	}
	if len(e.Errors) == 0 && e.Code != "" {
		b.WriteString(": ")
		b.WriteString(e.Code)
	}
	return b.String()
}

// Is makes errors.Is(err, ErrNotFound) and the other sentinels work.
func (e *APIError) Is(target error) bool {
	switch target {
	case ErrBadRequest:
		return e.StatusCode == http.StatusBadRequest
	case ErrUnauthorized:
		return e.StatusCode == http.StatusUnauthorized
	case ErrForbidden:
		return e.StatusCode == http.StatusForbidden
	case ErrNotFound:
		return e.StatusCode == http.StatusNotFound
	case ErrGone:
		return e.StatusCode == http.StatusGone
	case ErrPositionExpired:
		return e.StatusCode == http.StatusGone && e.Code == "POSITION_EXPIRED"
	case ErrRateLimited:
		return e.StatusCode == http.StatusTooManyRequests
	}
	return false
}

// Retryable reports whether the same request may succeed later: 408, 429,
// 500, 502, 503 and 504.
func (e *APIError) Retryable() bool { return retryableStatus(e.StatusCode) }

func retryableStatus(code int) bool {
	switch code {
	case http.StatusRequestTimeout, http.StatusTooManyRequests,
		http.StatusInternalServerError, http.StatusBadGateway,
		http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

// NetworkError is a request that failed without an HTTP answer and that the
// client knows Dsco did not act on: a read, the token request, a position
// update, or a write that was never sent (for example the dial was refused).
// It is retryable.
type NetworkError struct {
	Operation string
	Err       error
}

func (e *NetworkError) Error() string {
	return fmt.Sprintf("dsco: %s: %v", e.Operation, e.Err)
}

// Unwrap returns the cause.
func (e *NetworkError) Unwrap() error { return e.Err }

// OutcomeUnknownError is a write (a batch POST, or createStream) that may
// have reached Dsco before the connection failed or the context ended, that
// Dsco answered with 500 or a gateway with 502 or 504, or whose 2xx answer
// was cut off or unreadable. Dsco may or may not have applied it, in whole or in part; it
// has no idempotency keys, so the client does not send it again. errors.Is(err, ErrOutcomeUnknown) matches it, and
// IsRetryable reports false: the caller must decide (for example look the
// orders up, or send again where repeating is harmless).
type OutcomeUnknownError struct {
	Operation string
	Err       error
}

func (e *OutcomeUnknownError) Error() string {
	return fmt.Sprintf("dsco: %s: outcome unknown, the request may have been applied: %v", e.Operation, e.Err)
}

// Unwrap returns the cause.
func (e *OutcomeUnknownError) Unwrap() error { return e.Err }

// Is matches ErrOutcomeUnknown.
func (e *OutcomeUnknownError) Is(target error) bool { return target == ErrOutcomeUnknown }

// IsRetryable is the one classifier of the client's errors: it reports
// whether sending the same request again later may succeed. True for network
// errors on requests Dsco did not act on, 408, 429 and 5xx; false for an
// outcome-unknown write (it needs a decision), other 4xx, invalid requests,
// decoding errors and a cancelled context.
func IsRetryable(err error) bool {
	if err == nil || errors.Is(err, ErrOutcomeUnknown) || errors.Is(err, context.Canceled) {
		return false
	}
	if apiErr, ok := errors.AsType[*APIError](err); ok {
		return apiErr.Retryable()
	}
	if _, ok := errors.AsType[*NetworkError](err); ok {
		return true
	}
	return false
}
