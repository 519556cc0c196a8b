package dsco

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// tokenSource gives the bearer token of a call. Implementations are safe for
// concurrent use.
type tokenSource interface {
	// token returns a token that is valid for a while yet.
	token(ctx context.Context) (string, error)
	// refresh replaces bad, the token a call was answered 401 with, unless
	// another goroutine already did. ok is false when tokens cannot be
	// refreshed.
	refresh(ctx context.Context, bad string) (ok bool, err error)
	// stop waits for a token request under way, which the client's Close
	// ended; none starts after it.
	stop()
}

// staticToken is used through a pointer, so that printing a Client with
// fmt shows an address, not the token.
type staticToken struct{ value string }

func (t *staticToken) token(context.Context) (string, error)       { return t.value, nil }
func (*staticToken) refresh(context.Context, string) (bool, error) { return false, nil }
func (*staticToken) stop()                                         {}

// credentials holds the one token of a client that uses client credentials.
// At most one token request is in flight at any time: every caller that
// needs a new token while one is being fetched waits for that one.
type credentials struct {
	c      *Client
	cfg    clientcredentials.Config
	margin time.Duration

	mu       sync.Mutex
	cur      *cachedToken // nil: no usable token
	inflight *tokenCall
	stopped  bool           // no token request starts
	fetches  sync.WaitGroup // the token request's goroutine
}

type cachedToken struct {
	value     string
	refreshAt time.Time // zero: never expires
}

type tokenCall struct {
	done chan struct{}
	tok  *cachedToken
	err  error
}

func newCredentials(c *Client, id, secret, tokenURL string, margin time.Duration) *credentials {
	return &credentials{
		c: c,
		cfg: clientcredentials.Config{
			ClientID:     id,
			ClientSecret: secret,
			TokenURL:     tokenURL,
			// The contract sends client_id and client_secret in the form body;
			// auto-detection would cost a second request on every failure.
			AuthStyle: oauth2.AuthStyleInParams,
		},
		margin: margin,
	}
}

func (cr *credentials) token(ctx context.Context) (string, error) {
	cr.mu.Lock()
	if t := cr.cur; t != nil && (t.refreshAt.IsZero() || cr.c.now().Before(t.refreshAt)) {
		cr.mu.Unlock()
		return t.value, nil
	}
	call := cr.startLocked(ctx)
	cr.mu.Unlock()
	return cr.wait(ctx, call)
}

func (cr *credentials) refresh(ctx context.Context, bad string) (bool, error) {
	cr.mu.Lock()
	if cr.cur != nil && cr.cur.value != bad {
		cr.mu.Unlock() // another goroutine already replaced it
		return true, nil
	}
	cr.cur = nil
	call := cr.startLocked(ctx)
	cr.mu.Unlock()
	_, err := cr.wait(ctx, call)
	return true, err
}

// startLocked joins the token request in flight or starts one. The request
// runs detached from ctx so that one caller giving up does not fail the
// others; it is bounded by the retry policy and a time limit.
func (cr *credentials) startLocked(ctx context.Context) *tokenCall {
	if cr.inflight != nil {
		return cr.inflight
	}
	call := &tokenCall{done: make(chan struct{})}
	if cr.stopped {
		call.err = fmt.Errorf("dsco: %s: %w", opGetAccessToken.name, ErrClosed)
		close(call.done)
		return call
	}
	cr.inflight = call
	cr.fetches.Go(func() {
		// Ended by the client's Close too, which waits for it.
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
		defer cancel()
		defer context.AfterFunc(cr.c.life, cancel)()
		var tok *oauth2.Token
		var issued time.Time
		if tok, issued, call.err = cr.fetch(fctx); call.err == nil {
			call.tok = cr.cached(tok, issued)
		} else if cr.c.life.Err() != nil {
			call.err = fmt.Errorf("dsco: %s: %w (%w)", opGetAccessToken.name, ErrClosed, call.err)
		}
		cr.mu.Lock()
		if call.err == nil {
			cr.cur = call.tok
		}
		cr.inflight = nil
		cr.mu.Unlock()
		close(call.done)
	})
	return call
}

