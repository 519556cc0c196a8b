package schemas

import (
	"time"
)

// Record is implemented by the Go type of every record in the contract
// (pointers to the types in this file). It is sealed: only this package's
// types implement it, so that every Record has a schema and a topic.
type Record interface {
	// Key returns the record's Kafka key: the business key the table of
	// descriptors names (an order id, a sku or a command id).
	Key() string
	descriptor() *Descriptor
}

// Address is a postal address (Dsco Address).
type Address struct {
	Name       *string `avro:"name"`
	Street1    *string `avro:"street1"`
	Street2    *string `avro:"street2"`
	City       *string `avro:"city"`
	State      *string `avro:"state"`
	PostalCode *string `avro:"postalCode"`
	Country    *string `avro:"country"`
	Phone      *string `avro:"phone"`
	// Extra holds the attributes Dsco sent that the schema does not declare,
	// as one JSON object text.
	Extra *string `avro:"extra"`
}

// OrderItem is one line item of an order (Dsco OrderItem).
type OrderItem struct {
	LineItemID        *string `avro:"lineItemId"`
	SKU               *string `avro:"sku"`
	Quantity          *int32  `avro:"quantity"`
	Cost              Decimal `avro:"cost"`
	Price             Decimal `avro:"price"`
	Status            *string `avro:"status"`
	QuantityShipped   *int32  `avro:"quantityShipped"`
	QuantityCancelled *int32  `avro:"quantityCancelled"`
	Extra             *string `avro:"extra"`
}

// Order is a Dsco order (Dsco Order) as an order event carries it.
type Order struct {
	OrderID         string      `avro:"orderId"`
	OrderType       *string     `avro:"orderType"`
	Status          *string     `avro:"status"`
	CreatedAt       *time.Time  `avro:"createdAt"`
	UpdatedAt       *time.Time  `avro:"updatedAt"`
	Items           []OrderItem `avro:"items"`
	ShippingAddress *Address    `avro:"shippingAddress"`
	Extra           *string     `avro:"extra"`
}

// OrderItemChange is the change to one order line item.
type OrderItemChange struct {
	OrderID         string  `avro:"orderId"`
	LineItemID      *string `avro:"lineItemId"`
	SKU             *string `avro:"sku"`
	Quantity        *int32  `avro:"quantity"`
	Status          *string `avro:"status"`
	ChangeType      *string `avro:"changeType"`
	TrackingNumber  *string `avro:"trackingNumber"`
	Carrier         *string `avro:"carrier"`
	Reason          *string `avro:"reason"`
	QuantityShipped *int32  `avro:"quantityShipped"`
	Extra           *string `avro:"extra"`
}

// InventoryItem is the inventory of one item in one warehouse (Dsco
// InventoryItem).
type InventoryItem struct {
	SKU         string  `avro:"sku"`
	Quantity    *int32  `avro:"quantity"`
	WarehouseID *string `avro:"warehouseId"`
	Extra       *string `avro:"extra"`
}

// RetailModelRules says which retail models an item may be sold under.
type RetailModelRules struct {
	AllowedModels []string `avro:"allowedModels"`
	Extra         *string  `avro:"extra"`
}

// CatalogItem is a catalog item (Dsco CatalogItem). Attributes is the item's
// free-form attributes object as one JSON object text.
type CatalogItem struct {
	SKU              string            `avro:"sku"`
	Title            *string           `avro:"title"`
	Description      *string           `avro:"description"`
	Cost             Decimal           `avro:"cost"`
	RetailModelRules *RetailModelRules `avro:"retailModelRules"`
	Attributes       *string           `avro:"attributes"`
	Extra            *string           `avro:"extra"`
}

// InvoiceItem is an invoice for an order (Dsco InvoiceItem). InvoiceDate is
// a calendar date: midnight UTC.
type InvoiceItem struct {
	OrderID       string     `avro:"orderId"`
	InvoiceNumber *string    `avro:"invoiceNumber"`
	Amount        Decimal    `avro:"amount"`
	InvoiceDate   *time.Time `avro:"invoiceDate"`
	Extra         *string    `avro:"extra"`
}

// Return is a return of (part of) an order line: Dsco ReturnItem plus the
// return id and who initiated it.
type Return struct {
	ReturnID     *string `avro:"returnId"`
	InitiatedBy  *string `avro:"initiatedBy"`
	OrderID      string  `avro:"orderId"`
	LineItemID   *string `avro:"lineItemId"`
	ReturnReason *string `avro:"returnReason"`
	Quantity     *int32  `avro:"quantity"`
	Extra        *string `avro:"extra"`
}

// WarehouseQuantity is the quantity of an item in one warehouse.
type WarehouseQuantity struct {
	WarehouseID *string `avro:"warehouseId"`
	Quantity    *int32  `avro:"quantity"`
	Extra       *string `avro:"extra"`
}

