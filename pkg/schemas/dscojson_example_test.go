package schemas_test

import (
	"errors"
	"fmt"

	"github.com/dscokafka/connector/pkg/schemas"
)

// A page of two order events as Dsco serves it: the second one cannot be
// mapped (an amount beyond decimal(18,4)) and goes to the poison topic,
// while the first becomes its record, unknown attributes in extra.
func ExampleEventPageDecoder() {
	body := []byte(`{"events":[
	 {"eventId":"e1","eventType":"order.created","objectType":"order","timestamp":"2014-01-01T10:30:00.000+0100",
	  "data":{"orderId":"PO-1","items":[{"lineItemId":"1","quantity":2,"cost":12.99,"giftWrap":true}],"channel":"web"}},
	 {"eventId":"e2","eventType":"order.created","objectType":"order","timestamp":"2014-01-01T10:31:00Z",
	  "data":{"orderId":"PO-2","items":[{"lineItemId":"1","cost":0.00001}]}}
	],"position":"0:0000000000000002","hasMore":false}`)
	dec, err := schemas.NewEventPageDecoder("order")
	if err != nil {
		panic(err)
	}
	page, err := dec.Decode(body, "stream-1")
	if err != nil {
		panic(err)
	}
	for _, ev := range page.Events {
		if ev.Err != nil {
			fmt.Println(ev.EventID, "poison:", errors.Is(ev.Err, schemas.ErrInvalidDecimal), ev.Err)
			continue
		}
		r := ev.Record.(*schemas.OrderEvent)
		it := r.Order.Items[0]
		fmt.Println(ev.EventID, r.Key(), r.Timestamp, r.Position, *r.Order.Extra, it.Cost, *it.Extra)
	}
	fmt.Println(page.Position, page.HasMore)
	// Output:
	// e1 PO-1 2014-01-01 09:30:00 +0000 UTC 0:0000000000000002 {"channel":"web"} 12.99 {"giftWrap":true}
	// e2 poison: true schemas: Dsco order event "e2": field data.items[0].cost: amount "0.00001" has more than 4 fraction digits (decimal(18,4))
	// 0:0000000000000002 false
}
