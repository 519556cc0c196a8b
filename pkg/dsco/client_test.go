package dsco

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/time/rate"
)

// fakeClock is a manual clock whose sleep records the delay and advances
// the clock instead of waiting.
type fakeClock struct {
	mu     sync.Mutex
	t      time.Time
	sleeps []time.Duration
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2026, 11, 24, 20, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func (c *fakeClock) sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sleeps = append(c.sleeps, d)
	c.t = c.t.Add(d)
	return nil
}

func (c *fakeClock) recorded() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.sleeps...)
}

// withClock makes the client use clk, and a jitter that returns its bound so
// that backoff delays are deterministic.
func withClock(clk *fakeClock) Option {
	return func(o *options) error {
		o.now, o.sleep = clk.now, clk.sleep
		o.jitter = func(d time.Duration) time.Duration { return d }
		return nil
	}
}

const (
	testID     = "test-client"
	testSecret = "test-client-secret-XYZ"
)

// fakeDsco is an httptest server on 127.0.0.1 with a token endpoint that
// counts its requests and issues tok-1, tok-2, ...
type fakeDsco struct {
	srv      *httptest.Server
	tokens   atomic.Int64
	ttl      int // expires_in of issued tokens; 0 = none
	mu       sync.Mutex
	revoked  map[string]bool
	handlers map[string]http.HandlerFunc // by "METHOD /path" below /api/v3
	calls    sync.Map                    // "METHOD /path" -> *atomic.Int64
}

func newFakeDsco(t testing.TB) *fakeDsco {
	t.Helper()
	f := &fakeDsco{revoked: map[string]bool{}, handlers: map[string]http.HandlerFunc{}}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeDsco) url() string { return f.srv.URL + "/api/v3" }

func (f *fakeDsco) handle(route string, h http.HandlerFunc) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.handlers[route] = h
}

func (f *fakeDsco) revoke(tok string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.revoked[tok] = true
}

func (f *fakeDsco) count(route string) int64 {
	v, ok := f.calls.Load(route)
	if !ok {
		return 0
	}
	return v.(*atomic.Int64).Load()
}

func (f *fakeDsco) serve(w http.ResponseWriter, r *http.Request) {
	path := strings.TrimPrefix(r.URL.Path, "/api/v3")
	if path == "/oauth2/token" {
		n := f.tokens.Add(1)
		if r.ParseForm() != nil || r.PostForm.Get("client_id") != testID || r.PostForm.Get("client_secret") != testSecret {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprint(w, `{"error":"invalid_client"}`)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		body := map[string]any{"access_token": fmt.Sprintf("tok-%d", n), "token_type": "Bearer"}
		if f.ttl > 0 {
			body["expires_in"] = f.ttl
		}
		_ = json.NewEncoder(w).Encode(body)
		return
	}
	route := r.Method + " " + path
	v, _ := f.calls.LoadOrStore(route, new(atomic.Int64))
	v.(*atomic.Int64).Add(1)
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	f.mu.Lock()
	h, revoked := f.handlers[route], f.revoked[tok]
	f.mu.Unlock()
	if !ok || tok == "" || revoked {
		w.Header().Set("WWW-Authenticate", "Bearer")
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	if h == nil {
		http.NotFound(w, r)
		return
	}
	h(w, r)
}

func writeJSON(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	fmt.Fprint(w, body)
}

// dropConnection closes the connection without an answer, after the
// request was read.
func dropConnection(t *testing.T) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		conn, _, err := http.NewResponseController(w).Hijack()
		if !assert.NoError(t, err) {
			return
		}
		_ = conn.Close()
	}
}

func newTestClient(t *testing.T, base string, opts ...Option) *Client {
	t.Helper()
	c, err := NewClient(base, append([]Option{WithClientCredentials(testID, testSecret)}, opts...)...)
	require.NoError(t, err)
	t.Cleanup(c.Close)
	return c
}

const streamListBody = `{"streams":[{"streamId":"s1","objectType":"order","partitionCount":1,"partitions":[{"partition":0,"position":"p"}]}]}`

func TestConcurrentCallsShareOneToken(t *testing.T) {
	f := newFakeDsco(t)
	f.handle("GET /streams", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, streamListBody) })
	c := newTestClient(t, f.url())

	var wg sync.WaitGroup
	errs := make([]error, 100)
	for i := range errs {
		wg.Go(func() {
			_, errs[i] = c.ListStreams(t.Context())
		})
	}
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err)
	}
	assert.EqualValues(t, 1, f.tokens.Load())
	assert.EqualValues(t, 100, f.count("GET /streams"))
}

