package outbound_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dscokafka/connector/pkg/dsco"
	"github.com/dscokafka/connector/pkg/dsco/dscotest"
	"github.com/dscokafka/connector/pkg/kafka/kafkatest"
	"github.com/dscokafka/connector/pkg/outbound"
	"github.com/dscokafka/connector/pkg/router"
	"github.com/dscokafka/connector/pkg/schemas"
)

// TestEveryCommandReachesTheSandbox sends each command type of both roles through Kafka
// and checks, through the sandbox's state, that Dsco changed as the contract says, with
// exactly one result per command.
func TestEveryCommandReachesTheSandbox(t *testing.T) {
	e := newEnv(t, dscotest.Config{Seed: 7})
	orders := e.seedOrders(5)
	before := e.sandbox.Stats()

	// The retailer first: its order, then the supplier's commands on it and on seeded
	// orders, then the retailer's return and cancel.
	e.start(router.OutboundConfig{Subscriber: e.subscriberConfig(kafkatest.Name("g")), Pipeline: e.pipelineConfig(outbound.RoleRetailer)})
	e.start(router.OutboundConfig{Subscriber: e.subscriberConfig(kafkatest.Name("g")), Pipeline: e.pipelineConfig(outbound.RoleSupplier)})

	e.send(&schemas.RetailerOrderCommand{CommandID: "r-order", OrderID: "PO-T1", OrderType: str("Dropship"),
		Items:           []schemas.OrderItem{{LineItemID: str("1"), SKU: str("SKU-T1"), Quantity: i32(3), Cost: money("4.25"), Price: money("9.99")}},
		ShippingAddress: &schemas.Address{Name: str("Ada"), Street1: str("1 Main St"), City: str("Lehi"), State: str("UT"), PostalCode: str("84043"), Country: str("US")}})
	e.waitResults("r-order")
	assert.Equal(t, dsco.OrderCreated, e.order("PO-T1").Status, "retailer-order created the order")

	o0, o1, o2, o3, o4 := orders[0], orders[1], orders[2], orders[3], orders[4]
	e.send(
		&schemas.AcknowledgeCommand{CommandID: "s-ack", OrderID: o3.OrderID},
		&schemas.ShipCommand{CommandID: "s-ship", OrderID: o0.OrderID, LineItemID: str(o0.Items[0].LineItemID), TrackingNumber: str("1Z999"), Carrier: str("UPS"), ShippedAt: ptr(time.Now().Add(-time.Hour))},
		&schemas.ShipCommand{CommandID: "s-ship-po", OrderID: "PO-T1", LineItemID: str("1"), TrackingNumber: str("1Z998"), Carrier: str("FedEx")},
		&schemas.CancelCommand{CommandID: "s-cancel", OrderID: o1.OrderID, LineItemID: str(o1.Items[0].LineItemID), Reason: str("out of stock")},
		&schemas.InvoiceCommand{CommandID: "s-invoice", OrderID: o0.OrderID, InvoiceNumber: str("INV-1"), Amount: money("12.50"), InvoiceDate: ptr(time.Now().UTC().Truncate(24 * time.Hour))},
		&schemas.CatalogCommand{CommandID: "s-catalog", SKU: "SKU-NEW-2", Title: str("Lamp"), Cost: money("3"), Attributes: str(`{"color":"red"}`)},
	)
	e.waitResults("s-ack", "s-ship", "s-ship-po", "s-cancel", "s-invoice", "s-catalog")
	e.send(
		&schemas.ReturnCommand{CommandID: "s-return", OrderID: o0.OrderID, LineItemID: str(o0.Items[0].LineItemID), ReturnReason: str("damaged"), Quantity: i32(1)},
		&schemas.RetailerReturnCommand{CommandID: "r-return", OrderID: "PO-T1", LineItemID: str("1"), Quantity: i32(1)},
		&schemas.RetailerCancelCommand{CommandID: "r-cancel", OrderID: o2.OrderID},
		&schemas.InventoryCommand{CommandID: "s-inventory", SKU: "SKU-NEW-2", Quantity: i32(17), WarehouseID: str("WH-1")},
		&schemas.RetailerCatalogAttributionCommand{CommandID: "r-catalog", SKU: "SKU-NEW-2", Attributes: str(`{"retailerCategory":"lighting"}`)},
	)
	all := []string{"r-order", "s-ack", "s-ship", "s-ship-po", "s-cancel", "s-invoice", "s-inventory", "s-catalog", "s-return", "r-return", "r-cancel", "r-catalog"}
	got := e.waitResults(all...)
	for _, id := range all {
		assert.Equal(t, schemas.OutcomeAccepted, got[id].Outcome, "%s: %s", id, deref(got[id].Reason))
		assert.Nil(t, got[id].Reason, id)
		assert.NotNil(t, got[id].BatchID, id)
	}
	_, n := e.resultsByID()
	assert.Equal(t, len(all), n, "one result per command")
	assert.Empty(t, e.poisoned())

	after := e.sandbox.Stats()
	assert.Equal(t, dsco.OrderAcknowledged, e.order(o3.OrderID).Status, "acknowledged")
	assert.Positive(t, line(e.order(o0.OrderID), o0.Items[0].LineItemID).QuantityShipped, "ship")
	assert.Positive(t, line(e.order("PO-T1"), "1").QuantityShipped, "ship of the retailer's order")
	assert.Positive(t, line(e.order(o1.OrderID), o1.Items[0].LineItemID).QuantityCancelled, "cancel")
	assert.Equal(t, dsco.OrderCancelled, e.order(o2.OrderID).Status, "retailer cancel of the whole order")
	assert.Equal(t, before.Invoices+1, after.Invoices, "invoice")
	assert.Equal(t, before.Returns+2, after.Returns, "supplier and retailer returns")
	assert.Equal(t, before.InventoryItems+1, after.InventoryItems, "inventory")
	assert.Equal(t, before.CatalogItems+1, after.CatalogItems, "catalog (the attribution updates the same sku)")
	assert.Equal(t, o4.Status, e.order(o4.OrderID).Status, "an order no command named is untouched")
	assert.Equal(t, before.Calls["retailerUpdateCatalogAttribution"]+1, after.Calls["retailerUpdateCatalogAttribution"])
}

