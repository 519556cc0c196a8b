package schemas

import (
	"bytes"
	"errors"
	"io"
	"slices"
	"time"
	"unsafe"

	"github.com/hamba/avro/v2"
)

// Hand-written decoders for values written with this build's own schemas,
// the common case (the registry id or fingerprint of the value is one of
// ours). hamba/avro's reflective decoder costs, per present nullable field,
// a heap allocation for the pointer and a deferred type-converter look-up in
// a sync.Map keyed by an interface (together most of the decode time of an
// order event), and a boxed slice header per Decimal. These decoders read
// the Avro binary directly, copy the body once into a slab that every
// string and Decimal of the record points into (as hamba/avro's string slab
// does), and take the targets of pointer fields from small arenas. They
// apply the same limits (Config.MaxBytes, Config.MaxItems) and refuse what
// hamba/avro refuses. Values from any other writer schema go through
// hamba/avro's schema resolution as before. Tests prove that both paths give
// equal records for fully populated, all-null, fixture and fuzzed values,
// so a field order that drifts from the .avsc files fails them.

// fastDecoder is implemented by the records that have a hand-written
// decoder for their own schema.
type fastDecoder interface {
	decodeAvro(d *decoder)
}

// arenaChunk is how many values of one kind an arena allocates at once, and
// slabSize the size of the slab bodies are copied into (bodies over a
// quarter of it get their own copy). A record keeps alive the chunks and the
// slab its fields point into: a few KiB at most, shared with records decoded
// just before and after it.
const (
	arenaChunk = 32
	slabSize   = 4096
)

var (
	errIntOverflow    = errors.New("avro: ReadInt: int overflow")
	errLongOverflow   = errors.New("avro: ReadLong: int overflow")
	errNegativeLength = errors.New("avro: invalid bytes or string length")
	errTooLong        = errors.New("avro: size is greater than `Config.MaxByteSliceSize`")
	errTooManyItems   = errors.New("avro: decode array: size is greater than `Config.MaxSliceAllocSize`")
	errUnionBranch    = errors.New("avro: decode union type: unknown union type")
	errEnumSymbol     = errors.New("avro: decode enum symbol: unknown enum symbol")
)

// decoder is pooled: it belongs to one goroutine at a time. The values it
// hands out (strings, Decimals, pointer targets) belong to the record they
// were decoded into and are never written again.
type decoder struct {
	r *avro.Reader // hamba/avro's, for values that need schema resolution

	buf      []byte // the body being decoded: a copy in slab
	pos      int
	err      error
	maxBytes int
	maxItems int

	slab  []byte
	strs  []string
	i32s  []int32
	i64s  []int64
	times []time.Time
}

// reset starts decoding a copy of body.
func (d *decoder) reset(body []byte) {
	d.pos, d.err = 0, nil
	n := len(body)
	if n > slabSize/4 {
		d.buf = bytes.Clone(body)
		return
	}
	if cap(d.slab)-len(d.slab) < n {
		d.slab = make([]byte, 0, slabSize)
	}
	start := len(d.slab)
	d.slab = append(d.slab, body...)
	d.buf = d.slab[start:len(d.slab):len(d.slab)]
}

// finish returns the first error, or an error for bytes left over.
func (d *decoder) finish() error {
	if d.err == nil && d.pos < len(d.buf) {
		return errors.New("trailing bytes after the record")
	}
	return d.err
}

// fail records the first error and moves to the end, so that every later
// read fails too and every loop ends.
func (d *decoder) fail(err error) {
	if d.err == nil {
		d.err = err
	}
	d.pos = len(d.buf)
}

// long reads a zig-zag varint long, as hamba/avro does: at most 10 bytes.
func (d *decoder) long() int64 {
	if d.pos < len(d.buf) && d.buf[d.pos] < 0x80 {
		b := d.buf[d.pos]
		d.pos++
		return int64(b>>1) ^ -int64(b&1)
	}
	return d.longSlow()
}

