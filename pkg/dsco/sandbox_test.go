package dsco_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dscokafka/connector/pkg/dsco"
	"github.com/dscokafka/connector/pkg/dsco/dscotest"
)

// sandbox is a dscotest server with a supplier and a retailer client whose
// traffic is validated against the contract: any violation fails the test.
type sandbox struct {
	srv      *dscotest.Server
	supplier *dsco.Client
	retailer *dsco.Client
}

func newSandbox(t *testing.T, cfg dscotest.Config, opts ...dsco.Option) *sandbox {
	t.Helper()
	srv, err := dscotest.NewServer(cfg)
	require.NoError(t, err)
	t.Cleanup(srv.Close)
	// Own connections, closed before the server so that its Close does not
	// wait for connections the client dialled but never used.
	base := http.DefaultTransport.(*http.Transport).Clone()
	t.Cleanup(base.CloseIdleConnections)
	hc := &http.Client{Transport: dscotest.ValidatingTransport(t, base)}
	newClient := func(id, secret string) *dsco.Client {
		c, err := dsco.NewClient(srv.URL, append([]dsco.Option{dsco.WithClientCredentials(id, secret), dsco.WithHTTPClient(hc)}, opts...)...)
		require.NoError(t, err)
		return c
	}
	return &sandbox{
		srv:      srv,
		supplier: newClient(dscotest.SupplierClientID, dscotest.SupplierClientSecret),
		retailer: newClient(dscotest.RetailerClientID, dscotest.RetailerClientSecret),
	}
}

// requireApplied checks a batch answer without item errors.
func requireApplied(t *testing.T, resp *dsco.BatchResponse, err error) {
	t.Helper()
	require.NoError(t, err)
	require.Empty(t, resp.Errors)
	require.NotEmpty(t, resp.BatchID)
	require.Equal(t, dsco.BatchCompleted, resp.Status)
}

