package outbound

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"
	"unsafe"

	"github.com/dscokafka/connector/pkg/dsco"
	"github.com/dscokafka/connector/pkg/schemas"
)

// Role selects the command topics a Pipeline consumes: the supplier's or the retailer's.
type Role string

// The roles.
const (
	RoleSupplier Role = "supplier"
	RoleRetailer Role = "retailer"
)

// redo says what may be done with a command whose earlier send has an unknown outcome.
type redo int

const (
	// redoResend: applying the command twice has the effect of applying it once.
	redoResend redo = iota + 1
	// redoReadOrder: the order read back tells whether the command was applied.
	redoReadOrder
	// redoDuplicateApplied: send again; the item error code dupCode means it was applied.
	redoDuplicateApplied
	// redoUndecidable: Dsco's state cannot tell; poison as outcome_unknown.
	redoUndecidable
)

// kind describes one command: its record, the Dsco call that carries it, and how to
// reconcile it. kindOf makes one.
type kind struct {
	name string
	desc *schemas.Descriptor
	role Role
	// prop is the array property of the batch request, as in BatchError.Field.
	prop string
	// build validates a decoded record and writes its Dsco item to item, the command's
	// (command.item: a pointer to the kind's item type).
	build func(v *validator, r schemas.Record, item any)
	// send makes one batch call carrying the items of cmds.
	send func(ctx context.Context, c *dsco.Client, cmds []*command) (*dsco.BatchResponse, error)
	redo redo
	// dupCode is the item error code meaning "already applied" for redoDuplicateApplied.
	dupCode string
	// applied reports, for redoReadOrder, whether the order shows the command's effect
	// (item: command.item).
	applied func(o *dsco.Order, item any) bool
	// orderID returns the order of an item (command.item), for redoReadOrder.
	orderID func(item any) string
	// newCommand returns a command, with its item, and a record of desc for its record
	// to decode into, in one allocation (commandWith), taken from the kind's pool.
	newCommand func() (*command, schemas.Record)
	// recycle returns to the kind's pool the commands of a batch that newCommand made
	// (others are left to the collector), once nothing refers to them any more: when
	// process returned (see batcher.dispatch).
	recycle func(cmds []*command)
}

// poisonRecycled, set by the package's tests when they run without the race detector
// (TestMain), has kind.recycle leave each command it is handed zeroed, its id recycledID,
// instead of putting it back in its kind's pool: a command used after its batch's process
// returned then fails where it is used (its kind and its done callback, finish, nil), or shows
// recycledID in what it writes, where with the pool it would only race with its next
// user, which only the race detector sees. It is set before any pipeline runs.
var poisonRecycled bool

// recycledID is the id of a command kind.recycle left unusable (see poisonRecycled).
const recycledID = "recycled command"

// recordOf is the pointer type P of a command record type R.
type recordOf[R any] interface {
	*R
	schemas.Record
}

// kindOf completes k for commands whose records are *R and whose Dsco items are I: build
// validates a record into its item, call sends a batch of items.
func kindOf[R any, P recordOf[R], I any](k kind, build func(v *validator, r P, item *I), call func(c *dsco.Client, ctx context.Context, items []I) (*dsco.BatchResponse, error)) *kind {
	kp := &k
	pool := &sync.Pool{New: func() any { return new(commandWith[R, I]) }}
	k.newCommand = func() (*command, schemas.Record) {
		w := pool.Get().(*commandWith[R, I])
		w.c.kind, w.c.pooled, w.c.item = kp, true, &w.item
		return &w.c, P(&w.r)
	}
	k.recycle = func(cmds []*command) {
		for _, c := range cmds {
			if c.kind != kp || !c.pooled {
				continue // not made by newCommand
			}
			w := (*commandWith[R, I])(unsafe.Pointer(c)) // c is its first field
			*w = commandWith[R, I]{}
			if poisonRecycled {
				w.c.id = recycledID
				continue
			}
			pool.Put(w)
		}
	}
	k.build = func(v *validator, r schemas.Record, item any) { build(v, r.(P), item.(*I)) }
	// The items of a call are copied to a slice kept for the next calls once the call
	// returned nil: the client keeps nothing of them then (an error could, such as
	// encoding/json's UnsupportedValueError).
	itemSlices := &sync.Pool{New: func() any { return new([]I) }}
	k.send = func(ctx context.Context, c *dsco.Client, cmds []*command) (*dsco.BatchResponse, error) {
		kept := itemSlices.Get().(*[]I)
		items := (*kept)[:0]
		for _, cmd := range cmds {
			items = append(items, *cmd.item.(*I))
		}
		resp, err := call(c, ctx, items)
		if err == nil {
			clear(items)
			*kept = items[:0]
			itemSlices.Put(kept)
		}
		return resp, err
	}
	return kp
}

