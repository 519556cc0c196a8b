package schemas_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/hamba/avro/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dscokafka/connector/pkg/dsco"
	"github.com/dscokafka/connector/pkg/schemas"
)

// TestEventPageDecoderMatchesDscoModels decodes every page the sandbox
// serves, for every object type, and compares every field of every record
// with what pkg/dsco's models (encoding/json) decode from the same page:
// the envelope, the object, and the unknown attributes at every level,
// byte for byte.
func TestEventPageDecoderMatchesDscoModels(t *testing.T) {
	sb := newDjSandbox(t)
	sb.seedEverything(t, 60)
	for _, objectType := range []string{"order", "orderitemchange", "return", "invoice", "inventory", "catalog"} {
		t.Run(objectType, func(t *testing.T) {
			dec, err := schemas.NewEventPageDecoder(objectType)
			require.NoError(t, err)
			desc, ok := schemas.Event(objectType)
			require.True(t, ok)
			assert.Same(t, desc, dec.Descriptor())
			assert.Equal(t, objectType, dec.ObjectType())
			n := 0
			for _, body := range sb.pages(t, objectType, 37) {
				page, err := dec.Decode(body, "stream-7")
				require.NoError(t, err)
				var want dsco.StreamEvents
				require.NoError(t, json.Unmarshal(body, &want))
				var raws struct{ Events []json.RawMessage }
				require.NoError(t, json.Unmarshal(body, &raws))
				assert.Equal(t, want.Position, page.Position)
				assert.Equal(t, want.HasMore, page.HasMore)
				require.Len(t, page.Events, len(want.Events))
				for i, ev := range page.Events {
					w := want.Events[i]
					require.NoError(t, ev.Err)
					assert.Equal(t, string(raws.Events[i]), string(ev.Raw), "Raw is the event as on the page")
					assert.Equal(t, w.EventID, ev.EventID)
					assert.Equal(t, w.EventType, ev.EventType)
					assert.Empty(t, ev.Position, "the sandbox gives no per-event position")
					env := ev.Record.Env()
					assert.Equal(t, w.EventID, env.EventID)
					assert.Equal(t, w.EventType, env.EventType)
					assert.Equal(t, string(w.ObjectType), env.ObjectType)
					assert.True(t, w.Timestamp.Equal(env.Timestamp), "timestamp %v, want %v", env.Timestamp, w.Timestamp)
					assert.Equal(t, "stream-7", env.StreamID)
					assert.Equal(t, page.Position, env.Position, "without its own, an event has the page's position")
					compareObject(t, w, ev.Record)
					// Every record encodes with its schema.
					_, err := avro.Marshal(desc.Schema, ev.Record)
					require.NoError(t, err)
					n++
				}
			}
			assert.Positive(t, n)
		})
	}
}

