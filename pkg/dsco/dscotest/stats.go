package dscotest

import "sync/atomic"

// Stats is a snapshot of what the sandbox has served and holds; it is also
// the body of GET /_sandbox/stats.
type Stats struct {
	// Calls counts requests per operation: the operationIds of the OpenAPI
	// document plus OpGetItemInventory and OpGetInventoryFile. Requests
	// answered with an injected fault count too.
	Calls map[string]int64 `json:"calls"`
	// Events counts the events recorded per object type.
	Events map[string]int64 `json:"events"`
	// Orders counts orders per status.
	Orders map[string]int64 `json:"orders"`
	// Shipments counts shipped line items, Cancellations cancelled line
	// items, Invoices and Returns the records created; InventoryItems and
	// CatalogItems the skus held.
	Shipments      int64 `json:"shipments"`
	Cancellations  int64 `json:"cancellations"`
	Invoices       int64 `json:"invoices"`
	Returns        int64 `json:"returns"`
	InventoryItems int64 `json:"inventoryItems"`
	CatalogItems   int64 `json:"catalogItems"`
	// Streams is the number of streams of both accounts.
	Streams int64 `json:"streams"`
	// Queued is the number of batches waiting to be applied (QueueConfig).
	Queued int64 `json:"queued"`
	// Applied counts the write items applied, by operationId, then by the
	// key of what each applied to (keys below). A test proves "applied
	// exactly once" under faults by finding 1 for every command.
	Applied map[string]map[string]int64 `json:"applied"`
}

// Keys of the applied counts (Stats.Applied, Sandbox.Applied) by operation:
//
//	supplierCreateShipment, supplierCancelOrderItem, retailerRequestCancel,
//	supplierCreateReturn, retailerCreateReturn       LineKey(orderId, lineItemId)
//	supplierAcknowledgeOrder, retailerCreateOrder    orderId
//	supplierCreateInvoice                            invoiceNumber
//	supplierUpdateInventory                          InventoryKey(sku, warehouseId)
//	supplierUpdateCatalog, retailerUpdateCatalogAttribution   sku
//
// An item counts when the sandbox applies it: a shipment, return or
// invoice that changed state, each line a cancellation cancelled (all open
// lines when it names none), an order created, an acknowledgement (also of
// an order acknowledged before, which changes nothing but shows that it was
// sent again), an inventory or catalog update. Items answered with an item
// error do not count. Orders of the generator (SeedOrders, RunGenerator)
// are not counted.

// LineKey is the applied-count key of an order line: "orderId/lineItemId".
func LineKey(orderID, lineItemID string) string { return orderID + "/" + lineItemID }

// InventoryKey is the applied-count key of an inventory update:
// "sku@warehouseId".
func InventoryKey(sku, warehouseID string) string { return sku + "@" + warehouseID }

// Applied returns how many times items of the write operation op (an
// operationId) were applied to key (see Stats.Applied for the keys).
func (s *Sandbox) Applied(op, key string) int64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.st.applied[op][key]
}

// Stats returns a snapshot of the sandbox's counters and state.
func (s *Sandbox) Stats() Stats {
	st := Stats{Calls: map[string]int64{}, Events: map[string]int64{}, Orders: map[string]int64{}}
	s.calls.Range(func(k, v any) bool {
		st.Calls[k.(string)] = v.(*atomic.Int64).Load()
		return true
	})
	st.Queued = int64(s.Queued())
	s.mu.RLock()
	defer s.mu.RUnlock()
	for k, v := range s.st.eventCount {
		st.Events[k] = v
	}
	for status, n := range s.st.byStatus {
		st.Orders[status] = n
	}
	st.Shipments = s.st.shipments
	st.Cancellations = s.st.cancels
	st.Invoices = int64(len(s.st.invoices))
	st.Returns = s.st.returns
	st.InventoryItems = int64(len(s.st.inventory))
	st.CatalogItems = int64(len(s.st.catalog))
	st.Streams = int64(len(s.st.streams))
	st.Applied = make(map[string]map[string]int64, len(s.st.applied))
	for op, m := range s.st.applied {
		c := make(map[string]int64, len(m))
		for k, n := range m {
			c[k] = n
		}
		st.Applied[op] = c
	}
	return st
}