// commandWith is a command with the record it decodes into and the Dsco item it is
// validated into, allocated together, and used again once its batch is done (see
// kind.recycle): commands in the steady state cost no allocation. The command comes
// first: a *command made by kind.newCommand is the address of its commandWith.
type commandWith[R, I any] struct {
	c    command
	r    R
	item I
}

// kinds lists every command, in the order of schemas.Commands.
var kinds = []*kind{
	kindOf(kind{
		name: "ship", role: RoleSupplier, prop: "shipments", redo: redoReadOrder,
		orderID: func(it any) string { return it.(*dsco.ShipmentItem).OrderID },
		applied: func(o *dsco.Order, it any) bool {
			li := line(o, it.(*dsco.ShipmentItem).LineItemID)
			return li != nil && li.QuantityShipped > 0
		},
	}, buildShip, func(c *dsco.Client, ctx context.Context, it []dsco.ShipmentItem) (*dsco.BatchResponse, error) {
		return c.SupplierCreateShipment(ctx, dsco.ShipmentBatchRequest{Shipments: it})
	}),
	kindOf(kind{
		name: "cancel", role: RoleSupplier, prop: "cancellations", redo: redoReadOrder,
		orderID: func(it any) string { return it.(*dsco.Cancellation).OrderID },
		applied: func(o *dsco.Order, it any) bool {
			id := it.(*dsco.Cancellation).LineItemID
			if id == "" {
				return o.Status == dsco.OrderCancelled || cancelledRest(o)
			}
			li := line(o, id)
			return li != nil && li.QuantityCancelled > 0
		},
	}, buildCancel[*schemas.CancelCommand], func(c *dsco.Client, ctx context.Context, it []dsco.Cancellation) (*dsco.BatchResponse, error) {
		return c.SupplierCancelOrderItem(ctx, dsco.CancelBatchRequest{Cancellations: it})
	}),
	kindOf(kind{
		name: "invoice", role: RoleSupplier, prop: "invoices", redo: redoDuplicateApplied, dupCode: "DUPLICATE_INVOICE",
	}, buildInvoice, func(c *dsco.Client, ctx context.Context, it []dsco.InvoiceItem) (*dsco.BatchResponse, error) {
		return c.SupplierCreateInvoice(ctx, dsco.InvoiceBatchRequest{Invoices: it})
	}),
	kindOf(kind{
		name: "acknowledge", role: RoleSupplier, prop: "orderIds", redo: redoReadOrder,
		orderID: func(it any) string { return *it.(*string) },
		applied: func(o *dsco.Order, _ any) bool { return o.Status != "" && o.Status != dsco.OrderCreated },
	}, func(v *validator, c *schemas.AcknowledgeCommand, it *string) {
		v.required("orderId", c.OrderID)
		*it = c.OrderID
	}, func(c *dsco.Client, ctx context.Context, it []string) (*dsco.BatchResponse, error) {
		return c.SupplierAcknowledgeOrder(ctx, dsco.AcknowledgeOrderRequest{OrderIDs: it})
	}),
	kindOf(kind{
		name: "inventory", role: RoleSupplier, prop: "items", redo: redoResend,
	}, buildInventory, func(c *dsco.Client, ctx context.Context, it []dsco.InventoryItem) (*dsco.BatchResponse, error) {
		return c.SupplierUpdateInventory(ctx, dsco.InventoryBatchRequest{Items: it})
	}),
	kindOf(kind{
		name: "catalog", role: RoleSupplier, prop: "items", redo: redoResend,
	}, buildCatalog[*schemas.CatalogCommand], func(c *dsco.Client, ctx context.Context, it []dsco.CatalogItem) (*dsco.BatchResponse, error) {
		return c.SupplierUpdateCatalog(ctx, dsco.CatalogBatchRequest{Items: it})
	}),
	kindOf(kind{
		name: "return", role: RoleSupplier, prop: "returns", redo: redoUndecidable,
	}, buildReturn[*schemas.ReturnCommand], func(c *dsco.Client, ctx context.Context, it []dsco.ReturnItem) (*dsco.BatchResponse, error) {
		return c.SupplierCreateReturn(ctx, dsco.ReturnBatchRequest{Returns: it})
	}),
	kindOf(kind{
		name: "retailer-order", role: RoleRetailer, prop: "orders", redo: redoDuplicateApplied, dupCode: "ORDER_EXISTS",
	}, buildRetailerOrder, func(c *dsco.Client, ctx context.Context, it []dsco.Order) (*dsco.BatchResponse, error) {
		return c.RetailerCreateOrder(ctx, dsco.RetailerOrderRequest{Orders: it})
	}),
	kindOf(kind{
		name: "retailer-return", role: RoleRetailer, prop: "returns", redo: redoUndecidable,
	}, buildReturn[*schemas.RetailerReturnCommand], func(c *dsco.Client, ctx context.Context, it []dsco.ReturnItem) (*dsco.BatchResponse, error) {
		return c.RetailerCreateReturn(ctx, dsco.ReturnBatchRequest{Returns: it})
	}),
	kindOf(kind{
		name: "retailer-cancel", role: RoleRetailer, prop: "cancellations", redo: redoUndecidable,
	}, buildCancel[*schemas.RetailerCancelCommand], func(c *dsco.Client, ctx context.Context, it []dsco.Cancellation) (*dsco.BatchResponse, error) {
		return c.RetailerRequestCancel(ctx, dsco.CancelBatchRequest{Cancellations: it})
	}),
	kindOf(kind{
		name: "retailer-catalog-attribution", role: RoleRetailer, prop: "items", redo: redoResend,
	}, buildCatalog[*schemas.RetailerCatalogAttributionCommand], func(c *dsco.Client, ctx context.Context, it []dsco.CatalogItem) (*dsco.BatchResponse, error) {
		return c.RetailerUpdateCatalogAttribution(ctx, dsco.CatalogBatchRequest{Items: it})
	}),
}