func ptr[T any](v T) *T { return &v }

func line(o *dsco.Order, id string) *dsco.OrderItem {
	for i := range o.Items {
		if o.Items[i].LineItemID == id {
			return &o.Items[i]
		}
	}
	return &dsco.OrderItem{}
}

// shipAll returns a ship command for every line of orders, ids prefixed.
func shipAll(prefix string, orders []*dsco.Order) []schemas.Record {
	var out []schemas.Record
	for _, o := range orders {
		for _, li := range o.Items {
			out = append(out, &schemas.ShipCommand{CommandID: fmt.Sprintf("%s-%s-%s", prefix, o.OrderID, li.LineItemID),
				OrderID: o.OrderID, LineItemID: str(li.LineItemID), TrackingNumber: str("1Z" + o.OrderID), Carrier: str("UPS")})
		}
	}
	return out
}

// TestBatchWithOneBadLine: 50 ship commands in batches, one naming a line Dsco does not
// know: 49 applied, one poisoned with Dsco's error, one result each; the partitions go on.
func TestBatchWithOneBadLine(t *testing.T) {
	e := newEnv(t, dscotest.Config{Seed: 3})
	kafkatest.CreateTopic(t, e.brokers, e.topic("ship"), 16)
	orders := e.seedOrders(50)
	var cmds []schemas.Record
	for i, o := range orders {
		lineID := o.Items[0].LineItemID
		if i == 17 {
			lineID = "no-such-line"
		}
		cmds = append(cmds, &schemas.ShipCommand{CommandID: fmt.Sprintf("ship-%02d", i), OrderID: o.OrderID, LineItemID: str(lineID), TrackingNumber: str("1Z" + o.OrderID), Carrier: str("UPS")})
	}
	e.send(cmds...)
	cfg := e.pipelineConfig(outbound.RoleSupplier)
	cfg.MaxBatchWait = 200 * time.Millisecond
	o := e.start(router.OutboundConfig{Subscriber: e.subscriberConfig(kafkatest.Name("g")), Pipeline: cfg})
	_ = o
	ids := make([]string, len(cmds))
	for i := range cmds {
		ids[i] = fmt.Sprintf("ship-%02d", i)
	}
	got := e.waitResults(ids...)
	for i, id := range ids {
		if i == 17 {
			require.Equal(t, schemas.OutcomeRejected, got[id].Outcome)
			require.NotNil(t, got[id].Reason)
			assert.Contains(t, *got[id].Reason, "LINE_NOT_FOUND")
			require.Len(t, got[id].Errors, 1)
			assert.Equal(t, "LINE_NOT_FOUND", *got[id].Errors[0].Code)
			continue
		}
		assert.Equal(t, schemas.OutcomeAccepted, got[id].Outcome, id)
		assert.Positive(t, line(e.order(orders[i].OrderID), orders[i].Items[0].LineItemID).QuantityShipped, id)
	}
	_, n := e.resultsByID()
	assert.Equal(t, len(ids), n, "one result per command")
	poisoned := e.waitPoisoned(1)
	p := poisoned[0]
	assert.Equal(t, "ship-17", p.CommandID)
	assert.Equal(t, e.topic("ship"), p.SourceTopic)
	assert.Equal(t, orders[17].OrderID, p.Key)
	assert.Contains(t, p.Reason, "LINE_NOT_FOUND")
	assert.Equal(t, 1, p.Attempts)
	assert.Equal(t, "rejected", p.Status)
	assert.WithinDuration(t, time.Now(), p.Time, time.Minute)
	var cmd schemas.ShipCommand
	require.NoError(t, e.serde.Decode(context.Background(), p.Value, &cmd), "the poison record keeps the original bytes")
	assert.Equal(t, "ship-17", cmd.CommandID)
	assert.Equal(t, int64(49), e.sandbox.Stats().Shipments)

	// The partition goes on: a later command on the bad one's partition is applied.
	more := e.seedOrders(1)[0]
	e.send(&schemas.ShipCommand{CommandID: "after", OrderID: orders[17].OrderID, LineItemID: str(orders[17].Items[0].LineItemID), TrackingNumber: str("1Z"), Carrier: str("UPS")},
		&schemas.ShipCommand{CommandID: "after-2", OrderID: more.OrderID, LineItemID: str(more.Items[0].LineItemID), TrackingNumber: str("1Z"), Carrier: str("UPS")})
	got = e.waitResults("after", "after-2")
	assert.Equal(t, schemas.OutcomeAccepted, got["after"].Outcome)
	assert.Equal(t, schemas.OutcomeAccepted, got["after-2"].Outcome)
}

