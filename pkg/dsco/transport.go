package dsco

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"regexp"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// operation describes one kind of call.
type operation struct {
	name  string // the contract's operationId
	group Group
	// write marks a batch POST: Dsco has no idempotency keys, so once such
	// a request may have reached Dsco it is never sent again.
	write bool
	// noAuth: no bearer token (the inventory file download).
	noAuth bool
	// answerMeansApplied: a 2xx answer alone says the write took effect
	// as a whole (createStream), so an answer that cannot be decoded is
	// not an unknown outcome.
	answerMeansApplied bool
}

// maxBody bounds the bodies the client reads into memory.
const maxBody = 64 << 20

var bufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

func getBuf() *bytes.Buffer { return bufPool.Get().(*bytes.Buffer) }

func putBuf(b *bytes.Buffer) {
	if b.Cap() > 1<<20 { // do not keep rare huge buffers alive
		return
	}
	b.Reset()
	bufPool.Put(b)
}

// call sends in (if not nil) as JSON and decodes a 2xx answer into out (if
// not nil).
func (c *Client) call(ctx context.Context, op *operation, method, path string, query url.Values, in, out any) error {
	var body []byte
	if in != nil {
		var err error
		if body, err = json.Marshal(in); err != nil {
			return fmt.Errorf("dsco: %s: encoding request: %w", op.name, err)
		}
	}
	u := c.base + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	resp, err := c.send(ctx, op, method, u, body)
	if err != nil {
		return err
	}
	defer c.closeBody(resp.Body)
	buf := getBuf()
	defer putBuf(buf)
	n, err := buf.ReadFrom(io.LimitReader(resp.Body, maxBody+1))
	if err == nil && n > maxBody {
		err = fmt.Errorf("%w: more than %d bytes", ErrAnswerTooLarge, maxBody)
		if !op.write {
			return fmt.Errorf("dsco: %s: %w", op.name, err) // asking again gets the same
		}
	}
	if err != nil {
		if op.answerMeansApplied {
			return &AnswerUnreadableError{Operation: op.name, Err: fmt.Errorf("reading the answer: %w", err)}
		}
		if op.write {
			return &OutcomeUnknownError{Operation: op.name, Err: fmt.Errorf("reading the answer: %w", err)}
		}
		return &NetworkError{Operation: op.name, Err: fmt.Errorf("reading the answer: %w", err)}
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(buf.Bytes(), out); err != nil {
		err = fieldError(err, out)
		if op.write {
			if op.answerMeansApplied {
				return &AnswerUnreadableError{Operation: op.name, Err: fmt.Errorf("decoding the answer: %w", err)}
			}
			// Dsco accepted the batch, but which items failed is unknown.
			return &OutcomeUnknownError{Operation: op.name, Err: fmt.Errorf("decoding the answer: %w", err)}
		}
		return fmt.Errorf("dsco: %s: decoding the answer: %w", op.name, err)
	}
	return nil
}

// send does one call with retries and returns a 2xx response whose body the
// caller must close. It refreshes the token once on a 401, retries
// retryable failures within the retry policy, and never sends a write again
// once it may have reached Dsco.
func (c *Client) send(ctx context.Context, op *operation, method, rawURL string, body []byte) (*http.Response, error) {
	start := c.now()
	refreshed := false
	var prev error // the failure of the attempt before
	for attempt := 1; ; attempt++ {
		if c.life.Err() != nil {
			if prev != nil {
				return nil, fmt.Errorf("dsco: %s: %w (last failure: %w)", op.name, ErrClosed, prev)
			}
			return nil, fmt.Errorf("dsco: %s: %w", op.name, ErrClosed)
		}
		if err := c.limits[op.group].Wait(ctx); err != nil {
			return nil, fmt.Errorf("dsco: %s: waiting for the rate limit: %w", op.name, err)
		}
		var token string
		if !op.noAuth {
			var err error
			if token, err = c.auth.token(ctx); err != nil {
				return nil, fmt.Errorf("dsco: %s: %w: %w", op.name, ErrToken, err)
			}
		}
		var wrote atomic.Bool
		trace := &httptrace.ClientTrace{
			// Called once the request, or possibly part of it, is on the
			// wire: from then on Dsco may act on it.
			WroteRequest: func(httptrace.WroteRequestInfo) { wrote.Store(true) },
		}
		var rd io.Reader
		if body != nil {
			rd = bytes.NewReader(body)
		}
		req, err := http.NewRequestWithContext(httptrace.WithClientTrace(ctx, trace), method, rawURL, rd)
		if err != nil {
			return nil, fmt.Errorf("dsco: %s: %w", op.name, err)
		}
		if op.write {
			// Without GetBody net/http cannot send the body again by itself: its
			// HTTP/2 transport resends a request whose stream was reset (for
			// instance with PROTOCOL_ERROR) inside Do, after Dsco may have acted
			// on it, where the WroteRequest guard above cannot see it. Whether
			// to send a write again is decided here alone (see notProcessed for
			// the resends that are safe).
			req.GetBody = nil
		}
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		req.Header.Set("Accept", "application/json")
		req.Header.Set("User-Agent", c.ua)
		if token != "" {
			setAuth(req.Header, token)
		}

		resp, err := c.hc.Do(req)
		var lastErr error
		var retryAfter time.Duration
		switch {
		case err != nil:
			cause := unwrapURLError(err)
			if op.write && wrote.Load() && !notProcessed(err) {
				return nil, &OutcomeUnknownError{Operation: op.name, Err: cause}
			}
			if ctx.Err() != nil {
				return nil, fmt.Errorf("dsco: %s: %w", op.name, context.Cause(ctx))
			}
			if certificateRefused(cause) {
				return nil, fmt.Errorf("dsco: %s: %w", op.name, cause)
			}
			lastErr = &NetworkError{Operation: op.name, Err: cause}
		case resp.StatusCode >= 200 && resp.StatusCode < 300:
			return resp, nil
		default:
			apiErr := c.readAPIError(op, resp)
			if apiErr.StatusCode == http.StatusUnauthorized && !op.noAuth && !refreshed {
				refreshed = true
				ok, err := c.auth.refresh(ctx, token)
				if err != nil {
					return nil, fmt.Errorf("dsco: %s: %w: %w", op.name, ErrToken, err)
				}
				if ok {
					c.log.DebugContext(ctx, "dsco: token refreshed after 401", "operation", op.name)
					attempt-- // the refresh-and-retry is not a retry attempt
					continue
				}
			}
			if op.write && writeMayHaveActed(apiErr.StatusCode) {
				return nil, &OutcomeUnknownError{Operation: op.name, Err: apiErr}
			}
			if !apiErr.Retryable() {
				return nil, apiErr
			}
			lastErr, retryAfter = apiErr, apiErr.RetryAfter
		}
		delay, ok := c.nextDelay(attempt, start, retryAfter)
		if !ok {
			return nil, lastErr
		}
		prev = lastErr
		c.log.WarnContext(ctx, "dsco: retrying", "operation", op.name, "attempt", attempt, "delay", delay, "error", lastErr)
		if err := c.sleep(ctx, delay); err != nil {
			return nil, fmt.Errorf("dsco: %s: %w (last failure: %w)", op.name, err, lastErr)
		}
	}
}

// notProcessed reports whether err, from http.Client.Do, is net/http's HTTP/2 transport
// saying that the server did not process the request, although it was written: a GOAWAY
// whose last stream ID is below the request's, or RST_STREAM REFUSED_STREAM (RFC 9113
// sections 6.8 and 8.7). net/http sends such a request again by itself only when it can
// rewind the body, which writes do not allow (see send). It tells these cases apart from
// a reset after which the server may have acted only in the text of its errors, which are
// unexported and not wrapped: the match is anchored at the start of that text, so that
// what a server puts in a GOAWAY's debug data cannot make a processed write look
// unprocessed. TestHTTP2Resets pins the texts for the Go in use.
func notProcessed(err error) bool {
	ue, ok := errors.AsType[*url.Error](err)
	return ok && notProcessedText.MatchString(ue.Err.Error())
}

var notProcessedText = regexp.MustCompile(`^http2: Transport(: cannot retry err \[(http2: Transport received Server's graceful shutdown GOAWAY\]|stream error: stream ID \d+; REFUSED_STREAM[;\]])| received GOAWAY from server ErrCode:)`)

// writeMayHaveActed reports whether a status leaves open whether Dsco applied the write:
// 500 (Dsco failed while handling it, possibly after applying part of it), 502 and 504 (a
// gateway answered; the request may have reached Dsco), and every other 5xx but those
// that say the request was not handled: the codes gateways and CDNs answer outside the
// RFCs (Cloudflare's 520 and 524, an origin that answered nothing or too late; a proxy's
// 598 and 599) are as much a gateway giving up on a request it passed on. Read as a final
// answer, the batch would be rejected, or split and its halves sent again, applying its
// commands twice. 408, 429, 501, 503, 505 and 511 say the request was not handled, and so
// do the Cloudflare codes for a connection to the origin that was never made, over which
// no request went: 521 (the origin refused the connection), 523 (no route to the origin),
// 525 (the TLS handshake with the origin failed) and 526 (the origin's certificate did not
// validate, so no secure connection was made); see
// https://developers.cloudflare.com/support/troubleshooting/http-status-codes/cloudflare-5xx-errors/
// (error-521, -523, -525, -526). A write answered with them is sent again if it is
// retryable (APIError.Retryable: all of them but 501, 505 and 511). Not 522:
// besides a TCP handshake that timed out, Cloudflare answers it when the origin did not
// acknowledge a request sent over a connection already made (error-522), a request the
// origin may have received and acted on while its answers were lost.
func writeMayHaveActed(status int) bool {
	switch status {
	case http.StatusNotImplemented, http.StatusServiceUnavailable, http.StatusHTTPVersionNotSupported, http.StatusNetworkAuthenticationRequired,
		521, 523, 525, 526:
		return false
	}
	return status >= 500 && status < 600
}

// nextDelay returns the delay before the try after attempt, or false when
// the policy allows no further try.
func (c *Client) nextDelay(attempt int, start time.Time, retryAfter time.Duration) (time.Duration, bool) {
	if attempt >= c.retry.MaxAttempts {
		return 0, false
	}
	delay := retryAfter
	if delay <= 0 {
		delay = c.backoff(attempt)
	}
	if c.now().Add(delay).Sub(start) > c.retry.MaxElapsed {
		return 0, false
	}
	return delay, true
}

// readAPIError reads and closes a non-2xx response.
func (c *Client) readAPIError(op *operation, resp *http.Response) *APIError {
	defer c.closeBody(resp.Body)
	e := &APIError{Operation: op.name, StatusCode: resp.StatusCode}
	e.RetryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), c.now())
	buf := getBuf()
	defer putBuf(buf)
	_, _ = buf.ReadFrom(io.LimitReader(resp.Body, 1<<20))
	var br BatchResponse
	if json.Unmarshal(buf.Bytes(), &br) == nil {
		e.BatchID, e.Errors = br.BatchID, br.Errors
		for _, be := range br.Errors {
			if be.Code != "" {
				e.Code = be.Code
				break
			}
		}
		if raw, ok := br.Extra["error"]; ok && e.Code == "" { // OAuth2 style
			_ = json.Unmarshal(raw, &e.Code)
		}
	}
	return e
}

// parseRetryAfter reads a Retry-After value in seconds or as an HTTP date.
func parseRetryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(v); err == nil {
		if s < 0 {
			return 0
		}
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return d
		}
	}
	return 0
}

// unwrapURLError drops the *url.Error around a transport error: its text
// holds the request URL, whose query may carry callback header values.
func unwrapURLError(err error) error {
	if ue, ok := errors.AsType[*url.Error](err); ok {
		return fmt.Errorf("%s: %w", ue.Op, ue.Err)
	}
	return err
}