// TestEveryOperationAgainstSandbox drives every operation of the contract,
// and GetItemInventory, through the client against the sandbox, with every
// request and response validated against the contract.
func TestEveryOperationAgainstSandbox(t *testing.T) {
	sb := newSandbox(t, dscotest.Config{Seed: 1})
	ctx := t.Context()
	shippedAt := time.Date(2026, 11, 24, 12, 30, 0, 0, time.FixedZone("CET", 3600))

	// Streams first, so that they see the events of the writes below.
	stream, err := sb.supplier.CreateStream(ctx, dsco.StreamDefinition{ObjectType: dsco.ObjectOrder, PartitionCount: 2})
	require.NoError(t, err)
	require.NotEmpty(t, stream.StreamID)
	require.Len(t, stream.Partitions, 2)

	steps := []struct {
		name string
		run  func(t *testing.T)
	}{
		{"getAccessToken", func(t *testing.T) {
			tok, err := sb.supplier.GetAccessToken(ctx)
			require.NoError(t, err)
			assert.NotEmpty(t, tok.AccessToken)
			assert.Equal(t, "Bearer", tok.TokenType)
			assert.NotContains(t, tok.String(), tok.AccessToken)
		}},
		{"supplierUpdateCatalog", func(t *testing.T) {
			resp, err := sb.supplier.SupplierUpdateCatalog(ctx, dsco.CatalogBatchRequest{Items: []dsco.CatalogItem{
				{SKU: "SKU-1", Title: "Kettle", Cost: "12.50", RetailModelRules: &dsco.RetailModelRules{AllowedModels: []string{dsco.RetailModelDropship}},
					Attributes: map[string]json.RawMessage{"color": json.RawMessage(`"red"`)}},
				{SKU: "SKU-2", Title: "Mug", Cost: "3.10"},
			}})
			requireApplied(t, resp, err)
		}},
		{"supplierUpdateInventory", func(t *testing.T) {
			resp, err := sb.supplier.SupplierUpdateInventory(ctx, dsco.InventoryBatchRequest{Items: []dsco.InventoryItem{
				{SKU: "SKU-1", Quantity: 12, WarehouseID: "WH1"}, {SKU: "SKU-2", Quantity: 0},
			}})
			requireApplied(t, resp, err)
		}},
		{"retailerUpdateCatalogAttribution", func(t *testing.T) {
			resp, err := sb.retailer.RetailerUpdateCatalogAttribution(ctx, dsco.CatalogBatchRequest{Items: []dsco.CatalogItem{{SKU: "SKU-1", Title: "Electric kettle"}}})
			requireApplied(t, resp, err)
		}},
		{"retailerCreateOrder", func(t *testing.T) {
			resp, err := sb.retailer.RetailerCreateOrder(ctx, dsco.RetailerOrderRequest{Orders: []dsco.Order{{
				OrderID: "ORD-1", OrderType: dsco.OrderTypeDropship,
				Items: []dsco.OrderItem{
					{LineItemID: "L1", SKU: "SKU-1", Quantity: 2, Cost: "12.50", Price: "19.99"},
					{LineItemID: "L2", SKU: "SKU-2", Quantity: 1, Cost: "3.10", Price: "5.00"},
				},
				ShippingAddress: &dsco.Address{Name: "Ada", Street1: "1 Main St", City: "Springfield", PostalCode: "12345", Country: "US"},
				Extra:           dsco.Extra{"consumerOrderNumber": json.RawMessage(`"C-77"`)},
			}}})
			requireApplied(t, resp, err)
		}},
		{"supplierListOrders", func(t *testing.T) {
			list, err := sb.supplier.SupplierListOrders(ctx, dsco.ListOrdersParams{Status: dsco.OrderCreated, Limit: 10})
			require.NoError(t, err)
			require.Len(t, list.Orders, 1)
			assert.Equal(t, "ORD-1", list.Orders[0].OrderID)
		}},
		{"supplierGetOrder", func(t *testing.T) {
			o, err := sb.supplier.SupplierGetOrder(ctx, "ORD-1")
			require.NoError(t, err)
			assert.Equal(t, dsco.OrderCreated, o.Status)
			require.Len(t, o.Items, 2)
			// The sandbox re-encodes numbers, so compare values, not text.
			cost, ok := o.Items[0].Cost.Rat()
			require.True(t, ok)
			assert.Equal(t, "25/2", cost.String())
			assert.JSONEq(t, `"C-77"`, string(o.Extra["consumerOrderNumber"]), "unknown attributes kept")
			_, err = sb.supplier.SupplierGetOrder(ctx, "NOPE")
			require.ErrorIs(t, err, dsco.ErrNotFound)
		}},
		{"supplierAcknowledgeOrder", func(t *testing.T) {
			resp, err := sb.supplier.SupplierAcknowledgeOrder(ctx, dsco.AcknowledgeOrderRequest{OrderIDs: []string{"ORD-1"}})
			requireApplied(t, resp, err)
		}},
		{"supplierCreateShipment", func(t *testing.T) {
			resp, err := sb.supplier.SupplierCreateShipment(ctx, dsco.ShipmentBatchRequest{Shipments: []dsco.ShipmentItem{
				{OrderID: "ORD-1", LineItemID: "L1", TrackingNumber: "1Z999", Carrier: "UPS", ShippedAt: shippedAt},
			}})
			requireApplied(t, resp, err)
		}},
		{"supplierCancelOrderItem", func(t *testing.T) {
			resp, err := sb.supplier.SupplierCancelOrderItem(ctx, dsco.CancelBatchRequest{Cancellations: []dsco.Cancellation{
				{OrderID: "ORD-1", LineItemID: "L2", Reason: "out of stock"},
			}})
			requireApplied(t, resp, err)
		}},
		{"supplierCreateInvoice", func(t *testing.T) {
			resp, err := sb.supplier.SupplierCreateInvoice(ctx, dsco.InvoiceBatchRequest{Invoices: []dsco.InvoiceItem{
				{OrderID: "ORD-1", InvoiceNumber: "INV-1", Amount: "25.00", InvoiceDate: dsco.DateOf(shippedAt)},
			}})
			requireApplied(t, resp, err)
		}},
		{"supplierCreateReturn", func(t *testing.T) {
			resp, err := sb.supplier.SupplierCreateReturn(ctx, dsco.ReturnBatchRequest{Returns: []dsco.ReturnItem{
				{OrderID: "ORD-1", LineItemID: "L1", ReturnReason: "damaged", Quantity: 1},
			}})
			requireApplied(t, resp, err)
		}},
		{"retailerCreateReturn", func(t *testing.T) {
			resp, err := sb.retailer.RetailerCreateReturn(ctx, dsco.ReturnBatchRequest{Returns: []dsco.ReturnItem{
				{OrderID: "ORD-1", LineItemID: "L1", ReturnReason: "changed mind", Quantity: 1},
			}})
			requireApplied(t, resp, err)
		}},
		{"retailerRequestCancel", func(t *testing.T) {
			resp, err := sb.retailer.RetailerRequestCancel(ctx, dsco.CancelBatchRequest{Cancellations: []dsco.Cancellation{
				{OrderID: "ORD-404", LineItemID: "L1", Reason: "customer"},
			}})
			require.NoError(t, err, "item errors come with HTTP 200")
			assert.Equal(t, dsco.BatchFailed, resp.Status)
			byItem := resp.ItemErrors("cancellations")
			require.Contains(t, byItem, 0)
			assert.Equal(t, "ORDER_NOT_FOUND", byItem[0][0].Code)
		}},
		{"createStream and listStreams", func(t *testing.T) {
			list, err := sb.supplier.ListStreams(ctx)
			require.NoError(t, err)
			require.Len(t, list.Streams, 1)
			assert.Equal(t, stream.StreamID, list.Streams[0].StreamID)
			assert.Len(t, list.Streams[0].Partitions, 2)
		}},
		{"getStreamEvents and updateStreamPosition", func(t *testing.T) {
			var events []dsco.Event
			for _, p := range stream.Partitions {
				page, err := sb.supplier.GetStreamEvents(ctx, stream.StreamID, dsco.ReadEventsParams{Partition: p.Partition, Limit: 1000})
				require.NoError(t, err)
				events = append(events, page.Events...)
				if page.Position != "" {
					require.NoError(t, sb.supplier.UpdateStreamPosition(ctx, stream.StreamID, page.Position))
					again, err := sb.supplier.GetStreamEvents(ctx, stream.StreamID, dsco.ReadEventsParams{Partition: p.Partition})
					require.NoError(t, err)
					assert.Empty(t, again.Events, "the stored position was moved past the events")
				}
			}
			require.NotEmpty(t, events)
			types := map[string]bool{}
			for _, e := range events {
				types[e.EventType] = true
				o, err := e.Order()
				require.NoError(t, err)
				assert.Equal(t, "ORD-1", o.OrderID)
				assert.NotEmpty(t, o.Status)
			}
			assert.True(t, types["order.created"] && types["order.acknowledged"], "%v", types)
			_, err = sb.supplier.GetStreamEvents(ctx, "no-such-stream", dsco.ReadEventsParams{})
			require.ErrorIs(t, err, dsco.ErrNotFound)
		}},
		{"getItemInventory", func(t *testing.T) {
			page, err := sb.supplier.GetItemInventory(ctx, dsco.InventoryQuery{HighWaterMarkQuery: "2000-01-01T00:00:00.000Z"})
			require.NoError(t, err)
			assert.NotEmpty(t, page.Items)
			assert.NotEmpty(t, page.HighWaterMark)
		}},
	}
	for _, s := range steps {
		if !t.Run(s.name, s.run) {
			return // later steps depend on earlier ones
		}
	}
	calls := sb.srv.Stats().Calls
	for _, op := range []string{"getAccessToken", "supplierUpdateCatalog", "supplierUpdateInventory", "supplierCreateShipment",
		"supplierCancelOrderItem", "supplierAcknowledgeOrder", "supplierCreateReturn", "supplierCreateInvoice", "supplierGetOrder",
		"supplierListOrders", "retailerCreateOrder", "retailerCreateReturn", "retailerRequestCancel",
		"retailerUpdateCatalogAttribution", "createStream", "listStreams", "getStreamEvents", "updateStreamPosition",
		dscotest.OpGetItemInventory} {
		assert.Positive(t, calls[op], "operation %s was not called", op)
	}
}

