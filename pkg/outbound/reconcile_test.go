package outbound_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

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
// calls after it go through untouched.
type appliedThen502Transport struct {
	next  http.RoundTripper
	path  string
	calls atomic.Int64
}

func (a *appliedThen502Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := a.next.RoundTrip(req)
	if err != nil || !strings.HasSuffix(req.URL.Path, a.path) || a.calls.Add(1) > 1 {
		return resp, err
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
