package dscotest_test

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dscokafka/connector/pkg/dsco/dscotest"
)

func TestTokens(t *testing.T) {
	e := newEnv(t, dscotest.Config{TokenTTL: time.Minute})
	tests := []struct {
		name    string
		header  func() string
		advance time.Duration
		want    int
	}{
		{"valid", func() string { return "Bearer " + e.supplier() }, 0, http.StatusOK},
		{"missing", func() string { return "" }, 0, http.StatusUnauthorized},
		{"not bearer", func() string { return "Basic " + e.supplier() }, 0, http.StatusUnauthorized},
		{"unknown token", func() string { return "Bearer 0123456789abcdef" }, 0, http.StatusUnauthorized},
		{"just before expiry", func() string { return "Bearer " + e.supplier() }, time.Minute - time.Second, http.StatusOK},
		{"expired", func() string { return "Bearer " + e.supplier() }, time.Minute, http.StatusUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := tt.header()
			e.clock.Add(tt.advance)
			req, err := http.NewRequest(http.MethodGet, e.srv.URL+"/streams", nil)
			require.NoError(t, err)
			if h != "" {
				req.Header.Set("Authorization", h)
			}
			resp, err := e.loose.Do(req)
			require.NoError(t, err)
			resp.Body.Close()
			assert.Equal(t, tt.want, resp.StatusCode)
			if tt.want == http.StatusUnauthorized {
				assert.Contains(t, resp.Header.Get("WWW-Authenticate"), "Bearer")
			}
		})
	}

	t.Run("wrong secret", func(t *testing.T) {
		status, body := e.tokenCall(dscotest.SupplierClientID, "not-the-secret")
		assert.Equal(t, http.StatusUnauthorized, status)
		assert.JSONEq(t, `{"error":"invalid_client"}`, string(body))
		assert.NotContains(t, string(body), "not-the-secret")
	})
	t.Run("expires_in is the TTL", func(t *testing.T) {
		_, body := e.tokenCall(dscotest.RetailerClientID, dscotest.RetailerClientSecret)
		var tok struct {
			ExpiresIn int `json:"expires_in"`
		}
		require.NoError(t, json.Unmarshal(body, &tok))
		assert.Equal(t, 60, tok.ExpiresIn)
	})
	t.Run("ExpireTokens", func(t *testing.T) {
		tok := e.supplier()
		e.srv.ExpireTokens()
		status, _ := e.callLoose(http.MethodGet, "/streams", tok, nil)
		assert.Equal(t, http.StatusUnauthorized, status)
	})
	t.Run("wrong role", func(t *testing.T) {
		for path, tok := range map[string]string{"/supplier/order-out": e.retailer(), "/retailer/order-in": e.supplier()} {
			method := http.MethodGet
			var body any
			if path == "/retailer/order-in" {
				method, body = http.MethodPost, map[string]any{"orders": []any{newOrder("R-1", 1)}}
			}
			status, b := e.call(method, path, tok, body)
			assert.Equal(t, http.StatusForbidden, status, path)
			assert.Contains(t, string(b), `"code":"FORBIDDEN"`)
		}
	})
}