func init() {
	for _, k := range kinds {
		d, ok := schemas.Command(k.name)
		if !ok {
			panic("outbound: no schema for command " + k.name)
		}
		k.desc = d
		if _, r := k.newCommand(); schemas.DescriptorOf(r) != d {
			panic("outbound: command " + k.name + " decodes into a record of " + schemas.DescriptorOf(r).Name)
		}
	}
}

func kindByName(name string) (*kind, bool) {
	for _, k := range kinds {
		if k.name == name {
			return k, true
		}
	}
	return nil, false
}

// Commands returns the command names a role consumes, in the order of schemas.Commands.
func Commands(role Role) []string {
	var out []string
	for _, k := range kinds {
		if k.role == role {
			out = append(out, k.name)
		}
	}
	return out
}

// cancelledRest reports whether o has nothing left open and some of it cancelled: a
// cancel of the whole order cancels its open lines, and where a line was shipped before,
// the order is shipped, not cancelled, after it.
func cancelledRest(o *dsco.Order) bool {
	cancelled := false
	for _, li := range o.Items {
		if li.Quantity-li.QuantityShipped-li.QuantityCancelled > 0 {
			return false
		}
		cancelled = cancelled || li.QuantityCancelled > 0
	}
	return cancelled
}

func line(o *dsco.Order, id string) *dsco.OrderItem {
	for i := range o.Items {
		if o.Items[i].LineItemID == id {
			return &o.Items[i]
		}
	}
	return nil
}

// ---- validation and building ----

// validator collects the first validation failure of a command.
type validator struct {
	cmd      string
	carriers []string
	now      func() time.Time // read only for a command with a date: it costs a clock read
	err      *ValidationError
}

func (v *validator) fail(field, format string, args ...any) {
	if v.err == nil {
		v.err = &ValidationError{Command: v.cmd, Field: field, Reason: fmt.Sprintf(format, args...)}
	}
}

// maxIDLen bounds ids and other short strings Dsco keys on.
const maxIDLen = 256

