package schemas

// The record types themselves mirror the schemas and are generated from
// them (types_gen.go); this file holds what is Go only: the interfaces the
// records implement and their Kafka keys.

// Record is implemented by the Go type of every record in the contract
// (pointers to the top-level record types of types_gen.go). It is sealed:
// only this package's types implement it, so that every Record has a
// schema, a topic and an encoder.
type Record interface {
	// Key returns the record's Kafka key: the business key the table of
	// descriptors names (an order id, a sku or a command id).
	Key() string
	descriptor() *Descriptor
	encodeAvro(e *encoder)
}

// Env returns the envelope itself. Promoted through embedding, it makes
// every record that embeds Envelope a StreamEvent.
func (e *Envelope) Env() *Envelope { return e }

// StreamEvent is implemented by the records of the events read from Dsco
// streams: pointers to OrderEvent, OrderItemChangeEvent, InventoryEvent,
// CatalogEvent, InvoiceEvent and ReturnEvent. It lets code that handles any
// of them read and set the envelope without a type switch. It is sealed, as
// Record is. ItemInventoryEvent is not one: it comes from the
// GetItemInventory poll and carries a request id and a high-water mark
// instead of a stream id and position.
type StreamEvent interface {
	Record
	// Env returns the record's envelope; writes through it change the
	// record.
	Env() *Envelope
}

// Every event read from a stream is a StreamEvent.
var (
	_ StreamEvent = (*OrderEvent)(nil)
	_ StreamEvent = (*OrderItemChangeEvent)(nil)
	_ StreamEvent = (*InventoryEvent)(nil)
	_ StreamEvent = (*CatalogEvent)(nil)
	_ StreamEvent = (*InvoiceEvent)(nil)
	_ StreamEvent = (*ReturnEvent)(nil)
)

// Outcome returns the outcome that a status implies (applied and queued
// are accepted; failed and outcome_unknown are failed), or "" for
// unspecified and for a value that is no symbol of CommandStatus.
func (s CommandStatus) Outcome() CommandOutcome {
	switch s {
	case StatusApplied, StatusQueued:
		return OutcomeAccepted
	case StatusRejected:
		return OutcomeRejected
	case StatusFailed, StatusOutcomeUnknown:
		return OutcomeFailed
	}
	return ""
}

// Key methods: the Kafka key of each record.

// Key returns the order id.
func (r *OrderEvent) Key() string { return r.Order.OrderID }

// Key returns the order id.
func (r *OrderItemChangeEvent) Key() string { return r.OrderItemChange.OrderID }

// Key returns the sku.
func (r *InventoryEvent) Key() string { return r.Inventory.SKU }

// Key returns the sku.
func (r *CatalogEvent) Key() string { return r.Catalog.SKU }

// Key returns the order id.
func (r *InvoiceEvent) Key() string { return r.Invoice.OrderID }

// Key returns the order id.
func (r *ReturnEvent) Key() string { return r.Return.OrderID }

// Key returns the sku.
func (r *ItemInventoryEvent) Key() string { return r.ItemInventory.SKU }

// Key returns the order id.
func (r *ShipCommand) Key() string { return r.OrderID }

// Key returns the order id.
func (r *CancelCommand) Key() string { return r.OrderID }

// Key returns the order id.
func (r *InvoiceCommand) Key() string { return r.OrderID }

// Key returns the order id.
func (r *AcknowledgeCommand) Key() string { return r.OrderID }

// Key returns the sku.
func (r *InventoryCommand) Key() string { return r.SKU }

// Key returns the sku.
func (r *CatalogCommand) Key() string { return r.SKU }

// Key returns the order id.
func (r *ReturnCommand) Key() string { return r.OrderID }

// Key returns the order id.
func (r *RetailerOrderCommand) Key() string { return r.OrderID }

// Key returns the order id.
func (r *RetailerReturnCommand) Key() string { return r.OrderID }

// Key returns the order id.
func (r *RetailerCancelCommand) Key() string { return r.OrderID }

// Key returns the sku.
func (r *RetailerCatalogAttributionCommand) Key() string { return r.SKU }

// Key returns the command id.
func (r *CommandResult) Key() string { return r.CommandID }