func TestConcurrent401sRefreshOnce(t *testing.T) {
	f := newFakeDsco(t)
	f.handle("GET /streams", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, streamListBody) })
	c := newTestClient(t, f.url())
	_, err := c.ListStreams(t.Context())
	require.NoError(t, err)
	require.EqualValues(t, 1, f.tokens.Load())

	f.revoke("tok-1")
	var wg sync.WaitGroup
	errs := make([]error, 100)
	for i := range errs {
		wg.Go(func() {
			_, errs[i] = c.ListStreams(t.Context())
		})
	}
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err)
	}
	assert.EqualValues(t, 2, f.tokens.Load(), "one refresh for all 401s of the same token")
}

func TestUnauthorizedAfterRefreshIsFinal(t *testing.T) {
	f := newFakeDsco(t)
	f.handle("GET /streams", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 401, `{}`) })
	c := newTestClient(t, f.url())
	_, err := c.ListStreams(t.Context())
	require.ErrorIs(t, err, ErrUnauthorized)
	assert.False(t, IsRetryable(err))
	assert.EqualValues(t, 2, f.count("GET /streams"), "exactly one refresh-and-retry")
	assert.EqualValues(t, 2, f.tokens.Load())
}

func TestTokenExpiry(t *testing.T) {
	f := newFakeDsco(t)
	f.ttl = 60
	f.handle("GET /streams", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, streamListBody) })
	clk := newFakeClock()
	c := newTestClient(t, f.url(), withClock(clk), WithTokenRefreshMargin(10*time.Second))

	steps := []struct {
		name       string
		advance    time.Duration
		wantTokens int64
	}{
		{"first call gets a token", 0, 1},
		{"well before expiry reuses it", 45 * time.Second, 1},
		{"inside the refresh margin gets a new one", 6 * time.Second, 2},
		{"the new token is reused", 10 * time.Second, 2},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			clk.advance(s.advance)
			_, err := c.ListStreams(t.Context())
			require.NoError(t, err)
			assert.Equal(t, s.wantTokens, f.tokens.Load())
		})
	}
}

func TestWrongCredentials(t *testing.T) {
	f := newFakeDsco(t)
	c, err := NewClient(f.url(), WithClientCredentials(testID, "wrong-"+testSecret))
	require.NoError(t, err)
	_, err = c.ListStreams(t.Context())
	require.ErrorIs(t, err, ErrUnauthorized)
	assert.False(t, IsRetryable(err))
	assert.NotContains(t, err.Error(), testSecret)
	assert.Contains(t, err.Error(), "invalid_client")
	assert.EqualValues(t, 1, f.tokens.Load(), "no auth-style auto-detection second request")
}

func TestStaticToken(t *testing.T) {
	f := newFakeDsco(t)
	f.handle("GET /streams", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, streamListBody) })
	c, err := NewClient(f.url(), WithStaticToken("static-secret-token"))
	require.NoError(t, err)
	_, err = c.ListStreams(t.Context())
	require.NoError(t, err)

	for _, verb := range []string{"%v", "%+v", "%#v"} {
		assert.NotContains(t, fmt.Sprintf(verb, *c), "static-secret-token", "printing the client with %s", verb)
	}
	f2 := newFakeDsco(t)
	f2.handle("GET /streams", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, streamListBody) })
	cc := newTestClient(t, f2.url())
	_, err = cc.ListStreams(t.Context())
	require.NoError(t, err)
	for _, verb := range []string{"%v", "%+v", "%#v"} {
		assert.NotContains(t, fmt.Sprintf(verb, *cc), testSecret, "printing the client with %s", verb)
		assert.NotContains(t, fmt.Sprintf(verb, *cc), "tok-1", "printing the client with %s", verb)
	}

	f.revoke("static-secret-token")
	_, err = c.ListStreams(t.Context())
	require.ErrorIs(t, err, ErrUnauthorized)
	assert.NotContains(t, err.Error(), "static-secret-token")
	assert.EqualValues(t, 2, f.count("GET /streams"), "a 401 with a static token is final")
	assert.Zero(t, f.tokens.Load())
}

