package dsco

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// eventsPage returns a getStreamEvents answer of n order events shaped like
// the sandbox's, with unknown attributes at every level.
func eventsPage(n int) []byte {
	var b strings.Builder
	b.WriteString(`{"events":[`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"eventId":"ev-%d","eventType":"order.created","objectType":"order","timestamp":"2026-11-24T10:00:00.123Z","data":{"orderId":"ORD-%d","orderType":"Dropship","status":"created","createdAt":"2026-11-24T10:00:00Z","consumerOrderNumber":"C-%d","items":[{"lineItemId":"L1","sku":"SKU-1","quantity":2,"cost":12.50,"price":19.99,"status":"open"},{"lineItemId":"L2","sku":"SKU-2","quantity":1,"cost":3.10,"price":5.00,"status":"open"}],"shippingAddress":{"name":"Ada","street1":"1 Main St","city":"Springfield","postalCode":"12345","country":"US"}},"partition":0}`, i, i, i)
	}
	b.WriteString(`],"position":"p-100","hasMore":true}`)
	return []byte(b.String())
}

// BenchmarkDecodeEvents decodes a page of 100 events and each event's order,
// as the inbound pipeline does; the custom metric is per event.
func BenchmarkDecodeEvents(b *testing.B) {
	page := eventsPage(100)
	b.SetBytes(int64(len(page)))
	b.ReportAllocs()
	for b.Loop() {
		var ev StreamEvents
		if err := json.Unmarshal(page, &ev); err != nil {
			b.Fatal(err)
		}
		for _, e := range ev.Events {
			if _, err := e.Order(); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*100), "ns/event")
}

// BenchmarkEncodeShipments encodes a batch of 100 shipments.
func BenchmarkEncodeShipments(b *testing.B) {
	req := ShipmentBatchRequest{Shipments: make([]ShipmentItem, 100)}
	for i := range req.Shipments {
		req.Shipments[i] = ShipmentItem{OrderID: fmt.Sprintf("ORD-%d", i), LineItemID: "L1", TrackingNumber: "1Z999", Carrier: "UPS",
			ShippedAt: time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC), Extra: Extra{"packageCount": json.RawMessage(`1`)}}
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := json.Marshal(req); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*100), "ns/item")
}

// BenchmarkGetStreamEvents is one getStreamEvents call of 100 events through
// the whole client (token, rate limiter, HTTP on loopback, decoding) against
// a server that answers a fixed page.
func BenchmarkGetStreamEvents(b *testing.B) {
	page := eventsPage(100)
	f := newFakeDsco(b)
	f.handle("GET /streams/s1/events", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(page)
	})
	c, err := NewClient(f.url(), WithClientCredentials(testID, testSecret))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.GetStreamEvents(b.Context(), "s1", ReadEventsParams{Position: "p", Limit: 100}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*100), "ns/event")
}

// BenchmarkDecodeEventsBaseline is BenchmarkDecodeEvents with method-less
// copies of the types: encoding/json alone, dropping unknown attributes. It
// is the yardstick of what keeping them costs.
func BenchmarkDecodeEventsBaseline(b *testing.B) {
	type item struct {
		LineItemID, SKU, Status string
		Quantity                int
		Cost, Price             json.Number
	}
	type order struct {
		OrderID, OrderType, Status string
		CreatedAt                  time.Time
		Items                      []item
		ShippingAddress            *struct{ Name, Street1, City, PostalCode, Country string }
	}
	type event struct {
		EventID, EventType, ObjectType string
		Timestamp                      time.Time
		Data                           json.RawMessage
	}
	page := eventsPage(100)
	b.SetBytes(int64(len(page)))
	b.ReportAllocs()
	for b.Loop() {
		var ev struct {
			Events   []event
			Position string
			HasMore  bool
		}
		if err := json.Unmarshal(page, &ev); err != nil {
			b.Fatal(err)
		}
		for _, e := range ev.Events {
			var o order
			if err := json.Unmarshal(e.Data, &o); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*100), "ns/event")
}