func TestSandboxErrors(t *testing.T) {
	sb := newSandbox(t, dscotest.Config{Seed: 2})
	ctx := t.Context()
	cases := []struct {
		name      string
		call      func() error
		wantErr   error
		wantField string
	}{
		{"wrong role is forbidden", func() error {
			_, err := sb.retailer.SupplierListOrders(ctx, dsco.ListOrdersParams{})
			return err
		}, dsco.ErrForbidden, ""},
		{"invalid item is a 400 naming it", func() error {
			_, err := sb.supplier.SupplierCreateShipment(ctx, dsco.ShipmentBatchRequest{Shipments: []dsco.ShipmentItem{
				{OrderID: "o", LineItemID: "l", TrackingNumber: "t", Carrier: "UPS"},
				{OrderID: "o", LineItemID: "l", TrackingNumber: "t", Carrier: "Pigeon"},
			}})
			return err
		}, dsco.ErrBadRequest, "shipments[1].carrier"},
		{"client-side params check", func() error {
			_, err := sb.supplier.GetItemInventory(ctx, dsco.InventoryQuery{})
			return err
		}, dsco.ErrInvalidRequest, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			require.ErrorIs(t, err, tc.wantErr)
			assert.False(t, dsco.IsRetryable(err))
			if tc.wantField != "" {
				apiErr, ok := err.(*dsco.APIError)
				require.True(t, ok)
				require.NotEmpty(t, apiErr.Errors)
				prop, i, ok := apiErr.Errors[0].Index()
				require.True(t, ok)
				assert.Equal(t, tc.wantField, apiErr.Errors[0].Field)
				assert.Equal(t, "shipments", prop)
				assert.Equal(t, 1, i)
			}
		})
	}
}

