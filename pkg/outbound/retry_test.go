package outbound_test

import (
	"cmp"
	"context"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/prometheus/client_golang/prometheus"
	kafkago "github.com/segmentio/kafka-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dscokafka/connector/pkg/dsco"
	"github.com/dscokafka/connector/pkg/dsco/dscotest"
	"github.com/dscokafka/connector/pkg/kafka/kafkatest"
	"github.com/dscokafka/connector/pkg/outbound"
	"github.com/dscokafka/connector/pkg/router"
	"github.com/dscokafka/connector/pkg/schemas"
)

// timingOutDial is a DialContext whose every dial times out, as a dial to a host that
// drops packets does once the dialer's timeout passes (an i/o timeout that is also
// context.DeadlineExceeded).
func timingOutDial(ctx context.Context, network, addr string) (net.Conn, error) {
	ctx, cancel := context.WithDeadline(ctx, time.Now().Add(-time.Second))
	defer cancel()
	return (&net.Dialer{}).DialContext(ctx, network, addr)
}

// TestRetryBudget: failures that are not a shutdown spend a command's retry budget, and a
// command that spent it has a result and a poison record, whatever the failure:
//   - Dsco cannot be reached in time (dials time out): a transient failure, failed;
//   - every write is answered 502 after Dsco applied it: outcome unknown each time; an
//     inventory command is sent again to reconcile, Retry.MaxAttempts calls in all, then
//     poisoned as outcome_unknown (one of its calls may have applied it).
//
// The breaker is set not to open: while it is open, commands wait instead (see
// TestBreakerPausesWhileDscoIsDown).
func TestRetryBudget(t *testing.T) {
	tests := []struct {
		name       string
		dial       func(ctx context.Context, network, addr string) (net.Conn, error)
		fault      dscotest.Fault
		wantStatus schemas.CommandStatus
		wantCalls  int64 // -1: not counted (no call reaches the sandbox)
	}{
		{name: "dials time out", dial: timingOutDial, wantStatus: schemas.StatusFailed, wantCalls: -1},
		{name: "502 after applying", fault: dscotest.Fault{Rate502Applied: 1}, wantStatus: schemas.StatusOutcomeUnknown, wantCalls: 4},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, dscotest.Config{Seed: 62})
			kafkatest.CreateTopic(t, e.brokers, e.topic("inventory"), 1)
			_, err := e.client(outbound.RoleSupplier).SupplierUpdateCatalog(t.Context(), dsco.CatalogBatchRequest{
				Items: []dsco.CatalogItem{{SKU: "SKU-R1", Title: "r"}}})
			require.NoError(t, err)
			e.sandbox.SetFault("supplierUpdateInventory", tc.fault)
			cfg := e.pipelineConfig(outbound.RoleSupplier, fastRetry)
			if tc.dial != nil {
				tr := &http.Transport{DialContext: tc.dial}
				t.Cleanup(tr.CloseIdleConnections)
				cfg.Client, err = dsco.NewClient(e.dscoURL, dsco.WithStaticToken("t"), dsco.WithHTTPClient(&http.Client{Transport: tr}), fastRetry)
				require.NoError(t, err)
			}
			cfg.Retry = outbound.RetryConfig{MaxAttempts: 4, BaseDelay: 5 * time.Millisecond, MaxDelay: 20 * time.Millisecond}
			cfg.Breaker.ConsecutiveFailures = 1000
			e.start(router.OutboundConfig{Subscriber: e.subscriberConfig(kafkatest.Name("g")), Pipeline: cfg})

			e.send(&schemas.InventoryCommand{CommandID: "budget-1", SKU: "SKU-R1", Quantity: i32(3)})
			got := e.waitResults("budget-1")["budget-1"]
			assert.Equal(t, tc.wantStatus, got.Status, deref(got.Reason))
			assert.Equal(t, int32(4), got.Attempts)
			poisoned := e.waitPoisoned(1)
			assert.Equal(t, "budget-1", poisoned[0].CommandID)
			if tc.wantCalls >= 0 {
				assert.Equal(t, tc.wantCalls, e.sandbox.Stats().Calls["supplierUpdateInventory"], "Retry.MaxAttempts calls, no more")
			}
		})
	}
}

