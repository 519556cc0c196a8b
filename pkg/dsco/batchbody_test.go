package dsco_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dscokafka/connector/pkg/dsco"
)

// TestBatchBodies: every batch operation sends the request exactly as encoding/json
// encodes it (through the items' MarshalJSON), with and without Extra attributes, and an
// empty array for no items: the one-pass encoding of items without Extra changes nothing.
func TestBatchBodies(t *testing.T) {
	var got []byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, _ = io.ReadAll(r.Body)
		_, _ = io.WriteString(w, `{"batchId":"b","status":"completed"}`)
	}))
	defer srv.Close()
	c, err := dsco.NewClient(srv.URL, dsco.WithStaticToken("t"), dsco.WithInsecureHTTP())
	require.NoError(t, err)
	ctx := context.Background()
	extra := func(on bool) dsco.Extra {
		if !on {
			return nil
		}
		return dsco.Extra{"vendorNote": json.RawMessage(`{"a":[1,"x"]}`)}
	}
	at := time.Date(2026, 12, 2, 10, 30, 0, 0, time.UTC)
	for _, withExtra := range []bool{false, true} {
		x := extra(withExtra)
		inventory := dsco.InventoryBatchRequest{Items: []dsco.InventoryItem{{SKU: "a", Quantity: 3}, {SKU: "b", WarehouseID: "w", Extra: x}}}
		catalog := dsco.CatalogBatchRequest{Items: []dsco.CatalogItem{{SKU: "a", Title: "t", Extra: x}}}
		shipment := dsco.ShipmentBatchRequest{Shipments: []dsco.ShipmentItem{{OrderID: "o", LineItemID: "l", Carrier: "UPS", ShippedAt: at, Extra: x}}}
		cancel := dsco.CancelBatchRequest{Cancellations: []dsco.Cancellation{{OrderID: "o", Extra: x}}}
		ret := dsco.ReturnBatchRequest{Returns: []dsco.ReturnItem{{OrderID: "o", Extra: x}}}
		invoice := dsco.InvoiceBatchRequest{Invoices: []dsco.InvoiceItem{{OrderID: "o", Extra: x}}}
		order := dsco.RetailerOrderRequest{Orders: []dsco.Order{{OrderID: "o", Items: []dsco.OrderItem{{SKU: "s", Extra: x}}, Extra: x}}}
		for _, tc := range []struct {
			name string
			want any // the request as encoding/json encodes it
			call func() (*dsco.BatchResponse, error)
		}{
			{"inventory", inventory, func() (*dsco.BatchResponse, error) { return c.SupplierUpdateInventory(ctx, inventory) }},
			{"catalog", catalog, func() (*dsco.BatchResponse, error) { return c.SupplierUpdateCatalog(ctx, catalog) }},
			{"shipment", shipment, func() (*dsco.BatchResponse, error) { return c.SupplierCreateShipment(ctx, shipment) }},
			{"cancel", cancel, func() (*dsco.BatchResponse, error) { return c.RetailerRequestCancel(ctx, cancel) }},
			{"return", ret, func() (*dsco.BatchResponse, error) { return c.SupplierCreateReturn(ctx, ret) }},
			{"invoice", invoice, func() (*dsco.BatchResponse, error) { return c.SupplierCreateInvoice(ctx, invoice) }},
			{"order", order, func() (*dsco.BatchResponse, error) { return c.RetailerCreateOrder(ctx, order) }},
			{"no items", dsco.InventoryBatchRequest{Items: []dsco.InventoryItem{}},
				func() (*dsco.BatchResponse, error) {
					return c.SupplierUpdateInventory(ctx, dsco.InventoryBatchRequest{})
				}},
		} {
			t.Run(fmt.Sprintf("%s/extra=%v", tc.name, withExtra), func(t *testing.T) {
				_, err := tc.call()
				require.NoError(t, err)
				want, err := json.Marshal(tc.want)
				require.NoError(t, err)
				assert.JSONEq(t, string(want), string(got))
				assert.Equal(t, string(want), string(got), "byte for byte")
			})
		}
	}
}
