package dsco

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Each model below keeps unknown attributes in Extra. Its MarshalJSON and
// UnmarshalJSON only hand a method-less copy of the type to marshalObject and
// unmarshalObject (object.go), the one mechanism that does the work.
//
// Optional attributes are tagged omitempty or omitzero so that the client
// never sends JSON null for an attribute the contract declares.

// AccessToken is the answer of the token endpoint (getAccessToken).
type AccessToken struct {
	AccessToken string `json:"access_token,omitempty"`
	TokenType   string `json:"token_type,omitempty"`
	ExpiresIn   int    `json:"expires_in,omitempty"`
	Extra       Extra  `json:"-"`
}

// MarshalJSON encodes t with its Extra attributes.
func (t AccessToken) MarshalJSON() ([]byte, error) {
	type plain AccessToken
	return marshalObject((*plain)(&t), t.Extra)
}

// UnmarshalJSON decodes t, keeping unknown attributes in Extra.
func (t *AccessToken) UnmarshalJSON(b []byte) error {
	type plain AccessToken
	return unmarshalObject(b, "AccessToken", (*plain)(t), &t.Extra)
}

// String hides the token, so that it never reaches a log by accident.
func (t AccessToken) String() string {
	return fmt.Sprintf("AccessToken{TokenType:%s ExpiresIn:%d AccessToken:<redacted>}", t.TokenType, t.ExpiresIn)
}

// GoString hides the token from %#v too.
func (t AccessToken) GoString() string { return t.String() }

// Batch statuses of BatchResponse.Status.
const (
	BatchAccepted   = "accepted"
	BatchProcessing = "processing"
	BatchCompleted  = "completed"
	BatchFailed     = "failed"
)

// BatchResponse is Dsco's answer to every batch write. With HTTP 200 some
// items may still have failed: Errors names each of them by its Field path
// (see BatchError.Index).
type BatchResponse struct {
	BatchID string       `json:"batchId,omitempty"`
	Status  string       `json:"status,omitempty"`
	Errors  []BatchError `json:"errors,omitempty"`
	Extra   Extra        `json:"-"`
}

// MarshalJSON encodes r with its Extra attributes.
func (r BatchResponse) MarshalJSON() ([]byte, error) {
	type plain BatchResponse
	return marshalObject((*plain)(&r), r.Extra)
}

// UnmarshalJSON decodes r, keeping unknown attributes in Extra.
func (r *BatchResponse) UnmarshalJSON(b []byte) error {
	type plain BatchResponse
	return unmarshalObject(b, "BatchResponse", (*plain)(r), &r.Extra)
}

// ItemErrors returns the errors that name an item of the request, grouped by
// the item's index in the array property prop ("shipments", "orders", ...).
// Errors that name no item (see BatchError.Index) are left out; callers find
// them with UnattributedErrors.
func (r *BatchResponse) ItemErrors(prop string) map[int][]BatchError {
	var m map[int][]BatchError
	for _, e := range r.Errors {
		p, i, ok := e.Index()
		if !ok || p != prop {
			continue
		}
		if m == nil {
			m = make(map[int][]BatchError)
		}
		m[i] = append(m[i], e)
	}
	return m
}

// UnattributedErrors returns the errors that name no item of the request.
func (r *BatchResponse) UnattributedErrors() []BatchError {
	var out []BatchError
	for _, e := range r.Errors {
		if _, _, ok := e.Index(); !ok {
			out = append(out, e)
		}
	}
	return out
}

// BatchError is one error of a BatchResponse.
type BatchError struct {
	Code    string `json:"code,omitempty"`
	Message string `json:"message,omitempty"`
	// Field is the path of the failing value, starting with the request's
	// array property and the item index: "shipments[3].trackingNumber".
	Field string `json:"field,omitempty"`
	Extra Extra  `json:"-"`
}

// MarshalJSON encodes e with its Extra attributes.
func (e BatchError) MarshalJSON() ([]byte, error) {
	type plain BatchError
	return marshalObject((*plain)(&e), e.Extra)
}