func compareObject(t *testing.T, w dsco.Event, rec schemas.StreamEvent) {
	t.Helper()
	switch r := rec.(type) {
	case *schemas.OrderEvent:
		assertExtra(t, w.Extra, r.Extra, "event")
		o, err := w.Order()
		require.NoError(t, err)
		got := r.Order
		assert.Equal(t, o.OrderID, got.OrderID)
		assert.Equal(t, o.OrderType, djDeref(got.OrderType))
		assert.Equal(t, o.Status, djDeref(got.Status))
		assertTime(t, o.CreatedAt, got.CreatedAt)
		assertTime(t, o.UpdatedAt, got.UpdatedAt)
		assertExtra(t, o.Extra, got.Extra, "order")
		require.Len(t, got.Items, len(o.Items))
		for i, it := range o.Items {
			g := got.Items[i]
			assert.Equal(t, it.LineItemID, djDeref(g.LineItemID))
			assert.Equal(t, it.SKU, djDeref(g.SKU))
			assert.Equal(t, it.Quantity, int(djDeref(g.Quantity)))
			assertMoney(t, it.Cost, g.Cost)
			assertMoney(t, it.Price, g.Price)
			assert.Equal(t, it.Status, djDeref(g.Status))
			assert.Equal(t, it.QuantityShipped, int(djDeref(g.QuantityShipped)))
			assert.Equal(t, it.QuantityCancelled, int(djDeref(g.QuantityCancelled)))
			assertExtra(t, it.Extra, g.Extra, "item")
		}
		if o.ShippingAddress == nil {
			assert.Nil(t, got.ShippingAddress)
			return
		}
		a, g := o.ShippingAddress, got.ShippingAddress
		require.NotNil(t, g)
		for want, got := range map[string]*string{a.Name: g.Name, a.Street1: g.Street1, a.Street2: g.Street2, a.City: g.City,
			a.State: g.State, a.PostalCode: g.PostalCode, a.Country: g.Country, a.Phone: g.Phone} {
			assert.Equal(t, want, djDeref(got))
		}
		assertExtra(t, a.Extra, g.Extra, "address")
	case *schemas.OrderItemChangeEvent:
		assertExtra(t, w.Extra, r.Extra, "event")
		c, err := w.OrderItemChange()
		require.NoError(t, err)
		got := r.OrderItemChange
		assert.Equal(t, c.OrderID, got.OrderID)
		assert.Equal(t, c.LineItemID, djDeref(got.LineItemID))
		assert.Equal(t, c.SKU, djDeref(got.SKU))
		assert.Equal(t, c.Quantity, int(djDeref(got.Quantity)))
		assert.Equal(t, c.Status, djDeref(got.Status))
		assert.Equal(t, c.ChangeType, djDeref(got.ChangeType))
		// Attributes the dsco model does not declare but the schema does.
		assertExtraString(t, c.Extra, "trackingNumber", got.TrackingNumber)
		assertExtraString(t, c.Extra, "carrier", got.Carrier)
		assertExtraString(t, c.Extra, "reason", got.Reason)
		assertExtraInt(t, c.Extra, "quantityShipped", got.QuantityShipped)
		assertExtra(t, c.Extra, got.Extra, "orderItemChange", "trackingNumber", "carrier", "reason", "quantityShipped")
	case *schemas.ReturnEvent:
		assertExtra(t, w.Extra, r.Extra, "event")
		rt, err := w.Return()
		require.NoError(t, err)
		got := r.Return
		assert.Equal(t, rt.OrderID, got.OrderID)
		assert.Equal(t, rt.LineItemID, djDeref(got.LineItemID))
		assert.Equal(t, rt.ReturnReason, djDeref(got.ReturnReason))
		assert.Equal(t, rt.Quantity, int(djDeref(got.Quantity)))
		assertExtraString(t, rt.Extra, "returnId", got.ReturnID)
		assertExtraString(t, rt.Extra, "initiatedBy", got.InitiatedBy)
		assertExtra(t, rt.Extra, got.Extra, "return", "returnId", "initiatedBy")
	case *schemas.InvoiceEvent:
		assertExtra(t, w.Extra, r.Extra, "event")
		iv, err := w.Invoice()
		require.NoError(t, err)
		got := r.Invoice
		assert.Equal(t, iv.OrderID, got.OrderID)
		assert.Equal(t, iv.InvoiceNumber, djDeref(got.InvoiceNumber))
		assertMoney(t, iv.Amount, got.Amount)
		require.NotNil(t, got.InvoiceDate)
		assert.Equal(t, iv.InvoiceDate.String(), got.InvoiceDate.Format(time.DateOnly))
		assert.Equal(t, time.UTC, got.InvoiceDate.Location())
		assertExtra(t, iv.Extra, got.Extra, "invoice")
	case *schemas.InventoryEvent:
		assertExtra(t, w.Extra, r.Extra, "event")
		it, err := w.Inventory()
		require.NoError(t, err)
		got := r.Inventory
		assert.Equal(t, it.SKU, got.SKU)
		assert.Equal(t, it.Quantity, int(djDeref(got.Quantity)))
		assert.Equal(t, it.WarehouseID, djDeref(got.WarehouseID))
		assertExtra(t, it.Extra, got.Extra, "inventory")
	case *schemas.CatalogEvent:
		assertExtra(t, w.Extra, r.Extra, "event")
		c, err := w.Catalog()
		require.NoError(t, err)
		got := r.Catalog
		assert.Equal(t, c.SKU, got.SKU)
		assert.Equal(t, c.Title, djDeref(got.Title))
		assert.Equal(t, c.Description, djDeref(got.Description))
		assertMoney(t, c.Cost, got.Cost)
		if c.Attributes == nil {
			assert.Nil(t, got.Attributes)
		} else {
			require.NotNil(t, got.Attributes)
			var attrs map[string]json.RawMessage
			require.NoError(t, json.Unmarshal([]byte(*got.Attributes), &attrs))
			assert.Equal(t, c.Attributes, attrs)
		}
		if c.RetailModelRules == nil {
			assert.Nil(t, got.RetailModelRules)
		} else {
			require.NotNil(t, got.RetailModelRules)
			assert.Equal(t, c.RetailModelRules.AllowedModels, got.RetailModelRules.AllowedModels)
			assertExtra(t, c.RetailModelRules.Extra, got.RetailModelRules.Extra, "retailModelRules")
		}
		assertExtra(t, c.Extra, got.Extra, "catalog")
	default:
		t.Fatalf("unexpected record %T", rec)
	}
}