// TestPerKeyOrder: two cancel commands per order on one topic, first one line, then the
// whole order; both succeed only in that order (a cancelled order has no line left to
// cancel). It runs with one command of a partition in flight and with many (key-ordered
// consumption, the router's default): on one partition, where every order shares the
// partition and only the key keeps the order, and on four. With many in flight, a batch
// holds several commands of the one partition: Dsco calls take a while and only one runs
// at a time, so the commands delivered meanwhile wait together for the next call.
func TestPerKeyOrder(t *testing.T) {
	for _, tc := range []struct {
		name       string
		partitions int32
		inFlight   int
	}{
		{name: "one partition, many in flight", partitions: 1},
		{name: "four partitions, many in flight", partitions: 4},
		{name: "four partitions, one in flight", partitions: 4, inFlight: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, dscotest.Config{Seed: 11})
			kafkatest.CreateTopic(t, e.brokers, e.topic("cancel"), tc.partitions)
			e.sandbox.SetFault("supplierCancelOrderItem", dscotest.Fault{Latency: 20 * time.Millisecond})
			orders := e.seedOrders(40)
			var cmds []schemas.Record
			var ids []string
			for i, o := range orders {
				line1, whole := fmt.Sprintf("line-%d", i), fmt.Sprintf("whole-%d", i)
				ids = append(ids, line1, whole)
				cmds = append(cmds,
					&schemas.CancelCommand{CommandID: line1, OrderID: o.OrderID, LineItemID: str(o.Items[0].LineItemID)},
					&schemas.CancelCommand{CommandID: whole, OrderID: o.OrderID})
			}
			e.send(cmds...)
			reg := prometheus.NewRegistry()
			cfg := e.pipelineConfig(outbound.RoleSupplier)
			cfg.Registerer = reg
			cfg.MaxConcurrentBatches = 1
			e.start(router.OutboundConfig{Subscriber: e.subscriberConfig(kafkatest.Name("g")), Pipeline: cfg, MaxInFlightPerPartition: tc.inFlight})
			got := e.waitResults(ids...)
			multi := 0
			for i, o := range orders {
				assert.Equal(t, schemas.OutcomeAccepted, got[fmt.Sprintf("line-%d", i)].Outcome, "the line cancel of %s comes first", o.OrderID)
				if len(o.Items) == 1 {
					continue // nothing left for the whole-order cancel either way
				}
				multi++
				assert.Equal(t, schemas.OutcomeAccepted, got[fmt.Sprintf("whole-%d", i)].Outcome, "%s: %s", o.OrderID, deref(got[fmt.Sprintf("whole-%d", i)].Reason))
				assert.Equal(t, dsco.OrderCancelled, e.order(o.OrderID).Status)
			}
			require.Greater(t, multi, 10, "enough orders with several lines")
			if tc.partitions == 1 && tc.inFlight != 1 {
				calls, cmdsSent := batchSizes(t, reg)
				assert.Less(t, float64(calls), cmdsSent, "batches of several commands formed on one partition (%d calls for %d commands)", calls, cmdsSent)
			}
		})
	}
}

