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
}

// Stats returns a snapshot of the sandbox's counters and state.
func (s *Sandbox) Stats() Stats {
	st := Stats{Calls: map[string]int64{}, Events: map[string]int64{}, Orders: map[string]int64{}}
	s.calls.Range(func(k, v any) bool {
		st.Calls[k.(string)] = v.(*atomic.Int64).Load()
		return true
	})
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
	return st
}