func TestSandboxTokens(t *testing.T) {
	sb := newSandbox(t, dscotest.Config{Seed: 3})
	ctx := t.Context()
	t.Run("100 concurrent calls, one token request", func(t *testing.T) {
		concurrently(t, 100, func() error {
			_, err := sb.supplier.ListStreams(ctx)
			return err
		})
		assert.EqualValues(t, 1, sb.srv.Stats().Calls["getAccessToken"])
	})
	t.Run("expired tokens: 100 concurrent 401s, one refresh", func(t *testing.T) {
		sb.srv.ExpireTokens()
		concurrently(t, 100, func() error {
			_, err := sb.supplier.ListStreams(ctx)
			return err
		})
		assert.EqualValues(t, 2, sb.srv.Stats().Calls["getAccessToken"])
	})
}

// concurrently runs call n times at once and requires every call to succeed.
func concurrently(t *testing.T, n int, call func() error) {
	t.Helper()
	errs := make(chan error, n)
	for range n {
		go func() { errs <- call() }()
	}
	for range n {
		require.NoError(t, <-errs)
	}
}

func TestSandboxFaults(t *testing.T) {
	fast := dsco.WithRetry(dsco.RetryPolicy{MaxAttempts: 10, BaseDelay: time.Millisecond, MaxDelay: 5 * time.Millisecond})
	t.Run("503s are retried until success", func(t *testing.T) {
		sb := newSandbox(t, dscotest.Config{Seed: 4, Faults: map[string]dscotest.Fault{"listStreams": {Rate503: 0.5}}}, fast)
		for range 10 {
			_, err := sb.supplier.ListStreams(t.Context())
			require.NoError(t, err)
		}
		assert.Greater(t, sb.srv.Stats().Calls["listStreams"], int64(10), "some calls were retried")
	})
	t.Run("dropped reads are retried until success", func(t *testing.T) {
		sb := newSandbox(t, dscotest.Config{Seed: 4, Faults: map[string]dscotest.Fault{"supplierListOrders": {DropRate: 0.5}}}, fast)
		for range 10 {
			_, err := sb.supplier.SupplierListOrders(t.Context(), dsco.ListOrdersParams{})
			require.NoError(t, err)
		}
		assert.Greater(t, sb.srv.Stats().Calls["supplierListOrders"], int64(10), "some calls were retried")
	})
	t.Run("dropped write is outcome unknown and applied once", func(t *testing.T) {
		sb := newSandbox(t, dscotest.Config{Seed: 5, Faults: map[string]dscotest.Fault{"supplierUpdateCatalog": {DropRate: 1}}}, fast)
		_, err := sb.supplier.SupplierUpdateCatalog(t.Context(), dsco.CatalogBatchRequest{Items: []dsco.CatalogItem{{SKU: "S", Title: "T", Cost: "1.00"}}})
		require.ErrorIs(t, err, dsco.ErrOutcomeUnknown)
		assert.False(t, dsco.IsRetryable(err))
		assert.EqualValues(t, 1, sb.srv.Stats().Calls["supplierUpdateCatalog"], "not re-sent")
		assert.EqualValues(t, 1, sb.srv.Stats().CatalogItems, "the sandbox applied it")
	})
}

