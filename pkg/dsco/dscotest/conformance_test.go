package dscotest_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dscokafka/connector/api"
	"github.com/dscokafka/connector/pkg/dsco/dscotest"
)

// TestConformance calls every operation of the contract, with success and
// error answers, through a Validator: every request and response is checked
// against the OpenAPI document (the env's cleanup fails the test on any
// violation).
func TestConformance(t *testing.T) {
	e := newEnv(t, dscotest.Config{})
	sup, ret := e.supplier(), e.retailer()
	_, err := e.srv.SeedOrders(3)
	require.NoError(t, err)

	e.createOrders(ret, newOrder("O-1", 2), newOrder("O-2", 1))
	steps := []struct {
		name, method, path string
		tok                string
		body               any
		want               int
	}{
		{"catalog", http.MethodPost, "/supplier/catalog-in", sup, map[string]any{"items": []any{
			map[string]any{"sku": "SKU-NEW", "title": "New", "cost": 3.25, "retailModelRules": map[string]any{"allowedModels": []string{"dropship"}}, "attributes": map[string]any{"color": "red"}},
		}}, http.StatusOK},
		{"catalog invalid", http.MethodPost, "/supplier/catalog-in", sup, map[string]any{"items": []any{map[string]any{"sku": ""}}}, http.StatusBadRequest},
		{"inventory", http.MethodPost, "/supplier/inventory-in", sup, map[string]any{"items": []any{map[string]any{"sku": "SKU-NEW", "quantity": 5, "warehouseId": "WH2"}}}, http.StatusOK},
		{"acknowledge", http.MethodPost, "/supplier/acknowledge-order-in", sup, map[string]any{"orderIds": []string{"O-1", "missing"}}, http.StatusOK},
		{"shipment", http.MethodPost, "/supplier/shipment-in", sup, map[string]any{"shipments": []any{
			map[string]any{"orderId": "O-1", "lineItemId": "O-1-L1", "trackingNumber": "1Z999", "carrier": "UPS", "shippedAt": "2026-11-24T10:00:00Z"},
		}}, http.StatusOK},
		{"shipment invalid", http.MethodPost, "/supplier/shipment-in", sup, map[string]any{"shipments": []any{map[string]any{"orderId": 7}}}, http.StatusBadRequest},
		{"cancel", http.MethodPost, "/supplier/cancel-in", sup, map[string]any{"cancellations": []any{map[string]any{"orderId": "O-2", "reason": "out of stock"}}}, http.StatusOK},
		{"return", http.MethodPost, "/supplier/return-in", sup, map[string]any{"returns": []any{map[string]any{"orderId": "O-1", "lineItemId": "O-1-L1", "quantity": 1, "returnReason": "damaged"}}}, http.StatusOK},
		{"invoice", http.MethodPost, "/supplier/invoice-in", sup, map[string]any{"invoices": []any{map[string]any{"orderId": "O-1", "invoiceNumber": "INV-1", "amount": 21, "invoiceDate": "2026-11-24"}}}, http.StatusOK},
		{"get order", http.MethodGet, "/supplier/order-out/O-1", sup, nil, http.StatusOK},
		{"get missing order", http.MethodGet, "/supplier/order-out/nope", sup, nil, http.StatusNotFound},
		{"list orders", http.MethodGet, "/supplier/order-out?status=created&limit=2", sup, nil, http.StatusOK},
		{"retailer order invalid", http.MethodPost, "/retailer/order-in", ret, map[string]any{"orders": []any{map[string]any{"orderId": "X"}}}, http.StatusBadRequest},
		{"retailer return", http.MethodPost, "/retailer/return-in", ret, map[string]any{"returns": []any{map[string]any{"orderId": "O-1", "lineItemId": "O-1-L1", "quantity": 1}}}, http.StatusOK},
		{"retailer cancel", http.MethodPost, "/retailer/cancel-in", ret, map[string]any{"cancellations": []any{map[string]any{"orderId": "O-1", "lineItemId": "O-1-L2"}}}, http.StatusOK},
		{"retailer catalog", http.MethodPost, "/retailer/catalog-in", ret, map[string]any{"items": []any{map[string]any{"sku": "SKU-NEW", "attributes": map[string]any{"category": "Home"}}}}, http.StatusOK},
		{"wrong role", http.MethodPost, "/retailer/catalog-in", sup, map[string]any{"items": []any{}}, http.StatusForbidden},
		{"no token", http.MethodGet, "/streams", "", nil, http.StatusUnauthorized},
		{"create stream", http.MethodPost, "/streams", sup, map[string]any{"objectType": "order", "partitionCount": 2}, http.StatusOK},
		{"list streams", http.MethodGet, "/streams", sup, nil, http.StatusOK},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			call := e.call
			if s.want == http.StatusBadRequest || s.tok == "" {
				call = e.callLoose
			}
			status, body := call(s.method, s.path, s.tok, s.body)
			assert.Equal(t, s.want, status, string(body))
		})
	}

	var streams struct {
		Streams []streamJSON `json:"streams"`
	}
	e.callJSON(http.StatusOK, http.MethodGet, "/streams", sup, nil, &streams)
	require.Len(t, streams.Streams, 1)
	id := streams.Streams[0].StreamID
	ev := e.events(sup, id, "?limit=3")
	require.NotEmpty(t, ev.Events)
	e.callJSON(http.StatusOK, http.MethodPost, "/streams/"+id+"/position", sup, map[string]any{"position": ev.Position}, nil)
	status, _ := e.call(http.MethodGet, "/streams/unknown/events", sup, nil)
	assert.Equal(t, http.StatusNotFound, status)
	status, _ = e.tokenCall(dscotest.SupplierClientID, "wrong-secret")
	assert.Equal(t, http.StatusUnauthorized, status)

	t.Run("every operation called", func(t *testing.T) {
		doc, err := api.Load(context.Background())
		require.NoError(t, err)
		calls := e.srv.Stats().Calls
		for path, item := range doc.Paths.Map() {
			for method, op := range item.Operations() {
				assert.Positive(t, calls[op.OperationID], "%s %s (%s) never called", method, path, op.OperationID)
			}
		}
	})
}