// ItemInventory is the inventory of one item across warehouses (Dsco
// ItemInventory, from GetItemInventory).
type ItemInventory struct {
	DscoItemID        *string             `avro:"dscoItemId"`
	SKU               string              `avro:"sku"`
	DscoSupplierID    *int64              `avro:"dscoSupplierId"`
	QuantityAvailable *int32              `avro:"quantityAvailable"`
	Status            *string             `avro:"status"`
	Warehouses        []WarehouseQuantity `avro:"warehouses"`
	LastUpdate        *time.Time          `avro:"lastUpdate"`
	Extra             *string             `avro:"extra"`
}

// Envelope is the Dsco stream event envelope that every event read from a
// stream carries: the first six fields, in this order, of the schemas of the
// StreamEvent records. Those records embed it, so its fields are promoted
// (ev.EventID) and hamba/avro encodes and decodes them by their avro tags as
// if they were declared in the record itself; the schemas and the wire
// bytes are those of the flat records.
type Envelope struct {
	// EventID is the Dsco event id: unique per event, for dropping
	// duplicates (delivery is at-least-once).
	EventID string `avro:"eventId"`
	// EventType is the Dsco event type, for example order.created,
	// orderitem.shipped or inventory.updated.
	EventType string `avro:"eventType"`
	// ObjectType is the Dsco object type of the event, the same for every
	// record of one Go type (order on an OrderEvent).
	ObjectType string `avro:"objectType"`
	// Timestamp is when the event happened at Dsco (UTC; the schema keeps
	// milliseconds).
	Timestamp time.Time `avro:"timestamp"`
	// StreamID is the id of the Dsco stream the event was read from.
	StreamID string `avro:"streamId"`
	// Position is the opaque Dsco stream position of the event.
	Position string `avro:"position"`
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

// OrderEvent is an order created or changed at Dsco. Key: the order id.
type OrderEvent struct {
	Envelope
	Order Order `avro:"order"`
	// Extra holds the stream event envelope's undeclared attributes.
	Extra *string `avro:"extra"`
}

// OrderItemChangeEvent is a change to an order line at Dsco. Key: the order
// id.
type OrderItemChangeEvent struct {
	Envelope
	OrderItemChange OrderItemChange `avro:"orderItemChange"`
	Extra           *string         `avro:"extra"`
}

// InventoryEvent is an inventory change at Dsco. Key: the sku.
type InventoryEvent struct {
	Envelope
	Inventory InventoryItem `avro:"inventory"`
	Extra     *string       `avro:"extra"`
}

// CatalogEvent is a catalog item created or changed at Dsco. Key: the sku.
type CatalogEvent struct {
	Envelope
	Catalog CatalogItem `avro:"catalog"`
	Extra   *string     `avro:"extra"`
}

// InvoiceEvent is an invoice created or changed at Dsco. Key: the order id.
type InvoiceEvent struct {
	Envelope
	Invoice InvoiceItem `avro:"invoice"`
	Extra   *string     `avro:"extra"`
}

// ReturnEvent is a return created or changed at Dsco. Key: the order id.
type ReturnEvent struct {
	Envelope
	Return Return  `avro:"return"`
	Extra  *string `avro:"extra"`
}

// ItemInventoryEvent is one item returned by the GetItemInventory
// high-water-mark poll. Key: the sku.
type ItemInventoryEvent struct {
	EventID       string        `avro:"eventId"`
	EventType     string        `avro:"eventType"`
	ObjectType    string        `avro:"objectType"`
	Timestamp     time.Time     `avro:"timestamp"`
	RequestID     *string       `avro:"requestId"`
	HighWaterMark *string       `avro:"highWaterMark"`
	ItemInventory ItemInventory `avro:"itemInventory"`
	Extra         *string       `avro:"extra"`
}

// ShipCommand reports the shipment of an order line (supplier). Key: the
// order id.
type ShipCommand struct {
	CommandID      string     `avro:"commandId"`
	CorrelationID  *string    `avro:"correlationId"`
	OrderID        string     `avro:"orderId"`
	LineItemID     *string    `avro:"lineItemId"`
	TrackingNumber *string    `avro:"trackingNumber"`
	Carrier        *string    `avro:"carrier"`
	ShippedAt      *time.Time `avro:"shippedAt"`
}

// CancelCommand cancels an order or an order line (supplier). Key: the order
// id.
type CancelCommand struct {
	CommandID     string  `avro:"commandId"`
	CorrelationID *string `avro:"correlationId"`
	OrderID       string  `avro:"orderId"`
	LineItemID    *string `avro:"lineItemId"`
	Reason        *string `avro:"reason"`
}

// InvoiceCommand invoices an order (supplier). Key: the order id.
type InvoiceCommand struct {
	CommandID     string     `avro:"commandId"`
	CorrelationID *string    `avro:"correlationId"`
	OrderID       string     `avro:"orderId"`
	InvoiceNumber *string    `avro:"invoiceNumber"`
	Amount        Decimal    `avro:"amount"`
	InvoiceDate   *time.Time `avro:"invoiceDate"`
}

// AcknowledgeCommand acknowledges an order (supplier). Key: the order id.
type AcknowledgeCommand struct {
	CommandID     string  `avro:"commandId"`
	CorrelationID *string `avro:"correlationId"`
	OrderID       string  `avro:"orderId"`
}

// InventoryCommand sets the inventory of an item (supplier). Key: the sku.
type InventoryCommand struct {
	CommandID     string  `avro:"commandId"`
	CorrelationID *string `avro:"correlationId"`
	SKU           string  `avro:"sku"`
	Quantity      *int32  `avro:"quantity"`
	WarehouseID   *string `avro:"warehouseId"`
}

// CatalogCommand creates or updates a catalog item (supplier). Key: the sku.
type CatalogCommand struct {
	CommandID        string            `avro:"commandId"`
	CorrelationID    *string           `avro:"correlationId"`
	SKU              string            `avro:"sku"`
	Title            *string           `avro:"title"`
	Description      *string           `avro:"description"`
	Cost             Decimal           `avro:"cost"`
	RetailModelRules *RetailModelRules `avro:"retailModelRules"`
	Attributes       *string           `avro:"attributes"`
}

// ReturnCommand reports a return (supplier). Key: the order id.
type ReturnCommand struct {
	CommandID     string  `avro:"commandId"`
	CorrelationID *string `avro:"correlationId"`
	OrderID       string  `avro:"orderId"`
	LineItemID    *string `avro:"lineItemId"`
	ReturnReason  *string `avro:"returnReason"`
	Quantity      *int32  `avro:"quantity"`
}

// RetailerOrderCommand creates an order (retailer). Key: the order id.
type RetailerOrderCommand struct {
	CommandID       string      `avro:"commandId"`
	CorrelationID   *string     `avro:"correlationId"`
	OrderID         string      `avro:"orderId"`
	OrderType       *string     `avro:"orderType"`
	Status          *string     `avro:"status"`
	CreatedAt       *time.Time  `avro:"createdAt"`
	UpdatedAt       *time.Time  `avro:"updatedAt"`
	Items           []OrderItem `avro:"items"`
	ShippingAddress *Address    `avro:"shippingAddress"`
}

// RetailerReturnCommand creates a return (retailer). Key: the order id.
type RetailerReturnCommand struct {
	CommandID     string  `avro:"commandId"`
	CorrelationID *string `avro:"correlationId"`
	OrderID       string  `avro:"orderId"`
	LineItemID    *string `avro:"lineItemId"`
	ReturnReason  *string `avro:"returnReason"`
	Quantity      *int32  `avro:"quantity"`
}

// RetailerCancelCommand cancels an order or an order line (retailer). Key:
// the order id.
type RetailerCancelCommand struct {
	CommandID     string  `avro:"commandId"`
	CorrelationID *string `avro:"correlationId"`
	OrderID       string  `avro:"orderId"`
	LineItemID    *string `avro:"lineItemId"`
	Reason        *string `avro:"reason"`
}

// RetailerCatalogAttributionCommand attributes a catalog item (retailer).
// Key: the sku.
type RetailerCatalogAttributionCommand struct {
	CommandID        string            `avro:"commandId"`
	CorrelationID    *string           `avro:"correlationId"`
	SKU              string            `avro:"sku"`
	Title            *string           `avro:"title"`
	Description      *string           `avro:"description"`
	Cost             Decimal           `avro:"cost"`
	RetailModelRules *RetailModelRules `avro:"retailModelRules"`
	Attributes       *string           `avro:"attributes"`
}

// CommandOutcome is what became of a command: accepted, rejected or failed.
type CommandOutcome string

// The outcomes of a command, the symbols of the CommandOutcome enum.
const (
	// OutcomeAccepted: Dsco accepted the command.
	OutcomeAccepted CommandOutcome = "accepted"
	// OutcomeRejected: the command is invalid and will never succeed as it
	// is (connector validation or a Dsco 4xx).
	OutcomeRejected CommandOutcome = "rejected"
	// OutcomeFailed: the connector gave up after retries; the command is on
	// the poison topic.
	OutcomeFailed CommandOutcome = "failed"
)

// BatchError is one error Dsco reported for a batch item (Dsco BatchError).
type BatchError struct {
	Code    *string `avro:"code"`
	Message *string `avro:"message"`
	Field   *string `avro:"field"`
}

// CommandResult is the outcome of one command. Key: the command id.
type CommandResult struct {
	CommandID       string         `avro:"commandId"`
	CorrelationID   *string        `avro:"correlationId"`
	CommandType     string         `avro:"commandType"`
	Outcome         CommandOutcome `avro:"outcome"`
	Reason          *string        `avro:"reason"`
	BatchID         *string        `avro:"batchId"`
	Errors          []BatchError   `avro:"errors"`
	Attempts        int32          `avro:"attempts"`
	SourceTopic     string         `avro:"sourceTopic"`
	SourcePartition int32          `avro:"sourcePartition"`
	SourceOffset    int64          `avro:"sourceOffset"`
	Time            time.Time      `avro:"time"`
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
