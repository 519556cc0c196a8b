package dsco

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"golang.org/x/time/rate"
)

// Group is a set of endpoints that share one client-side rate limit.
type Group string

// Endpoint groups for WithRateLimit.
const (
	GroupAuth      Group = "auth"      // getAccessToken
	GroupOrders    Group = "orders"    // order reads, order-in, acknowledge, cancel
	GroupShipments Group = "shipments" // shipment-in
	GroupInventory Group = "inventory" // inventory-in, GetItemInventory, file download
	GroupCatalog   Group = "catalog"   // catalog-in (both roles)
	GroupInvoices  Group = "invoices"  // invoice-in
	GroupReturns   Group = "returns"   // return-in (both roles)
	GroupStreams   Group = "streams"   // streams, events, positions
)

var allGroups = []Group{GroupAuth, GroupOrders, GroupShipments, GroupInventory, GroupCatalog, GroupInvoices, GroupReturns, GroupStreams}

// RetryPolicy bounds the client's retries of retryable failures (network
// errors on requests Dsco did not act on, 408, 429, and every 5xx but 501,
// 505 and 511; a write answered with a 5xx that leaves open whether Dsco
// acted on it is not retried but fails with an OutcomeUnknownError, whose doc
// lists those statuses).
// Delays grow exponentially from BaseDelay up to MaxDelay with full jitter
// (a uniform random delay between 0 and the bound); a Retry-After header
// replaces the computed delay. Zero fields take the defaults of
// DefaultRetryPolicy.
type RetryPolicy struct {
	// MaxAttempts is the number of tries, the first included; 1 disables
	// retries.
	MaxAttempts int
	BaseDelay   time.Duration
	MaxDelay    time.Duration
	// MaxElapsed bounds the time from the first try to the start of the
	// last one: the client gives up instead of sleeping past it.
	MaxElapsed time.Duration
}

// DefaultRetryPolicy is the policy of a client without WithRetry.
var DefaultRetryPolicy = RetryPolicy{MaxAttempts: 5, BaseDelay: 100 * time.Millisecond, MaxDelay: 10 * time.Second, MaxElapsed: time.Minute}

// Option configures a Client.
type Option func(*options) error

type options struct {
	clientID, clientSecret string
	tokenURL               string
	staticToken            string
	refreshMargin          time.Duration
	hc                     *http.Client
	retry                  RetryPolicy
	limits                 map[Group]*rate.Limiter
	userAgent              string
	logger                 *slog.Logger
	insecure               bool
	maxFileLine            int
	// Test hooks: the clock, the sleep and the jitter.
	now    func() time.Time
	sleep  func(context.Context, time.Duration) error
	jitter func(time.Duration) time.Duration
}

// WithClientCredentials makes the client get its bearer tokens from the token
// endpoint with the OAuth2 client credentials grant.
func WithClientCredentials(clientID, clientSecret string) Option {
	return func(o *options) error {
		if clientID == "" || clientSecret == "" {
			return errors.New("dsco: client credentials: empty client id or secret")
		}
		o.clientID, o.clientSecret = clientID, clientSecret
		return nil
	}
}

// WithTokenURL sets the token endpoint; the default is baseURL+"/oauth2/token".
func WithTokenURL(u string) Option {
	return func(o *options) error { o.tokenURL = u; return nil }
}

// WithTokenRefreshMargin sets how long before its expiry a token is replaced
// (default 60s, at most half of the token's lifetime).
func WithTokenRefreshMargin(d time.Duration) Option {
	return func(o *options) error {
		if d < 0 {
			return errors.New("dsco: negative token refresh margin")
		}
		o.refreshMargin = d
		return nil
	}
}

// WithStaticToken makes the client send this bearer token on every call
// instead of getting tokens with client credentials. A 401 is then final.
func WithStaticToken(token string) Option {
	return func(o *options) error {
		if token == "" {
			return errors.New("dsco: empty static token")
		}
		o.staticToken = token
		return nil
	}
}

// WithHTTPClient sets the HTTP client of every request, the token requests
// included. Its Timeout, if any, bounds the inventory file download too.
func WithHTTPClient(c *http.Client) Option {
	return func(o *options) error {
		if c == nil {
			return errors.New("dsco: nil HTTP client")
		}
		o.hc = c
		return nil
	}
}

