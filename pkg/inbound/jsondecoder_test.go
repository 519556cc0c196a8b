package inbound_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/dscokafka/connector/pkg/inbound"
	"github.com/dscokafka/connector/pkg/schemas"
)

// jsonDecoder is a test PageDecoder built on encoding/json that maps the
// envelope and the business key of each event (the fields the pipeline
// itself relies on). The generated single-pass decoder of pkg/schemas
// replaces it; the pipeline's tests only need a decoder that keeps the
// PageDecoder contract.
type jsonDecoder struct {
	objectType string
	page       inbound.Page
	// fail makes the decoder report these event ids as not mappable.
	fail map[string]bool
}

func newJSONDecoder(objectType string) (inbound.PageDecoder, error) {
	if _, ok := schemas.Event(objectType); !ok {
		return nil, fmt.Errorf("no record for object type %q", objectType)
	}
	return &jsonDecoder{objectType: objectType}, nil
}

func (d *jsonDecoder) Decode(body []byte, streamID string) (*inbound.Page, error) {
	var raw struct {
		Events   []json.RawMessage `json:"events"`
		Position *string           `json:"position"`
		HasMore  bool              `json:"hasMore"`
	}
	if err := json.Unmarshal(body, &raw); err != nil {
		return nil, err
	}
	if raw.Position == nil {
		return nil, errors.New("the page has no position")
	}
	d.page = inbound.Page{Events: d.page.Events[:0], Position: *raw.Position, HasMore: raw.HasMore}
	for _, ev := range raw.Events {
		d.page.Events = append(d.page.Events, d.event(ev, streamID, *raw.Position))
	}
	return &d.page, nil
}

func (d *jsonDecoder) event(raw []byte, streamID, pos string) inbound.Event {
	var env struct {
		EventID    string                     `json:"eventId"`
		EventType  string                     `json:"eventType"`
		ObjectType string                     `json:"objectType"`
		Timestamp  time.Time                  `json:"timestamp"`
		Data       map[string]json.RawMessage `json:"data"`
	}
	out := inbound.Event{Raw: raw, Position: pos}
	if err := json.Unmarshal(raw, &env); err != nil {
		out.Err = err
		return out
	}
	out.EventID, out.EventType = env.EventID, env.EventType
	if d.fail[env.EventID] {
		out.Err = fmt.Errorf("event %s marked not mappable by the test", env.EventID)
		return out
	}
	e := schemas.Envelope{EventID: env.EventID, EventType: env.EventType, ObjectType: env.ObjectType,
		Timestamp: env.Timestamp.UTC().Truncate(time.Millisecond), StreamID: streamID, Position: pos}
	s := func(k string) string {
		var v string
		_ = json.Unmarshal(env.Data[k], &v)
		return v
	}
	switch d.objectType {
	case "order":
		out.Record = &schemas.OrderEvent{Envelope: e, Order: schemas.Order{OrderID: s("orderId"), Status: schemas.Ptr(s("status"))}}
	case "orderitemchange":
		out.Record = &schemas.OrderItemChangeEvent{Envelope: e, OrderItemChange: schemas.OrderItemChange{OrderID: s("orderId")}}
	case "return":
		out.Record = &schemas.ReturnEvent{Envelope: e, Return: schemas.Return{OrderID: s("orderId")}}
	case "invoice":
		out.Record = &schemas.InvoiceEvent{Envelope: e, Invoice: schemas.InvoiceItem{OrderID: s("orderId")}}
	case "inventory":
		out.Record = &schemas.InventoryEvent{Envelope: e, Inventory: schemas.InventoryItem{SKU: s("sku")}}
	case "catalog":
		out.Record = &schemas.CatalogEvent{Envelope: e, Catalog: schemas.CatalogItem{SKU: s("sku")}}
	}
	return out
}
