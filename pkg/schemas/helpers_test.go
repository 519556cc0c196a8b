package schemas_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/sr"
	"github.com/twmb/franz-go/pkg/sr/srfake"

	"github.com/dscokafka/connector/pkg/schemas"
)

// newRegistry starts an in-process Schema Registry on 127.0.0.1 (srfake
// serves with httptest.NewServer, which binds to loopback) and stops it when
// the test ends.
func newRegistry(t testing.TB) *srfake.Registry {
	t.Helper()
	reg := srfake.New()
	t.Cleanup(reg.Close)
	require.True(t, strings.HasPrefix(reg.URL(), "http://127.0.0.1:"), "registry on loopback: %s", reg.URL())
	return reg
}

// newSerde returns a Serde on reg with cfg's other settings, registered.
func newSerde(t testing.TB, reg *srfake.Registry, cfg schemas.Config) *schemas.Serde {
	t.Helper()
	cfg.RegistryURL = reg.URL()
	s, err := schemas.NewSerde(cfg)
	require.NoError(t, err)
	t.Cleanup(s.Close)
	require.NoError(t, s.Register(t.Context()))
	return s
}

func ts(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t.UTC()
}

func tsp(s string) *time.Time { return schemas.Ptr(ts(s)) }

func day(s string) *time.Time {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		panic(err)
	}
	return &t
}

func money(s string) schemas.Decimal {
	d, err := schemas.ParseDecimal(s)
	if err != nil {
		panic(err)
	}
	return d
}

func str(s string) *string { return &s }
func i32(v int32) *int32   { return &v }

// asJSON renders a record as JSON for comparison: big.Rat and time.Time
// compare by value there, not by their internal representation.
func asJSON(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return string(b)
}

func address() *schemas.Address {
	return &schemas.Address{
		Name: str("Ada Lovelace"), Street1: str("1 Main St"), Street2: nil, City: str("Springfield"),
		State: str("IL"), PostalCode: str("62701"), Country: str("US"), Phone: str("+1 555 0100"),
		Extra: str(`{"residential":true}`),
	}
}

func orderItems(n int) []schemas.OrderItem {
	items := make([]schemas.OrderItem, n)
	for i := range items {
		items[i] = schemas.OrderItem{
			LineItemID: str("L" + string(rune('1'+i))), SKU: str("SKU-" + string(rune('A'+i))),
			Quantity: i32(int32(i + 1)), Cost: money("12.99"), Price: money("19.5"),
			Status: str("created"), QuantityShipped: i32(0), QuantityCancelled: i32(0),
		}
	}
	if n > 1 {
		items[1].Cost = nil // a line without cost must stay without cost
		items[1].Extra = str(`{"giftWrap":{"message":"hi"}}`)
	}
	return items
}

func orderEvent(items int) *schemas.OrderEvent {
	return &schemas.OrderEvent{
		Envelope: schemas.Envelope{
			EventID: "ev-1", EventType: "created", ObjectType: "order",
			Timestamp: ts("2026-11-24T19:00:00.123Z"), StreamID: "st-1", Position: "p-42",
		},
		Order: schemas.Order{
			OrderID: "PO-1001", OrderType: str("Dropship"), Status: str("created"),
			CreatedAt: tsp("2026-11-24T18:59:00Z"), UpdatedAt: tsp("2026-11-24T19:00:00Z"),
			Items: orderItems(items), ShippingAddress: address(),
			Extra: str(`{"channel":"web"}`),
		},
		Extra: str(`{"partition":0}`),
	}
}