// UnmarshalJSON decodes e, keeping unknown attributes in Extra.
func (e *BatchError) UnmarshalJSON(b []byte) error {
	type plain BatchError
	return unmarshalObject(b, "BatchError", (*plain)(e), &e.Extra)
}

// Index parses the leading "prop[i]" of Field: for "shipments[3].carrier" it
// returns "shipments", 3, true. ok is false when Field does not start with an
// indexed property.
func (e BatchError) Index() (prop string, i int, ok bool) {
	open := strings.IndexByte(e.Field, '[')
	if open <= 0 {
		return "", 0, false
	}
	end := strings.IndexByte(e.Field[open:], ']')
	if end < 0 {
		return "", 0, false
	}
	rest := e.Field[open+end+1:]
	if rest != "" && rest[0] != '.' && rest[0] != '[' {
		return "", 0, false
	}
	n, err := strconv.Atoi(e.Field[open+1 : open+end])
	if err != nil || n < 0 {
		return "", 0, false
	}
	return e.Field[:open], n, true
}

func (e BatchError) String() string {
	var b strings.Builder
	b.WriteString(e.Code)
	if e.Field != "" {
		b.WriteString(" at ")
		b.WriteString(e.Field)
	}
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	return b.String()
}

// Order types of Order.OrderType.
const (
	OrderTypeDropship    = "Dropship"
	OrderTypeMarketplace = "Marketplace"
)

// Order statuses of Order.Status in the order lifecycle.
const (
	OrderCreated          = "created"
	OrderAcknowledged     = "acknowledged"
	OrderPartiallyShipped = "partially_shipped"
	OrderShipped          = "shipped"
	OrderCancelled        = "cancelled"
)

// Order is a Dsco order.
type Order struct {
	OrderID         string      `json:"orderId,omitempty"`
	OrderType       string      `json:"orderType,omitempty"`
	Status          string      `json:"status,omitempty"`
	CreatedAt       time.Time   `json:"createdAt,omitzero"`
	UpdatedAt       time.Time   `json:"updatedAt,omitzero"`
	Items           []OrderItem `json:"items,omitempty"`
	ShippingAddress *Address    `json:"shippingAddress,omitempty"`
	Extra           Extra       `json:"-"`
}

// MarshalJSON encodes o with its Extra attributes.
func (o Order) MarshalJSON() ([]byte, error) {
	return marshalObject((*plainOrder)(&o), o.Extra)
}

// plainOrder is Order without its methods: its encoding without Extra attributes.
type plainOrder Order

func (o *Order) extraAttrs() Extra { return o.Extra }

// UnmarshalJSON decodes o, keeping unknown attributes in Extra.
func (o *Order) UnmarshalJSON(b []byte) error {
	type plain Order
	return unmarshalObject(b, "Order", (*plain)(o), &o.Extra)
}

// OrderItem is a line item of an Order. Status, QuantityShipped,
// QuantityCancelled and QuantityReturned are attributes Dsco adds to the
// contract's OrderItem; they are what tells, after a write whose outcome is
// unknown, whether a shipment, cancellation or return reached the line.
type OrderItem struct {
	LineItemID        string `json:"lineItemId,omitempty"`
	SKU               string `json:"sku,omitempty"`
	Quantity          int    `json:"quantity"`
	Cost              Money  `json:"cost,omitzero"`
	Price             Money  `json:"price,omitzero"`
	Status            string `json:"status,omitempty"`
	QuantityShipped   int    `json:"quantityShipped,omitempty"`
	QuantityCancelled int    `json:"quantityCancelled,omitempty"`
	QuantityReturned  int    `json:"quantityReturned,omitempty"`
	Extra             Extra  `json:"-"`
}

// MarshalJSON encodes it with its Extra attributes.
func (it OrderItem) MarshalJSON() ([]byte, error) {
	type plain OrderItem
	return marshalObject((*plain)(&it), it.Extra)
}

