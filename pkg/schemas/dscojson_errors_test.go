package schemas_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dscokafka/connector/pkg/schemas"
)

const goodOrderEvent = `{"eventId":"E1","eventType":"order.created","objectType":"order","timestamp":"2026-11-24T10:00:00.000Z",` +
	`"data":{"orderId":"PO-1","items":[{"lineItemId":"L1","quantity":2,"cost":1.5},{"lineItemId":"L2","cost":2}],"shippingAddress":{"city":"Lehi"}}}`

func orderPage(events ...string) []byte {
	return []byte(`{"events":[` + strings.Join(events, ",") + `],"position":"0:9","hasMore":false}`)
}

func newOrderDecoder(t *testing.T) *schemas.EventPageDecoder {
	t.Helper()
	dec, err := schemas.NewEventPageDecoder("order")
	require.NoError(t, err)
	return dec
}

func TestEventPageDecoderPageErrors(t *testing.T) {
	for _, tc := range []struct {
		name, body, reason string
		invalidJSON        bool
	}{
		{"trailing comma", `{"events":[` + goodOrderEvent + `,],"position":"p"}`, "looking for beginning of value", true},
		{"truncated", string(orderPage(goodOrderEvent))[:100], "unexpected end", true},
		{"invalid after a mapping error", `{"events":[{"eventId":"a","data":{"orderId":5},"x":[1,}],"position":"p"}`, "looking for beginning of value", true},
		{"invalid in an unknown member", `{"events":[],"x":{"a":tru},"position":"p"}`, "in literal true", true},
		{"trailing data", string(orderPage(goodOrderEvent)) + `{}`, "after top-level value", true},
		{"empty", ``, "unexpected end", true},
		{"not an object", `[]`, "want an object, got an array", false},
		{"events and no position", `{"events":[` + goodOrderEvent + `],"hasMore":false}`, "events but no position", false},
		{"events and a null position", `{"events":[` + goodOrderEvent + `],"position":null}`, "events but no position", false},
		{"position not a string", `{"events":[],"position":5}`, "position: want a string, got a number", false},
		{"events not an array", `{"events":{},"position":"p"}`, "events: want an array, got an object", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			page, err := newOrderDecoder(t).Decode([]byte(tc.body), "s")
			require.Error(t, err)
			assert.Nil(t, page)
			assert.ErrorIs(t, err, schemas.ErrInvalidPage)
			var pe *schemas.PageError
			require.ErrorAs(t, err, &pe)
			assert.Equal(t, tc.invalidJSON, pe.InvalidJSON)
			assert.Contains(t, pe.Error(), tc.reason)
			assert.Equal(t, "order", pe.ObjectType)
		})
	}
}