func TestRetries(t *testing.T) {
	base := 100 * time.Millisecond
	policy := RetryPolicy{MaxAttempts: 4, BaseDelay: base, MaxDelay: 3 * base, MaxElapsed: time.Minute}
	// answers replays a list of answers, then 200.
	answers := func(list ...func(w http.ResponseWriter)) http.HandlerFunc {
		var n atomic.Int64
		return func(w http.ResponseWriter, r *http.Request) {
			i := int(n.Add(1)) - 1
			if i < len(list) {
				list[i](w)
				return
			}
			writeJSON(w, 200, streamListBody)
		}
	}
	status := func(code int, hdr ...string) func(w http.ResponseWriter) {
		return func(w http.ResponseWriter) {
			for i := 0; i+1 < len(hdr); i += 2 {
				w.Header().Set(hdr[i], hdr[i+1])
			}
			writeJSON(w, code, `{"status":"failed","errors":[{"code":"X","field":"items[0]"}]}`)
		}
	}
	clkNow := newFakeClock().now()
	cases := []struct {
		name       string
		handler    http.HandlerFunc
		wantCalls  int64
		wantSleeps []time.Duration
		wantErr    error // a sentinel the final error matches
		retryable  bool  // whether IsRetryable holds for the final error
		retryAfter time.Duration
	}{
		{"5xx retried with exponential backoff then success",
			answers(status(500), status(502), status(504)), 4, []time.Duration{base, 2 * base, 3 * base}, nil, false, 0},
		{"408 and 503 retried",
			answers(status(408), status(503)), 3, []time.Duration{base, 2 * base}, nil, false, 0},
		{"a gateway's own 5xx retried (a CDN's 520 and 522, 507)",
			answers(status(520), status(522), status(507)), 4, []time.Duration{base, 2 * base, 3 * base}, nil, false, 0},
		{"a CDN's codes for no connection to the origin retried (521, 523, 525, 526)",
			answers(status(521), status(523), status(525)), 4, []time.Duration{base, 2 * base, 3 * base}, nil, false, 0},
		{"attempts bounded, a CDN's 526 returned",
			answers(status(526), status(526), status(526), status(526)), 4, []time.Duration{base, 2 * base, 3 * base}, nil, true, 0},
		{"Retry-After seconds honoured",
			answers(status(429, "Retry-After", "7")), 2, []time.Duration{7 * time.Second}, nil, false, 0},
		{"Retry-After HTTP date honoured",
			answers(status(503, "Retry-After", clkNow.Add(30*time.Second).Format(http.TimeFormat))), 2, []time.Duration{30 * time.Second}, nil, false, 0},
		{"attempts bounded, last 5xx returned",
			answers(status(500), status(500), status(500), status(500), status(500)), 4, []time.Duration{base, 2 * base, 3 * base}, nil, true, 0},
		{"Retry-After beyond MaxElapsed gives up",
			answers(status(429, "Retry-After", "3600")), 1, nil, ErrRateLimited, true, time.Hour},
		{"400 not retried", answers(status(400)), 1, nil, ErrBadRequest, false, 0},
		{"403 not retried", answers(status(403)), 1, nil, ErrForbidden, false, 0},
		{"404 not retried", answers(status(404)), 1, nil, ErrNotFound, false, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeDsco(t)
			f.handle("GET /streams", tc.handler)
			clk := newFakeClock()
			c := newTestClient(t, f.url(), withClock(clk), WithRetry(policy))
			_, err := c.ListStreams(t.Context())
			if tc.wantErr == nil && !tc.retryable {
				require.NoError(t, err)
			} else {
				require.Error(t, err)
				if tc.wantErr != nil {
					require.ErrorIs(t, err, tc.wantErr)
				}
				assert.Equal(t, tc.retryable, IsRetryable(err), "%v", err)
				var apiErr *APIError
				require.ErrorAs(t, err, &apiErr)
				assert.Equal(t, "listStreams", apiErr.Operation)
				assert.Equal(t, tc.retryAfter, apiErr.RetryAfter)
				require.Len(t, apiErr.Errors, 1)
				assert.Equal(t, "X", apiErr.Code)
			}
			assert.Equal(t, tc.wantCalls, f.count("GET /streams"))
			assert.Equal(t, tc.wantSleeps, clk.recorded())
		})
	}
}