func djDeref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

func assertTime(t *testing.T, want time.Time, got *time.Time) {
	t.Helper()
	if want.IsZero() {
		assert.Nil(t, got)
		return
	}
	require.NotNil(t, got)
	assert.True(t, want.Equal(*got), "time %v, want %v", *got, want)
	assert.Equal(t, time.UTC, got.Location())
}

func assertMoney(t *testing.T, want dsco.Money, got schemas.Decimal) {
	t.Helper()
	if want == "" {
		assert.Nil(t, got)
		return
	}
	w, ok := want.Rat()
	require.True(t, ok, want)
	require.NotNil(t, got, "amount %s", want)
	assert.Equal(t, w.RatString(), got.Rat().RatString(), "amount %s", want)
	exact, err := schemas.ParseDecimal(string(want))
	require.NoError(t, err)
	assert.Equal(t, exact, got, "the bytes of %s", want)
}

// assertExtra checks that got (an extra field) holds exactly the members
// of want (a dsco model's Extra) except the ones named declared, each with
// its value's bytes as on the page.
func assertExtra(t *testing.T, want dsco.Extra, got *string, where string, declared ...string) {
	t.Helper()
	exp := map[string]json.RawMessage{}
	for k, v := range want {
		exp[k] = v
	}
	for _, k := range declared {
		delete(exp, k)
	}
	if len(exp) == 0 {
		assert.Nil(t, got, "%s extra", where)
		return
	}
	require.NotNil(t, got, "%s extra", where)
	require.True(t, json.Valid([]byte(*got)), "%s extra is JSON: %s", where, *got)
	var m map[string]json.RawMessage
	require.NoError(t, json.Unmarshal([]byte(*got), &m))
	assert.Equal(t, exp, m, "%s extra", where)
}

func assertExtraString(t *testing.T, extra dsco.Extra, name string, got *string) {
	t.Helper()
	raw, ok := extra[name]
	if !ok {
		assert.Nil(t, got, name)
		return
	}
	var want string
	require.NoError(t, json.Unmarshal(raw, &want))
	assert.Equal(t, want, djDeref(got), name)
}

func assertExtraInt(t *testing.T, extra dsco.Extra, name string, got *int32) {
	t.Helper()
	raw, ok := extra[name]
	if !ok {
		assert.Nil(t, got, name)
		return
	}
	var want int32
	require.NoError(t, json.Unmarshal(raw, &want))
	assert.Equal(t, want, djDeref(got), name)
}

func TestNewEventPageDecoderUnknownType(t *testing.T) {
	_, err := schemas.NewEventPageDecoder("shipment")
	require.Error(t, err)
	assert.Contains(t, err.Error(), `"shipment"`)
	assert.Contains(t, err.Error(), "orderitemchange")
}