func TestValidation(t *testing.T) {
	e := newEnv(t, dscotest.Config{})
	sup, ret := e.supplier(), e.retailer()
	e.createOrders(ret, newOrder("O-1", 1))
	ship := func(n int, bad map[string]any) map[string]any {
		list := []any{}
		for i := range n {
			s := map[string]any{"orderId": "O-1", "lineItemId": "O-1-L1", "trackingNumber": "T" + itoa(i), "carrier": "UPS"}
			if i == n-1 {
				for k, v := range bad {
					s[k] = v
				}
			}
			list = append(list, s)
		}
		return map[string]any{"shipments": list}
	}
	tests := []struct {
		name       string
		path, tok  string
		body       any
		wantFields []string
		wantCode   string
	}{
		{"spec type error", "/supplier/shipment-in", sup, ship(4, map[string]any{"trackingNumber": 12345}), []string{"shipments[3].trackingNumber"}, "INVALID_FIELD"},
		{"spec date-time format", "/supplier/shipment-in", sup, ship(2, map[string]any{"shippedAt": "yesterday"}), []string{"shipments[1].shippedAt"}, "INVALID_FIELD"},
		{"unknown carrier", "/supplier/shipment-in", sup, ship(3, map[string]any{"carrier": "Pigeon"}), []string{"shipments[2].carrier"}, "INVALID_FIELD"},
		{"missing tracking", "/supplier/shipment-in", sup, ship(1, map[string]any{"trackingNumber": ""}), []string{"shipments[0].trackingNumber"}, "REQUIRED"},
		{"empty orderId", "/supplier/cancel-in", sup, map[string]any{"cancellations": []any{map[string]any{"orderId": "O-1"}, map[string]any{"orderId": ""}}}, []string{"cancellations[1].orderId"}, "REQUIRED"},
		{"negative quantity", "/supplier/inventory-in", sup, map[string]any{"items": []any{map[string]any{"sku": "A", "quantity": 1}, map[string]any{"sku": "B", "quantity": -1}}}, []string{"items[1].quantity"}, "INVALID_FIELD"},
		{"dropship line without cost", "/retailer/order-in", ret, map[string]any{"orders": []any{map[string]any{"orderId": "N-1", "orderType": "Dropship", "items": []any{
			map[string]any{"sku": "S", "quantity": 1, "cost": 1}, map[string]any{"sku": "S", "quantity": 1},
		}}}}, []string{"orders[0].items[1].cost"}, "REQUIRED"},
		{"order without items", "/retailer/order-in", ret, map[string]any{"orders": []any{map[string]any{"orderId": "N-2", "orderType": "Marketplace"}}}, []string{"orders[0].items"}, "REQUIRED"},
		{"spec enum", "/retailer/order-in", ret, map[string]any{"orders": []any{map[string]any{"orderId": "N-3", "orderType": "Consignment", "items": []any{map[string]any{"sku": "S", "quantity": 1}}}}}, []string{"orders[0].orderType"}, "INVALID_FIELD"},
		{"invoice negative amount", "/supplier/invoice-in", sup, map[string]any{"invoices": []any{map[string]any{"orderId": "O-1", "invoiceNumber": "I", "amount": -3}}}, []string{"invoices[0].amount"}, "INVALID_FIELD"},
		{"invoice date format", "/supplier/invoice-in", sup, map[string]any{"invoices": []any{map[string]any{"orderId": "O-1", "invoiceNumber": "I", "amount": 3, "invoiceDate": "24/11/2026"}}}, []string{"invoices[0].invoiceDate"}, "INVALID_FIELD"},
		{"return quantity", "/supplier/return-in", sup, map[string]any{"returns": []any{map[string]any{"orderId": "O-1", "lineItemId": "O-1-L1", "quantity": 0}}}, []string{"returns[0].quantity"}, "INVALID_FIELD"},
		{"empty batch", "/supplier/acknowledge-order-in", sup, map[string]any{"orderIds": []string{}}, []string{"orderIds"}, "REQUIRED"},
		{"stream object type", "/streams", sup, map[string]any{"objectType": "widget"}, []string{"objectType"}, "INVALID_FIELD"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := e.srv.Stats()
			status, body := e.callLoose(http.MethodPost, tt.path, tt.tok, tt.body)
			require.Equal(t, http.StatusBadRequest, status, string(body))
			var br batchResponse
			require.NoError(t, json.Unmarshal(body, &br))
			assert.Equal(t, "failed", br.Status)
			assert.NotEmpty(t, br.BatchID)
			assert.Equal(t, tt.wantFields, br.fields(), string(body))
			assert.Equal(t, tt.wantCode, br.Errors[0].Code)
			after := e.srv.Stats()
			assert.Equal(t, before.Events, after.Events, "nothing of an invalid batch is applied")
		})
	}
}