func TestDroppedConnection(t *testing.T) {
	cases := []struct {
		name        string
		call        func(c *Client) error
		route       string
		wantCalls   int64
		wantUnknown bool
	}{
		{"write is not re-sent", func(c *Client) error {
			_, err := c.SupplierCreateShipment(context.Background(), ShipmentBatchRequest{Shipments: []ShipmentItem{{OrderID: "o"}}})
			return err
		}, "POST /supplier/shipment-in", 1, true},
		{"GET is retried", func(c *Client) error {
			_, err := c.ListStreams(context.Background())
			return err
		}, "GET /streams", 2, false},
		{"position update is retried", func(c *Client) error {
			return c.UpdateStreamPosition(context.Background(), "s1", "p")
		}, "POST /streams/s1/position", 2, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeDsco(t)
			var n atomic.Int64
			drop := dropConnection(t)
			f.handle(tc.route, func(w http.ResponseWriter, r *http.Request) {
				if n.Add(1) == 1 {
					drop(w, r)
					return
				}
				writeJSON(w, 200, streamListBody)
			})
			clk := newFakeClock()
			c := newTestClient(t, f.url(), withClock(clk))
			err := tc.call(c)
			if tc.wantUnknown {
				require.ErrorIs(t, err, ErrOutcomeUnknown)
				var ou *OutcomeUnknownError
				require.ErrorAs(t, err, &ou)
				assert.Equal(t, "supplierCreateShipment", ou.Operation)
				assert.False(t, IsRetryable(err))
			} else {
				require.NoError(t, err)
			}
			assert.Equal(t, tc.wantCalls, f.count(tc.route))
		})
	}
}

func TestWriteNeverSentIsRetried(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close()) // nothing listens: every dial is refused

	clk := newFakeClock()
	c, err := NewClient("http://"+addr+"/api/v3", WithStaticToken("t"), withClock(clk),
		WithRetry(RetryPolicy{MaxAttempts: 3, BaseDelay: time.Millisecond, MaxDelay: time.Second}))
	require.NoError(t, err)
	_, err = c.SupplierCreateShipment(t.Context(), ShipmentBatchRequest{})
	require.Error(t, err)
	assert.NotErrorIs(t, err, ErrOutcomeUnknown)
	var ne *NetworkError
	require.ErrorAs(t, err, &ne)
	assert.True(t, IsRetryable(err))
	assert.Len(t, clk.recorded(), 2, "three tries")
}

func TestWriteGatewayTimeoutIsOutcomeUnknown(t *testing.T) {
	f := newFakeDsco(t)
	f.handle("POST /supplier/invoice-in", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 504, `{}`) })
	c := newTestClient(t, f.url(), withClock(newFakeClock()))
	_, err := c.SupplierCreateInvoice(t.Context(), InvoiceBatchRequest{})
	require.ErrorIs(t, err, ErrOutcomeUnknown)
	assert.EqualValues(t, 1, f.count("POST /supplier/invoice-in"))
}

func TestCancelledContextStopsRetries(t *testing.T) {
	f := newFakeDsco(t)
	f.handle("GET /streams", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 503, `{}`) })
	ctx, cancel := context.WithCancel(t.Context())
	clk := newFakeClock()
	c := newTestClient(t, f.url(), func(o *options) error {
		o.now = clk.now
		o.sleep = func(context.Context, time.Duration) error { cancel(); return context.Canceled }
		return nil
	})
	_, err := c.ListStreams(ctx)
	require.ErrorIs(t, err, context.Canceled)
	assert.False(t, IsRetryable(err))
	assert.EqualValues(t, 1, f.count("GET /streams"))
}

func TestBatchItemErrorsOn200(t *testing.T) {
	f := newFakeDsco(t)
	f.handle("POST /supplier/shipment-in", func(w http.ResponseWriter, r *http.Request) {
		var req ShipmentBatchRequest
		if !assert.NoError(t, json.NewDecoder(r.Body).Decode(&req)) {
			return
		}
		assert.Len(t, req.Shipments, 3)
		writeJSON(w, 200, `{"batchId":"b1","status":"completed","errors":[{"code":"ORDER_NOT_FOUND","field":"shipments[1].orderId"},{"code":"INVALID_STATE","field":"shipments[2]"},{"code":"GENERIC"}]}`)
	})
	c := newTestClient(t, f.url())
	resp, err := c.SupplierCreateShipment(t.Context(), ShipmentBatchRequest{Shipments: make([]ShipmentItem, 3)})
	require.NoError(t, err)
	assert.Equal(t, BatchCompleted, resp.Status)
	byItem := resp.ItemErrors("shipments")
	require.Len(t, byItem, 2)
	assert.Equal(t, "ORDER_NOT_FOUND", byItem[1][0].Code)
	assert.Equal(t, "INVALID_STATE", byItem[2][0].Code)
	assert.Equal(t, []BatchError{{Code: "GENERIC"}}, resp.UnattributedErrors())
}