func TestEventPageDecoderEventErrors(t *testing.T) {
	replace := func(old, new string) string {
		out := strings.Replace(goodOrderEvent, old, new, 1)
		if out == goodOrderEvent {
			panic("no " + old)
		}
		return out
	}
	for _, tc := range []struct {
		name, event, field, reason string
		decimal                    bool
	}{
		{"key of the wrong type", replace(`"orderId":"PO-1"`, `"orderId":5`), "data.orderId", "want a string, got a number", false},
		{"key missing", replace(`"orderId":"PO-1",`, ``), "data.orderId", "missing required member", false},
		{"key null", replace(`"orderId":"PO-1"`, `"orderId":null`), "data.orderId", "want a string, got null", false},
		{"key empty", replace(`"orderId":"PO-1"`, `"orderId":""`), "data.orderId", "empty key", false},
		{"amount beyond the scale", replace(`"cost":2}`, `"cost":12.34567}`), "data.items[1].cost", "more than 4 fraction digits", true},
		{"amount beyond the precision", replace(`"cost":1.5`, `"cost":1e15`), "data.items[0].cost", "more than 14 integer digits", true},
		{"amount not a number", replace(`"cost":1.5`, `"cost":"cheap"`), "data.items[0].cost", "not a JSON number", true},
		{"amount of the wrong type", replace(`"cost":1.5`, `"cost":true`), "data.items[0].cost", "want a number, got a boolean", false},
		{"int32 overflow", replace(`"quantity":2`, `"quantity":3000000000`), "data.items[0].quantity", "out of range for int32", false},
		{"int beyond int64", replace(`"quantity":2`, `"quantity":99999999999999999999`), "data.items[0].quantity", "out of range for int32", false},
		{"fractional int", replace(`"quantity":2`, `"quantity":2.5`), "data.items[0].quantity", "want an integer, got 2.5", false},
		{"timestamp without a zone", replace(`"2026-11-24T10:00:00.000Z"`, `"2026-11-24T10:00:00"`), "timestamp", "want a timestamp", false},
		{"nullable timestamp wrong", replace(`"orderId":"PO-1"`, `"orderId":"PO-1","createdAt":"yesterday"`), "data.createdAt", "want a timestamp", false},
		{"address field", replace(`"city":"Lehi"`, `"city":7`), "data.shippingAddress.city", "want a string, got a number", false},
		{"items not an array", replace(`"items":[`, `"items":7,"x":[`), "data.items", "want an array, got a number", false},
		{"eventId missing", replace(`"eventId":"E1",`, ``), "eventId", "missing required member", false},
		{"data missing", replace(`,"data":`, `,"other":`), "data", "missing required member", false},
		{"data null", `{"eventId":"E1","eventType":"t","objectType":"order","timestamp":"2026-11-24T10:00:00Z","data":null}`, "data", "want an object, got null", false},
		{"event not an object", `5`, "", "want an object, got a number", false},
		{"wrong object type", replace(`"objectType":"order"`, `"objectType":"return"`), "objectType", `object type "return" on a stream of order events`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := orderPage(goodOrderEvent, tc.event, goodOrderEvent)
			page, err := newOrderDecoder(t).Decode(body, "s")
			require.NoError(t, err)
			require.Len(t, page.Events, 3)
			for _, i := range []int{0, 2} {
				require.NoError(t, page.Events[i].Err)
				assert.Equal(t, goodOrderEvent, string(page.Events[i].Raw))
			}
			ev := page.Events[1]
			assert.Nil(t, ev.Record)
			assert.Equal(t, tc.event, string(ev.Raw), "Raw is the event as on the page")
			require.Error(t, ev.Err)
			assert.ErrorIs(t, ev.Err, schemas.ErrUnmappableEvent)
			var ee *schemas.EventError
			require.ErrorAs(t, ev.Err, &ee)
			assert.Equal(t, tc.field, ee.Field)
			assert.Contains(t, ee.Reason, tc.reason)
			if tc.field != "" {
				assert.Contains(t, ee.Error(), "field "+tc.field)
			}
			assert.Equal(t, tc.decimal, errors.Is(ev.Err, schemas.ErrInvalidDecimal), "a bad amount is an invalid decimal")
			if strings.Contains(tc.event, `"eventId":"E1"`) {
				assert.Equal(t, "E1", ev.EventID, "the event id, best effort")
				assert.Equal(t, "E1", ee.EventID)
			}
		})
	}
}

func TestEventPageDecoderEnvelopeAfterData(t *testing.T) {
	// The event id comes after the data that fails: still reported.
	ev := `{"data":{"orderId":1},"eventType":"order.created","eventId":"E9","position":"0:4"}`
	page, err := newOrderDecoder(t).Decode(orderPage(ev), "s")
	require.NoError(t, err)
	require.Len(t, page.Events, 1)
	assert.Equal(t, "E9", page.Events[0].EventID)
	assert.Equal(t, "order.created", page.Events[0].EventType)
	assert.Equal(t, "0:4", page.Events[0].Position)
	assert.Error(t, page.Events[0].Err)
}