func TestOrderLifecycle(t *testing.T) {
	e := newEnv(t, dscotest.Config{})
	sup, ret := e.supplier(), e.retailer()
	e.createOrders(ret, newOrder("A", 2), newOrder("B", 1), newOrder("C", 2))

	shipment := func(order, line string) map[string]any {
		return map[string]any{"orderId": order, "lineItemId": line, "trackingNumber": "1Z" + line, "carrier": "FedEx"}
	}
	steps := []struct {
		name       string
		path, tok  string
		body       any
		wantStatus string
		wantErrs   map[string]string // field -> code
		order      string
		wantOrder  string
		wantLines  []string
	}{
		{"created", "", "", nil, "", nil, "A", dscotest.StatusCreated, []string{"open", "open"}},
		{"acknowledge with unknown", "/supplier/acknowledge-order-in", sup, map[string]any{"orderIds": []string{"A", "nope", "C"}},
			"completed", map[string]string{"orderIds[1]": "ORDER_NOT_FOUND"}, "A", dscotest.StatusAcknowledged, []string{"open", "open"}},
		{"ship one line, unknown order and line", "/supplier/shipment-in", sup, map[string]any{"shipments": []any{
			shipment("A", "A-L1"), shipment("nope", "x"), shipment("A", "A-L9"),
		}}, "completed", map[string]string{"shipments[1].orderId": "ORDER_NOT_FOUND", "shipments[2].lineItemId": "LINE_NOT_FOUND"},
			"A", dscotest.StatusPartiallyShipped, []string{"shipped", "open"}},
		{"ship the same line again", "/supplier/shipment-in", sup, map[string]any{"shipments": []any{shipment("A", "A-L1")}},
			"failed", map[string]string{"shipments[0].lineItemId": "INVALID_STATE"}, "A", dscotest.StatusPartiallyShipped, []string{"shipped", "open"}},
		{"over-ship", "/supplier/shipment-in", sup, map[string]any{"shipments": []any{
			map[string]any{"orderId": "A", "lineItemId": "A-L2", "trackingNumber": "T", "carrier": "DHL", "quantity": 3},
		}}, "failed", map[string]string{"shipments[0].quantity": "OVER_SHIPPED"}, "A", dscotest.StatusPartiallyShipped, []string{"shipped", "open"}},
		{"ship the rest", "/supplier/shipment-in", sup, map[string]any{"shipments": []any{shipment("A", "A-L2")}},
			"completed", nil, "A", dscotest.StatusShipped, []string{"shipped", "shipped"}},
		{"cancel a shipped order", "/supplier/cancel-in", sup, map[string]any{"cancellations": []any{map[string]any{"orderId": "A"}}},
			"failed", map[string]string{"cancellations[0].orderId": "INVALID_STATE"}, "A", dscotest.StatusShipped, []string{"shipped", "shipped"}},
		{"cancel whole order", "/supplier/cancel-in", sup, map[string]any{"cancellations": []any{map[string]any{"orderId": "B", "reason": "no stock"}}},
			"completed", nil, "B", dscotest.StatusCancelled, []string{"cancelled"}},
		{"acknowledge cancelled", "/supplier/acknowledge-order-in", sup, map[string]any{"orderIds": []string{"B"}},
			"failed", map[string]string{"orderIds[0]": "INVALID_STATE"}, "B", dscotest.StatusCancelled, []string{"cancelled"}},
		{"invoice cancelled", "/supplier/invoice-in", sup, map[string]any{"invoices": []any{map[string]any{"orderId": "B", "invoiceNumber": "I-B", "amount": 1}}},
			"failed", map[string]string{"invoices[0].orderId": "INVALID_STATE"}, "B", dscotest.StatusCancelled, []string{"cancelled"}},
		{"cancel one line then ship the other", "/retailer/cancel-in", ret, map[string]any{"cancellations": []any{map[string]any{"orderId": "C", "lineItemId": "C-L1"}}},
			"completed", nil, "C", dscotest.StatusAcknowledged, []string{"cancelled", "open"}},
		{"ship remaining line", "/supplier/shipment-in", sup, map[string]any{"shipments": []any{shipment("C", "C-L2")}},
			"completed", nil, "C", dscotest.StatusShipped, []string{"cancelled", "shipped"}},
		{"return more than shipped", "/retailer/return-in", ret, map[string]any{"returns": []any{map[string]any{"orderId": "C", "lineItemId": "C-L2", "quantity": 3}}},
			"failed", map[string]string{"returns[0].quantity": "INVALID_QUANTITY"}, "C", dscotest.StatusShipped, []string{"cancelled", "shipped"}},
		{"return all shipped", "/retailer/return-in", ret, map[string]any{"returns": []any{map[string]any{"orderId": "C", "lineItemId": "C-L2", "quantity": 2, "returnReason": "too big"}}},
			"completed", nil, "C", dscotest.StatusShipped, []string{"cancelled", "returned"}},
		{"duplicate invoice", "/supplier/invoice-in", sup, map[string]any{"invoices": []any{
			map[string]any{"orderId": "A", "invoiceNumber": "I-1", "amount": 42.5}, map[string]any{"orderId": "A", "invoiceNumber": "I-1", "amount": 1},
		}}, "completed", map[string]string{"invoices[1].invoiceNumber": "DUPLICATE_INVOICE"}, "A", dscotest.StatusShipped, []string{"shipped", "shipped"}},
		{"duplicate order", "/retailer/order-in", ret, map[string]any{"orders": []any{newOrder("A", 1)}},
			"failed", map[string]string{"orders[0].orderId": "ORDER_EXISTS"}, "A", dscotest.StatusShipped, []string{"shipped", "shipped"}},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			if s.path != "" {
				br := e.write(http.StatusOK, s.path, s.tok, s.body)
				assert.Equal(t, s.wantStatus, br.Status)
				got := map[string]string{}
				for _, be := range br.Errors {
					got[be.Field] = be.Code
				}
				if s.wantErrs == nil {
					s.wantErrs = map[string]string{}
				}
				assert.Equal(t, s.wantErrs, got)
			}
			o := e.order(sup, s.order)
			assert.Equal(t, s.wantOrder, o.Status)
			lines := []string{}
			for _, li := range o.Items {
				lines = append(lines, li.Status)
			}
			assert.Equal(t, s.wantLines, lines)
		})
	}

	st := e.srv.Stats()
	assert.Equal(t, map[string]int64{dscotest.StatusShipped: 2, dscotest.StatusCancelled: 1}, st.Orders)
	assert.Equal(t, int64(3), st.Shipments)
	assert.Equal(t, int64(2), st.Cancellations)
	assert.Equal(t, int64(1), st.Invoices)
	assert.Equal(t, int64(1), st.Returns)
}