// TestBatchGoesWhenTheCallBeforeItEnds: a command that arrives while a Dsco call of its
// kind is in flight waits for more commands only until that call ends (MaxBatchWait,
// here an hour, bounds the wait under load, when calls are always in flight).
func TestBatchGoesWhenTheCallBeforeItEnds(t *testing.T) {
	e := newEnv(t, dscotest.Config{Seed: 12})
	kafkatest.CreateTopic(t, e.brokers, e.topic("inventory"), 1)
	_, err := e.client(outbound.RoleSupplier).SupplierUpdateCatalog(t.Context(), dsco.CatalogBatchRequest{
		Items: []dsco.CatalogItem{{SKU: "SKU-W1", Title: "w"}, {SKU: "SKU-W2", Title: "w"}}})
	require.NoError(t, err)
	e.sandbox.SetFault("supplierUpdateInventory", dscotest.Fault{Latency: time.Second})
	cfg := e.pipelineConfig(outbound.RoleSupplier)
	cfg.MaxBatchWait = time.Hour
	e.start(router.OutboundConfig{Subscriber: e.subscriberConfig(kafkatest.Name("g")), Pipeline: cfg})

	e.send(&schemas.InventoryCommand{CommandID: "first", SKU: "SKU-W1", Quantity: i32(1)})
	time.Sleep(200 * time.Millisecond) // the first call is under way (it takes a second)
	e.send(&schemas.InventoryCommand{CommandID: "second", SKU: "SKU-W2", Quantity: i32(2)})
	got := e.waitResults("first", "second")
	assert.Equal(t, schemas.OutcomeAccepted, got["first"].Outcome)
	assert.Equal(t, schemas.OutcomeAccepted, got["second"].Outcome)
}

// batchSizes returns how many Dsco calls the pipeline made and how many commands they
// carried, from its batch_size histogram.
func batchSizes(t testing.TB, reg *prometheus.Registry) (calls uint64, cmds float64) {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() != "dsco_outbound_batch_size" {
			continue
		}
		for _, m := range mf.GetMetric() {
			calls += m.GetHistogram().GetSampleCount()
			cmds += m.GetHistogram().GetSampleSum()
		}
	}
	return calls, cmds
}