// TestInventoryAgainstSandbox pages GetItemInventory by high-water mark and
// gets the same items as a file through a callback server.
func TestInventoryAgainstSandbox(t *testing.T) {
	clk := dscotest.NewClock(time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC))
	sb := newSandbox(t, dscotest.Config{Seed: 6, Now: clk.Now, FileTTL: time.Hour})
	ctx := t.Context()
	const n = 25
	items := make([]dsco.InventoryItem, n)
	catalog := make([]dsco.CatalogItem, n)
	for i := range items {
		catalog[i] = dsco.CatalogItem{SKU: fmt.Sprintf("SKU-%02d", i), Title: "item", Cost: "1.00"}
		items[i] = dsco.InventoryItem{SKU: catalog[i].SKU, Quantity: i, WarehouseID: "WH1"}
	}
	resp, err := sb.supplier.SupplierUpdateCatalog(ctx, dsco.CatalogBatchRequest{Items: catalog})
	requireApplied(t, resp, err)
	resp, err = sb.supplier.SupplierUpdateInventory(ctx, dsco.InventoryBatchRequest{Items: items})
	requireApplied(t, resp, err)

	t.Run("objects paged by high-water mark", func(t *testing.T) {
		seen := map[string]int{}
		mark := "2000-01-01T00:00:00.000Z"
		for pages := 0; ; pages++ {
			require.Less(t, pages, 10)
			page, err := sb.supplier.GetItemInventory(ctx, dsco.InventoryQuery{HighWaterMarkQuery: mark, Limit: 10})
			require.NoError(t, err)
			require.LessOrEqual(t, len(page.Items), 10)
			for _, it := range page.Items {
				seen[it.SKU] = it.QuantityAvailable
			}
			mark = page.HighWaterMark
			if !page.HasMore {
				break
			}
		}
		require.Len(t, seen, n)
		assert.Equal(t, 7, seen["SKU-07"])
		page, err := sb.supplier.GetItemInventory(ctx, dsco.InventoryQuery{HighWaterMarkQuery: mark})
		require.NoError(t, err)
		assert.Empty(t, page.Items, "nothing changed since the last mark")
	})

	t.Run("file through callback", func(t *testing.T) {
		callbacks := make(chan dsco.InventoryCallback, 1)
		cb := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("X-Auth") != "cb-secret" {
				w.WriteHeader(http.StatusForbidden)
				return
			}
			var body dsco.InventoryCallback
			if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
				w.WriteHeader(http.StatusBadRequest)
				return
			}
			callbacks <- body
		}))
		t.Cleanup(cb.Close)

		req, err := sb.supplier.RequestItemInventoryFile(ctx, dsco.InventoryQuery{
			HighWaterMarkQuery: "2000-01-01T00:00:00.000Z", CallbackURL: cb.URL,
			CallbackHeaders: []dsco.CallbackHeader{{Name: "X-Auth", Value: "cb-secret"}},
		})
		require.NoError(t, err)
		require.NotEmpty(t, req.RequestID)

		var body dsco.InventoryCallback
		select {
		case body = <-callbacks:
		case <-ctx.Done():
			t.Fatal("no callback")
		}
		assert.Equal(t, req.RequestID, body.RequestID)
		got := map[string]int{}
		for it, err := range sb.supplier.DownloadInventoryFile(ctx, body.FileURL) {
			require.NoError(t, err)
			got[it.SKU] = it.QuantityAvailable
		}
		require.Len(t, got, n)
		assert.Equal(t, 24, got["SKU-24"])
		var raw []byte
		for chunk, err := range sb.supplier.DownloadInventoryFileRaw(ctx, body.FileURL) {
			require.NoError(t, err)
			raw = append(raw, chunk...)
		}
		lines := strings.Split(strings.TrimSuffix(string(raw), "\n"), "\n")
		require.Len(t, lines, n, "one line per item")
		for i, l := range lines {
			var it dsco.ItemInventory
			require.NoError(t, json.Unmarshal([]byte(l), &it), "line %d", i+1)
			assert.Equal(t, got[it.SKU], it.QuantityAvailable)
		}

		clk.Advance(time.Hour + time.Second)
		var last error
		for _, err := range sb.supplier.DownloadInventoryFile(ctx, body.FileURL) {
			last = err
		}
		require.ErrorIs(t, last, dsco.ErrGone, "the file expired")
	})
}

