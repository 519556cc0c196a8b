package inbound_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/dscokafka/connector/pkg/dsco"
	"github.com/dscokafka/connector/pkg/dsco/dscotest"
	"github.com/dscokafka/connector/pkg/inbound"
	"github.com/dscokafka/connector/pkg/kafka/kafkatest"
	"github.com/dscokafka/connector/pkg/schemas"
)

var objectTypes = []string{"order", "orderitemchange", "return", "invoice", "inventory", "catalog"}

// Unknown attributes sent to the sandbox, which Dsco may add at any time:
// they must reach Kafka byte-exact in the records' extra.
const (
	orderExtra = `"giftWrap":{"paper":"blue","price":2.50,"note":"caf\u00e9"}`
	lineExtra  = `"engraving":{"text":"Ada","lines":[1,2]}`
)

// TestEveryObjectTypeEndToEnd: state changes of every kind in the sandbox
// (catalog, inventory, orders, acknowledgement, shipment, cancellation,
// return, invoice, retailer attribution) reach the six topics; every record
// decodes from Avro and equals, field by field, the record of the event the
// sandbox holds; the envelope names the pipeline's stream; unknown
// attributes at order and line level are in extra byte-exact.
func TestEveryObjectTypeEndToEnd(t *testing.T) {
	sb := newSandbox(t, dscotest.Config{Seed: 12})
	supplier := newClient(t, sb.URL)
	retailer, err := dsco.NewClient(sb.URL, dsco.WithClientCredentials(dscotest.RetailerClientID, dscotest.RetailerClientSecret))
	require.NoError(t, err)
	brokers := kafkatest.Brokers(t)
	serde := newSerde(t, newRegistry(t))
	createTopics(t, brokers, objectTypes...)
	ctx := t.Context()

	applied := func(resp *dsco.BatchResponse, err error) {
		t.Helper()
		require.NoError(t, err)
		require.Empty(t, resp.Errors)
	}
	applied(supplier.SupplierUpdateCatalog(ctx, dsco.CatalogBatchRequest{Items: []dsco.CatalogItem{
		{SKU: "SKU-A", Title: "Kettle", Cost: "12.50", Attributes: map[string]json.RawMessage{"color": json.RawMessage(`"red"`)},
			RetailModelRules: &dsco.RetailModelRules{AllowedModels: []string{dsco.RetailModelDropship}},
			Extra:            dsco.Extra{"brandNew": json.RawMessage(`{"x":[1,2.50]}`)}},
		{SKU: "SKU-B", Title: "Mug", Cost: "3.10"},
	}}))
	applied(supplier.SupplierUpdateInventory(ctx, dsco.InventoryBatchRequest{Items: []dsco.InventoryItem{
		{SKU: "SKU-A", Quantity: 5, WarehouseID: "WH1"}, {SKU: "SKU-B", Quantity: 0},
	}}))
	var orderX, lineX dsco.Extra
	require.NoError(t, json.Unmarshal([]byte("{"+orderExtra+"}"), &orderX))
	require.NoError(t, json.Unmarshal([]byte("{"+lineExtra+"}"), &lineX))
	applied(retailer.RetailerCreateOrder(ctx, dsco.RetailerOrderRequest{Orders: []dsco.Order{
		{OrderID: "ORD-1", OrderType: dsco.OrderTypeDropship, Extra: orderX,
			Items: []dsco.OrderItem{
				{LineItemID: "L1", SKU: "SKU-A", Quantity: 2, Cost: "12.50", Price: "19.99", Extra: lineX},
				{LineItemID: "L2", SKU: "SKU-B", Quantity: 1, Cost: "3.10", Price: "5.00"},
			},
			ShippingAddress: &dsco.Address{Name: "Ada", Street1: "1 Main St", City: "Springfield", PostalCode: "12345", Country: "US"}},
		{OrderID: "ORD-2", OrderType: dsco.OrderTypeDropship,
			Items: []dsco.OrderItem{{LineItemID: "L1", SKU: "SKU-B", Quantity: 3, Cost: "3.10", Price: "5.00"}}},
	}}))
	applied(supplier.SupplierAcknowledgeOrder(ctx, dsco.AcknowledgeOrderRequest{OrderIDs: []string{"ORD-1"}}))
	applied(supplier.SupplierCreateShipment(ctx, dsco.ShipmentBatchRequest{Shipments: []dsco.ShipmentItem{
		{OrderID: "ORD-1", LineItemID: "L1", TrackingNumber: "1Z999AA10123456784", Carrier: "UPS"}}}))
	applied(supplier.SupplierCancelOrderItem(ctx, dsco.CancelBatchRequest{Cancellations: []dsco.Cancellation{
		{OrderID: "ORD-2", Reason: "out of stock"}}}))
	applied(supplier.SupplierCreateReturn(ctx, dsco.ReturnBatchRequest{Returns: []dsco.ReturnItem{
		{OrderID: "ORD-1", LineItemID: "L1", Quantity: 1, ReturnReason: "damaged"}}}))
	applied(supplier.SupplierCreateInvoice(ctx, dsco.InvoiceBatchRequest{Invoices: []dsco.InvoiceItem{
		{OrderID: "ORD-1", InvoiceNumber: "INV-1", Amount: "25.0000"}}}))
	applied(retailer.RetailerUpdateCatalogAttribution(ctx, dsco.CatalogBatchRequest{Items: []dsco.CatalogItem{{SKU: "SKU-A", Title: "Electric kettle"}}}))

	var streams []inbound.StreamConfig
	for _, o := range objectTypes {
		streams = append(streams, inbound.StreamConfig{ObjectType: o, PartitionCount: 2})
	}
	r := startPipeline(t, testConfig(supplier, serde, brokers, streams...))
	require.Eventually(t, func() bool {
		list, err := supplier.ListStreams(ctx)
		return err == nil && len(list.Streams) == len(objectTypes)
	}, waitLimit, 10*time.Millisecond, "the pipeline creates its streams")

	// What the sandbox holds: every event of each type, read from a new
	// stream and decoded to records.
	want := map[string]string{} // event id -> record as JSON, without stream id and position
	perType := map[string]int{}
	for _, o := range objectTypes {
		s, err := supplier.CreateStream(ctx, dsco.StreamDefinition{ObjectType: dsco.ObjectType(o)})
		require.NoError(t, err)
		body, err := supplier.GetStreamEventsRaw(ctx, s.StreamID, dsco.ReadEventsParams{Limit: 1000}, nil)
		require.NoError(t, err)
		dec, err := schemas.NewEventPageDecoder(o)
		require.NoError(t, err)
		page, err := dec.Decode(body, s.StreamID)
		require.NoError(t, err)
		require.False(t, page.HasMore)
		require.NotEmpty(t, page.Events, "events of %s", o)
		for _, ev := range page.Events {
			require.NoError(t, ev.Err)
			want[ev.EventID] = recordJSON(t, ev.Record)
			perType[o]++
		}
	}

	topics := make([]string, len(objectTypes))
	for i, o := range objectTypes {
		topics[i] = "dsco." + o + ".v1"
	}
	recs := newConsumer(t, brokers, topics...).until(t, func(rs []*kgo.Record) bool { return len(rs) >= len(want) })
	require.Len(t, recs, len(want))
	list, err := supplier.ListStreams(ctx)
	require.NoError(t, err)
	ours := map[string]bool{}
	for _, s := range list.Streams[:len(objectTypes)] { // the pipeline's came first
		ours[s.StreamID] = true
	}
	gotPerType := map[string]int{}
	for _, rec := range recs {
		v, err := serde.DecodeAny(ctx, rec.Value)
		require.NoError(t, err)
		ev, ok := v.(schemas.StreamEvent)
		require.True(t, ok)
		env := ev.Env()
		assert.Equal(t, "dsco."+env.ObjectType+".v1", rec.Topic)
		assert.True(t, ours[env.StreamID], "read from the pipeline's stream %s", env.StreamID)
		assert.NotEmpty(t, env.Position)
		assert.Equal(t, ev.Key(), string(rec.Key))
		assert.Equal(t, env.EventID, header(rec, inbound.HeaderEventID))
		assert.Equal(t, env.EventType, header(rec, inbound.HeaderEventType))
		assert.Equal(t, env.EventID, header(rec, inbound.HeaderCorrelationID))
		require.Contains(t, want, env.EventID)
		assert.JSONEq(t, want[env.EventID], recordJSON(t, ev), "event %s (%s)", env.EventID, env.EventType)
		gotPerType[env.ObjectType]++

		if o, ok := ev.(*schemas.OrderEvent); ok && o.Order.OrderID == "ORD-1" {
			require.NotNil(t, o.Order.Extra)
			assert.Contains(t, *o.Order.Extra, orderExtra, "order-level unknown attributes byte-exact")
			require.NotNil(t, o.Order.Items[0].Extra)
			assert.Contains(t, *o.Order.Items[0].Extra, lineExtra, "line-level unknown attributes byte-exact")
		}
		if c, ok := ev.(*schemas.CatalogEvent); ok && c.Catalog.SKU == "SKU-A" && env.EventType == "catalog.updated" {
			require.NotNil(t, c.Catalog.Extra)
			assert.Contains(t, *c.Catalog.Extra, `"brandNew":{"x":[1,2.50]}`)
		}
	}
	assert.Equal(t, perType, gotPerType)
	for _, o := range objectTypes {
		assert.Positive(t, gotPerType[o], "%s events on Kafka", o)
	}
	require.NoError(t, r.stop(t))
}

// recordJSON renders a stream event record as JSON without the stream id
// and position (which differ between two streams of the same events).
func recordJSON(t *testing.T, r schemas.StreamEvent) string {
	t.Helper()
	env := *r.Env()
	r.Env().StreamID, r.Env().Position = "", ""
	r.Env().Timestamp = env.Timestamp.UTC().Truncate(time.Millisecond)
	b, err := json.Marshal(r)
	*r.Env() = env
	require.NoError(t, err)
	return strings.TrimSpace(string(b))
}