// TestGivenUpCommandIsNotSentAgain: a command whose record the Subscriber gave up while its
// batch waited for a retry (the partition was revoked and its drain is over: the handler
// context ended) is not sent any more, since the next owner has the record; here the next
// owner's copy, which finds the first copy's sending mark, is poisoned as outcome_unknown
// (a return cannot be reconciled), and the return is never created. The retry's wait has
// full jitter (up to a second), so the test counts the calls sent after the record was
// given up rather than expecting the first call alone before it.
func TestGivenUpCommandIsNotSentAgain(t *testing.T) {
	e := newEnv(t, dscotest.Config{Seed: 63})
	o := e.shippedOrder()
	calls := &returnCalls{base: http.DefaultTransport.(*http.Transport).Clone()}
	t.Cleanup(calls.base.CloseIdleConnections)
	_, h := e.handler("return", outbound.RetryConfig{BaseDelay: time.Second, MaxDelay: time.Second, MaxAttempts: 8},
		dsco.WithHTTPClient(&http.Client{Transport: calls}))
	value, err := e.serde.Encode(&schemas.ReturnCommand{CommandID: "given-up", OrderID: o.OrderID, LineItemID: str(o.Items[0].LineItemID), Quantity: i32(1)})
	require.NoError(t, err)
	rec := kafkago.Message{Topic: e.topic("return"), Offset: 7, Key: []byte(o.OrderID), Value: value}

	e.sandbox.SetFault("supplierCreateReturn", dscotest.Fault{Rate503: 1})
	first, revoke := context.WithCancel(context.Background())
	firstDone := make(chan error, 1)
	h(first, rec, func(err error) { firstDone <- err })
	require.Eventually(t, func() bool { return e.sandbox.Stats().Calls["supplierCreateReturn"] >= 1 }, waitLimit, 10*time.Millisecond)
	calls.givenUp.Store(true)
	revoke() // given up while its batch waits for the retry
	e.sandbox.SetFault("supplierCreateReturn", dscotest.Fault{})
	secondDone := make(chan error, 1)
	h(context.Background(), rec, func(err error) { secondDone <- err })
	require.NoError(t, <-secondDone)
	select {
	case err := <-firstDone:
		require.Error(t, err, "the given-up copy has no outcome")
	case <-time.After(waitLimit):
		t.Fatal("the given-up copy was never settled")
	}
	assert.Equal(t, schemas.StatusOutcomeUnknown, e.waitResults("given-up")["given-up"].Status)
	assert.Zero(t, calls.after.Load(), "no call once the record was given up")
	assert.Zero(t, e.sandbox.Stats().Returns)
}

// returnCalls is a transport to Dsco that counts the supplierCreateReturn requests sent
// once givenUp is set.
type returnCalls struct {
	base    *http.Transport
	givenUp atomic.Bool
	after   atomic.Int64
}

func (r *returnCalls) RoundTrip(req *http.Request) (*http.Response, error) {
	if strings.HasSuffix(req.URL.Path, "/supplier/return-in") && r.givenUp.Load() {
		r.after.Add(1)
	}
	return r.base.RoundTrip(req)
}

