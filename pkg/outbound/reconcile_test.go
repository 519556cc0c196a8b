package outbound_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dscokafka/connector/pkg/dsco"
	"github.com/dscokafka/connector/pkg/dsco/dscotest"
	"github.com/dscokafka/connector/pkg/outbound"
	"github.com/dscokafka/connector/pkg/schemas"
)

// appliedThen502Transport passes the first call to path on, and answers it 502 once the
// sandbox has applied it (a gateway timing out while Dsco completes the write); the
// calls after it go through, those the sandbox answers with status failed given the
// HTTP status failedAs when it is set (a Dsco that answers a batch of which no item
// applied with a 400).
type appliedThen502Transport struct {
	next     http.RoundTripper
	path     string
	failedAs int
	calls    atomic.Int64
}

func (a *appliedThen502Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := a.next.RoundTrip(req)
	if err != nil || !strings.HasSuffix(req.URL.Path, a.path) {
		return resp, err
	}
	if a.calls.Add(1) > 1 {
		if a.failedAs == 0 || resp.StatusCode != http.StatusOK {
			return resp, nil
		}
		body, err := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if err != nil {
			return nil, err
		}
		if strings.Contains(string(body), `"status":"failed"`) {
			resp.StatusCode = a.failedAs
		}
		resp.Body = io.NopCloser(bytes.NewReader(body))
		return resp, nil
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	const body = `{"message":"bad gateway"}`
	return &http.Response{StatusCode: http.StatusBadGateway, Header: http.Header{"Content-Type": {"application/json"}},
		Body: io.NopCloser(strings.NewReader(body)), ContentLength: int64(len(body)), Request: req}, nil
}

// TestCancelWholeOrderReconciled: a cancel of a whole order (no lineItemId) applied by a
// call answered 502 is reconciled as applied once the order has nothing left open, also
// when a line of it was shipped before, which leaves the order shipped, not cancelled. It
// was sent again, and Dsco's refusal (nothing left to cancel) rejected and poisoned a
// cancel that Dsco had applied.
func TestCancelWholeOrderReconciled(t *testing.T) {
	e := newEnv(t, dscotest.Config{Seed: 64})
	var o *dsco.Order
	for _, s := range e.seedOrders(20) {
		if len(s.Items) >= 2 {
			o = s
			break
		}
	}
	require.NotNil(t, o, "an order of two lines or more among those seeded")
	_, err := e.client(outbound.RoleSupplier).SupplierCreateShipment(t.Context(), dsco.ShipmentBatchRequest{
		Shipments: []dsco.ShipmentItem{{OrderID: o.OrderID, LineItemID: o.Items[0].LineItemID, TrackingNumber: "1Z", Carrier: "UPS"}}})
	require.NoError(t, err)

	tr := &appliedThen502Transport{next: http.DefaultTransport.(*http.Transport).Clone(), path: "/supplier/cancel-in"}
	_, h := e.handler("cancel", outbound.RetryConfig{MaxAttempts: 3}, dsco.WithHTTPClient(&http.Client{Transport: tr}))
	value, err := e.serde.Encode(&schemas.CancelCommand{CommandID: "cancel-order", OrderID: o.OrderID, Reason: str("customer")})
	require.NoError(t, err)
	done := make(chan error, 1)
	h(context.Background(), kafkago.Message{Topic: e.topic("cancel"), Key: []byte(o.OrderID), Value: value}, func(err error) { done <- err })
	require.NoError(t, <-done)

	got := e.waitResults("cancel-order")["cancel-order"]
	assert.Equal(t, schemas.StatusApplied, got.Status, deref(got.Reason))
	assert.EqualValues(t, 1, tr.calls.Load(), "not sent again")
	after := e.order(o.OrderID)
	assert.Equal(t, dsco.OrderShipped, after.Status, "the sandbox: shipped, the rest cancelled")
	for _, li := range after.Items[1:] {
		assert.Equal(t, li.Quantity, li.QuantityCancelled, "line %s cancelled", li.LineItemID)
	}
}

// TestDuplicateAnsweredWith4xxIsApplied: an invoice whose call was answered 502 after
// Dsco created it is sent again, and Dsco answers DUPLICATE_INVOICE for it: applied, as
// when that answer comes with HTTP 200, also when it comes with a 400 (the spec declares
// 400 for batch writes; a batch of which no item applied may well get one). It was
// rejected and poisoned, although the invoice exists.
func TestDuplicateAnsweredWith4xxIsApplied(t *testing.T) {
	for _, failedAs := range []int{0, http.StatusBadRequest} {
		t.Run(strconv.Itoa(failedAs), func(t *testing.T) {
			e := newEnv(t, dscotest.Config{Seed: 65})
			o := e.shippedOrder()
			tr := &appliedThen502Transport{next: http.DefaultTransport.(*http.Transport).Clone(), path: "/supplier/invoice-in", failedAs: failedAs}
			_, h := e.handler("invoice", outbound.RetryConfig{MaxAttempts: 3}, dsco.WithHTTPClient(&http.Client{Transport: tr}))
			value, err := e.serde.Encode(&schemas.InvoiceCommand{CommandID: "inv-dup", OrderID: o.OrderID, InvoiceNumber: str("INV-DUP"), Amount: money("3.50")})
			require.NoError(t, err)
			done := make(chan error, 1)
			h(context.Background(), kafkago.Message{Topic: e.topic("invoice"), Key: []byte(o.OrderID), Value: value}, func(err error) { done <- err })
			require.NoError(t, <-done)

			got := e.waitResults("inv-dup")["inv-dup"]
			assert.Equal(t, schemas.StatusApplied, got.Status, deref(got.Reason))
			assert.EqualValues(t, 2, tr.calls.Load(), "sent again once")
			assert.EqualValues(t, 1, e.sandbox.Applied("supplierCreateInvoice", "INV-DUP"))
		})
	}
}

// lateLandingTransport answers the first write to path 504 at once, without passing it
// on, as a gateway that gives up on a slow Dsco does, and lets the write land once the
// order it names has been read back once: the read sees the order before the write, and
// the write is applied right after it, before the pipeline acts on what it read. With
// refuse, the next refuse writes are answered 503 (not passed on), and the first write
// lands right after the last of them instead.
type lateLandingTransport struct {
	next   http.RoundTripper
	path   string
	refuse int64
	mu     sync.Mutex
	held   *http.Request // the write answered 504, not yet landed
	heldAt []byte
	writes atomic.Int64
	landed atomic.Bool
}

func (l *lateLandingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Method == http.MethodPost && strings.HasSuffix(req.URL.Path, l.path) {
		n := l.writes.Add(1)
		if n > 1+l.refuse {
			return l.next.RoundTrip(req)
		}
		body, err := io.ReadAll(req.Body)
		_ = req.Body.Close()
		if err != nil {
			return nil, err
		}
		status, answer := http.StatusServiceUnavailable, `{"message":"service unavailable"}`
		if n == 1 {
			l.mu.Lock()
			l.held, l.heldAt = req.Clone(context.Background()), body
			l.mu.Unlock()
			status, answer = http.StatusGatewayTimeout, `{"message":"gateway timeout"}`
		}
		if n == 1+l.refuse && l.refuse > 0 {
			if err := l.land(); err != nil {
				return nil, err
			}
		}
		return &http.Response{StatusCode: status, Header: http.Header{"Content-Type": {"application/json"}},
			Body: io.NopCloser(strings.NewReader(answer)), ContentLength: int64(len(answer)), Request: req}, nil
	}
	resp, err := l.next.RoundTrip(req)
	if err != nil || req.Method != http.MethodGet || !strings.Contains(req.URL.Path, "/supplier/order-out/") || l.refuse > 0 {
		return resp, err
	}
	if err := l.land(); err != nil {
		return nil, err
	}
	return resp, nil
}

// land applies the held write, once.
func (l *lateLandingTransport) land() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.held == nil {
		return nil
	}
	w := l.held
	l.held = nil
	w.Body = io.NopCloser(bytes.NewReader(l.heldAt))
	w.ContentLength = int64(len(l.heldAt))
	landed, err := l.next.RoundTrip(w)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, landed.Body)
	_ = landed.Body.Close()
	l.landed.Store(landed.StatusCode == http.StatusOK)
	return nil
}

