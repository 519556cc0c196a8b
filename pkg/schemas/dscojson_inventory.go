package schemas

import (
	"bytes"
	"unsafe"
)

// ItemInventoryPage is one decoded answer of GetItemInventory with
// resultType objects.
type ItemInventoryPage struct {
	// Items are the page's items in page order.
	Items []DecodedItem
	// HighWaterMark is the mark to pass as highWaterMarkQuery next.
	HighWaterMark string
	// HasMore is true when more items are readable at once.
	HasMore bool
}

// DecodedItem is one Dsco ItemInventory object.
type DecodedItem struct {
	// Item is the object as a record, nil when Err is set. The poller
	// wraps it in an ItemInventoryEvent with its envelope.
	Item *ItemInventory
	// Raw is the object's JSON exactly as read (a sub-slice of the body).
	Raw []byte
	// SKU is the item's sku; best effort when Err is set.
	SKU string
	// Err says why the object cannot be mapped: an *EventError naming the
	// field (ObjectType "iteminventory").
	Err error
	// Line is the number of the item's line in the body DecodeLines read,
	// from 1, blank lines counted; 0 for an item of a page.
	Line int
}

// objectItemInventory is the object type of ItemInventoryEvent.
const objectItemInventory = "iteminventory"

// ItemInventoryDecoder decodes Dsco ItemInventory objects (GetItemInventory)
// into ItemInventory records in one validating pass, with the guarantees of
// EventPageDecoder: encoding/json's notion of valid JSON, unknown
// attributes byte-exact in extra at every level, exact timestamps in every
// form Dsco documents. It has EventPageDecoder's lifetime rules too: not
// safe for concurrent use, and the items of one call (and the body) are
// valid until the next call.
type ItemInventoryDecoder struct {
	d     dscoDecoder
	page  ItemInventoryPage
	items []DecodedItem
}

// NewItemInventoryDecoder returns a decoder of ItemInventory objects.
func NewItemInventoryDecoder() *ItemInventoryDecoder { return &ItemInventoryDecoder{} }

// DecodePage decodes the objects answer of GetItemInventory,
// {"items":[...],"highWaterMark":"...","hasMore":...}. It fails as a whole,
// with a *PageError, only when the page cannot be read: not valid JSON, not
// an object, or no highWaterMark. An item that cannot be mapped is
// returned with Err set.
func (x *ItemInventoryDecoder) DecodePage(body []byte) (*ItemInventoryPage, error) {
	d := &x.d
	d.reset(unsafe.String(unsafe.SliceData(body), len(body)), "")
	page := &x.page
	page.Items = page.Items[:0]
	page.HighWaterMark, page.HasMore = d.page("items", "highWaterMark",
		func() { page.Items = page.Items[:0] },
		func() {
			if it, ok := x.item(body); ok {
				page.Items = append(page.Items, it)
			}
		})
	if err := d.pageError(objectItemInventory, len(body)); err != nil {
		return nil, err
	}
	if page.HighWaterMark == "" {
		return nil, &PageError{ObjectType: objectItemInventory, Offset: len(body), Reason: "the page has no highWaterMark"}
	}
	return page, nil
}

// DecodeLines decodes a GetItemInventory file (resultType file):
// newline-delimited ItemInventory objects. Each non-blank line is one
// item; a line that is not valid JSON is an item with Err set (the lines
// are independent), not a failure of the whole. body must hold whole
// lines; the last one needs no newline.
func (x *ItemInventoryDecoder) DecodeLines(body []byte) []DecodedItem {
	d := &x.d
	d.reset(unsafe.String(unsafe.SliceData(body), len(body)), "")
	x.items = x.items[:0]
	line := 0
	for off := 0; off < len(body); {
		line++
		end := bytes.IndexByte(body[off:], '\n')
		if end < 0 {
			end = len(body)
		} else {
			end += off
		}
		text := body[off:end]
		start := off
		off = end + 1
		if len(bytes.Trim(text, " \t\r")) == 0 {
			continue
		}
		d.s.Continue(unsafe.String(unsafe.SliceData(text), len(text)))
		it, ok := x.item(text)
		d.s.End()
		if e := d.s.Failure(); !ok || e != nil {
			reason := "invalid JSON"
			if e != nil {
				reason = e.Error()
			}
			it = DecodedItem{Raw: body[start:end], Err: &EventError{ObjectType: objectItemInventory, Reason: reason}}
		}
		it.Line = line
		x.items = append(x.items, it)
	}
	return x.items
}

// item decodes the object at the scanner's position; ok is false after a
// syntax error, left in the scanner.
func (x *ItemInventoryDecoder) item(body []byte) (DecodedItem, bool) {
	d := &x.d
	s := &d.s
	s.Peek()
	start, depth := s.Pos(), s.Depth()
	r := dscoTake(&d.records.ItemInventory)
	r.decodeDscoJSON(d)
	if !s.Failed() {
		it := DecodedItem{Item: r, Raw: body[start:s.Pos()], SKU: r.SKU}
		if r.SKU == "" {
			it.Item = nil
			it.Err = &EventError{ObjectType: objectItemInventory, Field: "sku", Reason: "empty key"}
		}
		return it, true
	}
	failure := s.Failure()
	if failure.Syntax {
		return DecodedItem{}, false
	}
	it := DecodedItem{}
	if !d.reread(start, depth, []string{"sku"}, []*string{&it.SKU}) {
		return DecodedItem{}, false
	}
	it.Raw = body[start:s.Pos()]
	it.Err = d.eventError(failure, objectItemInventory, "")
	return it, true
}