// TestMalformedRecordsArePoisoned: records that are not Avro, name an unknown schema id,
// are another record type, hold invalid values, or are an Avro value of a foreign writer
// schema go to the poison topic with a clear reason; records after them flow. The
// commands_total and poisoned_total counters count each command once, by its status
// (undecodable records by "undecodable", poisoned only).
func TestMalformedRecordsArePoisoned(t *testing.T) {
	e := newEnv(t, dscotest.Config{Seed: 5})
	kafkatest.CreateTopic(t, e.brokers, e.topic("ship"), 1)
	o := e.seedOrders(1)[0]
	topic := e.topic("ship")
	e.sendRaw(topic, "k1", []byte(`{"commandId":"json"}`))
	e.sendRaw(topic, "k2", []byte{0, 0, 0, 0x7f, 0x42, 1, 2})
	cancelBytes, err := e.serde.Encode(&schemas.CancelCommand{CommandID: "wrong-type", OrderID: "X"})
	require.NoError(t, err)
	e.sendRaw(topic, "k3", cancelBytes)
	// A foreign schema registered under another subject: a record that is not ours.
	foreignID := registerForeign(t, e.registry)
	e.sendRaw(topic, "k4", append([]byte{0, byte(foreignID >> 24), byte(foreignID >> 16), byte(foreignID >> 8), byte(foreignID)}, 2, 'x', 2, 'y'))
	// A valid header of our ship schema over garbage.
	shipBytes, err := e.serde.Encode(&schemas.ShipCommand{CommandID: "c", OrderID: "o"})
	require.NoError(t, err)
	e.sendRaw(topic, "k5", append(shipBytes[:5:5], 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01))
	invalid := []schemas.Record{
		&schemas.ShipCommand{CommandID: "no-carrier", OrderID: o.OrderID, LineItemID: str("1"), TrackingNumber: str("1Z")},
		&schemas.ShipCommand{CommandID: "bad-carrier", OrderID: o.OrderID, LineItemID: str("1"), TrackingNumber: str("1Z"), Carrier: str("Pigeon")},
		&schemas.ShipCommand{CommandID: "no-order", LineItemID: str("1"), TrackingNumber: str("1Z"), Carrier: str("UPS")},
		&schemas.ShipCommand{CommandID: "old-date", OrderID: o.OrderID, LineItemID: str("1"), TrackingNumber: str("1Z"), Carrier: str("UPS"), ShippedAt: ptr(time.Date(1970, 1, 2, 0, 0, 0, 0, time.UTC))},
	}
	e.send(invalid...)
	e.send(&schemas.ShipCommand{CommandID: "good", OrderID: o.OrderID, LineItemID: str(o.Items[0].LineItemID), TrackingNumber: str("1Z"), Carrier: str("UPS")})
	reg := prometheus.NewRegistry()
	cfg := e.pipelineConfig(outbound.RoleSupplier)
	cfg.Registerer = reg
	e.start(router.OutboundConfig{Subscriber: e.subscriberConfig(kafkatest.Name("g")), Pipeline: cfg})

	got := e.waitResults("good", "no-carrier", "bad-carrier", "no-order", "old-date")
	assert.Equal(t, schemas.OutcomeAccepted, got["good"].Outcome, "later records flow")
	for id, field := range map[string]string{"no-carrier": "carrier: is required", "bad-carrier": `carrier: unknown carrier "Pigeon"`, "no-order": "orderId: is required", "old-date": "shippedAt: 1970-01-02"} {
		assert.Equal(t, schemas.OutcomeRejected, got[id].Outcome, id)
		require.NotNil(t, got[id].Reason, id)
		assert.Contains(t, *got[id].Reason, field, id)
	}
	assert.Equal(t, int64(1), e.sandbox.Stats().Shipments, "no invalid command reached Dsco")
	var reasons []string
	for _, p := range e.waitPoisoned(9) {
		reasons = append(reasons, p.Key+": "+p.Reason)
	}
	joined := strings.Join(reasons, "\n")
	for _, want := range []string{"k1: undecodable ship command: schemas: not an Avro record", "k2: undecodable ship command: schemas: unknown schema",
		"k3: undecodable ship command: schemas: wrong record type", "k4: undecodable ship command: schemas: wrong record type", "k5: undecodable ship command: schemas: malformed"} {
		assert.Contains(t, joined, want)
	}
	// Counted once their outcomes are written, just after the records.
	wantCounts := map[string]map[string]float64{
		"dsco_outbound_commands_total": {"ship/applied": 1, "ship/rejected": 4},
		"dsco_outbound_poisoned_total": {"ship/rejected": 4, "ship/undecodable": 5},
	}
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		for name, want := range wantCounts {
			assert.Equal(c, want, counters(t, reg, name), name)
		}
	}, waitLimit, 10*time.Millisecond)
}

// counters returns the values of the counter name in reg, by "command/status".
func counters(t testing.TB, reg *prometheus.Registry, name string) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	out := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			out[labels["command"]+"/"+labels["status"]] = m.GetCounter().GetValue()
		}
	}
	return out
}
