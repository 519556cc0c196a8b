package dscotest

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"maps"
	"slices"
	"time"
)

// Order statuses.
const (
	StatusCreated          = "created"
	StatusAcknowledged     = "acknowledged"
	StatusPartiallyShipped = "partially_shipped"
	StatusShipped          = "shipped"
	StatusCancelled        = "cancelled"
)

// Line item statuses.
const (
	LineOpen      = "open"
	LineShipped   = "shipped"
	LineCancelled = "cancelled"
	LineReturned  = "returned"
)

// Object types of streams and events.
const (
	ObjectOrder           = "order"
	ObjectOrderItemChange = "orderitemchange"
	ObjectInventory       = "inventory"
	ObjectCatalog         = "catalog"
	ObjectInvoice         = "invoice"
	ObjectReturn          = "return"
)

// Carriers is the list of carriers a shipment may name (case-sensitive).
var Carriers = []string{"UPS", "FedEx", "USPS", "DHL", "OnTrac", "LaserShip"}

const timeLayout = "2006-01-02T15:04:05.000Z07:00"

func fmtTime(t time.Time) string { return t.UTC().Format(timeLayout) }

type state struct {
	// orders holds the orders created through the API and the generated
	// ones a write touched; gen the generated orders (see backlog.go).
	orders     map[string]*order
	gen        []genOrder // by order number
	shapes     []genShape
	orderRefs  []orderRef // every order, in creation order
	byStatus   map[string]int64
	catalog    map[string]*catalogItem
	inventory  map[string]*invItem
	invoices   map[string]bool // invoice numbers
	shipments  int64
	cancels    int64
	returns    int64
	returnSeq  uint64
	eventSeq   uint64
	eventCount map[string]int64
	// applied counts the write items applied, by operationId and item key
	// (see Sandbox.Applied).
	applied map[string]map[string]int64

	history   map[string]*eventLog // per object type, for backfilling new streams
	streams   map[string]*stream
	streamIDs []string
	streamSeq uint64

	invLog changeLog
	files  map[string]*invFile

	instance string // prefix of event ids, unique per sandbox
}

func newState(seed int64) *state {
	return &state{
		orders:     make(map[string]*order),
		byStatus:   make(map[string]int64),
		catalog:    make(map[string]*catalogItem),
		inventory:  make(map[string]*invItem),
		invoices:   make(map[string]bool),
		eventCount: make(map[string]int64),
		applied:    make(map[string]map[string]int64),
		history:    make(map[string]*eventLog),
		streams:    make(map[string]*stream),
		files:      make(map[string]*invFile),
		instance:   fmt.Sprintf("%08x", uint32(seed)^uint32(time.Now().UnixNano())),
	}
}

// countApplied records that one item of a write operation was applied to
// key; callers hold s.mu for writing.
func (st *state) countApplied(op, key string) {
	m := st.applied[op]
	if m == nil {
		m = make(map[string]int64)
		st.applied[op] = m
	}
	m[key]++
}

type order struct {
	id, orderType, status string
	createdAt, updatedAt  time.Time
	items                 []*lineItem
	address               json.RawMessage
	extra                 extraFields
}

type lineItem struct {
	id, sku                     string
	quantity                    int
	cost, price                 *money
	status                      string
	shipped, cancelled, returnd int
	extra                       extraFields
}

func (o *order) line(id string) *lineItem {
	for _, li := range o.items {
		if li.id == id {
			return li
		}
	}
	return nil
}

func (li *lineItem) open() int { return li.quantity - li.shipped - li.cancelled }

func (li *lineItem) recompute() {
	switch {
	case li.cancelled == li.quantity:
		li.status = LineCancelled
	case li.returnd > 0 && li.returnd >= li.shipped:
		li.status = LineReturned
	case li.open() == 0 && li.shipped > 0:
		li.status = LineShipped
	default:
		li.status = LineOpen
	}
}

// setStatus moves o to status, keeping the counts per status.
func (st *state) setStatus(o *order, status string) {
	st.byStatus[o.status]--
	if st.byStatus[o.status] == 0 {
		delete(st.byStatus, o.status)
	}
	o.status = status
	st.byStatus[status]++
}

// recompute derives the order status from its lines, keeping the counts
// per status.
func (st *state) recompute(o *order) {
	old := o.status
	o.recompute()
	if o.status != old {
		now := o.status
		o.status = old
		st.setStatus(o, now)
	}
}

// recompute derives the order status from its lines.
func (o *order) recompute() {
	allCancelled, anyShipped, allDone := true, false, true
	for _, li := range o.items {
		li.recompute()
		if li.cancelled < li.quantity {
			allCancelled = false
		}
		if li.shipped > 0 {
			anyShipped = true
		}
		if li.open() > 0 {
			allDone = false
		}
	}
	switch {
	case allCancelled:
		o.status = StatusCancelled
	case allDone && anyShipped:
		o.status = StatusShipped
	case anyShipped:
		o.status = StatusPartiallyShipped
	}
}

// extraFields holds attributes the sandbox does not know, as JSON object
// members without the braces (`"a":1,"b":"x"`): compact to keep and cheap
// to write.
type extraFields []byte

