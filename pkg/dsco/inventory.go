package dsco

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"net/http"
	"net/url"
	"time"
)

// ResultType says how GetItemInventory returns its results.
type ResultType string

// Result types of InventoryQuery.ResultType.
const (
	ResultObjects ResultType = "objects"
	ResultFile    ResultType = "file"
)

// ItemKey names the identifier of an ItemIDQuery.
type ItemKey string

// Item keys of ItemIDQuery.ItemKey.
const (
	ItemKeySKU        ItemKey = "sku"
	ItemKeyDscoItemID ItemKey = "dscoItemId"
)

// ItemIDQuery selects one item by one of its identifiers.
type ItemIDQuery struct {
	ItemKey ItemKey `json:"itemKey"`
	Value   string  `json:"value"`
}

// DateQuery selects the items changed within a time range.
type DateQuery struct {
	StartDate time.Time `json:"-"`
	EndDate   time.Time `json:"-"`
}

// isoDate is the isodate format of the GetItemInventory params.
const isoDate = "2006-01-02T15:04:05.000Z07:00"

// MarshalJSON writes the dates in the isodate format with milliseconds.
func (q DateQuery) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		StartDate string `json:"startDate"`
		EndDate   string `json:"endDate"`
	}{q.StartDate.Format(isoDate), q.EndDate.Format(isoDate)})
}

// CallbackHeader is a header Dsco sends with the file callback.
type CallbackHeader struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// InventoryQuery is the params object of GetItemInventory
// (api/dsco-get-item-inventory.md). Exactly one of HighWaterMarkQuery,
// ItemIDQuery and DateQuery must be set. Zero values are not sent; a nil
// OmitItemsOnHold or ClearQuantityForStoppedItems leaves Dsco's default
// (true).
type InventoryQuery struct {
	// ResultType is set by the method called: GetItemInventory (objects)
	// or RequestItemInventoryFile (file).
	ResultType ResultType `json:"resultType,omitempty"`
	// HighWaterMarkQuery is the high-water mark of the previous answer, or
	// an ISO 8601 date to start from.
	HighWaterMarkQuery string       `json:"highWaterMarkQuery,omitempty"`
	ItemIDQuery        *ItemIDQuery `json:"itemIdQuery,omitempty"`
	DateQuery          *DateQuery   `json:"dateQuery,omitempty"`
	// DscoSupplierID and DscoSupplierTradingPartnerID filter a retailer's
	// results by supplier; at most one of them may be set, and suppliers
	// may set neither.
	DscoSupplierID               int64  `json:"dscoSupplierId,omitempty"`
	DscoSupplierTradingPartnerID string `json:"dscoSupplierTradingPartnerId,omitempty"`
	AssortmentID                 string `json:"assortmentId,omitempty"`
	OmitItemsOnHold              *bool  `json:"omitItemsOnHold,omitempty"`
	ClearQuantityForStoppedItems *bool  `json:"clearQuantityForStoppedItems,omitempty"`
	// CallbackURL is required with ResultFile, and not allowed otherwise.
	CallbackURL string `json:"callbackUrl,omitempty"`
	// CallbackHeaders are allowed only with ResultFile. Their values are
	// sent in the request URL; the client keeps that URL out of its errors
	// and logs.
	CallbackHeaders []CallbackHeader `json:"callbackHeaders,omitempty"`
	// Limit is the page size of ResultObjects (extension; default 100,
	// at most 1000).
	Limit int `json:"limit,omitempty"`
}

// Validate checks the rules of the params object. Its errors match
// ErrInvalidRequest.
func (q InventoryQuery) Validate() error {
	invalid := func(format string, args ...any) error {
		return fmt.Errorf("%w: GetItemInventory params: %s", ErrInvalidRequest, fmt.Sprintf(format, args...))
	}
	n := 0
	if q.HighWaterMarkQuery != "" {
		n++
	}
	if q.ItemIDQuery != nil {
		n++
		if q.ItemIDQuery.ItemKey != ItemKeySKU && q.ItemIDQuery.ItemKey != ItemKeyDscoItemID {
			return invalid("itemIdQuery.itemKey must be %q or %q, not %q", ItemKeySKU, ItemKeyDscoItemID, q.ItemIDQuery.ItemKey)
		}
		if q.ItemIDQuery.Value == "" {
			return invalid("itemIdQuery.value is empty")
		}
	}
	if q.DateQuery != nil {
		n++
		if q.DateQuery.StartDate.IsZero() || q.DateQuery.EndDate.IsZero() {
			return invalid("dateQuery needs startDate and endDate")
		}
		if q.DateQuery.EndDate.Before(q.DateQuery.StartDate) {
			return invalid("dateQuery.endDate is before startDate")
		}
	}
	if n != 1 {
		return invalid("exactly one of highWaterMarkQuery, itemIdQuery and dateQuery must be set, got %d", n)
	}
	if q.DscoSupplierID != 0 && q.DscoSupplierTradingPartnerID != "" {
		return invalid("dscoSupplierId and dscoSupplierTradingPartnerId exclude each other")
	}
	if q.Limit < 0 || q.Limit > 1000 {
		return invalid("limit %d is outside 0..1000", q.Limit)
	}
	switch q.ResultType {
	case ResultObjects:
		if q.CallbackURL != "" || len(q.CallbackHeaders) > 0 {
			return invalid("callbackUrl and callbackHeaders are allowed only with resultType file")
		}
	case ResultFile:
		if q.CallbackURL == "" {
			return invalid("callbackUrl is required with resultType file")
		}
		if u, err := url.Parse(q.CallbackURL); err != nil || !u.IsAbs() {
			return invalid("callbackUrl is not an absolute URL")
		}
		for i, h := range q.CallbackHeaders {
			if h.Name == "" || h.Value == "" {
				return invalid("callbackHeaders[%d] needs a name and a value", i)
			}
		}
	default:
		return invalid("resultType must be %q or %q, not %q", ResultObjects, ResultFile, q.ResultType)
	}
	return nil
}