func TestOrders(t *testing.T) {
	e := newEnv(t, dscotest.Config{})
	sup, ret := e.supplier(), e.retailer()
	ids, err := e.srv.SeedOrders(5)
	require.NoError(t, err)
	require.Len(t, ids, 5)
	e.write(http.StatusOK, "/supplier/acknowledge-order-in", sup, map[string]any{"orderIds": ids[:2]})
	e.createOrders(ret, newOrder("X", 1))

	t.Run("get keeps unknown attributes", func(t *testing.T) {
		status, body := e.call(http.MethodGet, "/supplier/order-out/X", sup, nil)
		require.Equal(t, http.StatusOK, status)
		var o map[string]any
		require.NoError(t, json.Unmarshal(body, &o))
		assert.Equal(t, "C-X", o["consumerOrderNumber"])
		assert.Equal(t, "2026-11-24T10:00:00.000Z", o["createdAt"])
	})
	t.Run("generated orders are realistic", func(t *testing.T) {
		status, body := e.call(http.MethodGet, "/supplier/order-out/"+ids[0], sup, nil)
		require.Equal(t, http.StatusOK, status)
		var o map[string]any
		require.NoError(t, json.Unmarshal(body, &o))
		assert.Contains(t, o, "consumerOrderNumber")
		assert.Contains(t, o, "requestedShipMethod")
		assert.Contains(t, []any{"Dropship", "Marketplace"}, o["orderType"])
		items := o["items"].([]any)
		assert.True(t, len(items) >= 1 && len(items) <= 5)
		addr := o["shippingAddress"].(map[string]any)
		assert.NotEmpty(t, addr["postalCode"])
	})

	tests := []struct {
		query     string
		wantLen   int
		wantTotal int
		wantMore  bool
	}{
		{"", 6, 6, false},
		{"?status=created", 4, 4, false},
		{"?status=acknowledged", 2, 2, false},
		{"?status=created&limit=3", 3, 4, true},
		{"?status=shipped", 0, 0, false},
	}
	for _, tt := range tests {
		t.Run("list"+tt.query, func(t *testing.T) {
			var l struct {
				Orders     []orderJSON `json:"orders"`
				TotalCount int         `json:"totalCount"`
				HasMore    bool        `json:"hasMore"`
			}
			e.callJSON(http.StatusOK, http.MethodGet, "/supplier/order-out"+tt.query, sup, nil, &l)
			assert.Len(t, l.Orders, tt.wantLen)
			assert.Equal(t, tt.wantTotal, l.TotalCount)
			assert.Equal(t, tt.wantMore, l.HasMore)
		})
	}
	t.Run("unknown order is 404", func(t *testing.T) {
		status, _ := e.call(http.MethodGet, "/supplier/order-out/none", sup, nil)
		assert.Equal(t, http.StatusNotFound, status)
	})
	t.Run("same seed, same orders", func(t *testing.T) {
		other := newEnv(t, dscotest.Config{})
		ids2, err := other.srv.SeedOrders(5)
		require.NoError(t, err)
		require.Equal(t, ids, ids2)
		a := e.order(sup, ids[4])
		b := other.order(other.supplier(), ids2[4])
		assert.Equal(t, a.Items, b.Items)
	})
}