func toExtra(m map[string]json.RawMessage) extraFields {
	if len(m) == 0 {
		return nil
	}
	b, err := json.Marshal(m)
	if err != nil || len(b) <= 2 {
		return nil
	}
	return b[1 : len(b)-1]
}

// splice appends members (without braces) to the JSON object obj.
func splice(obj []byte, members []byte) []byte {
	if len(members) == 0 {
		return obj
	}
	obj = obj[:len(obj)-1]
	if len(obj) > 1 {
		obj = append(obj, ',')
	}
	obj = append(obj, members...)
	return append(obj, '}')
}

type orderHead struct {
	OrderID         string          `json:"orderId"`
	OrderType       string          `json:"orderType"`
	Status          string          `json:"status"`
	CreatedAt       string          `json:"createdAt"`
	UpdatedAt       string          `json:"updatedAt"`
	ShippingAddress json.RawMessage `json:"shippingAddress,omitempty"`
}

type lineWire struct {
	LineItemID        string `json:"lineItemId"`
	SKU               string `json:"sku"`
	Quantity          int    `json:"quantity"`
	Cost              *money `json:"cost,omitempty"`
	Price             *money `json:"price,omitempty"`
	Status            string `json:"status"`
	QuantityShipped   int    `json:"quantityShipped"`
	QuantityCancelled int    `json:"quantityCancelled"`
	QuantityReturned  int    `json:"quantityReturned"`
}

// appendJSON encodes the order with its line items and unknown attributes.
func (o *order) appendJSON() []byte {
	b, _ := json.Marshal(orderHead{OrderID: o.id, OrderType: o.orderType, Status: o.status,
		CreatedAt: fmtTime(o.createdAt), UpdatedAt: fmtTime(o.updatedAt), ShippingAddress: o.address})
	items := append(make([]byte, 0, 64+len(o.items)*256), `"items":[`...)
	for i, li := range o.items {
		if i > 0 {
			items = append(items, ',')
		}
		lb, _ := json.Marshal(lineWire{LineItemID: li.id, SKU: li.sku, Quantity: li.quantity, Cost: li.cost, Price: li.price,
			Status: li.status, QuantityShipped: li.shipped, QuantityCancelled: li.cancelled, QuantityReturned: li.returnd})
		items = append(items, splice(lb, li.extra)...)
	}
	items = append(items, ']')
	return splice(splice(b, items), o.extra)
}

// MarshalJSON implements json.Marshaler.
func (o *order) MarshalJSON() ([]byte, error) { return o.appendJSON(), nil }

type catalogItem struct {
	sku, title, description string
	cost                    *money
	rules                   json.RawMessage
	attributes              map[string]json.RawMessage
	extra                   map[string]json.RawMessage
	updated                 time.Time
}

func (c *catalogItem) MarshalJSON() ([]byte, error) {
	m := make(map[string]any, len(c.extra)+6)
	for k, v := range c.extra {
		m[k] = v
	}
	m["sku"] = c.sku
	if c.title != "" {
		m["title"] = c.title
	}
	if c.description != "" {
		m["description"] = c.description
	}
	if c.cost != nil {
		m["cost"] = *c.cost
	}
	if len(c.rules) > 0 {
		m["retailModelRules"] = c.rules
	}
	attrs := c.attributes
	if attrs == nil {
		attrs = map[string]json.RawMessage{}
	}
	m["attributes"] = attrs
	return json.Marshal(m)
}

// invItem is the inventory of one sku across warehouses.
type invItem struct {
	sku        string
	warehouses map[string]int
	updated    time.Time
}

// dscoItemID derives Dsco's item id from a sku, stable across runs.
func dscoItemID(sku string) string {
	h := fnv.New64a()
	_, _ = h.Write([]byte(sku))
	return fmt.Sprintf("%d", h.Sum64()%1e12+1e12)
}

type warehouseQty struct {
	WarehouseID string `json:"warehouseId"`
	Quantity    int    `json:"quantity"`
}

// itemInventory is GetItemInventory's ItemInventory.
type itemInventory struct {
	DscoItemID        string         `json:"dscoItemId"`
	SKU               string         `json:"sku"`
	DscoSupplierID    int            `json:"dscoSupplierId"`
	QuantityAvailable int            `json:"quantityAvailable"`
	Status            string         `json:"status"`
	Warehouses        []warehouseQty `json:"warehouses"`
	LastUpdate        string         `json:"lastUpdate"`
}

func (it *invItem) view() itemInventory {
	v := itemInventory{DscoItemID: dscoItemID(it.sku), SKU: it.sku, DscoSupplierID: SupplierID,
		Status: "out-of-stock", Warehouses: []warehouseQty{}, LastUpdate: fmtTime(it.updated)}
	for _, wh := range slices.Sorted(maps.Keys(it.warehouses)) {
		q := it.warehouses[wh]
		v.Warehouses = append(v.Warehouses, warehouseQty{WarehouseID: wh, Quantity: q})
		v.QuantityAvailable += q
	}
	if v.QuantityAvailable > 0 {
		v.Status = "in-stock"
	}
	return v
}