// ItemInventory is the inventory of one item.
type ItemInventory struct {
	DscoItemID        string              `json:"dscoItemId,omitempty"`
	SKU               string              `json:"sku,omitempty"`
	DscoSupplierID    int64               `json:"dscoSupplierId,omitempty"`
	QuantityAvailable int                 `json:"quantityAvailable"`
	Status            string              `json:"status,omitempty"` // "in-stock" or "out-of-stock"
	Warehouses        []WarehouseQuantity `json:"warehouses,omitempty"`
	LastUpdate        time.Time           `json:"lastUpdate,omitzero"`
	Extra             Extra               `json:"-"`
}

// MarshalJSON encodes it with its Extra attributes.
func (it ItemInventory) MarshalJSON() ([]byte, error) {
	type plain ItemInventory
	return marshalObject((*plain)(&it), it.Extra)
}

// UnmarshalJSON decodes it, keeping unknown attributes in Extra.
func (it *ItemInventory) UnmarshalJSON(b []byte) error {
	type plain ItemInventory
	return unmarshalObject(b, "ItemInventory", (*plain)(it), &it.Extra)
}

// WarehouseQuantity is the quantity of an item in one warehouse.
type WarehouseQuantity struct {
	WarehouseID string `json:"warehouseId,omitempty"`
	Quantity    int    `json:"quantity"`
	Extra       Extra  `json:"-"`
}

// MarshalJSON encodes w with its Extra attributes.
func (w WarehouseQuantity) MarshalJSON() ([]byte, error) {
	type plain WarehouseQuantity
	return marshalObject((*plain)(&w), w.Extra)
}

// UnmarshalJSON decodes w, keeping unknown attributes in Extra.
func (w *WarehouseQuantity) UnmarshalJSON(b []byte) error {
	type plain WarehouseQuantity
	return unmarshalObject(b, "WarehouseQuantity", (*plain)(w), &w.Extra)
}

// InventoryPage is a page of GetItemInventory with resultType objects. Ask
// for the next page with HighWaterMark as the next HighWaterMarkQuery; while
// HasMore, there is more to read right away.
type InventoryPage struct {
	Items         []ItemInventory `json:"items,omitempty"`
	HighWaterMark string          `json:"highWaterMark,omitempty"`
	HasMore       bool            `json:"hasMore"`
	Extra         Extra           `json:"-"`
}

// MarshalJSON encodes p with its Extra attributes.
func (p InventoryPage) MarshalJSON() ([]byte, error) {
	type plain InventoryPage
	return marshalObject((*plain)(&p), p.Extra)
}

// UnmarshalJSON decodes p, keeping unknown attributes in Extra.
func (p *InventoryPage) UnmarshalJSON(b []byte) error {
	type plain InventoryPage
	return unmarshalObject(b, "InventoryPage", (*plain)(p), &p.Extra)
}

// InventoryFileRequest is the answer of GetItemInventory with resultType
// file: Dsco later posts an InventoryCallback with the same RequestID to the
// callback URL.
type InventoryFileRequest struct {
	RequestID string `json:"requestId"`
	Extra     Extra  `json:"-"`
}

// MarshalJSON encodes r with its Extra attributes.
func (r InventoryFileRequest) MarshalJSON() ([]byte, error) {
	type plain InventoryFileRequest
	return marshalObject((*plain)(&r), r.Extra)
}

// UnmarshalJSON decodes r, keeping unknown attributes in Extra.
func (r *InventoryFileRequest) UnmarshalJSON(b []byte) error {
	type plain InventoryFileRequest
	return unmarshalObject(b, "InventoryFileRequest", (*plain)(r), &r.Extra)
}