func (cr *credentials) stop() {
	cr.mu.Lock()
	cr.stopped = true
	cr.mu.Unlock()
	cr.fetches.Wait()
}

func (cr *credentials) wait(ctx context.Context, call *tokenCall) (string, error) {
	select {
	case <-call.done:
		if call.err != nil {
			return "", call.err
		}
		return call.tok.value, nil
	case <-ctx.Done():
		return "", context.Cause(ctx)
	}
}

var opGetAccessToken = &operation{name: "getAccessToken", group: GroupAuth}

// fetch requests a token, retrying network errors and retryable statuses.
func (cr *credentials) fetch(ctx context.Context) (*oauth2.Token, time.Time, error) {
	c := cr.c
	ctx = context.WithValue(ctx, oauth2.HTTPClient, c.hc)
	start := c.now()
	for attempt := 1; ; attempt++ {
		if err := c.limits[GroupAuth].Wait(ctx); err != nil {
			return nil, time.Time{}, &NetworkError{Operation: opGetAccessToken.name, Err: err}
		}
		issued := c.now()
		tok, err := cr.cfg.Token(ctx)
		if err == nil {
			c.log.DebugContext(ctx, "dsco: got access token", "expires_in", lifetime(tok).Round(time.Second))
			return tok, issued, nil
		}
		var lastErr error
		var retryAfter time.Duration
		if re, ok := errors.AsType[*oauth2.RetrieveError](err); ok && re.Response != nil {
			apiErr := &APIError{Operation: opGetAccessToken.name, StatusCode: re.Response.StatusCode, Code: re.ErrorCode}
			apiErr.RetryAfter = parseRetryAfter(re.Response.Header.Get("Retry-After"), c.now())
			if !apiErr.Retryable() {
				return nil, time.Time{}, apiErr
			}
			lastErr, retryAfter = apiErr, apiErr.RetryAfter
		} else if ue, ok := errors.AsType[*url.Error](err); ok && !certificateRefused(ue.Err) {
			lastErr = &NetworkError{Operation: opGetAccessToken.name, Err: ue.Err}
		} else {
			// Not a failure that passes (an answer without a token, a
			// certificate that does not verify): retrying would not help, and
			// the error is not retryable (IsRetryable). The error texts of
			// x/oauth2 hold no secret.
			return nil, time.Time{}, fmt.Errorf("dsco: %s: %w", opGetAccessToken.name, err)
		}
		if ctx.Err() != nil {
			return nil, time.Time{}, lastErr
		}
		delay, ok := c.nextDelay(attempt, start, retryAfter)
		if !ok {
			return nil, time.Time{}, lastErr
		}
		c.log.WarnContext(ctx, "dsco: retrying token request", "attempt", attempt, "delay", delay, "error", lastErr)
		if err := c.sleep(ctx, delay); err != nil {
			return nil, time.Time{}, lastErr
		}
	}
}

func (cr *credentials) cached(tok *oauth2.Token, issued time.Time) *cachedToken {
	t := &cachedToken{value: tok.AccessToken}
	if life := lifetime(tok); life > 0 {
		margin := min(cr.margin, life/2)
		t.refreshAt = issued.Add(life - margin)
	}
	return t
}

// lifetime returns the expires_in of a token just received. x/oauth2 keeps
// it only as an Expiry on the real clock, so it is measured back from there
// (the client's own clock may be a test's).
func lifetime(tok *oauth2.Token) time.Duration {
	if tok.Expiry.IsZero() {
		return 0
	}
	return time.Until(tok.Expiry).Round(time.Second)
}

// setAuth sets the Authorization header.
func setAuth(h http.Header, token string) {
	h.Set("Authorization", "Bearer "+token)
}
