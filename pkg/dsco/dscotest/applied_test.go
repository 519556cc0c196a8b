package dscotest_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dscokafka/connector/pkg/dsco/dscotest"
)

// TestFaultsAfterApplying: a write answered 500, 502 or 504 by an
// "applied" fault changed the state; one answered by the plain fault did
// not.
func TestFaultsAfterApplying(t *testing.T) {
	cases := []struct {
		name        string
		fault       dscotest.Fault
		status      int
		wantApplied int64
	}{
		{"500 after applying", dscotest.Fault{Rate500Applied: 1}, http.StatusInternalServerError, 1},
		{"502 after applying", dscotest.Fault{Rate502Applied: 1}, http.StatusBadGateway, 1},
		{"504 after applying", dscotest.Fault{Rate504Applied: 1}, http.StatusGatewayTimeout, 1},
		{"500 instead of applying", dscotest.Fault{Rate500: 1}, http.StatusInternalServerError, 0},
		{"502 instead of applying", dscotest.Fault{Rate502: 1}, http.StatusBadGateway, 0},
		{"504 instead of applying", dscotest.Fault{Rate504: 1}, http.StatusGatewayTimeout, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, dscotest.Config{})
			sup, ret := e.supplier(), e.retailer()
			e.createOrders(ret, newOrder("PO-F1", 1))
			e.srv.SetFault("supplierCreateShipment", tc.fault)
			status, body := e.callLoose(http.MethodPost, "/supplier/shipment-in", sup,
				map[string]any{"shipments": []any{map[string]any{"orderId": "PO-F1", "lineItemId": "PO-F1-L1", "trackingNumber": "1Z", "carrier": "UPS"}}})
			require.Equal(t, tc.status, status, string(body))
			assert.Equal(t, tc.wantApplied, e.srv.Applied("supplierCreateShipment", dscotest.LineKey("PO-F1", "PO-F1-L1")))
			e.srv.SetFault("supplierCreateShipment", dscotest.Fault{})
			o := e.order(sup, "PO-F1")
			if tc.wantApplied == 1 {
				assert.Equal(t, "shipped", o.Status)
				assert.Equal(t, 2, o.Items[0].QuantityShipped)
			} else {
				assert.Equal(t, "created", o.Status)
			}
		})
	}
}

// TestFaultRatesDrawn: every status outcome, applied or not, is drawn from
// the seed in proportion to its rate.
func TestFaultRatesDrawn(t *testing.T) {
	e := newEnv(t, dscotest.Config{Seed: 7, Faults: map[string]dscotest.Fault{"listStreams": {
		Rate500: 0.1, Rate502: 0.1, Rate503: 0.1, Rate504: 0.1, Rate429: 0.1,
		Rate500Applied: 0.1, Rate502Applied: 0.1, Rate504Applied: 0.1,
	}}})
	tok := e.supplier()
	counts := map[int]int{}
	for range 400 {
		status, _ := e.callLoose(http.MethodGet, "/streams", tok, nil)
		counts[status]++
	}
	for status, share := range map[int]float64{200: 0.2, 500: 0.2, 502: 0.2, 503: 0.1, 504: 0.2, 429: 0.1} {
		assert.InDelta(t, share*400, counts[status], 40, "status %d: %v", status, counts)
	}
}