// TestRefusedCredentialsPauseCommands: credentials refused, by the token endpoint (a
// rotated secret) or by Dsco (a token it answers 401 to, after the client's one refresh),
// are not a verdict on the commands: none is rejected, failed or poisoned, however small
// the retry budget; the breaker opens and they wait. The log says why, at error level,
// with Dsco's answer.
func TestRefusedCredentialsPauseCommands(t *testing.T) {
	for _, tc := range []struct {
		name      string
		secret    string // the client's secret, or
		token     string // the static token it sends instead
		wantCalls bool   // whether writes reach Dsco (to be refused there)
		wantErr   error  // what the logged error matches
	}{
		{name: "token endpoint refuses the secret", secret: "rotated", wantErr: dsco.ErrToken},
		{name: "Dsco refuses the token", token: "revoked", wantCalls: true, wantErr: dsco.ErrUnauthorized},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, dscotest.Config{Seed: 64})
			logs := watermill.NewCaptureLogger()
			e.logger = logs
			kafkatest.CreateTopic(t, e.brokers, e.topic("inventory"), 1)
			reg := prometheus.NewRegistry()
			cfg := e.pipelineConfig(outbound.RoleSupplier, fastRetry)
			var err error
			if tc.token != "" {
				cfg.Client, err = dsco.NewClient(e.dscoURL, dsco.WithStaticToken(tc.token), fastRetry)
			} else {
				cfg.Client, err = dsco.NewClient(e.dscoURL, dsco.WithClientCredentials(dscotest.SupplierClientID, tc.secret), fastRetry)
			}
			require.NoError(t, err)
			cfg.Registerer = reg
			cfg.Retry = outbound.RetryConfig{MaxAttempts: 2, BaseDelay: 5 * time.Millisecond, MaxDelay: 20 * time.Millisecond}
			cfg.Breaker.ConsecutiveFailures = 5
			e.start(router.OutboundConfig{Subscriber: e.subscriberConfig(kafkatest.Name("g")), Pipeline: cfg})
			e.send(&schemas.InventoryCommand{CommandID: "cred-1", SKU: "SKU-C1", Quantity: i32(3)})
			require.Eventually(t, func() bool { return gauge(t, reg, "dsco_outbound_breaker_state") == 2 }, waitLimit, 10*time.Millisecond, "the breaker opens")
			assert.Zero(t, counted(t, reg), "no command has an outcome")
			assert.Empty(t, e.poisoned())
			assert.Equal(t, tc.wantCalls, e.sandbox.Stats().Calls["supplierUpdateInventory"] > 0, "calls")
			var failed []watermill.CapturedMessage
			for _, m := range logs.Captured()[watermill.ErrorLogLevel] {
				if m.Msg == "Dsco calls fail" {
					failed = append(failed, m)
				}
			}
			require.Len(t, failed, 1, "the run's first failure, at error level")
			assert.ErrorIs(t, failed[0].Err, tc.wantErr)
			assert.Equal(t, "inventory", failed[0].Fields["endpoint"])
		})
	}
}

// TestRetryAfterBoundedByMaxDelay: a Retry-After of an hour is obeyed up to
// Retry.MaxDelay: once Dsco takes writes again, the command is applied without waiting
// out the hour.
func TestRetryAfterBoundedByMaxDelay(t *testing.T) {
	e := newEnv(t, dscotest.Config{Seed: 65})
	kafkatest.CreateTopic(t, e.brokers, e.topic("inventory"), 1)
	_, err := e.client(outbound.RoleSupplier).SupplierUpdateCatalog(t.Context(), dsco.CatalogBatchRequest{
		Items: []dsco.CatalogItem{{SKU: "SKU-A1", Title: "a"}}})
	require.NoError(t, err)
	e.sandbox.SetFault("supplierUpdateInventory", dscotest.Fault{Rate429: 1, RetryAfter: time.Hour})
	cfg := e.pipelineConfig(outbound.RoleSupplier, dsco.WithRetry(dsco.RetryPolicy{MaxAttempts: 1}))
	cfg.Retry = outbound.RetryConfig{MaxAttempts: 1000, BaseDelay: 5 * time.Millisecond, MaxDelay: 50 * time.Millisecond}
	cfg.Breaker.ConsecutiveFailures = 1000
	e.start(router.OutboundConfig{Subscriber: e.subscriberConfig(kafkatest.Name("g")), Pipeline: cfg})
	e.send(&schemas.InventoryCommand{CommandID: "after-1", SKU: "SKU-A1", Quantity: i32(3)})
	require.Eventually(t, func() bool { return e.sandbox.Stats().Calls["supplierUpdateInventory"] >= 1 }, waitLimit, 10*time.Millisecond)
	e.sandbox.SetFault("supplierUpdateInventory", dscotest.Fault{})
	assert.Equal(t, schemas.StatusApplied, e.waitResults("after-1")["after-1"].Status)
}