// UnmarshalJSON decodes it, keeping unknown attributes in Extra.
func (it *OrderItem) UnmarshalJSON(b []byte) error {
	type plain OrderItem
	return unmarshalObject(b, "OrderItem", (*plain)(it), &it.Extra)
}

// OrderList is a page of orders (supplierListOrders).
type OrderList struct {
	Orders     []Order `json:"orders,omitempty"`
	TotalCount int     `json:"totalCount"`
	HasMore    bool    `json:"hasMore"`
	Extra      Extra   `json:"-"`
}

// MarshalJSON encodes l with its Extra attributes.
func (l OrderList) MarshalJSON() ([]byte, error) {
	type plain OrderList
	return marshalObject((*plain)(&l), l.Extra)
}

// UnmarshalJSON decodes l, keeping unknown attributes in Extra.
func (l *OrderList) UnmarshalJSON(b []byte) error {
	type plain OrderList
	return unmarshalObject(b, "OrderList", (*plain)(l), &l.Extra)
}

// Address is a postal address.
type Address struct {
	Name       string `json:"name,omitempty"`
	Street1    string `json:"street1,omitempty"`
	Street2    string `json:"street2,omitempty"`
	City       string `json:"city,omitempty"`
	State      string `json:"state,omitempty"`
	PostalCode string `json:"postalCode,omitempty"`
	Country    string `json:"country,omitempty"`
	Phone      string `json:"phone,omitempty"`
	Extra      Extra  `json:"-"`
}

// MarshalJSON encodes a with its Extra attributes.
func (a Address) MarshalJSON() ([]byte, error) {
	type plain Address
	return marshalObject((*plain)(&a), a.Extra)
}

// UnmarshalJSON decodes a, keeping unknown attributes in Extra.
func (a *Address) UnmarshalJSON(b []byte) error {
	type plain Address
	return unmarshalObject(b, "Address", (*plain)(a), &a.Extra)
}

// CatalogItem is a product of a catalog batch.
type CatalogItem struct {
	SKU              string                     `json:"sku,omitempty"`
	Title            string                     `json:"title,omitempty"`
	Description      string                     `json:"description,omitempty"`
	Cost             Money                      `json:"cost,omitzero"`
	RetailModelRules *RetailModelRules          `json:"retailModelRules,omitempty"`
	Attributes       map[string]json.RawMessage `json:"attributes,omitempty"`
	Extra            Extra                      `json:"-"`
}

// MarshalJSON encodes it with its Extra attributes.
func (it CatalogItem) MarshalJSON() ([]byte, error) {
	return marshalObject((*plainCatalogItem)(&it), it.Extra)
}

// plainCatalogItem is CatalogItem without its methods: its encoding without Extra attributes.
type plainCatalogItem CatalogItem

func (it *CatalogItem) extraAttrs() Extra { return it.Extra }

// UnmarshalJSON decodes it, keeping unknown attributes in Extra.
func (it *CatalogItem) UnmarshalJSON(b []byte) error {
	type plain CatalogItem
	return unmarshalObject(b, "CatalogItem", (*plain)(it), &it.Extra)
}

// Retail models of RetailModelRules.AllowedModels.
const (
	RetailModelDropship    = "dropship"
	RetailModelMarketplace = "marketplace"
)

// RetailModelRules says which retail models a catalog item allows.
type RetailModelRules struct {
	AllowedModels []string `json:"allowedModels,omitempty"`
	Extra         Extra    `json:"-"`
}

// MarshalJSON encodes r with its Extra attributes.
func (r RetailModelRules) MarshalJSON() ([]byte, error) {
	type plain RetailModelRules
	return marshalObject((*plain)(&r), r.Extra)
}

// UnmarshalJSON decodes r, keeping unknown attributes in Extra.
func (r *RetailModelRules) UnmarshalJSON(b []byte) error {
	type plain RetailModelRules
	return unmarshalObject(b, "RetailModelRules", (*plain)(r), &r.Extra)
}