// TestAppliedCounts: every write operation counts what it applied, by item
// key, and the counts are in Stats and /_sandbox/stats.
func TestAppliedCounts(t *testing.T) {
	e := newEnv(t, dscotest.Config{})
	sup, ret := e.supplier(), e.retailer()
	e.listSKUs(sup, 2)
	e.createOrders(ret, newOrder("PO-A1", 2), newOrder("PO-A2", 2))
	e.write(http.StatusOK, "/supplier/acknowledge-order-in", sup, map[string]any{"orderIds": []string{"PO-A1", "PO-A1"}})
	e.write(http.StatusOK, "/supplier/shipment-in", sup, map[string]any{"shipments": []any{
		map[string]any{"orderId": "PO-A1", "lineItemId": "PO-A1-L1", "trackingNumber": "1Z", "carrier": "UPS", "quantity": 1},
		map[string]any{"orderId": "PO-A1", "lineItemId": "PO-A1-L1", "trackingNumber": "1Z", "carrier": "UPS", "quantity": 1},
		map[string]any{"orderId": "PO-A1", "lineItemId": "PO-A1-L1", "trackingNumber": "1Z", "carrier": "UPS"}, // nothing left: not applied
	}})
	e.write(http.StatusOK, "/supplier/cancel-in", sup, map[string]any{"cancellations": []any{map[string]any{"orderId": "PO-A2"}}})
	e.write(http.StatusOK, "/retailer/return-in", ret, map[string]any{"returns": []any{
		map[string]any{"orderId": "PO-A1", "lineItemId": "PO-A1-L1", "quantity": 1}}})
	e.write(http.StatusOK, "/supplier/invoice-in", sup, map[string]any{"invoices": []any{
		map[string]any{"orderId": "PO-A1", "invoiceNumber": "INV-1", "amount": 10},
		map[string]any{"orderId": "PO-A1", "invoiceNumber": "INV-1", "amount": 10}, // duplicate: not applied
	}})
	e.write(http.StatusOK, "/supplier/inventory-in", sup, map[string]any{"items": []any{
		map[string]any{"sku": "S-00", "quantity": 1}, map[string]any{"sku": "S-00", "quantity": 2, "warehouseId": "WH2"}}})
	e.write(http.StatusOK, "/retailer/catalog-in", ret, map[string]any{"items": []any{map[string]any{"sku": "S-01", "attributes": map[string]any{"a": 1}}}})

	want := map[string]map[string]int64{
		"retailerCreateOrder":              {"PO-A1": 1, "PO-A2": 1},
		"supplierAcknowledgeOrder":         {"PO-A1": 2},
		"supplierCreateShipment":           {"PO-A1/PO-A1-L1": 2},
		"supplierCancelOrderItem":          {"PO-A2/PO-A2-L1": 1, "PO-A2/PO-A2-L2": 1},
		"retailerCreateReturn":             {"PO-A1/PO-A1-L1": 1},
		"supplierCreateInvoice":            {"INV-1": 1},
		"supplierUpdateInventory":          {dscotest.InventoryKey("S-00", "WH1"): 1, dscotest.InventoryKey("S-00", "WH2"): 1},
		"supplierUpdateCatalog":            {"S-00": 1, "S-01": 1},
		"retailerUpdateCatalogAttribution": {"S-01": 1},
	}
	assert.Equal(t, want, e.srv.Stats().Applied)
	assert.EqualValues(t, 2, e.srv.Applied("supplierCreateShipment", dscotest.LineKey("PO-A1", "PO-A1-L1")))
	assert.Zero(t, e.srv.Applied("supplierCreateShipment", dscotest.LineKey("PO-A1", "PO-A1-L2")))

	var st dscotest.Stats
	e.callJSON(http.StatusOK, http.MethodGet, "/_sandbox/stats", "", nil, &st)
	assert.Equal(t, want, st.Applied)
}

// TestFaultsAfterApplyingOverHTTP: the newer rates are set and listed over
// /_sandbox/faults like the others.
func TestFaultsAfterApplyingOverHTTP(t *testing.T) {
	e := newEnv(t, dscotest.Config{})
	var got map[string]map[string]any
	e.callJSON(http.StatusOK, http.MethodPost, "/_sandbox/faults", "",
		map[string]any{"operation": "supplierCreateShipment", "rate502": 0.1, "rate504": 0.1, "rate500Applied": 0.2, "rate502Applied": 0.1, "rate504Applied": 0.3}, &got)
	assert.Equal(t, dscotest.Fault{Rate502: 0.1, Rate504: 0.1, Rate500Applied: 0.2, Rate502Applied: 0.1, Rate504Applied: 0.3},
		e.srv.Faults()["supplierCreateShipment"])
	assert.InDelta(t, 0.3, got["supplierCreateShipment"]["rate504Applied"], 1e-9)
	status, _ := e.call(http.MethodPost, "/_sandbox/faults", "", map[string]any{"operation": "*", "rate500Applied": 0.6, "rate503": 0.6})
	assert.Equal(t, http.StatusBadRequest, status, "status rates summing above 1")
}