// heldCall is an http.RoundTripper that holds the first write to path (default
// "/shipment-in") until release is closed, telling held once it holds it; other requests
// go through at once.
type heldCall struct {
	path          string
	held, release chan struct{}
	once          sync.Once
}

func (h *heldCall) RoundTrip(req *http.Request) (*http.Response, error) {
	path := cmp.Or(h.path, "/shipment-in")
	if req.Method == http.MethodPost && strings.HasSuffix(req.URL.Path, path) {
		first := false
		h.once.Do(func() { first = true })
		if first {
			close(h.held)
			<-h.release
		}
	}
	return http.DefaultTransport.RoundTrip(req)
}

// TestRedeliveryWaitsForTheCallInFlight: a ship command whose record the Subscriber gave
// up while the Dsco call carrying it was in flight, and delivered again, is not sent a
// second time: the new delivery waits for the earlier one's outcome, then decides. When
// Dsco applied the shipment, it reconciles (reads the order back) and finds it shipped;
// when Dsco answered "accepted" (queued, applied later), the order does not show it yet,
// and the earlier delivery's applied mark in the store decides. Without the wait the
// order was read before the call landed, and the line shipped again.
func TestRedeliveryWaitsForTheCallInFlight(t *testing.T) {
	for _, tc := range []struct {
		name   string
		queued bool
	}{
		{"applied", false},
		{"queued", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := dscotest.Config{Seed: 64}
			if tc.queued {
				cfg.Queue = dscotest.QueueConfig{Enabled: true, Operations: []string{"supplierCreateShipment"}}
			}
			e := newEnv(t, cfg)
			o := e.seedOrders(1)[0]
			tr := &heldCall{held: make(chan struct{}), release: make(chan struct{})}
			_, h := e.handler("ship", outbound.RetryConfig{MaxAttempts: 1}, dsco.WithHTTPClient(&http.Client{Transport: tr}))
			value, err := e.serde.Encode(&schemas.ShipCommand{CommandID: "ship-1", OrderID: o.OrderID, LineItemID: str(o.Items[0].LineItemID),
				TrackingNumber: str("1Z999"), Carrier: str("UPS"), ShippedAt: ptr(time.Now().Add(-time.Hour))})
			require.NoError(t, err)
			rec := kafkago.Message{Topic: e.topic("ship"), Offset: 7, Key: []byte(o.OrderID), Value: value, Time: time.Now()}

			first, giveUp := context.WithCancel(context.Background())
			h(first, rec, func(error) {})
			select {
			case <-tr.held: // the call carrying the first delivery is in flight
			case <-time.After(waitLimit):
				t.Fatal("no shipment call")
			}
			giveUp() // the Subscriber gives the record up, and delivers it again
			second := make(chan error, 1)
			h(context.Background(), rec, func(err error) { second <- err })
			select {
			case err := <-second:
				t.Errorf("the second delivery was done (%v) while the call carrying the first was in flight", err)
				second <- err
			case <-time.After(time.Second): // the time it took without the wait: a few milliseconds
			}
			close(tr.release)
			select {
			case err := <-second:
				require.NoError(t, err)
			case <-time.After(waitLimit):
				t.Fatal("the second delivery has no outcome")
			}
			assert.Equal(t, int64(1), e.sandbox.Stats().Calls["supplierCreateShipment"], "one shipment call")
			res := e.waitResults("ship-1")["ship-1"]
			assert.Equal(t, schemas.OutcomeAccepted, res.Outcome, deref(res.Reason))
			if tc.queued {
				e.sandbox.ApplyQueued()
			}
			assert.EqualValues(t, 1, e.sandbox.Applied("supplierCreateShipment", dscotest.LineKey(o.OrderID, o.Items[0].LineItemID)), "shipped once")
		})
	}
}