// InventoryItem is one quantity update of an inventory batch. Quantity is
// always sent, 0 included.
type InventoryItem struct {
	SKU         string `json:"sku,omitempty"`
	Quantity    int    `json:"quantity"`
	WarehouseID string `json:"warehouseId,omitempty"`
	Extra       Extra  `json:"-"`
}

// MarshalJSON encodes it with its Extra attributes.
func (it InventoryItem) MarshalJSON() ([]byte, error) {
	return marshalObject((*plainInventoryItem)(&it), it.Extra)
}

// plainInventoryItem is InventoryItem without its methods: its encoding without Extra attributes.
type plainInventoryItem InventoryItem

func (it *InventoryItem) extraAttrs() Extra { return it.Extra }

// UnmarshalJSON decodes it, keeping unknown attributes in Extra.
func (it *InventoryItem) UnmarshalJSON(b []byte) error {
	type plain InventoryItem
	return unmarshalObject(b, "InventoryItem", (*plain)(it), &it.Extra)
}

// ShipmentItem is one shipment of a shipment batch.
type ShipmentItem struct {
	OrderID        string    `json:"orderId,omitempty"`
	LineItemID     string    `json:"lineItemId,omitempty"`
	TrackingNumber string    `json:"trackingNumber,omitempty"`
	Carrier        string    `json:"carrier,omitempty"`
	ShippedAt      time.Time `json:"shippedAt,omitzero"`
	Extra          Extra     `json:"-"`
}

// MarshalJSON encodes it with its Extra attributes.
func (it ShipmentItem) MarshalJSON() ([]byte, error) {
	return marshalObject((*plainShipmentItem)(&it), it.Extra)
}

// plainShipmentItem is ShipmentItem without its methods: its encoding without Extra attributes.
type plainShipmentItem ShipmentItem

func (it *ShipmentItem) extraAttrs() Extra { return it.Extra }

// UnmarshalJSON decodes it, keeping unknown attributes in Extra.
func (it *ShipmentItem) UnmarshalJSON(b []byte) error {
	type plain ShipmentItem
	return unmarshalObject(b, "ShipmentItem", (*plain)(it), &it.Extra)
}

// Cancellation cancels an order item (the contract's CancelRequest).
type Cancellation struct {
	OrderID    string `json:"orderId,omitempty"`
	LineItemID string `json:"lineItemId,omitempty"`
	Reason     string `json:"reason,omitempty"`
	Extra      Extra  `json:"-"`
}

// MarshalJSON encodes c with its Extra attributes.
func (c Cancellation) MarshalJSON() ([]byte, error) {
	return marshalObject((*plainCancellation)(&c), c.Extra)
}

// plainCancellation is Cancellation without its methods: its encoding without Extra attributes.
type plainCancellation Cancellation

func (c *Cancellation) extraAttrs() Extra { return c.Extra }

// UnmarshalJSON decodes c, keeping unknown attributes in Extra.
func (c *Cancellation) UnmarshalJSON(b []byte) error {
	type plain Cancellation
	return unmarshalObject(b, "Cancellation", (*plain)(c), &c.Extra)
}

// ReturnItem is one return of a return batch.
type ReturnItem struct {
	OrderID      string `json:"orderId,omitempty"`
	LineItemID   string `json:"lineItemId,omitempty"`
	ReturnReason string `json:"returnReason,omitempty"`
	Quantity     int    `json:"quantity"`
	Extra        Extra  `json:"-"`
}

// MarshalJSON encodes it with its Extra attributes.
func (it ReturnItem) MarshalJSON() ([]byte, error) {
	return marshalObject((*plainReturnItem)(&it), it.Extra)
}

// plainReturnItem is ReturnItem without its methods: its encoding without Extra attributes.
type plainReturnItem ReturnItem

func (it *ReturnItem) extraAttrs() Extra { return it.Extra }