// TestLateLandingWriteReconciledBeforeResend: a shipment answered 504 by a gateway lands
// in Dsco only after the pipeline read the order back (not shipped yet). The order is
// read again right before the shipment would be sent again, after the retry's backoff or
// the breaker's pause (the 504 opened it), and shows it shipped: applied, sent once. The
// read made at once after the 504 decided alone, and the shipment was sent again after
// the backoff, refused by Dsco (nothing left to ship) and poisoned as rejected, though
// shipped; after the breaker's pause it still was, the read again made only while the
// breaker was closed, and the call that follows a pause is the half-open breaker's trial.
func TestLateLandingWriteReconciledBeforeResend(t *testing.T) {
	for _, tc := range []struct {
		name     string
		failures int   // the breaker's ConsecutiveFailures
		refuse   int64 // writes answered 503 after the 504
		writes   int64
	}{
		{"after the retry's backoff", 1000, 0, 1},
		{"after the breaker's pause", 1, 0, 1},
		// The write lands while a resend answered 503 waits for its retry.
		{"after a resend Dsco did not take", 1000, 1, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, dscotest.Config{Seed: 68})
			o := e.seedOrders(1)[0]
			tr := &lateLandingTransport{next: http.DefaultTransport.(*http.Transport).Clone(), path: "/supplier/shipment-in", refuse: tc.refuse}
			cfg := e.pipelineConfig(outbound.RoleSupplier, dsco.WithRetry(dsco.RetryPolicy{MaxAttempts: 1}), dsco.WithHTTPClient(&http.Client{Transport: tr}))
			cfg.Retry = outbound.RetryConfig{MaxAttempts: 3, BaseDelay: 10 * time.Millisecond, MaxDelay: 10 * time.Millisecond}
			cfg.Breaker = outbound.BreakerConfig{ConsecutiveFailures: tc.failures, OpenTimeout: 50 * time.Millisecond}
			_, h := e.handlerOf("ship", cfg)
			value, err := e.serde.Encode(&schemas.ShipCommand{CommandID: "ship-late", OrderID: o.OrderID, LineItemID: str(o.Items[0].LineItemID),
				TrackingNumber: str("1ZLATE"), Carrier: str("UPS")})
			require.NoError(t, err)
			done := make(chan error, 1)
			h(context.Background(), kafkago.Message{Topic: e.topic("ship"), Key: []byte(o.OrderID), Value: value}, func(err error) { done <- err })
			require.NoError(t, <-done)

			require.True(t, tr.landed.Load(), "the held shipment landed after the first read")
			got := e.waitResults("ship-late")["ship-late"]
			assert.Equal(t, schemas.StatusApplied, got.Status, deref(got.Reason))
			assert.EqualValues(t, tc.writes, tr.writes.Load(), "not sent again once landed")
			assert.EqualValues(t, 1, e.sandbox.Applied("supplierCreateShipment", dscotest.LineKey(o.OrderID, o.Items[0].LineItemID)))
		})
	}
}
