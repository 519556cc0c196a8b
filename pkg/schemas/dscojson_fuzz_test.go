package schemas_test

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/hamba/avro/v2"

	"github.com/dscokafka/connector/pkg/schemas"
)

// FuzzEventPageDecoder shows that decoding any bytes as a page never
// panics, that a page is refused as invalid JSON exactly when
// encoding/json.Valid refuses it, and that what is decoded agrees with
// encoding/json: each event's Raw is valid JSON whose eventId and
// data.orderId are the record's, each extra is a JSON object, and each
// record encodes with its schema.
func FuzzEventPageDecoder(f *testing.F) {
	f.Add(orderPage(goodOrderEvent))
	f.Add(orderPage(goodOrderEvent, `{"eventId":"E\u0032","eventType":"t","objectType":"order","timestamp":"2014-01-01T10:30:00.000+0100","x":[1,{"y":null}],`+
		`"data":{"orderId":"\ud83c\udf82","items":[{"cost":"1e2","price":-0.0001,"z":{}}],"shippingAddress":{"q":"\n"},"k":true}}`))
	f.Add(orderPage(`5`, `null`, `{}`))
	f.Add([]byte(`{"events":[],"position":"p","hasMore":true,"extra":[1,2,{"a":"b"}]}`))
	f.Add([]byte(`{"events":[{"data":{"orderId":"a"}}],"position":"p"`))
	desc, _ := schemas.Event("order")
	dec, err := schemas.NewEventPageDecoder("order")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		valid := json.Valid(body)
		page, err := dec.Decode(body, "s")
		if err != nil {
			var pe *schemas.PageError
			if !errors.As(err, &pe) {
				t.Fatalf("error %v is not a *PageError", err)
			}
			if pe.InvalidJSON == valid {
				t.Fatalf("InvalidJSON = %v, encoding/json.Valid = %v: %v", pe.InvalidJSON, valid, err)
			}
			return
		}
		if !valid {
			t.Fatalf("accepted a page encoding/json refuses")
		}
		for _, ev := range page.Events {
			var generic struct {
				EventID *string `json:"eventId"`
				Data    struct {
					OrderID *string `json:"orderId"`
				} `json:"data"`
			}
			if !json.Valid(ev.Raw) {
				t.Fatalf("Raw %q is not JSON", ev.Raw)
			}
			if ev.Err != nil {
				continue
			}
			if err := json.Unmarshal(ev.Raw, &generic); err != nil {
				t.Fatalf("Raw of a decoded event: %v", err)
			}
			rec := ev.Record.(*schemas.OrderEvent)
			if generic.EventID == nil || *generic.EventID != rec.EventID || generic.Data.OrderID == nil || *generic.Data.OrderID != rec.Order.OrderID {
				// encoding/json matches keys case-insensitively; the decoder
				// does not. Only compare when the exact keys decided.
				var exact map[string]json.RawMessage
				_ = json.Unmarshal(ev.Raw, &exact)
				if _, ok := exact["eventId"]; ok && generic.EventID != nil && *generic.EventID != rec.EventID && !hasFoldedDuplicate(exact, "eventId") {
					t.Fatalf("eventId %q, encoding/json says %q", rec.EventID, *generic.EventID)
				}
			}
			for _, x := range []*string{rec.Extra, rec.Order.Extra} {
				if x != nil && (!json.Valid([]byte(*x)) || (*x)[0] != '{') {
					t.Fatalf("extra %q is not a JSON object", *x)
				}
			}
			if _, err := avro.Marshal(desc.Schema, rec); err != nil {
				t.Fatalf("record does not encode: %v", err)
			}
		}
	})
}

// hasFoldedDuplicate reports whether m has a key other than name equal to
// it under case folding (encoding/json may then pick that one).
func hasFoldedDuplicate(m map[string]json.RawMessage, name string) bool {
	for k := range m {
		if k != name && equalFold(k, name) {
			return true
		}
	}
	return false
}

func equalFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// FuzzItemInventoryDecoder: a GetItemInventory page never panics, is
// refused as invalid JSON exactly when encoding/json refuses it, and its
// lines decode without panicking either.
func FuzzItemInventoryDecoder(f *testing.F) {
	f.Add([]byte(`{"items":[{"sku":"S1","dscoSupplierId":1001,"quantityAvailable":5,"warehouses":[{"warehouseId":"W","quantity":5,"bin":"A1"}],` +
		`"lastUpdate":"2014-01-01T10:30:00.000+0100","x":1},{"sku":""},7],"highWaterMark":"m","hasMore":true}`))
	f.Add([]byte("{\"sku\":\"S1\"}\n{\"sku\":\"S2\",}\n"))
	desc, _ := schemas.Event("iteminventory")
	dec := schemas.NewItemInventoryDecoder()
	f.Fuzz(func(t *testing.T, body []byte) {
		valid := json.Valid(body)
		page, err := dec.DecodePage(body)
		var pe *schemas.PageError
		switch {
		case err != nil && !errors.As(err, &pe):
			t.Fatalf("error %v is not a *PageError", err)
		case err != nil && pe.InvalidJSON == valid:
			t.Fatalf("InvalidJSON = %v, encoding/json.Valid = %v: %v", pe.InvalidJSON, valid, err)
		case err == nil && !valid:
			t.Fatalf("accepted a page encoding/json refuses")
		case err == nil:
			for _, it := range page.Items {
				if it.Err == nil {
					if _, err := avro.Marshal(desc.Schema, &schemas.ItemInventoryEvent{ItemInventory: *it.Item}); err != nil {
						t.Fatalf("record does not encode: %v", err)
					}
				}
			}
		}
		for _, it := range dec.DecodeLines(body) {
			if it.Err == nil && !json.Valid(it.Raw) {
				t.Fatalf("line %q decoded but is not JSON", it.Raw)
			}
		}
	})
}