func TestPositionExpired(t *testing.T) {
	f := newFakeDsco(t)
	f.handle("GET /streams/s1/events", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 410, `{"status":"failed","errors":[{"code":"POSITION_EXPIRED","message":"too old"}]}`)
	})
	c := newTestClient(t, f.url())
	_, err := c.GetStreamEvents(t.Context(), "s1", ReadEventsParams{Position: "old"})
	require.ErrorIs(t, err, ErrPositionExpired)
	require.ErrorIs(t, err, ErrGone)
	assert.False(t, IsRetryable(err))
}

func TestRateLimit(t *testing.T) {
	f := newFakeDsco(t)
	f.handle("GET /streams", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, streamListBody) })
	// A burst of 2 at one request per hour: the third call cannot get a
	// token before its deadline, so the limiter refuses at once.
	c := newTestClient(t, f.url(), WithRateLimit(GroupStreams, rate.Every(time.Hour), 2))
	for range 2 {
		_, err := c.ListStreams(t.Context())
		require.NoError(t, err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	_, err := c.ListStreams(ctx)
	require.Error(t, err)
	assert.False(t, IsRetryable(err))
	assert.EqualValues(t, 2, f.count("GET /streams"))
	// Other groups are not limited.
	f.handle("GET /supplier/order-out", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, `{"orders":[],"totalCount":0,"hasMore":false}`)
	})
	for range 3 {
		_, err := c.SupplierListOrders(t.Context(), ListOrdersParams{})
		require.NoError(t, err)
	}
}

func TestNewClientOptions(t *testing.T) {
	cases := []struct {
		name    string
		base    string
		opts    []Option
		wantErr string
	}{
		{"https ok", "https://api.dsco.io/api/v3", []Option{WithStaticToken("t")}, ""},
		{"loopback http ok", "http://127.0.0.1:1/api/v3", []Option{WithStaticToken("t")}, ""},
		{"localhost http ok", "http://localhost:1/api/v3", []Option{WithStaticToken("t")}, ""},
		{"remote http refused", "http://api.dsco.io/api/v3", []Option{WithStaticToken("t")}, "plain http"},
		{"remote http allowed explicitly", "http://api.dsco.io/api/v3", []Option{WithStaticToken("t"), WithInsecureHTTP()}, ""},
		{"remote http token URL refused", "https://api.dsco.io/api/v3", []Option{WithClientCredentials("a", "b"), WithTokenURL("http://auth.dsco.io/token")}, "plain http"},
		{"no credentials", "https://api.dsco.io/api/v3", nil, "no credentials"},
		{"both credentials", "https://api.dsco.io/api/v3", []Option{WithStaticToken("t"), WithClientCredentials("a", "b")}, "exclude"},
		{"empty secret", "https://api.dsco.io/api/v3", []Option{WithClientCredentials("a", "")}, "empty"},
		{"unknown group", "https://api.dsco.io/api/v3", []Option{WithStaticToken("t"), WithRateLimit("nope", 1, 1)}, "unknown rate limit group"},
		{"relative URL", "/api/v3", []Option{WithStaticToken("t")}, "absolute"},
		{"bad retry policy", "https://api.dsco.io/api/v3", []Option{WithStaticToken("t"), WithRetry(RetryPolicy{BaseDelay: time.Second, MaxDelay: time.Millisecond})}, "MaxDelay"},
		{"file line limit", "https://api.dsco.io/api/v3", []Option{WithStaticToken("t"), WithMaxFileLine(64 << 20)}, ""},
		{"file line limit above 64 MiB", "https://api.dsco.io/api/v3", []Option{WithStaticToken("t"), WithMaxFileLine(64<<20 + 1)}, "not within 1..67108864"},
		{"file line limit zero", "https://api.dsco.io/api/v3", []Option{WithStaticToken("t"), WithMaxFileLine(0)}, "not within"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := NewClient(tc.base, tc.opts...)
			if tc.wantErr == "" {
				require.NoError(t, err)
				require.NotNil(t, c)
				return
			}
			require.ErrorContains(t, err, tc.wantErr)
		})
	}
}