// TestEventDataAgainstSandbox reads a stream of each object type and decodes
// every event's data with the matching typed decoder.
func TestEventDataAgainstSandbox(t *testing.T) {
	sb := newSandbox(t, dscotest.Config{Seed: 7})
	ctx := t.Context()
	types := []dsco.ObjectType{dsco.ObjectOrder, dsco.ObjectOrderItemChange, dsco.ObjectInventory, dsco.ObjectCatalog, dsco.ObjectInvoice, dsco.ObjectReturn}
	streams := map[dsco.ObjectType]string{}
	for _, ot := range types {
		st, err := sb.supplier.CreateStream(ctx, dsco.StreamDefinition{ObjectType: ot})
		require.NoError(t, err)
		streams[ot] = st.StreamID
	}
	resp, err := sb.supplier.SupplierUpdateCatalog(ctx, dsco.CatalogBatchRequest{Items: []dsco.CatalogItem{{SKU: "A", Title: "a", Cost: "2.00"}}})
	requireApplied(t, resp, err)
	resp, err = sb.supplier.SupplierUpdateInventory(ctx, dsco.InventoryBatchRequest{Items: []dsco.InventoryItem{{SKU: "A", Quantity: 5}}})
	requireApplied(t, resp, err)
	resp, err = sb.retailer.RetailerCreateOrder(ctx, dsco.RetailerOrderRequest{Orders: []dsco.Order{{OrderID: "O", OrderType: dsco.OrderTypeMarketplace,
		Items: []dsco.OrderItem{{LineItemID: "L", SKU: "A", Quantity: 1, Price: "4.00"}}}}})
	requireApplied(t, resp, err)
	resp, err = sb.supplier.SupplierCreateShipment(ctx, dsco.ShipmentBatchRequest{Shipments: []dsco.ShipmentItem{{OrderID: "O", LineItemID: "L", TrackingNumber: "T", Carrier: "DHL"}}})
	requireApplied(t, resp, err)
	resp, err = sb.supplier.SupplierCreateInvoice(ctx, dsco.InvoiceBatchRequest{Invoices: []dsco.InvoiceItem{{OrderID: "O", InvoiceNumber: "I", Amount: "4.00"}}})
	requireApplied(t, resp, err)
	resp, err = sb.supplier.SupplierCreateReturn(ctx, dsco.ReturnBatchRequest{Returns: []dsco.ReturnItem{{OrderID: "O", LineItemID: "L", Quantity: 1}}})
	requireApplied(t, resp, err)

	cases := []struct {
		ot     dsco.ObjectType
		decode func(t *testing.T, e dsco.Event)
	}{
		{dsco.ObjectOrder, func(t *testing.T, e dsco.Event) {
			v, err := e.Order()
			require.NoError(t, err)
			assert.Equal(t, "O", v.OrderID)
		}},
		{dsco.ObjectOrderItemChange, func(t *testing.T, e dsco.Event) {
			v, err := e.OrderItemChange()
			require.NoError(t, err)
			assert.Equal(t, "L", v.LineItemID)
			assert.NotEmpty(t, v.ChangeType)
		}},
		{dsco.ObjectInventory, func(t *testing.T, e dsco.Event) {
			v, err := e.Inventory()
			require.NoError(t, err)
			assert.Equal(t, "A", v.SKU)
		}},
		{dsco.ObjectCatalog, func(t *testing.T, e dsco.Event) {
			v, err := e.Catalog()
			require.NoError(t, err)
			assert.Equal(t, "A", v.SKU)
		}},
		{dsco.ObjectInvoice, func(t *testing.T, e dsco.Event) {
			v, err := e.Invoice()
			require.NoError(t, err)
			assert.Equal(t, "I", v.InvoiceNumber)
			assert.False(t, v.InvoiceDate.IsZero())
		}},
		{dsco.ObjectReturn, func(t *testing.T, e dsco.Event) {
			v, err := e.Return()
			require.NoError(t, err)
			assert.Equal(t, 1, v.Quantity)
			assert.Contains(t, v.Extra, "returnId", "unknown attributes kept")
		}},
	}
	for _, tc := range cases {
		t.Run(string(tc.ot), func(t *testing.T) {
			page, err := sb.supplier.GetStreamEvents(ctx, streams[tc.ot], dsco.ReadEventsParams{})
			require.NoError(t, err)
			require.NotEmpty(t, page.Events)
			for _, e := range page.Events {
				assert.Equal(t, tc.ot, e.ObjectType)
				tc.decode(t, e)
			}
		})
	}
}