// TestRedeliveryAfterARefusalIsSent: a return whose record the Subscriber gave up while
// the call carrying it was in flight, and delivered again, waits for that call; Dsco
// refuses the return (nothing shipped to return), so the earlier delivery marks it
// released, and the new delivery, which found it "sending", sends it rather than
// reconciling it: a refused call cannot have applied it. It was poisoned as
// outcome_unknown, contradicting the refusal before it.
func TestRedeliveryAfterARefusalIsSent(t *testing.T) {
	e := newEnv(t, dscotest.Config{Seed: 66})
	o := e.seedOrders(1)[0] // nothing shipped: a return of it is refused
	tr := &heldCall{path: "/return-in", held: make(chan struct{}), release: make(chan struct{})}
	_, h := e.handler("return", outbound.RetryConfig{MaxAttempts: 1}, dsco.WithHTTPClient(&http.Client{Transport: tr}))
	value, err := e.serde.Encode(&schemas.ReturnCommand{CommandID: "ret-refused", OrderID: o.OrderID, LineItemID: str(o.Items[0].LineItemID), Quantity: i32(1)})
	require.NoError(t, err)
	rec := kafkago.Message{Topic: e.topic("return"), Offset: 7, Key: []byte(o.OrderID), Value: value, Time: time.Now()}

	first, giveUp := context.WithCancel(context.Background())
	h(first, rec, func(error) {})
	select {
	case <-tr.held:
	case <-time.After(waitLimit):
		t.Fatal("no return call")
	}
	giveUp()
	second := make(chan error, 1)
	h(context.Background(), rec, func(err error) { second <- err })
	close(tr.release)
	select {
	case err := <-second:
		require.NoError(t, err)
	case <-time.After(waitLimit):
		t.Fatal("the second delivery has no outcome")
	}
	for _, r := range e.waitPoisoned(2) {
		assert.Equal(t, string(schemas.StatusRejected), r.Status, r.Reason)
	}
	assert.Equal(t, int64(2), e.sandbox.Stats().Calls["supplierCreateReturn"], "sent again by the second delivery")
}

// edgeAnswer answers the first write to path with status at once, without passing it on,
// as a CDN in front of Dsco does when it cannot reach Dsco; the calls after it go through.
type edgeAnswer struct {
	path   string
	status int
	writes atomic.Int64
}

func (a *edgeAnswer) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Method == http.MethodPost && strings.HasSuffix(req.URL.Path, a.path) && a.writes.Add(1) == 1 {
		_ = req.Body.Close()
		const body = `{"message":"origin unreachable"}`
		return &http.Response{StatusCode: a.status, Header: http.Header{"Content-Type": {"application/json"}},
			Body: io.NopCloser(strings.NewReader(body)), ContentLength: int64(len(body)), Request: req}, nil
	}
	return http.DefaultTransport.RoundTrip(req)
}

// TestCDNNoConnectionSentAgain: a return whose write a CDN answers 521 (Cloudflare: the
// origin refused the connection; 523, 525 and 526 likewise say no connection was made) is
// sent again and applied once, with no order read to reconcile it: the write never reached
// Dsco. It was taken for an outcome unknown, which a return cannot be reconciled from, and
// poisoned as outcome_unknown. A 522 stays an outcome unknown: Cloudflare answers it also
// for a request sent over a connection made that the origin did not acknowledge.
func TestCDNNoConnectionSentAgain(t *testing.T) {
	for _, tc := range []struct {
		status      int
		wantStatus  schemas.CommandStatus
		wantReturns int64
		wantWrites  int64 // the return's writes, the one the CDN answered included
	}{
		{521, schemas.StatusApplied, 1, 2},
		{522, schemas.StatusOutcomeUnknown, 0, 1},
	} {
		t.Run(strconv.Itoa(tc.status), func(t *testing.T) {
			e := newEnv(t, dscotest.Config{Seed: 67})
			o := e.shippedOrder()
			before := e.sandbox.Stats()
			tr := &edgeAnswer{path: "/supplier/return-in", status: tc.status}
			_, h := e.handler("return", outbound.RetryConfig{MaxAttempts: 3}, dsco.WithHTTPClient(&http.Client{Transport: tr}))
			value, err := e.serde.Encode(&schemas.ReturnCommand{CommandID: "ret-edge", OrderID: o.OrderID, LineItemID: str(o.Items[0].LineItemID), Quantity: i32(1)})
			require.NoError(t, err)
			done := make(chan error, 1)
			h(context.Background(), kafkago.Message{Topic: e.topic("return"), Key: []byte(o.OrderID), Value: value}, func(err error) { done <- err })
			select {
			case err := <-done:
				require.NoError(t, err)
			case <-time.After(waitLimit):
				t.Fatal("no outcome")
			}

			got := e.waitResults("ret-edge")["ret-edge"]
			assert.Equal(t, tc.wantStatus, got.Status, deref(got.Reason))
			after := e.sandbox.Stats()
			assert.Equal(t, tc.wantReturns, after.Returns-before.Returns, "returns created")
			assert.Equal(t, tc.wantWrites, tr.writes.Load(), "writes")
			assert.Equal(t, before.Calls["supplierGetOrder"], after.Calls["supplierGetOrder"], "no order read to reconcile")
		})
	}
}

