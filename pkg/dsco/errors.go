package dsco

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"strconv"
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
	// ErrAnswerUnreadable matches an *AnswerUnreadableError: a write that
	// took effect although its answer could not be read.
	ErrAnswerUnreadable = errors.New("dsco: applied, but the answer is unreadable")
	// ErrInvalidRequest matches a request the client refused to send
	// because it breaks a rule of the contract; it is never retryable.
	ErrInvalidRequest = errors.New("dsco: invalid request")
	// ErrAnswerTooLarge is the error of a read whose answer is larger than
	// the client reads into memory (64 MiB): the same request fails again;
	// ask for less (a smaller limit). A *LineTooLongError, a line of an
	// inventory file, matches it too.
	ErrAnswerTooLarge = errors.New("dsco: the answer is larger than the client reads")
	// ErrToken matches a call that failed because no access token could be
	// had (the token endpoint refused the credentials, or could not be
	// reached): nothing of the call itself was sent. The error also matches
	// the token endpoint's own failure (an *APIError, a *NetworkError), which
	// says nothing of the call's request.
	ErrToken = errors.New("getting an access token")
	// ErrClosed matches a call refused because its Client was closed, or
	// that had a further request to send (a retry, a token request) when it
	// was. It is never retryable.
	ErrClosed = errors.New("dsco: client closed")
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
// and every 5xx but 501, 505 and 511 (the server does not do the method or
// the HTTP version; a proxy wants the network signed in to), the codes that
// gateways and CDNs answer outside the RFCs included (Cloudflare's 520 to
// 527, a proxy's 598 and 599): a server failing, or a gateway between the
// connector and Dsco, is not a verdict on the request.
func (e *APIError) Retryable() bool { return retryableStatus(e.StatusCode) }

