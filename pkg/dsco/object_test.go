package dsco

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// roundTrip decodes in into a new T, encodes it again and returns the
// decoded value and the encoding.
func roundTrip[T any](t *testing.T, in string) (T, []byte) {
	t.Helper()
	var v T
	require.NoError(t, json.Unmarshal([]byte(in), &v))
	out, err := json.Marshal(v)
	require.NoError(t, err)
	return v, out
}

func TestUnknownAttributesRoundTrip(t *testing.T) {
	cases := []struct {
		name  string
		in    string
		check func(t *testing.T, in string) []byte
	}{
		{"order with nested items and address", `{"orderId":"o-1","orderType":"Dropship","status":"created","createdAt":"2026-11-24T10:00:00Z","items":[{"lineItemId":"l-1","sku":"s","quantity":2,"cost":12.50,"price":19.990,"giftWrap":{"paper":"red"},"status":"open"}],"shippingAddress":{"name":"A","city":"B","geo":[1.5,2]},"channel":"web","priority":7}`,
			func(t *testing.T, in string) []byte {
				v, out := roundTrip[Order](t, in)
				assert.JSONEq(t, `"web"`, string(v.Extra["channel"]))
				assert.JSONEq(t, `{"paper":"red"}`, string(v.Items[0].Extra["giftWrap"]))
				assert.JSONEq(t, `[1.5,2]`, string(v.ShippingAddress.Extra["geo"]))
				assert.Equal(t, Money("12.50"), v.Items[0].Cost)
				assert.Equal(t, Money("19.990"), v.Items[0].Price)
				assert.Equal(t, "open", v.Items[0].Status)
				return out
			}},
		{"stream with partitions", `{"streamId":"st","objectType":"order","partitionCount":2,"createdAt":"2026-11-24T10:00:00.5+01:00","partitions":[{"partition":0,"position":"p0","lag":3},{"partition":1,"position":"p1"}],"owner":"x"}`,
			func(t *testing.T, in string) []byte {
				v, out := roundTrip[Stream](t, in)
				require.Len(t, v.Partitions, 2)
				assert.Equal(t, "p1", v.Partitions[1].Position)
				assert.JSONEq(t, `3`, string(v.Partitions[0].Extra["lag"]))
				return out
			}},
		{"event keeps data verbatim", `{"eventId":"e","eventType":"created","objectType":"order","timestamp":"2026-11-24T10:00:00Z","data":{"orderId":"o","z":1},"sequence":42}`,
			func(t *testing.T, in string) []byte {
				v, out := roundTrip[Event](t, in)
				o, err := v.Order()
				require.NoError(t, err)
				assert.Equal(t, "o", o.OrderID)
				assert.JSONEq(t, `{"z":1}`, mustJSON(t, o.Extra))
				return out
			}},
		{"batch response", `{"batchId":"b","status":"completed","errors":[{"code":"ORDER_NOT_FOUND","message":"m","field":"shipments[1].orderId","hint":"h"}],"took":3}`,
			func(t *testing.T, in string) []byte {
				v, out := roundTrip[BatchResponse](t, in)
				assert.Equal(t, map[int][]BatchError{1: {v.Errors[0]}}, v.ItemErrors("shipments"))
				return out
			}},
		{"invoice with date and amount", `{"orderId":"o","invoiceNumber":"i","amount":1e2,"invoiceDate":"2026-02-28","terms":"net30"}`,
			func(t *testing.T, in string) []byte {
				v, out := roundTrip[InvoiceItem](t, in)
				assert.Equal(t, Money("1e2"), v.Amount)
				assert.Equal(t, Date{2026, time.February, 28}, v.InvoiceDate)
				return out
			}},
		{"item inventory", `{"dscoItemId":"d","sku":"s","dscoSupplierId":1001,"quantityAvailable":0,"status":"out-of-stock","warehouses":[{"warehouseId":"w","quantity":0,"bin":"A1"}],"lastUpdate":"2026-11-24T10:00:00Z","brand":"b"}`,
			func(t *testing.T, in string) []byte {
				_, out := roundTrip[ItemInventory](t, in)
				return out
			}},
		{"empty object with only unknown attributes", `{"a":1,"b":[true,null]}`,
			func(t *testing.T, in string) []byte {
				_, out := roundTrip[Address](t, in)
				return out
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out := tc.check(t, tc.in)
			assert.JSONEq(t, tc.in, string(out))
		})
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return string(b)
}

func TestDeclaredFieldWinsOverExtra(t *testing.T) {
	o := Order{OrderID: "real", Extra: Extra{"orderId": json.RawMessage(`"shadow"`), "x": json.RawMessage(`1`)}}
	b, err := json.Marshal(o)
	require.NoError(t, err)
	assert.JSONEq(t, `{"orderId":"real","x":1}`, string(b))
}

func TestInvalidExtraIsRefused(t *testing.T) {
	_, err := json.Marshal(Order{Extra: Extra{"x": json.RawMessage(`{`)}})
	require.Error(t, err)
}

func TestNoNullForDeclaredFields(t *testing.T) {
	cases := []struct {
		name string
		v    any
		want string
	}{
		{"zero order", Order{}, `{}`},
		{"zero order item keeps quantity", OrderItem{}, `{"quantity":0}`},
		{"zero inventory item keeps quantity", InventoryItem{SKU: "s"}, `{"sku":"s","quantity":0}`},
		{"zero invoice", InvoiceItem{}, `{}`},
		{"zero shipment", ShipmentItem{}, `{}`},
		{"nil batch slice", ShipmentBatchRequest{Shipments: nonNil[ShipmentItem](nil)}, `{"shipments":[]}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b, err := json.Marshal(tc.v)
			require.NoError(t, err)
			assert.JSONEq(t, tc.want, string(b))
		})
	}
}

func TestMoney(t *testing.T) {
	cases := []struct {
		name    string
		in      string
		want    Money
		wantErr bool
	}{
		{"trailing zeros kept", `19.990`, "19.990", false},
		{"exponent kept", `1.5E+3`, "1.5E+3", false},
		{"many digits kept", `12345678901234567890.123456789`, "12345678901234567890.123456789", false},
		{"negative", `-0.01`, "-0.01", false},
		{"quoted number", `"7.10"`, "7.10", false},
		{"not a number", `"abc"`, "", true},
		{"boolean", `true`, "", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var m Money
			err := json.Unmarshal([]byte(tc.in), &m)
			if tc.wantErr {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, m)
			out, err := json.Marshal(m)
			require.NoError(t, err)
			assert.Equal(t, string(tc.want), string(out))
		})
	}
	t.Run("bad text is never sent", func(t *testing.T) {
		_, err := json.Marshal(InvoiceItem{Amount: "12,50"})
		require.Error(t, err)
	})
	t.Run("ParseMoney and Rat", func(t *testing.T) {
		m, err := ParseMoney("0.10")
		require.NoError(t, err)
		r, ok := m.Rat()
		require.True(t, ok)
		assert.Equal(t, "1/10", r.String())
		_, err = ParseMoney("0x10")
		require.Error(t, err)
	})
}

func TestDate(t *testing.T) {
	cases := []struct {
		name    string
		in      string
		want    Date
		wantErr bool
	}{
		{"plain date", `"2026-11-24"`, Date{2026, time.November, 24}, false},
		{"leap day", `"2028-02-29"`, Date{2028, time.February, 29}, false},
		{"date-time refused", `"2026-11-24T00:00:00Z"`, Date{}, true},
		{"impossible day", `"2026-02-30"`, Date{}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var d Date
			err := json.Unmarshal([]byte(tc.in), &d)
			if tc.wantErr {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, d)
			out, err := json.Marshal(d)
			require.NoError(t, err)
			assert.Equal(t, tc.in, string(out))
		})
	}
}

func TestBatchErrorIndex(t *testing.T) {
	cases := []struct {
		field    string
		wantProp string
		wantI    int
		wantOK   bool
	}{
		{"shipments[3].trackingNumber", "shipments", 3, true},
		{"orders[0]", "orders", 0, true},
		{"orders[12].items[1].sku", "orders", 12, true},
		{"orderIds[2]", "orderIds", 2, true},
		{"shipments", "", 0, false},
		{"", "", 0, false},
		{"[1].x", "", 0, false},
		{"items[x].sku", "", 0, false},
		{"items[-1]", "", 0, false},
		{"items[1]x", "", 0, false},
	}
	for _, tc := range cases {
		t.Run(tc.field, func(t *testing.T) {
			prop, i, ok := BatchError{Field: tc.field}.Index()
			assert.Equal(t, tc.wantOK, ok)
			assert.Equal(t, tc.wantProp, prop)
			assert.Equal(t, tc.wantI, i)
		})
	}
}