func (v *validator) required(field, s string) {
	switch {
	case s == "":
		v.fail(field, "is required")
	case len(s) > maxIDLen:
		v.fail(field, "is %d bytes long, more than %d", len(s), maxIDLen)
	}
}

func (v *validator) requiredPtr(field string, s *string) string {
	if s == nil {
		v.fail(field, "is required")
		return ""
	}
	v.required(field, *s)
	return *s
}

// optional checks a nullable string: null is fine, an empty string is not.
func (v *validator) optional(field string, s *string) string {
	if s == nil {
		return ""
	}
	if *s == "" {
		v.fail(field, "must not be empty when set (leave it null)")
	}
	return *s
}

// maxUnscaled is 10^DecimalPrecision: the unscaled values of decimal(18,4) lie strictly
// between its negation and it.
const maxUnscaled = 1_000_000_000_000_000_000

func (v *validator) money(field string, d schemas.Decimal, required bool) dsco.Money {
	if d.IsNull() {
		if required {
			v.fail(field, "is required")
		}
		return ""
	}
	// The record's own schema is decimal(18,4), but decoding does not bound a decimal's
	// bytes: the range is checked here, on the unscaled int64, before any text is made
	// (a megabyte of digits cost seconds to print).
	u, err := d.Unscaled()
	if err != nil || u <= -maxUnscaled || u >= maxUnscaled {
		v.fail(field, "is out of range: more than %d digits (decimal(%d,%d))", schemas.DecimalPrecision, schemas.DecimalPrecision, schemas.DecimalScale)
		return ""
	}
	if u < 0 {
		v.fail(field, "must not be negative (got %s)", d.String())
		return ""
	}
	m, err := dsco.ParseMoney(d.String())
	if err != nil {
		v.fail(field, "%v", err)
	}
	return m
}

// earliest is the earliest date a command may carry.
var earliest = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

func (v *validator) instant(field string, t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	if t.Before(earliest) || t.After(v.now().Add(24*time.Hour)) {
		v.fail(field, "%s is out of range (from %s to a day from now)", t.UTC().Format(time.RFC3339), earliest.Format(time.DateOnly))
		return time.Time{}
	}
	return t.UTC()
}

func (v *validator) quantity(field string, q *int32, min int32) int {
	if q == nil {
		v.fail(field, "is required")
		return 0
	}
	if *q < min {
		if min == 1 {
			v.fail(field, "must be positive (got %d)", *q)
		} else {
			v.fail(field, "must not be negative (got %d)", *q)
		}
	}
	return int(*q)
}

func buildShip(v *validator, c *schemas.ShipCommand, it *dsco.ShipmentItem) {
	v.required("orderId", c.OrderID)
	*it = dsco.ShipmentItem{
		OrderID:        c.OrderID,
		LineItemID:     v.requiredPtr("lineItemId", c.LineItemID),
		TrackingNumber: v.requiredPtr("trackingNumber", c.TrackingNumber),
		Carrier:        v.requiredPtr("carrier", c.Carrier),
		ShippedAt:      v.instant("shippedAt", c.ShippedAt),
	}
	if it.Carrier != "" && !slices.Contains(v.carriers, it.Carrier) {
		v.fail("carrier", "unknown carrier %q (accepted: %v)", it.Carrier, v.carriers)
	}
}

// cancelRecord is what the supplier's and the retailer's cancel commands share.
type cancelRecord interface {
	*schemas.CancelCommand | *schemas.RetailerCancelCommand
	schemas.Record
}

func buildCancel[T cancelRecord](v *validator, r T, it *dsco.Cancellation) {
	var orderID string
	var lineID, reason *string
	switch c := any(r).(type) {
	case *schemas.CancelCommand:
		orderID, lineID, reason = c.OrderID, c.LineItemID, c.Reason
	case *schemas.RetailerCancelCommand:
		orderID, lineID, reason = c.OrderID, c.LineItemID, c.Reason
	}
	v.required("orderId", orderID)
	*it = dsco.Cancellation{OrderID: orderID, LineItemID: v.optional("lineItemId", lineID)}
	if reason != nil {
		it.Reason = *reason
	}
}