func TestRoutingAndParameters(t *testing.T) {
	e := newEnv(t, dscotest.Config{})
	sup := e.supplier()
	tests := []struct {
		name, method, path string
		body               any
		want               int
		wantField          string
	}{
		{"query parameter type", http.MethodGet, "/supplier/order-out?limit=abc", nil, http.StatusBadRequest, "limit"},
		{"limit below one", http.MethodGet, "/supplier/order-out?limit=0", nil, http.StatusBadRequest, "limit"},
		{"events limit type", http.MethodGet, "/streams/x/events?limit=many", nil, http.StatusBadRequest, "limit"},
		{"events limit below one", http.MethodGet, "/streams/x/events?limit=0", nil, http.StatusBadRequest, "limit"},
		{"body not JSON", http.MethodPost, "/supplier/inventory-in", "not json", http.StatusBadRequest, ""},
		{"unknown path", http.MethodGet, "/supplier/nothing-here", nil, http.StatusNotFound, ""},
		{"wrong method", http.MethodDelete, "/streams", nil, http.StatusMethodNotAllowed, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := e.callLoose(tt.method, tt.path, sup, tt.body)
			require.Equal(t, tt.want, status, string(body))
			var br batchResponse
			require.NoError(t, json.Unmarshal(body, &br), string(body))
			assert.Equal(t, "failed", br.Status)
			require.NotEmpty(t, br.Errors)
			if tt.wantField != "" {
				assert.Equal(t, tt.wantField, br.Errors[0].Field)
			}
		})
	}
}