// WithRetry sets the retry policy.
func WithRetry(p RetryPolicy) Option {
	return func(o *options) error {
		if p.MaxAttempts < 0 || p.BaseDelay < 0 || p.MaxDelay < 0 || p.MaxElapsed < 0 {
			return errors.New("dsco: negative retry policy value")
		}
		o.retry = p
		return nil
	}
}

// WithRateLimit limits the requests of a group to limit per second with the
// given burst, across all goroutines. Groups without a limit are unlimited.
// Every try counts, retries included.
func WithRateLimit(g Group, limit rate.Limit, burst int) Option {
	return func(o *options) error {
		if _, ok := o.limits[g]; !ok {
			return fmt.Errorf("dsco: unknown rate limit group %q", g)
		}
		if limit <= 0 || burst <= 0 {
			return fmt.Errorf("dsco: rate limit of group %q must be positive", g)
		}
		o.limits[g] = rate.NewLimiter(limit, burst)
		return nil
	}
}

// WithUserAgent sets the User-Agent header.
func WithUserAgent(ua string) Option {
	return func(o *options) error { o.userAgent = ua; return nil }
}

// WithLogger sets the logger of retries and token refreshes; nil (the
// default) logs nothing. Nothing secret is ever logged.
func WithLogger(l *slog.Logger) Option {
	return func(o *options) error { o.logger = l; return nil }
}

// WithInsecureHTTP allows plain http to hosts other than loopback. Without
// it, base, token and file URLs must be https unless their host is a
// loopback address.
func WithInsecureHTTP() Option {
	return func(o *options) error { o.insecure = true; return nil }
}

// WithMaxFileLine sets the longest line of an inventory file, its newline
// counted (the file's last line may have none), that
// DownloadInventoryFileRaw reads into memory: from 1 byte up to 64 MiB, the
// default. A longer line is skipped (its bytes are read and
// dropped, in bounded memory) and reported as a *LineTooLongError. A lower
// limit bounds the memory of a download.
func WithMaxFileLine(n int) Option {
	return func(o *options) error {
		if n < 1 || n > maxBody {
			return fmt.Errorf("dsco: the longest file line %d is not within 1..%d bytes", n, maxBody)
		}
		o.maxFileLine = n
		return nil
	}
}

// Client calls the Dsco API v3. It is safe for concurrent use by multiple
// goroutines; all of them share one token, one set of rate limiters and the
// HTTP client's connections. Close it when done: the connections of the HTTP
// transport it made for itself stay open, and net/http's goroutines for them
// running, until then.
type Client struct {
	base     string // without a trailing slash
	hc       *http.Client
	own      *http.Transport // the transport NewClient made (nil: WithHTTPClient's, not the client's to close)
	life     context.Context // ended by Close
	stop     context.CancelFunc
	auth     tokenSource
	retry    RetryPolicy
	limits   map[Group]*rate.Limiter // read-only after NewClient
	ua       string
	log      *slog.Logger
	now      func() time.Time
	sleep    func(context.Context, time.Duration) error
	jitter   func(time.Duration) time.Duration
	insecure bool
	maxLine  int // the longest inventory file line read, its newline counted
}