func buildInvoice(v *validator, c *schemas.InvoiceCommand, it *dsco.InvoiceItem) {
	v.required("orderId", c.OrderID)
	*it = dsco.InvoiceItem{
		OrderID:       c.OrderID,
		InvoiceNumber: v.requiredPtr("invoiceNumber", c.InvoiceNumber),
		Amount:        v.money("amount", c.Amount, true),
	}
	if d := v.instant("invoiceDate", c.InvoiceDate); !d.IsZero() {
		it.InvoiceDate = dsco.DateOf(d)
	}
}

func buildInventory(v *validator, c *schemas.InventoryCommand, it *dsco.InventoryItem) {
	v.required("sku", c.SKU)
	*it = dsco.InventoryItem{
		SKU:         c.SKU,
		Quantity:    v.quantity("quantity", c.Quantity, 0),
		WarehouseID: v.optional("warehouseId", c.WarehouseID),
	}
}

type catalogRecord interface {
	*schemas.CatalogCommand | *schemas.RetailerCatalogAttributionCommand
	schemas.Record
}

func buildCatalog[T catalogRecord](v *validator, r T, it *dsco.CatalogItem) {
	var sku string
	var title, desc, attrs *string
	var cost schemas.Decimal
	var rules *schemas.RetailModelRules
	switch c := any(r).(type) {
	case *schemas.CatalogCommand:
		sku, title, desc, cost, rules, attrs = c.SKU, c.Title, c.Description, c.Cost, c.RetailModelRules, c.Attributes
	case *schemas.RetailerCatalogAttributionCommand:
		sku, title, desc, cost, rules, attrs = c.SKU, c.Title, c.Description, c.Cost, c.RetailModelRules, c.Attributes
	}
	v.required("sku", sku)
	*it = dsco.CatalogItem{SKU: sku, Cost: v.money("cost", cost, false)}
	if title != nil {
		it.Title = *title
	}
	if desc != nil {
		it.Description = *desc
	}
	if rules != nil {
		for i, m := range rules.AllowedModels {
			if m != dsco.RetailModelDropship && m != dsco.RetailModelMarketplace {
				v.fail("retailModelRules.allowedModels["+strconv.Itoa(i)+"]", "unknown retail model %q (want dropship or marketplace)", m)
			}
		}
		if slices.Contains(rules.AllowedModels, dsco.RetailModelDropship) && cost.IsNull() {
			v.fail("cost", "is required when the item allows the dropship model")
		}
		it.RetailModelRules = &dsco.RetailModelRules{AllowedModels: rules.AllowedModels}
	}
	if attrs != nil {
		if err := json.Unmarshal([]byte(*attrs), &it.Attributes); err != nil || it.Attributes == nil {
			v.fail("attributes", "must be a JSON object")
		}
	}
}

type returnRecord interface {
	*schemas.ReturnCommand | *schemas.RetailerReturnCommand
	schemas.Record
}

func buildReturn[T returnRecord](v *validator, r T, it *dsco.ReturnItem) {
	var orderID string
	var lineID, reason *string
	var qty *int32
	switch c := any(r).(type) {
	case *schemas.ReturnCommand:
		orderID, lineID, reason, qty = c.OrderID, c.LineItemID, c.ReturnReason, c.Quantity
	case *schemas.RetailerReturnCommand:
		orderID, lineID, reason, qty = c.OrderID, c.LineItemID, c.ReturnReason, c.Quantity
	}
	v.required("orderId", orderID)
	*it = dsco.ReturnItem{OrderID: orderID, LineItemID: v.requiredPtr("lineItemId", lineID), Quantity: v.quantity("quantity", qty, 1)}
	if reason != nil {
		it.ReturnReason = *reason
	}
}