func retryableStatus(code int) bool {
	switch code {
	case http.StatusRequestTimeout, http.StatusTooManyRequests:
		return true
	case http.StatusNotImplemented, http.StatusHTTPVersionNotSupported, http.StatusNetworkAuthenticationRequired:
		return false
	}
	return code >= 500 && code < 600
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

// LineTooLongError is a line of an inventory file longer than the client
// reads into memory (64 MiB, or WithMaxFileLine), its newline counted.
// DownloadInventoryFileRaw yields it in the line's place, with the start of
// the line and a sum of all of it, and goes on with the next line: the
// other lines of the file are not lost to one that cannot be held.
// errors.Is(err, ErrAnswerTooLarge) matches it; it is not retryable (the
// file is the same when downloaded again).
type LineTooLongError struct {
	Operation string
	// Line is the line's number in the file, from 1; Offset is the position
	// of its first byte in the file.
	Line   int64
	Offset int64
	// Length is the line's length in bytes, its newline not counted; Limit
	// is the longest line the client reads, its newline counted.
	Length int64
	Limit  int
	// Head is the start of the line, at most 64 KiB of it. Like a chunk, it
	// is valid until the iteration goes on.
	Head []byte
	// Sum is the 64-bit FNV-1a hash of the whole line, its newline not
	// counted: the line's identity, where its bytes cannot be kept.
	Sum uint64
}

func (e *LineTooLongError) Error() string {
	return fmt.Sprintf("dsco: %s: line %d of the file (at byte %d) is %d bytes long: with its newline it passes the %d bytes the client reads",
		e.Operation, e.Line, e.Offset, e.Length, e.Limit)
}

// Is reports whether target is ErrAnswerTooLarge.
func (e *LineTooLongError) Is(target error) bool { return target == ErrAnswerTooLarge }

// OutcomeUnknownError is a write (a batch POST, or createStream) that may
// have reached Dsco before the connection failed or the context ended, that
// Dsco answered with 500 or a gateway with 502, 504 or another 5xx that does
// not say the request was not handled (all but 501, 503, 505 and 511, and a
// CDN's 521, 523, 525 and 526, which say it made no connection to Dsco; 522
// does not, as it also answers a request sent that Dsco did not acknowledge),
// or whose 2xx answer was cut off or unreadable. Dsco may or may not have
// applied it, in whole or in part; it has no idempotency keys, so the client
// does not send it again. errors.Is(err, ErrOutcomeUnknown) matches it, and
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

// AnswerUnreadableError is a write whose 2xx answer alone says that it took
// effect as a whole, but whose body was cut off or could not be decoded.
// Unlike an OutcomeUnknownError there is nothing to decide: the write was
// applied, only its details are missing. The one such write is createStream:
// the stream exists, and ListStreams finds it (same object type and query
// parameters) with its id and positions; creating it again would make a
// second stream. errors.Is(err, ErrAnswerUnreadable) matches it, it does not
// match ErrOutcomeUnknown, and IsRetryable reports false.
type AnswerUnreadableError struct {
	Operation string
	Err       error
}

func (e *AnswerUnreadableError) Error() string {
	return fmt.Sprintf("dsco: %s: applied, but the answer is unreadable: %v", e.Operation, e.Err)
}

// Unwrap returns the cause.
func (e *AnswerUnreadableError) Unwrap() error { return e.Err }

// Is matches ErrAnswerUnreadable.
func (e *AnswerUnreadableError) Is(target error) bool { return target == ErrAnswerUnreadable }

// certificateRefused reports whether err is the server's certificate failing
// verification (an unknown authority, another host name, expired): a setting
// to mend (the URL, the trusted authorities), not a failure that passes.
func certificateRefused(err error) bool {
	_, ok := errors.AsType[*tls.CertificateVerificationError](err)
	return ok
}

// IsRetryable is the one classifier of the client's errors: it reports
// whether sending the same request again later may succeed. True for network
// errors on requests Dsco did not act on, 408, 429 and every 5xx but 501,
// 505 and 511 (APIError.Retryable); false for an outcome-unknown write (it
// needs a decision: see OutcomeUnknownError for the statuses), every other 4xx
// and 5xx, invalid requests, a closed client (ErrClosed),
// decoding errors, a token answer without a token, a server certificate that
// does not verify, and a cancelled context.
func IsRetryable(err error) bool {
	if err == nil || errors.Is(err, ErrOutcomeUnknown) || errors.Is(err, context.Canceled) || errors.Is(err, ErrClosed) {
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

// FieldError is a value in an answer from Dsco that does not fit the field
// of the model it is decoded into: an integer beyond the range of the
// field's type (int64 for the models' int fields), a number with a fraction
// where an integer is declared, a timestamp in none of the forms ParseTime
// accepts, or a value of another JSON type than declared. The client returns
// it, wrapped with the operation, instead of encoding/json's own error, so
// that the message names the field; errors.As finds it, and Unwrap gives the
// *json.UnmarshalTypeError it was made from.
type FieldError struct {
	// Model is the model decoded, such as "Order" or "StreamEvents".
	Model string
	// Field is the dotted path of the field within Model, such as
	// "items.quantity" (array indexes are not part of it).
	Field string
	// Reason says what is wrong, such as "the number 99999999999999999999
	// is out of the range of int64".
	Reason string
	Err    error
}

func (e *FieldError) Error() string {
	return fmt.Sprintf("dsco: %s.%s: %s", e.Model, e.Field, e.Reason)
}

// Unwrap returns the *json.UnmarshalTypeError.
func (e *FieldError) Unwrap() error { return e.Err }

// fieldError turns encoding/json's *json.UnmarshalTypeError in err into a
// *FieldError whose model is the type of v (the top-level value decoded);
// other errors are returned as they are.
func fieldError(err error, v any) error {
	te, ok := errors.AsType[*json.UnmarshalTypeError](err)
	if !ok {
		return err
	}
	model := te.Struct
	if t := reflect.TypeOf(v); t != nil {
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		if t.Name() != "" {
			model = t.Name()
		}
	}
	fe := &FieldError{Model: model, Field: te.Field, Err: err}
	num, isNumber := strings.CutPrefix(te.Value, "number ")
	switch {
	case isNumber && te.Type != nil && isIntKind(te.Type.Kind()):
		if strings.ContainsAny(num, ".eE") {
			fe.Reason = fmt.Sprintf("the number %s is not an integer", num)
		} else {
			fe.Reason = fmt.Sprintf("the number %s is out of the range of %s", num, intRange(te.Type))
		}
	case strings.HasPrefix(te.Value, "timestamp "):
		fe.Reason = "the " + te.Value + " is not a Dsco timestamp"
	default:
		typ := "?"
		if te.Type != nil {
			typ = te.Type.String()
		}
		fe.Reason = fmt.Sprintf("a JSON %s cannot be decoded into %s", te.Value, typ)
	}
	return fe
}

func isIntKind(k reflect.Kind) bool {
	switch k {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return true
	}
	return false
}

// intRange names an integer type by its size: "int64" for int on 64-bit
// platforms.
func intRange(t reflect.Type) string {
	prefix := "int"
	if t.Kind() >= reflect.Uint && t.Kind() <= reflect.Uint64 {
		prefix = "uint"
	}
	return prefix + strconv.Itoa(t.Bits())
}