func TestIsRetryable(t *testing.T) {
	cases := []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"network", &NetworkError{Operation: "x", Err: errors.New("reset")}, true},
		{"wrapped 503", fmt.Errorf("ctx: %w", &APIError{StatusCode: 503}), true},
		{"429", &APIError{StatusCode: 429}, true},
		{"408", &APIError{StatusCode: 408}, true},
		{"501 is not transient", &APIError{StatusCode: 501}, false},
		{"505 is not transient", &APIError{StatusCode: 505}, false},
		{"511 is not transient", &APIError{StatusCode: 511}, false},
		{"500", &APIError{StatusCode: 500}, true},
		{"507", &APIError{StatusCode: 507}, true},
		{"a CDN's 520", &APIError{StatusCode: 520}, true},
		{"a CDN's 522", &APIError{StatusCode: 522}, true},
		{"a proxy's 599", &APIError{StatusCode: 599}, true},
		{"400", &APIError{StatusCode: 400}, false},
		{"409", &APIError{StatusCode: 409}, false},
		{"outcome unknown", &OutcomeUnknownError{Operation: "x", Err: &NetworkError{Err: errors.New("eof")}}, false},
		{"cancelled", fmt.Errorf("x: %w", context.Canceled), false},
		{"invalid request", fmt.Errorf("%w: bad", ErrInvalidRequest), false},
		{"other", errors.New("decode"), false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, IsRetryable(tc.err))
		})
	}
}

func TestWriteAnswerUnreadable(t *testing.T) {
	cases := []struct {
		name    string
		handler http.HandlerFunc
	}{
		{"not JSON", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, `<html>`) }},
		{"cut off", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", "500")
			writeJSON(w, 200, `{"batchId":"b","status":"comp`)
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeDsco(t)
			f.handle("POST /supplier/return-in", tc.handler)
			c := newTestClient(t, f.url())
			_, err := c.SupplierCreateReturn(t.Context(), ReturnBatchRequest{Returns: []ReturnItem{{OrderID: "o", Quantity: 1}}})
			require.ErrorIs(t, err, ErrOutcomeUnknown)
			assert.EqualValues(t, 1, f.count("POST /supplier/return-in"))
		})
	}
}