// UnmarshalJSON decodes it, keeping unknown attributes in Extra.
func (it *ReturnItem) UnmarshalJSON(b []byte) error {
	type plain ReturnItem
	return unmarshalObject(b, "ReturnItem", (*plain)(it), &it.Extra)
}

// InvoiceItem is one invoice of an invoice batch.
type InvoiceItem struct {
	OrderID       string `json:"orderId,omitempty"`
	InvoiceNumber string `json:"invoiceNumber,omitempty"`
	Amount        Money  `json:"amount,omitzero"`
	InvoiceDate   Date   `json:"invoiceDate,omitzero"`
	Extra         Extra  `json:"-"`
}

// MarshalJSON encodes it with its Extra attributes.
func (it InvoiceItem) MarshalJSON() ([]byte, error) {
	return marshalObject((*plainInvoiceItem)(&it), it.Extra)
}

// plainInvoiceItem is InvoiceItem without its methods: its encoding without Extra attributes.
type plainInvoiceItem InvoiceItem

func (it *InvoiceItem) extraAttrs() Extra { return it.Extra }

// UnmarshalJSON decodes it, keeping unknown attributes in Extra.
func (it *InvoiceItem) UnmarshalJSON(b []byte) error {
	type plain InvoiceItem
	return unmarshalObject(b, "InvoiceItem", (*plain)(it), &it.Extra)
}

// Batch requests. Their array is always sent, as [] when it is nil.

// CatalogBatchRequest is the body of supplierUpdateCatalog and
// retailerUpdateCatalogAttribution.
type CatalogBatchRequest struct {
	Items []CatalogItem `json:"items"`
}

// InventoryBatchRequest is the body of supplierUpdateInventory.
type InventoryBatchRequest struct {
	Items []InventoryItem `json:"items"`
}

// ShipmentBatchRequest is the body of supplierCreateShipment.
type ShipmentBatchRequest struct {
	Shipments []ShipmentItem `json:"shipments"`
}

// CancelBatchRequest is the body of supplierCancelOrderItem and
// retailerRequestCancel.
type CancelBatchRequest struct {
	Cancellations []Cancellation `json:"cancellations"`
}

// AcknowledgeOrderRequest is the body of supplierAcknowledgeOrder.
type AcknowledgeOrderRequest struct {
	OrderIDs []string `json:"orderIds"`
}

// ReturnBatchRequest is the body of supplierCreateReturn and
// retailerCreateReturn.
type ReturnBatchRequest struct {
	Returns []ReturnItem `json:"returns"`
}

// InvoiceBatchRequest is the body of supplierCreateInvoice.
type InvoiceBatchRequest struct {
	Invoices []InvoiceItem `json:"invoices"`
}

// RetailerOrderRequest is the body of retailerCreateOrder.
type RetailerOrderRequest struct {
	Orders []Order `json:"orders"`
}

// ListOrdersParams filters supplierListOrders. Zero values are not sent.
type ListOrdersParams struct {
	Status string
	Limit  int
}

// ObjectType is the type of object a stream carries.
type ObjectType string

// Object types of streams and events.
const (
	ObjectOrder           ObjectType = "order"
	ObjectReturn          ObjectType = "return"
	ObjectInventory       ObjectType = "inventory"
	ObjectCatalog         ObjectType = "catalog"
	ObjectInvoice         ObjectType = "invoice"
	ObjectOrderItemChange ObjectType = "orderitemchange"
)

// StreamDefinition is the body of createStream. ObjectType is required.
type StreamDefinition struct {
	ObjectType     ObjectType                 `json:"objectType"`
	QueryParams    map[string]json.RawMessage `json:"queryParams,omitempty"`
	PartitionCount int                        `json:"partitionCount,omitempty"`
}