func (d *decoder) longSlow() int64 {
	var v uint64
	for i := range 10 {
		if d.pos >= len(d.buf) {
			d.fail(io.ErrUnexpectedEOF)
			return 0
		}
		b := d.buf[d.pos]
		d.pos++
		v |= uint64(b&0x7f) << (7 * i)
		if b < 0x80 {
			return int64(v>>1) ^ -int64(v&1)
		}
	}
	d.fail(errLongOverflow)
	return 0
}

// int reads a zig-zag varint int, as hamba/avro does: at most 5 bytes,
// bits beyond 32 dropped.
func (d *decoder) int() int32 {
	if d.pos < len(d.buf) && d.buf[d.pos] < 0x80 {
		b := d.buf[d.pos]
		d.pos++
		return int32(b>>1) ^ -int32(b&1)
	}
	return d.intSlow()
}

func (d *decoder) intSlow() int32 {
	var v uint32
	for i := range 5 {
		if d.pos >= len(d.buf) {
			d.fail(io.ErrUnexpectedEOF)
			return 0
		}
		b := d.buf[d.pos]
		d.pos++
		v |= uint32(b&0x7f) << (7 * i)
		if b < 0x80 {
			return int32(v>>1) ^ -int32(v&1)
		}
	}
	d.fail(errIntOverflow)
	return 0
}

// bytes reads an Avro bytes value: a slice of the copied body, empty and
// not nil for a zero length.
func (d *decoder) bytes() []byte {
	n := d.long()
	switch {
	case d.err != nil:
		return nil
	case n < 0:
		d.fail(errNegativeLength)
		return nil
	case n == 0:
		return []byte{}
	case n > int64(d.maxBytes):
		d.fail(errTooLong)
		return nil
	case n > int64(len(d.buf)-d.pos):
		d.fail(io.ErrUnexpectedEOF)
		return nil
	}
	b := d.buf[d.pos : d.pos+int(n) : d.pos+int(n)]
	d.pos += int(n)
	return b
}