func TestSecretsNeverLogged(t *testing.T) {
	f := newFakeDsco(t)
	var n atomic.Int64
	f.handle("GET /streams", func(w http.ResponseWriter, r *http.Request) {
		switch n.Add(1) {
		case 1:
			f.revoke("tok-1")
			writeJSON(w, 503, `{}`)
		default:
			writeJSON(w, 200, streamListBody)
		}
	})
	var logs strings.Builder
	var mu sync.Mutex
	logger := slog.New(slog.NewTextHandler(writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return logs.Write(p)
	}), &slog.HandlerOptions{Level: slog.LevelDebug}))
	c := newTestClient(t, f.url(), WithLogger(logger), withClock(newFakeClock()))
	_, err := c.ListStreams(t.Context()) // 503, then 401 with the revoked token, refresh, 200
	require.NoError(t, err)
	require.EqualValues(t, 2, f.tokens.Load())

	bad, err := NewClient(f.url(), WithClientCredentials(testID, testSecret+"-wrong"), WithLogger(logger))
	require.NoError(t, err)
	_, err = bad.ListStreams(t.Context())
	require.Error(t, err)

	mu.Lock()
	defer mu.Unlock()
	out := logs.String()
	assert.Contains(t, out, "retrying", "the retry was logged")
	for _, secret := range []string{testSecret, "tok-1", "tok-2"} {
		assert.NotContains(t, out, secret)
		assert.NotContains(t, err.Error(), secret)
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// TestWriteStatusOutcome: a write answered with a status that proves Dsco did not act on
// it (408, 429, 503, and Cloudflare's 521, 523, 525 and 526: no connection to Dsco was
// made) is sent again; one answered by Dsco failing while handling it (500) or by a
// gateway that may have passed it on (502, 504, and the 5xx of gateways outside the RFCs:
// Cloudflare's 520, 522, 524 and 527, a proxy's 599) is never sent again.
func TestWriteStatusOutcome(t *testing.T) {
	cases := []struct {
		status      int
		wantUnknown bool
	}{
		{http.StatusInternalServerError, true},
		{http.StatusBadGateway, true},
		{http.StatusGatewayTimeout, true},
		{520, true},
		{522, true}, // also a request sent that the origin did not acknowledge
		{524, true},
		{527, true},
		{599, true},
		{http.StatusRequestTimeout, false},
		{http.StatusTooManyRequests, false},
		{http.StatusServiceUnavailable, false},
		{521, false},
		{523, false},
		{525, false},
		{526, false},
	}
	for _, tc := range cases {
		t.Run(strconv.Itoa(tc.status), func(t *testing.T) {
			f := newFakeDsco(t)
			var n atomic.Int64
			f.handle("POST /supplier/shipment-in", func(w http.ResponseWriter, r *http.Request) {
				if n.Add(1) == 1 {
					writeJSON(w, tc.status, `{"status":"failed","errors":[{"code":"X"}]}`)
					return
				}
				writeJSON(w, 200, `{"batchId":"b","status":"completed"}`)
			})
			c := newTestClient(t, f.url(), withClock(newFakeClock()))
			_, err := c.SupplierCreateShipment(t.Context(), ShipmentBatchRequest{Shipments: []ShipmentItem{{OrderID: "o"}}})
			if tc.wantUnknown {
				require.ErrorIs(t, err, ErrOutcomeUnknown)
				assert.False(t, IsRetryable(err))
				var apiErr *APIError
				require.ErrorAs(t, err, &apiErr, "the answer is kept as the cause")
				assert.Equal(t, tc.status, apiErr.StatusCode)
				assert.EqualValues(t, 1, f.count("POST /supplier/shipment-in"))
			} else {
				require.NoError(t, err)
				assert.EqualValues(t, 2, f.count("POST /supplier/shipment-in"))
			}
		})
	}
}

// TestCreateStreamAnswerUnreadable: once createStream was answered 2xx the
// stream exists, so an answer that cannot be read is not an unknown
// outcome: it says "applied" and is never sent again.
func TestCreateStreamAnswerUnreadable(t *testing.T) {
	cases := []struct {
		name    string
		handler http.HandlerFunc
	}{
		{"not JSON", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, `<html>`) }},
		{"a field that does not fit", func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, 200, `{"streamId":"s1","partitionCount":1e400}`)
		}},
		{"cut off", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", "500")
			writeJSON(w, 200, `{"streamId":"s1","objec`)
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeDsco(t)
			f.handle("POST /streams", tc.handler)
			c := newTestClient(t, f.url())
			_, err := c.CreateStream(t.Context(), StreamDefinition{ObjectType: ObjectOrder})
			require.ErrorIs(t, err, ErrAnswerUnreadable)
			assert.NotErrorIs(t, err, ErrOutcomeUnknown)
			assert.False(t, IsRetryable(err))
			var ae *AnswerUnreadableError
			require.ErrorAs(t, err, &ae)
			assert.Equal(t, "createStream", ae.Operation)
			assert.EqualValues(t, 1, f.count("POST /streams"))
		})
	}
	t.Run("5xx is still outcome unknown", func(t *testing.T) {
		f := newFakeDsco(t)
		f.handle("POST /streams", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 502, `{}`) })
		c := newTestClient(t, f.url())
		_, err := c.CreateStream(t.Context(), StreamDefinition{ObjectType: ObjectOrder})
		require.ErrorIs(t, err, ErrOutcomeUnknown)
		assert.NotErrorIs(t, err, ErrAnswerUnreadable)
	})
}

func TestCreateStreamRefusesInvalidDefinition(t *testing.T) {
	cases := []struct {
		name string
		def  StreamDefinition
		want string
	}{
		{"no object type", StreamDefinition{PartitionCount: 2}, "objectType is required"},
		{"unknown object type", StreamDefinition{ObjectType: "orders"}, `objectType "orders" is not one of`},
		{"negative partitions", StreamDefinition{ObjectType: ObjectOrder, PartitionCount: -1}, "partitionCount -1 is negative"},
		{"invalid query value", StreamDefinition{ObjectType: ObjectOrder, QueryParams: map[string]json.RawMessage{"status": json.RawMessage(`shipped`)}},
			`queryParams["status"] is not valid JSON`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeDsco(t)
			f.handle("POST /streams", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, `{"streamId":"s"}`) })
			c := newTestClient(t, f.url())
			_, err := c.CreateStream(t.Context(), tc.def)
			require.ErrorIs(t, err, ErrInvalidRequest)
			assert.Contains(t, err.Error(), tc.want)
			assert.False(t, IsRetryable(err))
			assert.Zero(t, f.count("POST /streams"), "never sent")
		})
	}
}