func TestEventPageDecoderValues(t *testing.T) {
	ev := `{ "eventId" : "E\u0032", "eventType":"order.updated","objectType":"order","timestamp":"2014-01-01T10:30:00.000+0100",` +
		`"position":"0:0000000000000007","partition":0,"data":{"orderId":"PO-\u00e9\ud83c\udf82","status":null,"orderType":"Dropship",` +
		`"createdAt":"2014-01-01T10:30:00+01:00","updatedAt":"2014-01-01T10:30:00.5-0530","items":null,"shippingAddress":null,` +
		`"orderId":"PO-2\n","note":"a\"b"}}`
	page, err := newOrderDecoder(t).Decode(orderPage(ev, goodOrderEvent), "stream-1")
	require.NoError(t, err)
	require.Len(t, page.Events, 2)
	require.NoError(t, page.Events[0].Err)
	r := page.Events[0].Record.(*schemas.OrderEvent)
	assert.Equal(t, "E2", r.EventID)
	assert.Equal(t, time.Date(2014, 1, 1, 9, 30, 0, 0, time.UTC), r.Timestamp)
	assert.Equal(t, "0:0000000000000007", r.Position, "the event's own position")
	assert.Equal(t, "0:0000000000000007", page.Events[0].Position)
	assert.Equal(t, "0:9", page.Events[1].Record.Env().Position, "else the page's")
	assert.Empty(t, page.Events[1].Position)
	assert.Equal(t, "stream-1", r.StreamID)
	require.NotNil(t, r.Extra)
	assert.Equal(t, `{"partition":0}`, *r.Extra)
	assert.Equal(t, "PO-2\n", r.Order.OrderID, "the last of duplicate members wins, as in encoding/json")
	assert.Equal(t, "PO-2\n", r.Key())
	assert.Nil(t, r.Order.Status)
	assert.Equal(t, "Dropship", *r.Order.OrderType)
	assert.Equal(t, time.Date(2014, 1, 1, 9, 30, 0, 0, time.UTC), *r.Order.CreatedAt)
	assert.Equal(t, time.Date(2014, 1, 1, 16, 0, 0, 5e8, time.UTC), *r.Order.UpdatedAt)
	assert.Nil(t, r.Order.Items)
	assert.Nil(t, r.Order.ShippingAddress)
	require.NotNil(t, r.Order.Extra)
	assert.Equal(t, `{"note":"a\"b"}`, *r.Order.Extra)

	good := page.Events[1].Record.(*schemas.OrderEvent)
	require.Len(t, good.Order.Items, 2)
	assert.Equal(t, "1.5", good.Order.Items[0].Cost.String())
	assert.Equal(t, "2", good.Order.Items[1].Cost.String())
	assert.Nil(t, good.Order.Items[1].Quantity)
	assert.Nil(t, good.Order.Items[0].Extra)
	assert.Equal(t, "Lehi", *good.Order.ShippingAddress.City)
}

// TestEventPageDecoderEmptyAndNullEvents: a page without events decodes, with
// or without a position (the spec requires neither member).
func TestEventPageDecoderEmptyAndNullEvents(t *testing.T) {
	for _, tc := range []struct{ body, position string }{
		{`{"events":[],"position":"p"}`, "p"},
		{`{"events":null,"position":"p","hasMore":true}`, "p"},
		{`{"position":"p"}`, "p"},
		{`{"events":[],"hasMore":false}`, ""},
		{`{"events":[],"position":null,"hasMore":true}`, ""},
		{`{}`, ""},
	} {
		page, err := newOrderDecoder(t).Decode([]byte(tc.body), "s")
		require.NoError(t, err, tc.body)
		assert.Empty(t, page.Events)
		assert.Equal(t, tc.position, page.Position, tc.body)
	}
}

// TestEventPageDecoderReuse checks that a decoder decodes a second page
// as well as the first, into reused arenas.
func TestEventPageDecoderReuse(t *testing.T) {
	dec := newOrderDecoder(t)
	for i := range 3 {
		id := "PO-" + strings.Repeat("x", i)
		body := orderPage(strings.ReplaceAll(goodOrderEvent, "PO-1", id), goodOrderEvent)
		page, err := dec.Decode(body, "s")
		require.NoError(t, err)
		require.Len(t, page.Events, 2)
		assert.Equal(t, id, page.Events[0].Record.Key())
		assert.Equal(t, "PO-1", page.Events[1].Record.Key())
		r := page.Events[1].Record.(*schemas.OrderEvent)
		require.Len(t, r.Order.Items, 2)
		assert.Equal(t, "L2", *r.Order.Items[1].LineItemID)
	}
}