// fixtures returns one populated value of every record in the contract,
// keyed by record full name.
func fixtures() map[string]schemas.Record {
	rs := []schemas.Record{
		orderEvent(5),
		&schemas.ReturnEvent{
			Envelope: schemas.Envelope{EventID: "ev-2", EventType: "created", ObjectType: "return",
				Timestamp: ts("2026-11-24T19:00:01Z"), StreamID: "st-2", Position: "p-1"},
			Return: schemas.Return{ReturnID: str("R-1"), InitiatedBy: str("consumer"), OrderID: "PO-1001",
				LineItemID: str("L1"), ReturnReason: str("damaged"), Quantity: i32(1)},
		},
		&schemas.InventoryEvent{
			Envelope: schemas.Envelope{EventID: "ev-3", EventType: "updated", ObjectType: "inventory",
				Timestamp: ts("2026-11-24T19:00:02Z"), StreamID: "st-3", Position: "p-2"},
			Inventory: schemas.InventoryItem{SKU: "SKU-A", Quantity: i32(17), WarehouseID: str("W1")},
		},
		&schemas.CatalogEvent{
			Envelope: schemas.Envelope{EventID: "ev-4", EventType: "updated", ObjectType: "catalog",
				Timestamp: ts("2026-11-24T19:00:03Z"), StreamID: "st-4", Position: "p-3"},
			Catalog: schemas.CatalogItem{SKU: "SKU-A", Title: str("Kettle"), Description: str("Steel kettle"),
				Cost: money("-0.0001"), RetailModelRules: &schemas.RetailModelRules{AllowedModels: []string{"dropship", "marketplace"}},
				Attributes: str(`{"color":"red","sizes":[1,2]}`)},
		},
		&schemas.InvoiceEvent{
			Envelope: schemas.Envelope{EventID: "ev-5", EventType: "created", ObjectType: "invoice",
				Timestamp: ts("2026-11-24T19:00:04Z"), StreamID: "st-5", Position: "p-4"},
			Invoice: schemas.InvoiceItem{OrderID: "PO-1001", InvoiceNumber: str("INV-9"), Amount: money("99999999999999.9999"),
				InvoiceDate: day("2026-11-24")},
		},
		&schemas.OrderItemChangeEvent{
			Envelope: schemas.Envelope{EventID: "ev-6", EventType: "updated", ObjectType: "orderitemchange",
				Timestamp: ts("2026-11-24T19:00:05Z"), StreamID: "st-6", Position: "p-5"},
			OrderItemChange: schemas.OrderItemChange{OrderID: "PO-1001", LineItemID: str("L1"), SKU: str("SKU-A"),
				Quantity: i32(2), Status: str("shipped"), ChangeType: str("shipped"), TrackingNumber: str("1Z999"),
				Carrier: str("UPS"), QuantityShipped: i32(2)},
		},
		&schemas.ItemInventoryEvent{
			EventID: "SKU-A@2026-11-24T19:00:00Z", EventType: "updated", ObjectType: "iteminventory",
			Timestamp: ts("2026-11-24T19:00:06Z"), RequestID: str("req-1"), HighWaterMark: str("hwm-7"),
			ItemInventory: schemas.ItemInventory{DscoItemID: str("123"), SKU: "SKU-A", DscoSupplierID: schemas.Ptr(int64(1) << 40),
				QuantityAvailable: i32(30), Status: str("in-stock"),
				Warehouses: []schemas.WarehouseQuantity{{WarehouseID: str("W1"), Quantity: i32(10)}, {WarehouseID: str("W2"), Quantity: i32(20)}},
				LastUpdate: tsp("2026-11-24T19:00:00Z")},
		},
		&schemas.ShipCommand{CommandID: "c-1", CorrelationID: str("corr-1"), OrderID: "PO-1001", LineItemID: str("L1"),
			TrackingNumber: str("1Z999"), Carrier: str("UPS"), ShippedAt: tsp("2026-11-24T20:00:00Z")},
		&schemas.CancelCommand{CommandID: "c-2", OrderID: "PO-1001", LineItemID: str("L2"), Reason: str("out of stock")},
		&schemas.InvoiceCommand{CommandID: "c-3", OrderID: "PO-1001", InvoiceNumber: str("INV-1"), Amount: money("10.5"), InvoiceDate: day("2026-11-23")},
		&schemas.AcknowledgeCommand{CommandID: "c-4", OrderID: "PO-1001"},
		&schemas.InventoryCommand{CommandID: "c-5", SKU: "SKU-A", Quantity: i32(0), WarehouseID: str("W1")},
		&schemas.CatalogCommand{CommandID: "c-6", SKU: "SKU-A", Title: str("Kettle"), Cost: money("3"),
			RetailModelRules: &schemas.RetailModelRules{AllowedModels: []string{"dropship"}}, Attributes: str(`{}`)},
		&schemas.ReturnCommand{CommandID: "c-7", OrderID: "PO-1001", LineItemID: str("L1"), ReturnReason: str("damaged"), Quantity: i32(1)},
		&schemas.RetailerOrderCommand{CommandID: "c-8", OrderID: "PO-2000", OrderType: str("Marketplace"),
			CreatedAt: tsp("2026-11-24T19:00:00Z"), Items: orderItems(2), ShippingAddress: address()},
		&schemas.RetailerReturnCommand{CommandID: "c-9", OrderID: "PO-2000", Quantity: i32(1)},
		&schemas.RetailerCancelCommand{CommandID: "c-10", OrderID: "PO-2000"},
		&schemas.RetailerCatalogAttributionCommand{CommandID: "c-11", SKU: "SKU-B", Title: str("Mug"), Cost: nil},
		&schemas.CommandResult{CommandID: "c-1", CorrelationID: str("corr-1"), CommandType: "ship", Outcome: schemas.OutcomeRejected, Status: schemas.StatusRejected,
			Reason: str("unknown order"), BatchID: str("b-1"),
			Errors:   []schemas.BatchError{{Code: str("E404"), Message: str("order not found"), Field: str("orderId")}},
			Attempts: 1, SourceTopic: "dsco.cmd.ship.v1", SourcePartition: 3, SourceOffset: 1 << 40, Time: ts("2026-11-24T20:00:01.5Z")},
	}
	out := make(map[string]schemas.Record, len(rs))
	for _, r := range rs {
		out[schemas.DescriptorOf(r).RecordName] = r
	}
	return out
}

// newRegistryClient is franz-go's Schema Registry client (code that shares
// nothing with the serde) with a time limit that a loaded CI machine running
// the race detector cannot hit: the client's own default is 5 s.
func newRegistryClient(url string) (*sr.Client, error) {
	return sr.NewClient(sr.URLs(url), sr.HTTPClient(&http.Client{Timeout: time.Minute}))
}