// TestAnswerFieldErrors: a value in an answer that does not fit its field
// fails with an error naming the model and the field.
func TestAnswerFieldErrors(t *testing.T) {
	f := newFakeDsco(t)
	f.handle("GET /supplier/order-out/o1", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, `{"orderId":"o1","items":[{"sku":"a","quantity":1},{"sku":"b","quantity":18446744073709551616}]}`)
	})
	c := newTestClient(t, f.url())
	_, err := c.SupplierGetOrder(t.Context(), "o1")
	var fe *FieldError
	require.ErrorAs(t, err, &fe)
	assert.Equal(t, "Order", fe.Model)
	assert.Equal(t, "items.quantity", fe.Field)
	assert.Contains(t, err.Error(), "supplierGetOrder")
	assert.Contains(t, err.Error(), "Order.items.quantity: the number 18446744073709551616 is out of the range of int64")

	ev := Event{EventID: "e1", ObjectType: ObjectOrder, Data: json.RawMessage(`{"items":[{"quantity":1.25}]}`)}
	_, err = ev.Order()
	require.ErrorAs(t, err, &fe)
	assert.Contains(t, err.Error(), "event e1")
	assert.Contains(t, err.Error(), "Order.items.quantity: the number 1.25 is not an integer")

	var n int
	for _, err := range DecodeInventoryFile(strings.NewReader(`{"sku":"a","quantityAvailable":1}` + "\n" + `{"sku":"b","quantityAvailable":1e30}`)) {
		if err != nil {
			require.ErrorAs(t, err, &fe)
			assert.Contains(t, err.Error(), "inventory file item 2: dsco: ItemInventory.quantityAvailable: the number 1e30 is not an integer")
			break
		}
		n++
	}
	assert.Equal(t, 1, n)
}

// TestFailuresThatDoNotPass: a token endpoint that answers without a token, and a server
// whose certificate does not verify, fail the call at once, as not retryable (IsRetryable):
// asking again cannot mend either, and callers that wait out retryable failures (the
// inbound side at start) must not wait for them.
func TestFailuresThatDoNotPass(t *testing.T) {
	t.Run("token answer without a token", func(t *testing.T) {
		var asked atomic.Int32
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			asked.Add(1)
			writeJSON(w, http.StatusOK, `{}`)
		}))
		defer srv.Close()
		c := newTestClient(t, srv.URL+"/api/v3", WithRetry(RetryPolicy{MaxAttempts: 5, BaseDelay: time.Millisecond, MaxDelay: time.Millisecond}))
		_, err := c.ListStreams(t.Context())
		require.Error(t, err)
		assert.ErrorContains(t, err, "missing access_token")
		assert.False(t, IsRetryable(err), "%v", err)
		assert.EqualValues(t, 1, asked.Load(), "the token endpoint asked once")
	})
	t.Run("certificate that does not verify", func(t *testing.T) {
		var conns atomic.Int32
		srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, http.StatusOK, streamListBody)
		}))
		srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
			if s == http.StateNew {
				conns.Add(1)
			}
		}
		srv.StartTLS() // a certificate no client trusts
		defer srv.Close()
		for _, auth := range []Option{
			WithStaticToken("t"),                      // the call itself
			WithClientCredentials(testID, testSecret), // the token request first
		} {
			conns.Store(0)
			c, err := NewClient(srv.URL+"/api/v3", auth, WithRetry(RetryPolicy{MaxAttempts: 5, BaseDelay: time.Millisecond, MaxDelay: time.Millisecond}))
			require.NoError(t, err)
			_, err = c.ListStreams(t.Context())
			require.Error(t, err)
			assert.ErrorContains(t, err, "certificate")
			assert.False(t, IsRetryable(err), "%v", err)
			assert.EqualValues(t, 1, conns.Load(), "one connection tried")
		}
	})
}