// Validate checks d against the contract: ObjectType is one of the object
// types of the contract's enum, PartitionCount is not negative (0 leaves
// Dsco's default, 1), and every query parameter value is valid JSON. Its
// errors match ErrInvalidRequest.
func (d StreamDefinition) Validate() error {
	switch d.ObjectType {
	case ObjectOrder, ObjectReturn, ObjectInventory, ObjectCatalog, ObjectInvoice, ObjectOrderItemChange:
	case "":
		return fmt.Errorf("%w: stream definition: objectType is required (one of %s)", ErrInvalidRequest, objectTypeList)
	default:
		return fmt.Errorf("%w: stream definition: objectType %q is not one of %s", ErrInvalidRequest, d.ObjectType, objectTypeList)
	}
	if d.PartitionCount < 0 {
		return fmt.Errorf("%w: stream definition: partitionCount %d is negative", ErrInvalidRequest, d.PartitionCount)
	}
	for k, v := range d.QueryParams {
		if !json.Valid(v) {
			return fmt.Errorf("%w: stream definition: queryParams[%q] is not valid JSON", ErrInvalidRequest, k)
		}
	}
	return nil
}

const objectTypeList = "order, return, inventory, catalog, invoice, orderitemchange"

// Stream is an event stream. Partitions, an attribute Dsco adds to the
// contract's Stream, holds the stored position of each partition.
type Stream struct {
	StreamID       string            `json:"streamId,omitempty"`
	ObjectType     ObjectType        `json:"objectType,omitempty"`
	PartitionCount int               `json:"partitionCount,omitempty"`
	CreatedAt      time.Time         `json:"createdAt,omitzero"`
	Partitions     []StreamPartition `json:"partitions,omitempty"`
	Extra          Extra             `json:"-"`
}

// MarshalJSON encodes s with its Extra attributes.
func (s Stream) MarshalJSON() ([]byte, error) {
	type plain Stream
	return marshalObject((*plain)(&s), s.Extra)
}

// UnmarshalJSON decodes s, keeping unknown attributes in Extra.
func (s *Stream) UnmarshalJSON(b []byte) error {
	type plain Stream
	return unmarshalObject(b, "Stream", (*plain)(s), &s.Extra)
}

// StreamPartition is the stored position of one partition of a stream.
type StreamPartition struct {
	Partition int    `json:"partition"`
	Position  string `json:"position"`
	Extra     Extra  `json:"-"`
}

// MarshalJSON encodes p with its Extra attributes.
func (p StreamPartition) MarshalJSON() ([]byte, error) {
	type plain StreamPartition
	return marshalObject((*plain)(&p), p.Extra)
}

// UnmarshalJSON decodes p, keeping unknown attributes in Extra.
func (p *StreamPartition) UnmarshalJSON(b []byte) error {
	type plain StreamPartition
	return unmarshalObject(b, "StreamPartition", (*plain)(p), &p.Extra)
}

// StreamList is the answer of listStreams.
type StreamList struct {
	Streams []Stream `json:"streams,omitempty"`
	Extra   Extra    `json:"-"`
}

// MarshalJSON encodes l with its Extra attributes.
func (l StreamList) MarshalJSON() ([]byte, error) {
	type plain StreamList
	return marshalObject((*plain)(&l), l.Extra)
}

// UnmarshalJSON decodes l, keeping unknown attributes in Extra.
func (l *StreamList) UnmarshalJSON(b []byte) error {
	type plain StreamList
	return unmarshalObject(b, "StreamList", (*plain)(l), &l.Extra)
}

// ReadEventsParams selects the events getStreamEvents returns. An empty
// Position reads from the stream's stored position; Limit 0 leaves the
// server's default (100, at most 1000). Partition is an extension for
// streams with more than one partition.
type ReadEventsParams struct {
	Position  string
	Limit     int
	Partition int
}

// StreamEvents is a page of events (getStreamEvents). Position names the
// last event of the page; reading from it returns the events after it.
type StreamEvents struct {
	Events   []Event `json:"events,omitempty"`
	Position string  `json:"position,omitempty"`
	HasMore  bool    `json:"hasMore"`
	Extra    Extra   `json:"-"`
}

// MarshalJSON encodes e with its Extra attributes.
func (e StreamEvents) MarshalJSON() ([]byte, error) {
	type plain StreamEvents
	return marshalObject((*plain)(&e), e.Extra)
}

