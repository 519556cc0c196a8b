package dscotest_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dscokafka/connector/pkg/dsco/dscotest"
)

func shipment(orderID, line string) map[string]any {
	return map[string]any{"shipments": []any{map[string]any{"orderId": orderID, "lineItemId": line, "trackingNumber": "1Z", "carrier": "UPS"}}}
}

// TestQueuedWrites: in queue mode a valid batch is answered accepted and
// changes nothing until it is applied; then its state changes, events and
// applied counts appear, and its outcome is readable.
func TestQueuedWrites(t *testing.T) {
	e := newEnv(t, dscotest.Config{Queue: dscotest.QueueConfig{Enabled: true}})
	sup, ret := e.supplier(), e.retailer()
	s := e.createStream(sup, "orderitemchange", 1, nil)

	br := e.write(http.StatusOK, "/retailer/order-in", ret, map[string]any{"orders": []any{newOrder("PO-Q1", 2)}})
	assert.Equal(t, dscotest.BatchAccepted, br.Status)
	assert.Empty(t, br.Errors)
	status, _ := e.call(http.MethodGet, "/supplier/order-out/PO-Q1", sup, nil)
	assert.Equal(t, http.StatusNotFound, status, "not created until applied")
	assert.EqualValues(t, 1, e.srv.Stats().Queued)
	out, ok := e.srv.Batch(br.BatchID)
	require.True(t, ok)
	assert.Equal(t, dscotest.BatchQueued, out.Status)

	assert.Equal(t, 1, e.srv.ApplyQueued())
	out, _ = e.srv.Batch(br.BatchID)
	assert.Equal(t, "completed", out.Status)
	assert.Equal(t, "created", e.order(sup, "PO-Q1").Status)

	// Two shipments queued in order: the second fails when applied, since
	// the first shipped everything.
	first := e.write(http.StatusOK, "/supplier/shipment-in", sup, shipment("PO-Q1", "PO-Q1-L1"))
	second := e.write(http.StatusOK, "/supplier/shipment-in", sup, shipment("PO-Q1", "PO-Q1-L1"))
	assert.Equal(t, dscotest.BatchAccepted, second.Status)
	assert.Empty(t, e.events(sup, s.StreamID, "").Events, "no event before the batch is applied")
	assert.Zero(t, e.srv.Applied("supplierCreateShipment", dscotest.LineKey("PO-Q1", "PO-Q1-L1")))

	// A request that breaks the contract is refused at once, as before.
	status, _ = e.callLoose(http.MethodPost, "/supplier/shipment-in", sup, map[string]any{"shipments": []any{map[string]any{"orderId": "PO-Q1"}}})
	assert.Equal(t, http.StatusBadRequest, status)

	var applied map[string]int
	e.callJSON(http.StatusOK, http.MethodPost, "/_sandbox/queue/apply", "", map[string]any{}, &applied)
	assert.Equal(t, map[string]int{"applied": 2}, applied)
	assert.EqualValues(t, 1, e.srv.Applied("supplierCreateShipment", dscotest.LineKey("PO-Q1", "PO-Q1-L1")))
	assert.Len(t, e.events(sup, s.StreamID, "").Events, 1)
	out, _ = e.srv.Batch(first.BatchID)
	assert.Equal(t, "completed", out.Status)
	var got dscotest.BatchOutcome
	e.callJSON(http.StatusOK, http.MethodGet, "/_sandbox/batches/"+second.BatchID, "", nil, &got)
	assert.Equal(t, "failed", got.Status)
	require.Len(t, got.Errors, 1)
	assert.Equal(t, "INVALID_STATE", got.Errors[0].Code)
	assert.Equal(t, "shipments[0].lineItemId", got.Errors[0].Field)

	var q map[string]int
	e.callJSON(http.StatusOK, http.MethodGet, "/_sandbox/queue", "", nil, &q)
	assert.Equal(t, map[string]int{"queued": 0}, q)
	status, _ = e.call(http.MethodGet, "/_sandbox/batches/batch-unknown", "", nil)
	assert.Equal(t, http.StatusNotFound, status)
	_, ok = e.srv.Batch("batch-unknown")
	assert.False(t, ok)
}

// TestQueuedWritesApplyAfterDelay: with a delay, queued batches apply on
// their own, in order; only the configured operations are queued.
func TestQueuedWritesApplyAfterDelay(t *testing.T) {
	e := newEnv(t, dscotest.Config{Queue: dscotest.QueueConfig{Enabled: true, Status: dscotest.BatchProcessing,
		Delay: 20 * time.Millisecond, Operations: []string{"supplierCreateShipment"}}})
	sup, ret := e.supplier(), e.retailer()
	e.createOrders(ret, newOrder("PO-D1", 1)) // not queued: applied at once
	br := e.write(http.StatusOK, "/supplier/shipment-in", sup, shipment("PO-D1", "PO-D1-L1"))
	assert.Equal(t, dscotest.BatchProcessing, br.Status)
	require.Eventually(t, func() bool { return e.srv.Queued() == 0 }, 10*time.Second, 5*time.Millisecond)
	assert.Equal(t, "shipped", e.order(sup, "PO-D1").Status)
	out, _ := e.srv.Batch(br.BatchID)
	assert.Equal(t, "completed", out.Status)
}

func TestQueueConfigValidate(t *testing.T) {
	for name, q := range map[string]dscotest.QueueConfig{
		"status":    {Enabled: true, Status: "completed"},
		"delay":     {Enabled: true, Delay: -time.Second},
		"operation": {Enabled: true, Operations: []string{"supplierGetOrder"}},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := dscotest.New(dscotest.Config{Queue: q})
			assert.Error(t, err)
		})
	}
}