// TestReconcileAgainstSandbox: a write answered with a fault after the
// sandbox applied it is outcome unknown; reading the order tells whether
// each line was shipped, cancelled or returned, and the applied counts show
// it happened once.
func TestReconcileAgainstSandbox(t *testing.T) {
	cases := []struct {
		name  string
		fault dscotest.Fault
		op    string
		write func(sb *sandbox, line string) error
		check func(t *testing.T, it dsco.OrderItem)
	}{
		{"shipment, 504 after applying", dscotest.Fault{Rate504Applied: 1}, "supplierCreateShipment",
			func(sb *sandbox, line string) error {
				_, err := sb.supplier.SupplierCreateShipment(t.Context(), dsco.ShipmentBatchRequest{Shipments: []dsco.ShipmentItem{
					{OrderID: "PO-R1", LineItemID: line, TrackingNumber: "1Z", Carrier: "UPS"}}})
				return err
			},
			func(t *testing.T, it dsco.OrderItem) { assert.Equal(t, it.Quantity, it.QuantityShipped) }},
		{"cancellation, 500 after applying", dscotest.Fault{Rate500Applied: 1}, "supplierCancelOrderItem",
			func(sb *sandbox, line string) error {
				_, err := sb.supplier.SupplierCancelOrderItem(t.Context(), dsco.CancelBatchRequest{Cancellations: []dsco.Cancellation{
					{OrderID: "PO-R1", LineItemID: line}}})
				return err
			},
			func(t *testing.T, it dsco.OrderItem) { assert.Equal(t, it.Quantity, it.QuantityCancelled) }},
		{"shipment, connection dropped after applying", dscotest.Fault{DropRate: 1}, "supplierCreateShipment",
			func(sb *sandbox, line string) error {
				_, err := sb.supplier.SupplierCreateShipment(t.Context(), dsco.ShipmentBatchRequest{Shipments: []dsco.ShipmentItem{
					{OrderID: "PO-R1", LineItemID: line, TrackingNumber: "1Z", Carrier: "UPS"}}})
				return err
			},
			func(t *testing.T, it dsco.OrderItem) { assert.Equal(t, it.Quantity, it.QuantityShipped) }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sb := newSandbox(t, dscotest.Config{})
			_, err := sb.retailer.RetailerCreateOrder(t.Context(), dsco.RetailerOrderRequest{Orders: []dsco.Order{{
				OrderID: "PO-R1", OrderType: dsco.OrderTypeMarketplace,
				Items: []dsco.OrderItem{{LineItemID: "1", SKU: "S1", Quantity: 2}, {LineItemID: "2", SKU: "S2", Quantity: 1}},
			}}})
			require.NoError(t, err)
			sb.srv.SetFault(tc.op, tc.fault)
			err = tc.write(sb, "1")
			require.ErrorIs(t, err, dsco.ErrOutcomeUnknown)
			sb.srv.SetFault(tc.op, dscotest.Fault{})

			o, err := sb.supplier.SupplierGetOrder(t.Context(), "PO-R1")
			require.NoError(t, err)
			tc.check(t, o.Items[0])
			assert.Zero(t, o.Items[1].QuantityShipped+o.Items[1].QuantityCancelled, "the other line is untouched")
			assert.EqualValues(t, 1, sb.srv.Applied(tc.op, dscotest.LineKey("PO-R1", "1")))
		})
	}
}