// NewClient returns a client of the API at baseURL, such as
// "https://api.dsco.io/api/v3". One of WithClientCredentials and
// WithStaticToken is required.
func NewClient(baseURL string, opts ...Option) (*Client, error) {
	o := options{
		refreshMargin: time.Minute,
		retry:         DefaultRetryPolicy,
		limits:        make(map[Group]*rate.Limiter, len(allGroups)),
		userAgent:     "dscokafka-connector",
		now:           time.Now,
		sleep:         sleepCtx,
		jitter:        func(d time.Duration) time.Duration { return rand.N(d + 1) },
		maxFileLine:   maxBody,
	}
	for _, g := range allGroups {
		o.limits[g] = rate.NewLimiter(rate.Inf, 1)
	}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	if err := o.retry.setDefaults(); err != nil {
		return nil, err
	}
	base := strings.TrimRight(baseURL, "/")
	if err := checkURL(base, o.insecure); err != nil {
		return nil, fmt.Errorf("dsco: base URL: %w", err)
	}
	var own *http.Transport
	if o.hc == nil {
		own = http.DefaultTransport.(*http.Transport).Clone()
		own.MaxIdleConnsPerHost = 64
		own.ResponseHeaderTimeout = 2 * time.Minute
		o.hc = &http.Client{Transport: own}
	}
	c := &Client{
		base: base, hc: o.hc, own: own, retry: o.retry, limits: o.limits, ua: o.userAgent,
		log: o.logger, now: o.now, sleep: o.sleep, jitter: o.jitter, insecure: o.insecure,
		maxLine: o.maxFileLine,
	}
	c.life, c.stop = context.WithCancel(context.Background())
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	switch {
	case o.staticToken != "" && o.clientID != "":
		return nil, errors.New("dsco: WithStaticToken and WithClientCredentials exclude each other")
	case o.staticToken != "":
		c.auth = &staticToken{value: o.staticToken}
	case o.clientID != "":
		tokenURL := o.tokenURL
		if tokenURL == "" {
			tokenURL = base + "/oauth2/token"
		}
		if err := checkURL(tokenURL, o.insecure); err != nil {
			return nil, fmt.Errorf("dsco: token URL: %w", err)
		}
		c.auth = newCredentials(c, o.clientID, o.clientSecret, tokenURL, o.refreshMargin)
	default:
		return nil, errors.New("dsco: no credentials: use WithClientCredentials or WithStaticToken")
	}
	return c, nil
}

// Close stops the client. It ends a token request under way and waits for
// it, then closes the idle connections of the HTTP transport NewClient made
// (without WithHTTPClient), so that neither they nor net/http's goroutines
// for them outlive the client. An *http.Client given with WithHTTPClient is
// its owner's: Close leaves its connections alone.
//
// A call made after Close fails at once with an error matching ErrClosed,
// sending nothing. A call in flight is not cancelled (end its context for
// that) nor waited for: a request under way gets its answer, but the call
// sends no further request, no retry nor token request, and fails with an
// error matching ErrClosed instead; the connections it used are closed as
// it ends. Close is idempotent and safe for concurrent use.
func (c *Client) Close() {
	c.stop()
	c.auth.stop()
	c.closeIdle()
}

// closeIdle closes the idle connections of the client's own transport once
// the client is closed: called by Close, and as each call ends for the
// connections of calls in flight when Close was called (net/http closes an
// HTTP/1 connection that becomes idle after CloseIdleConnections, until a new
// request asks for one, but leaves such an HTTP/2 connection open).
func (c *Client) closeIdle() {
	if c.own != nil && c.life.Err() != nil {
		c.own.CloseIdleConnections()
	}
}

// closeBody closes the body of a call's answer, and the call's connection if
// the client was closed meanwhile.
func (c *Client) closeBody(body io.Closer) {
	_ = body.Close()
	c.closeIdle()
}

func (p *RetryPolicy) setDefaults() error {
	d := DefaultRetryPolicy
	if p.MaxAttempts == 0 {
		p.MaxAttempts = d.MaxAttempts
	}
	if p.BaseDelay == 0 {
		p.BaseDelay = d.BaseDelay
	}
	if p.MaxDelay == 0 {
		p.MaxDelay = d.MaxDelay
	}
	if p.MaxElapsed == 0 {
		p.MaxElapsed = d.MaxElapsed
	}
	if p.MaxDelay < p.BaseDelay {
		return errors.New("dsco: retry MaxDelay is below BaseDelay")
	}
	return nil
}

// checkURL requires an absolute http(s) URL, https unless the host is
// loopback or insecure is set.
func checkURL(raw string, insecure bool) error {
	u, err := url.Parse(raw)
	if err != nil {
		return err
	}
	if u.Host == "" {
		return errors.New("not an absolute URL")
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		if insecure || isLoopback(u.Hostname()) {
			return nil
		}
		return errors.New("plain http is allowed only to loopback hosts unless WithInsecureHTTP is given")
	}
	return fmt.Errorf("unsupported scheme %q", u.Scheme)
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return context.Cause(ctx)
	case <-t.C:
		return nil
	}
}

// backoff returns the delay before try attempt+1: full jitter over
// min(MaxDelay, BaseDelay*2^(attempt-1)).
func (c *Client) backoff(attempt int) time.Duration {
	bound := c.retry.MaxDelay
	if attempt-1 < 32 {
		if b := c.retry.BaseDelay << (attempt - 1); b > 0 && b < bound {
			bound = b
		}
	}
	return c.jitter(bound)
}