// UnmarshalJSON decodes e, keeping unknown attributes in Extra.
func (e *StreamEvents) UnmarshalJSON(b []byte) error {
	type plain StreamEvents
	return unmarshalObject(b, "StreamEvents", (*plain)(e), &e.Extra)
}

// Event is one stream event (the contract's StreamEvent). Data is kept as the
// exact JSON text; DecodeData and the typed helpers decode it.
type Event struct {
	EventID    string          `json:"eventId,omitempty"`
	EventType  string          `json:"eventType,omitempty"`
	ObjectType ObjectType      `json:"objectType,omitempty"`
	Timestamp  time.Time       `json:"timestamp,omitzero"`
	Data       json.RawMessage `json:"data,omitempty"`
	Extra      Extra           `json:"-"`
}

// MarshalJSON encodes e with its Extra attributes.
func (e Event) MarshalJSON() ([]byte, error) {
	type plain Event
	return marshalObject((*plain)(&e), e.Extra)
}

// UnmarshalJSON decodes e, keeping unknown attributes in Extra.
func (e *Event) UnmarshalJSON(b []byte) error {
	type plain Event
	return unmarshalObject(b, "Event", (*plain)(e), &e.Extra)
}

// DecodeData decodes e.Data into v.
func (e Event) DecodeData(v any) error {
	if len(e.Data) == 0 {
		return fmt.Errorf("dsco: event %s has no data", e.EventID)
	}
	if err := json.Unmarshal(e.Data, v); err != nil {
		return fmt.Errorf("dsco: decoding data of %s event %s: %w", e.ObjectType, e.EventID, fieldError(err, v))
	}
	return nil
}

// Typed decoders of Event.Data, by the event's ObjectType. Attributes the
// type does not declare are kept in its Extra.

// Order decodes the data of an order event.
func (e Event) Order() (Order, error) { return eventData[Order](e) }

// OrderItemChange decodes the data of an orderitemchange event.
func (e Event) OrderItemChange() (OrderItemChange, error) { return eventData[OrderItemChange](e) }

// Inventory decodes the data of an inventory event.
func (e Event) Inventory() (InventoryItem, error) { return eventData[InventoryItem](e) }

// Catalog decodes the data of a catalog event.
func (e Event) Catalog() (CatalogItem, error) { return eventData[CatalogItem](e) }

// Invoice decodes the data of an invoice event.
func (e Event) Invoice() (InvoiceItem, error) { return eventData[InvoiceItem](e) }

// Return decodes the data of a return event.
func (e Event) Return() (ReturnItem, error) { return eventData[ReturnItem](e) }

func eventData[T any](e Event) (T, error) {
	var v T
	err := e.DecodeData(&v)
	return v, err
}

// OrderItemChange is the data of an orderitemchange event: one line item of
// an order changed (acknowledged, shipped, cancelled, returned).
type OrderItemChange struct {
	OrderID    string `json:"orderId,omitempty"`
	LineItemID string `json:"lineItemId,omitempty"`
	SKU        string `json:"sku,omitempty"`
	Quantity   int    `json:"quantity"`
	Status     string `json:"status,omitempty"`
	ChangeType string `json:"changeType,omitempty"`
	Extra      Extra  `json:"-"`
}

// MarshalJSON encodes c with its Extra attributes.
func (c OrderItemChange) MarshalJSON() ([]byte, error) {
	type plain OrderItemChange
	return marshalObject((*plain)(&c), c.Extra)
}

// UnmarshalJSON decodes c, keeping unknown attributes in Extra.
func (c *OrderItemChange) UnmarshalJSON(b []byte) error {
	type plain OrderItemChange
	return unmarshalObject(b, "OrderItemChange", (*plain)(c), &c.Extra)
}

// StreamPositionUpdate is the body of updateStreamPosition.
type StreamPositionUpdate struct {
	Position string `json:"position"`
}