// string reads an Avro string. It points into the copied body, which
// nothing writes again.
func (d *decoder) string() string {
	b := d.bytes()
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

// take returns a pointer to a fresh element of an arena.
func take[T any](arena *[]T) *T {
	if len(*arena) == 0 {
		*arena = make([]T, arenaChunk)
	}
	p := &(*arena)[0]
	*arena = (*arena)[1:]
	return p
}

// present reads the branch index of a ["null", T] union: false for null
// (and after an error).
func (d *decoder) present() bool {
	switch d.int() {
	case 0:
		return false
	case 1:
		return true
	}
	d.fail(errUnionBranch)
	return false
}

// The opt* methods decode a ["null", T] union into a pointer field: nil for
// null; otherwise the value is written through the pointer the field holds
// (a record decoded into again reuses its pointers, as hamba/avro does) or
// through a new one.

func (d *decoder) optString(p **string) {
	if !d.present() {
		*p = nil
		return
	}
	if *p == nil {
		*p = take(&d.strs)
	}
	**p = d.string()
}

func (d *decoder) optInt(p **int32) {
	if !d.present() {
		*p = nil
		return
	}
	if *p == nil {
		*p = take(&d.i32s)
	}
	**p = d.int()
}

func (d *decoder) optLong(p **int64) {
	if !d.present() {
		*p = nil
		return
	}
	if *p == nil {
		*p = take(&d.i64s)
	}
	**p = d.long()
}

func (d *decoder) optTimestamp(p **time.Time) {
	if !d.present() {
		*p = nil
		return
	}
	if *p == nil {
		*p = take(&d.times)
	}
	**p = d.timestamp()
}

func (d *decoder) optDate(p **time.Time) {
	if !d.present() {
		*p = nil
		return
	}
	if *p == nil {
		*p = take(&d.times)
	}
	**p = d.date()
}

// optDecimal decodes a nullable decimal: the bytes as they are, in the
// Reader's slab (empty, not nil, for zero).
func (d *decoder) optDecimal(p *Decimal) {
	if !d.present() {
		*p = nil
		return
	}
	*p = Decimal(d.bytes())
}

// timestamp decodes a timestamp-millis as hamba/avro does.
func (d *decoder) timestamp() time.Time {
	i := d.long()
	sec := i / 1e3
	nsec := (i - sec*1e3) * 1e6
	return time.Unix(sec, nsec).UTC()
}

// date decodes a date (days since the epoch) as hamba/avro does.
func (d *decoder) date() time.Time {
	return time.Unix(int64(d.int())*int64(24*time.Hour/time.Second), 0).UTC()
}

// optRecord decodes a nullable record into a pointer field, reusing the
// record it points to.
func optRecord[T any](d *decoder, p **T, decode func(*T, *decoder)) {
	if !d.present() {
		*p = nil
		return
	}
	if *p == nil {
		*p = new(T)
	}
	decode(*p, d)
}

// array decodes an Avro array into *s, reusing its backing array. Like
// hamba/avro it leaves an empty, non-nil slice for an empty array, and it
// fails an array of more than Config.MaxItems elements before allocating.
func array[T any](d *decoder, s *[]T, decode func(*T, *decoder)) {
	items := (*s)[:0]
	if items == nil {
		items = []T{}
	}
	for d.err == nil {
		n := d.long()
		if n < 0 {
			// A negative count is followed by the block's size in bytes.
			n = -n
			d.long()
		}
		if n == 0 || d.err != nil {
			break
		}
		if n < 0 || n > int64(d.maxItems-len(items)) {
			d.fail(errTooManyItems)
			break
		}
		start := len(items)
		items = slices.Grow(items, int(n))[:start+int(n)]
		for i := start; i < len(items) && d.err == nil; i++ {
			decode(&items[i], d)
		}
	}
	*s = items
}

func decodeString(p *string, d *decoder) { *p = d.string() }

// decodeEnvelope decodes the envelope that opens the schema of every
// StreamEvent. (Named for what it decodes, since the records that embed
// Envelope get the method too.)
func (e *Envelope) decodeEnvelope(d *decoder) {
	e.EventID = d.string()
	e.EventType = d.string()
	e.ObjectType = d.string()
	e.Timestamp = d.timestamp()
	e.StreamID = d.string()
	e.Position = d.string()
}

// Nested records, in the field order of their schemas.

func (a *Address) decode(d *decoder) {
	d.optString(&a.Name)
	d.optString(&a.Street1)
	d.optString(&a.Street2)
	d.optString(&a.City)
	d.optString(&a.State)
	d.optString(&a.PostalCode)
	d.optString(&a.Country)
	d.optString(&a.Phone)
	d.optString(&a.Extra)
}

func (it *OrderItem) decode(d *decoder) {
	d.optString(&it.LineItemID)
	d.optString(&it.SKU)
	d.optInt(&it.Quantity)
	d.optDecimal(&it.Cost)
	d.optDecimal(&it.Price)
	d.optString(&it.Status)
	d.optInt(&it.QuantityShipped)
	d.optInt(&it.QuantityCancelled)
	d.optString(&it.Extra)
}

func (o *Order) decode(d *decoder) {
	o.OrderID = d.string()
	d.optString(&o.OrderType)
	d.optString(&o.Status)
	d.optTimestamp(&o.CreatedAt)
	d.optTimestamp(&o.UpdatedAt)
	array(d, &o.Items, (*OrderItem).decode)
	optRecord(d, &o.ShippingAddress, (*Address).decode)
	d.optString(&o.Extra)
}

func (c *OrderItemChange) decode(d *decoder) {
	c.OrderID = d.string()
	d.optString(&c.LineItemID)
	d.optString(&c.SKU)
	d.optInt(&c.Quantity)
	d.optString(&c.Status)
	d.optString(&c.ChangeType)
	d.optString(&c.TrackingNumber)
	d.optString(&c.Carrier)
	d.optString(&c.Reason)
	d.optInt(&c.QuantityShipped)
	d.optString(&c.Extra)
}

func (it *InventoryItem) decode(d *decoder) {
	it.SKU = d.string()
	d.optInt(&it.Quantity)
	d.optString(&it.WarehouseID)
	d.optString(&it.Extra)
}

func (m *RetailModelRules) decode(d *decoder) {
	array(d, &m.AllowedModels, decodeString)
	d.optString(&m.Extra)
}

func (c *CatalogItem) decode(d *decoder) {
	c.SKU = d.string()
	d.optString(&c.Title)
	d.optString(&c.Description)
	d.optDecimal(&c.Cost)
	optRecord(d, &c.RetailModelRules, (*RetailModelRules).decode)
	d.optString(&c.Attributes)
	d.optString(&c.Extra)
}

func (iv *InvoiceItem) decode(d *decoder) {
	iv.OrderID = d.string()
	d.optString(&iv.InvoiceNumber)
	d.optDecimal(&iv.Amount)
	d.optDate(&iv.InvoiceDate)
	d.optString(&iv.Extra)
}

func (rt *Return) decode(d *decoder) {
	d.optString(&rt.ReturnID)
	d.optString(&rt.InitiatedBy)
	rt.OrderID = d.string()
	d.optString(&rt.LineItemID)
	d.optString(&rt.ReturnReason)
	d.optInt(&rt.Quantity)
	d.optString(&rt.Extra)
}

func (w *WarehouseQuantity) decode(d *decoder) {
	d.optString(&w.WarehouseID)
	d.optInt(&w.Quantity)
	d.optString(&w.Extra)
}

func (ii *ItemInventory) decode(d *decoder) {
	d.optString(&ii.DscoItemID)
	ii.SKU = d.string()
	d.optLong(&ii.DscoSupplierID)
	d.optInt(&ii.QuantityAvailable)
	d.optString(&ii.Status)
	array(d, &ii.Warehouses, (*WarehouseQuantity).decode)
	d.optTimestamp(&ii.LastUpdate)
	d.optString(&ii.Extra)
}

// Events.

func (r *OrderEvent) decodeAvro(d *decoder) {
	r.decodeEnvelope(d)
	r.Order.decode(d)
	d.optString(&r.Extra)
}

func (r *OrderItemChangeEvent) decodeAvro(d *decoder) {
	r.decodeEnvelope(d)
	r.OrderItemChange.decode(d)
	d.optString(&r.Extra)
}

func (r *InventoryEvent) decodeAvro(d *decoder) {
	r.decodeEnvelope(d)
	r.Inventory.decode(d)
	d.optString(&r.Extra)
}

func (r *CatalogEvent) decodeAvro(d *decoder) {
	r.decodeEnvelope(d)
	r.Catalog.decode(d)
	d.optString(&r.Extra)
}

func (r *InvoiceEvent) decodeAvro(d *decoder) {
	r.decodeEnvelope(d)
	r.Invoice.decode(d)
	d.optString(&r.Extra)
}

func (r *ReturnEvent) decodeAvro(d *decoder) {
	r.decodeEnvelope(d)
	r.Return.decode(d)
	d.optString(&r.Extra)
}

func (r *ItemInventoryEvent) decodeAvro(d *decoder) {
	r.EventID = d.string()
	r.EventType = d.string()
	r.ObjectType = d.string()
	r.Timestamp = d.timestamp()
	d.optString(&r.RequestID)
	d.optString(&r.HighWaterMark)
	r.ItemInventory.decode(d)
	d.optString(&r.Extra)
}

// Commands and results.

func (r *ShipCommand) decodeAvro(d *decoder) {
	r.CommandID = d.string()
	d.optString(&r.CorrelationID)
	r.OrderID = d.string()
	d.optString(&r.LineItemID)
	d.optString(&r.TrackingNumber)
	d.optString(&r.Carrier)
	d.optTimestamp(&r.ShippedAt)
}

func (r *CancelCommand) decodeAvro(d *decoder) {
	r.CommandID = d.string()
	d.optString(&r.CorrelationID)
	r.OrderID = d.string()
	d.optString(&r.LineItemID)
	d.optString(&r.Reason)
}

func (r *InvoiceCommand) decodeAvro(d *decoder) {
	r.CommandID = d.string()
	d.optString(&r.CorrelationID)
	r.OrderID = d.string()
	d.optString(&r.InvoiceNumber)
	d.optDecimal(&r.Amount)
	d.optDate(&r.InvoiceDate)
}

func (r *AcknowledgeCommand) decodeAvro(d *decoder) {
	r.CommandID = d.string()
	d.optString(&r.CorrelationID)
	r.OrderID = d.string()
}

func (r *InventoryCommand) decodeAvro(d *decoder) {
	r.CommandID = d.string()
	d.optString(&r.CorrelationID)
	r.SKU = d.string()
	d.optInt(&r.Quantity)
	d.optString(&r.WarehouseID)
}

func (r *CatalogCommand) decodeAvro(d *decoder) {
	r.CommandID = d.string()
	d.optString(&r.CorrelationID)
	r.SKU = d.string()
	d.optString(&r.Title)
	d.optString(&r.Description)
	d.optDecimal(&r.Cost)
	optRecord(d, &r.RetailModelRules, (*RetailModelRules).decode)
	d.optString(&r.Attributes)
}

func (r *ReturnCommand) decodeAvro(d *decoder) {
	r.CommandID = d.string()
	d.optString(&r.CorrelationID)
	r.OrderID = d.string()
	d.optString(&r.LineItemID)
	d.optString(&r.ReturnReason)
	d.optInt(&r.Quantity)
}

func (r *RetailerOrderCommand) decodeAvro(d *decoder) {
	r.CommandID = d.string()
	d.optString(&r.CorrelationID)
	r.OrderID = d.string()
	d.optString(&r.OrderType)
	d.optString(&r.Status)
	d.optTimestamp(&r.CreatedAt)
	d.optTimestamp(&r.UpdatedAt)
	array(d, &r.Items, (*OrderItem).decode)
	optRecord(d, &r.ShippingAddress, (*Address).decode)
}

func (r *RetailerReturnCommand) decodeAvro(d *decoder) {
	r.CommandID = d.string()
	d.optString(&r.CorrelationID)
	r.OrderID = d.string()
	d.optString(&r.LineItemID)
	d.optString(&r.ReturnReason)
	d.optInt(&r.Quantity)
}

func (r *RetailerCancelCommand) decodeAvro(d *decoder) {
	r.CommandID = d.string()
	d.optString(&r.CorrelationID)
	r.OrderID = d.string()
	d.optString(&r.LineItemID)
	d.optString(&r.Reason)
}

func (r *RetailerCatalogAttributionCommand) decodeAvro(d *decoder) {
	r.CommandID = d.string()
	d.optString(&r.CorrelationID)
	r.SKU = d.string()
	d.optString(&r.Title)
	d.optString(&r.Description)
	d.optDecimal(&r.Cost)
	optRecord(d, &r.RetailModelRules, (*RetailModelRules).decode)
	d.optString(&r.Attributes)
}

// outcomeSymbols are the symbols of CommandResult's outcome enum, in the
// schema's order.
var outcomeSymbols = enumSymbols(descResult.Schema, "outcome")

// enumSymbols returns the symbols of a record schema's enum field (nil if
// there is no such field: every value then fails to decode, and the tests
// say so).
func enumSymbols(schema avro.Schema, field string) []string {
	rec, ok := schema.(*avro.RecordSchema)
	if !ok {
		return nil
	}
	for _, f := range rec.Fields() {
		if e, ok := f.Type().(*avro.EnumSchema); ok && f.Name() == field {
			return e.Symbols()
		}
	}
	return nil
}

func (e *BatchError) decode(d *decoder) {
	d.optString(&e.Code)
	d.optString(&e.Message)
	d.optString(&e.Field)
}

func (r *CommandResult) decodeAvro(d *decoder) {
	r.CommandID = d.string()
	d.optString(&r.CorrelationID)
	r.CommandType = d.string()
	if i := d.int(); i >= 0 && int(i) < len(outcomeSymbols) {
		r.Outcome = CommandOutcome(outcomeSymbols[i])
	} else {
		d.fail(errEnumSymbol)
	}
	d.optString(&r.Reason)
	d.optString(&r.BatchID)
	array(d, &r.Errors, (*BatchError).decode)
	r.Attempts = d.int()
	r.SourceTopic = d.string()
	r.SourcePartition = d.int()
	r.SourceOffset = d.long()
	r.Time = d.timestamp()
}