// TestQueuedBatchAgainstSandbox: a batch Dsco answers "accepted" is not an
// error; its effect shows once the sandbox applies it.
func TestQueuedBatchAgainstSandbox(t *testing.T) {
	sb := newSandbox(t, dscotest.Config{Queue: dscotest.QueueConfig{Enabled: true, Operations: []string{"supplierAcknowledgeOrder"}}})
	_, err := sb.retailer.RetailerCreateOrder(t.Context(), dsco.RetailerOrderRequest{Orders: []dsco.Order{{
		OrderID: "PO-Q", OrderType: dsco.OrderTypeMarketplace, Items: []dsco.OrderItem{{LineItemID: "1", SKU: "S1", Quantity: 1}}}}})
	require.NoError(t, err)
	resp, err := sb.supplier.SupplierAcknowledgeOrder(t.Context(), dsco.AcknowledgeOrderRequest{OrderIDs: []string{"PO-Q"}})
	require.NoError(t, err)
	assert.Equal(t, dsco.BatchAccepted, resp.Status)
	o, err := sb.supplier.SupplierGetOrder(t.Context(), "PO-Q")
	require.NoError(t, err)
	assert.Equal(t, dsco.OrderCreated, o.Status)
	require.Equal(t, 1, sb.srv.ApplyQueued())
	o, err = sb.supplier.SupplierGetOrder(t.Context(), "PO-Q")
	require.NoError(t, err)
	assert.Equal(t, dsco.OrderAcknowledged, o.Status)
}