func buildRetailerOrder(v *validator, c *schemas.RetailerOrderCommand, o *dsco.Order) {
	v.required("orderId", c.OrderID)
	*o = dsco.Order{OrderID: c.OrderID, OrderType: v.requiredPtr("orderType", c.OrderType)}
	if o.OrderType != "" && o.OrderType != dsco.OrderTypeDropship && o.OrderType != dsco.OrderTypeMarketplace {
		v.fail("orderType", "must be Dropship or Marketplace (got %q)", o.OrderType)
	}
	if len(c.Items) == 0 {
		v.fail("items", "an order needs at least one item")
	}
	seen := make(map[string]bool, len(c.Items))
	for i, li := range c.Items {
		f := func(name string) string { return "items[" + strconv.Itoa(i) + "]." + name }
		item := dsco.OrderItem{
			LineItemID: v.optional(f("lineItemId"), li.LineItemID),
			SKU:        v.requiredPtr(f("sku"), li.SKU),
			Quantity:   v.quantity(f("quantity"), li.Quantity, 1),
			Cost:       v.money(f("cost"), li.Cost, o.OrderType == dsco.OrderTypeDropship),
			Price:      v.money(f("price"), li.Price, false),
		}
		if item.LineItemID != "" {
			if seen[item.LineItemID] {
				v.fail(f("lineItemId"), "duplicate lineItemId %q", item.LineItemID)
			}
			seen[item.LineItemID] = true
		}
		if li.Extra != nil {
			if err := json.Unmarshal([]byte(*li.Extra), &item.Extra); err != nil {
				v.fail(f("extra"), "must be a JSON object")
			}
		}
		o.Items = append(o.Items, item)
	}
	if a := c.ShippingAddress; a != nil {
		addr := &dsco.Address{}
		for _, p := range []struct {
			dst *string
			src *string
		}{{&addr.Name, a.Name}, {&addr.Street1, a.Street1}, {&addr.Street2, a.Street2}, {&addr.City, a.City},
			{&addr.State, a.State}, {&addr.PostalCode, a.PostalCode}, {&addr.Country, a.Country}, {&addr.Phone, a.Phone}} {
			if p.src != nil {
				*p.dst = *p.src
			}
		}
		if a.Extra != nil {
			if err := json.Unmarshal([]byte(*a.Extra), &addr.Extra); err != nil {
				v.fail("shippingAddress.extra", "must be a JSON object")
			}
		}
		o.ShippingAddress = addr
	}
}

// Validate checks a command record as the pipeline does before any call, with the default
// carriers, and returns a *ValidationError naming the offending field, or nil.
func Validate(r schemas.Record) error {
	k, ok := kindByName(schemas.DescriptorOf(r).Name)
	if !ok || schemas.DescriptorOf(r).Kind != schemas.KindCommand {
		return fmt.Errorf("%w: %s is not a command record", ErrInvalidCommand, schemas.DescriptorOf(r).RecordName)
	}
	c, _ := k.newCommand()
	if err := validate(new(validator), k, r, c.item, DefaultCarriers, time.Now); err != nil {
		return err
	}
	return nil
}

// validate checks r with v and writes its Dsco item to item (a command.item of k); the
// error is a *ValidationError.
func validate(v *validator, k *kind, r schemas.Record, item any, carriers []string, now func() time.Time) *ValidationError {
	*v = validator{cmd: k.name, carriers: carriers, now: now}
	id := commandID(r)
	v.required("commandId", id)
	k.build(v, r, item)
	return v.err
}

// DefaultCarriers are the carriers a ship command may name unless Config.Carriers says
// otherwise.
var DefaultCarriers = []string{"UPS", "FedEx", "USPS", "DHL", "OnTrac", "LaserShip"}

// commandID and correlationID read the fields every command record has.
func commandID(r schemas.Record) string {
	id, _ := ids(r)
	return id
}

func ids(r schemas.Record) (string, *string) {
	switch c := r.(type) {
	case *schemas.ShipCommand:
		return c.CommandID, c.CorrelationID
	case *schemas.CancelCommand:
		return c.CommandID, c.CorrelationID
	case *schemas.InvoiceCommand:
		return c.CommandID, c.CorrelationID
	case *schemas.AcknowledgeCommand:
		return c.CommandID, c.CorrelationID
	case *schemas.InventoryCommand:
		return c.CommandID, c.CorrelationID
	case *schemas.CatalogCommand:
		return c.CommandID, c.CorrelationID
	case *schemas.ReturnCommand:
		return c.CommandID, c.CorrelationID
	case *schemas.RetailerOrderCommand:
		return c.CommandID, c.CorrelationID
	case *schemas.RetailerReturnCommand:
		return c.CommandID, c.CorrelationID
	case *schemas.RetailerCancelCommand:
		return c.CommandID, c.CorrelationID
	case *schemas.RetailerCatalogAttributionCommand:
		return c.CommandID, c.CorrelationID
	}
	return "", nil
}