// InventoryCallback is the body Dsco posts to the callback URL once the file
// of a RequestItemInventoryFile call is ready. FileURL serves JSON lines for
// an hour; read it with DownloadInventoryFile.
type InventoryCallback struct {
	RequestID string `json:"requestId"`
	FileURL   string `json:"fileUrl"`
	Extra     Extra  `json:"-"`
}

// MarshalJSON encodes cb with its Extra attributes.
func (cb InventoryCallback) MarshalJSON() ([]byte, error) {
	type plain InventoryCallback
	return marshalObject((*plain)(&cb), cb.Extra)
}

// UnmarshalJSON decodes cb, keeping unknown attributes in Extra.
func (cb *InventoryCallback) UnmarshalJSON(b []byte) error {
	type plain InventoryCallback
	return unmarshalObject(b, "InventoryCallback", (*plain)(cb), &cb.Extra)
}

// GetItemInventory returns a page of item inventory (resultType objects).
// q.ResultType may be left empty. The call is a read and is retried like
// one.
func (c *Client) GetItemInventory(ctx context.Context, q InventoryQuery) (*InventoryPage, error) {
	if q.ResultType == "" {
		q.ResultType = ResultObjects
	}
	if q.ResultType != ResultObjects {
		return nil, fmt.Errorf("%w: GetItemInventory returns objects; use RequestItemInventoryFile for files", ErrInvalidRequest)
	}
	var out InventoryPage
	if err := c.inventory(ctx, q, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// RequestItemInventoryFile asks Dsco to generate an inventory file
// (GetItemInventory with resultType file) and to post an InventoryCallback to
// q.CallbackURL when it is ready. q.ResultType may be left empty.
func (c *Client) RequestItemInventoryFile(ctx context.Context, q InventoryQuery) (*InventoryFileRequest, error) {
	if q.ResultType == "" {
		q.ResultType = ResultFile
	}
	if q.ResultType != ResultFile {
		return nil, fmt.Errorf("%w: RequestItemInventoryFile needs resultType file", ErrInvalidRequest)
	}
	var out InventoryFileRequest
	if err := c.inventory(ctx, q, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

func (c *Client) inventory(ctx context.Context, q InventoryQuery, out any) error {
	query, err := inventoryQuery(q)
	if err != nil {
		return err
	}
	return c.call(ctx, opGetItemInventory, http.MethodGet, "/inventory", query, nil, out)
}

// inventoryQuery validates q and returns the URL query of its call.
func inventoryQuery(q InventoryQuery) (url.Values, error) {
	if err := q.Validate(); err != nil {
		return nil, err
	}
	params, err := json.Marshal(q)
	if err != nil {
		return nil, fmt.Errorf("dsco: getItemInventory: encoding params: %w", err)
	}
	return url.Values{"params": {string(params)}}, nil
}

// DownloadInventoryFile streams the items of an inventory file (JSON lines)
// from the fileUrl of an InventoryCallback. The download starts when the
// iteration does and holds one item in memory at a time; the body is closed
// when the iteration ends. An error is yielded once, last; an expired file
// yields an error matching ErrGone. The request carries no bearer token, and
// the URL must be https unless it is loopback or WithInsecureHTTP was given.
func (c *Client) DownloadInventoryFile(ctx context.Context, fileURL string) iter.Seq2[ItemInventory, error] {
	return func(yield func(ItemInventory, error) bool) {
		if err := checkURL(fileURL, c.insecure); err != nil {
			yield(ItemInventory{}, fmt.Errorf("%w: inventory file URL: %w", ErrInvalidRequest, err))
			return
		}
		resp, err := c.send(ctx, opDownloadInventoryFile, http.MethodGet, fileURL, nil)
		if err != nil {
			yield(ItemInventory{}, err)
			return
		}
		defer c.closeBody(resp.Body)
		for it, err := range DecodeInventoryFile(resp.Body) {
			if err != nil && ctx.Err() == nil && !isJSONError(err) {
				// The body was cut off: downloading again may work.
				err = &NetworkError{Operation: opDownloadInventoryFile.name, Err: err}
			}
			if !yield(it, err) || err != nil {
				return
			}
		}
	}
}

// DecodeInventoryFile decodes the items of an inventory file (JSON lines,
// or any sequence of JSON objects) from r, one at a time. An error is
// yielded once, last.
func DecodeInventoryFile(r io.Reader) iter.Seq2[ItemInventory, error] {
	return func(yield func(ItemInventory, error) bool) {
		dec := json.NewDecoder(r)
		for line := 1; ; line++ {
			var it ItemInventory
			err := dec.Decode(&it)
			if errors.Is(err, io.EOF) {
				return
			}
			if err != nil {
				yield(ItemInventory{}, fmt.Errorf("dsco: inventory file item %d: %w", line, fieldError(err, &it)))
				return
			}
			if !yield(it, nil) {
				return
			}
		}
	}
}

func isJSONError(err error) bool {
	_, syntax := errors.AsType[*json.SyntaxError](err)
	_, typ := errors.AsType[*json.UnmarshalTypeError](err)
	return syntax || typ
}