// TestStaleCallWritesNoMarkOverApplied: a return whose record the Subscriber gave up
// while the call carrying it was in flight (its partition moved), and which the new owner
// applied meanwhile, is refused by Dsco once that call is answered: its result and poison
// record are written, but no released mark over the applied one the store read, and a
// later delivery is answered "already applied", not sent again. The released mark took
// the applied one's place, in the topic (whose compaction keeps it) and in memory, and
// the delivery sent the return again.
func TestStaleCallWritesNoMarkOverApplied(t *testing.T) {
	e := newEnv(t, dscotest.Config{Seed: 68})
	o := e.seedOrders(1)[0] // nothing shipped: a return of it is refused
	tr := &heldCall{path: "/return-in", held: make(chan struct{}), release: make(chan struct{})}
	p, h := e.handler("return", outbound.RetryConfig{MaxAttempts: 1}, dsco.WithHTTPClient(&http.Client{Transport: tr}))
	const id = "ret-stale"
	value, err := e.serde.Encode(&schemas.ReturnCommand{CommandID: id, OrderID: o.OrderID, LineItemID: str(o.Items[0].LineItemID), Quantity: i32(1)})
	require.NoError(t, err)
	rec := kafkago.Message{Topic: e.topic("return"), Offset: 7, Key: []byte(o.OrderID), Value: value, Time: time.Now()}

	first, giveUp := context.WithCancel(context.Background())
	firstDone := make(chan error, 1)
	h(first, rec, func(err error) { firstDone <- err })
	select {
	case <-tr.held:
	case <-time.After(waitLimit):
		t.Fatal("no return call")
	}
	giveUp()
	// The new owner's applied mark, which the store follows.
	require.NoError(t, e.pub.WriteRecords(kafkago.Message{Topic: e.applied, Key: []byte(id), Value: []byte(outbound.MarkApplied.String())}))
	require.Eventually(t, func() bool { return p.Store().Get(id) == outbound.MarkApplied }, waitLimit, 10*time.Millisecond, "the store reads the applied mark")
	close(tr.release)
	select {
	case err := <-firstDone:
		require.NoError(t, err, "the refusal is written")
	case <-time.After(waitLimit):
		t.Fatal("the given-up delivery has no outcome")
	}
	poisoned := e.waitPoisoned(1)
	assert.Equal(t, string(schemas.StatusRejected), poisoned[0].Status, "the call's refusal")
	assert.Equal(t, []string{"sending", "applied"}, e.marks(id), "marks in the topic")
	assert.Equal(t, outbound.MarkApplied, p.Store().Get(id))

	e.deliver(h, rec) // delivered again
	require.Eventually(t, func() bool {
		got, _ := e.resultsByID()
		return got[id] != nil && deref(got[id].Reason) == "already applied; delivered again"
	}, waitLimit, 100*time.Millisecond, "the delivery is answered already applied")
	assert.Equal(t, int64(1), e.sandbox.Stats().Calls["supplierCreateReturn"], "return calls")
}
