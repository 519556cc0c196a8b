package dscotest_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"regexp"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dscokafka/connector/pkg/dsco/dscotest"
)

// decodeNumbers decodes JSON keeping every number as its text, so a test
// sees amounts exactly as the sandbox wrote them.
func decodeNumbers(t testing.TB, b []byte) map[string]any {
	t.Helper()
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var m map[string]any
	require.NoError(t, d.Decode(&m), string(b))
	return m
}

// rawEvents reads a whole stream partition with numbers kept as text.
func (e *env) rawEvents(tok, streamID string) []map[string]any {
	e.t.Helper()
	t := e.t
	status, b := e.call(http.MethodGet, "/streams/"+streamID+"/events?partition=0&limit=100", tok, nil)
	require.Equal(t, http.StatusOK, status, string(b))
	var out []map[string]any
	for _, ev := range decodeNumbers(t, b)["events"].([]any) {
		out = append(out, ev.(map[string]any))
	}
	return out
}

// firstLine is items[0] of an order object.
func firstLine(t *testing.T, o map[string]any) map[string]any {
	t.Helper()
	items, ok := o["items"].([]any)
	require.True(t, ok, "items in %v", o)
	require.NotEmpty(t, items)
	return items[0].(map[string]any)
}

// TestMoneyKeptExactly checks that amounts come back as the very number text
// sent: no trailing zero dropped, no rounding to cents, no float64 precision
// lost, in order-out and in every stream event that carries them.
func TestMoneyKeptExactly(t *testing.T) {
	e := newEnv(t, dscotest.Config{})
	sup, ret := e.supplier(), e.retailer()
	orders := e.createStream(sup, "order", 1, nil)
	invoices := e.createStream(sup, "invoice", 1, nil)
	catalog := e.createStream(sup, "catalog", 1, nil)

	lines := []struct {
		name, orderID, cost, price string
	}{
		{"trailing zeros", "M-1", "10.50", "19.990"},
		{"more than cents", "M-2", "0.001", "7.12345"},
		{"beyond float64", "M-3", "123456789012.3456", "98765432109876543.21"},
		{"exponent and zero", "M-4", "1e2", "0.00"},
	}
	for _, l := range lines {
		o := newOrder(l.orderID, 1)
		o["items"].([]map[string]any)[0]["cost"] = json.Number(l.cost)
		o["items"].([]map[string]any)[0]["price"] = json.Number(l.price)
		e.createOrders(ret, o)
	}
	amounts := []struct {
		name, invoice, amount string
	}{
		{"three decimals", "INV-1", "12.345"},
		{"beyond float64", "INV-2", "123456789012.3456"},
		{"trailing zero", "INV-3", "19.90"},
	}
	for _, a := range amounts {
		e.write(http.StatusOK, "/supplier/invoice-in", sup, map[string]any{"invoices": []any{
			map[string]any{"orderId": "M-1", "invoiceNumber": a.invoice, "amount": json.Number(a.amount)}}})
	}
	e.write(http.StatusOK, "/supplier/catalog-in", sup, map[string]any{"items": []any{
		map[string]any{"sku": "S-1", "cost": json.Number("3.10"), "attributes": map[string]any{"msrp": json.Number("5.00")}}}})

	orderEvents := e.rawEvents(sup, orders.StreamID)
	require.Len(t, orderEvents, len(lines))
	for i, l := range lines {
		t.Run("order-out "+l.name, func(t *testing.T) {
			status, b := e.call(http.MethodGet, "/supplier/order-out/"+l.orderID, sup, nil)
			require.Equal(t, http.StatusOK, status, string(b))
			line := firstLine(t, decodeNumbers(t, b))
			require.Equal(t, json.Number(l.cost), line["cost"], string(b))
			require.Equal(t, json.Number(l.price), line["price"], string(b))
		})
		t.Run("order event "+l.name, func(t *testing.T) {
			data := orderEvents[i]["data"].(map[string]any)
			require.Equal(t, l.orderID, data["orderId"])
			line := firstLine(t, data)
			require.Equal(t, json.Number(l.cost), line["cost"])
			require.Equal(t, json.Number(l.price), line["price"])
		})
	}
	invoiceEvents := e.rawEvents(sup, invoices.StreamID)
	require.Len(t, invoiceEvents, len(amounts))
	for i, a := range amounts {
		t.Run("invoice event "+a.name, func(t *testing.T) {
			data := invoiceEvents[i]["data"].(map[string]any)
			require.Equal(t, a.invoice, data["invoiceNumber"])
			require.Equal(t, json.Number(a.amount), data["amount"])
		})
	}
	t.Run("catalog event", func(t *testing.T) {
		evs := e.rawEvents(sup, catalog.StreamID)
		require.Len(t, evs, 1)
		data := evs[0]["data"].(map[string]any)
		require.Equal(t, json.Number("3.10"), data["cost"])
		require.Equal(t, json.Number("5.00"), data["attributes"].(map[string]any)["msrp"])
	})
}

// TestMoneyValidation checks the sign rules read the amount's text exactly
// and that only JSON numbers are amounts.
func TestMoneyValidation(t *testing.T) {
	e := newEnv(t, dscotest.Config{})
	sup, ret := e.supplier(), e.retailer()
	e.createOrders(ret, newOrder("O-1", 1))
	invoice := func(n int, amount any) map[string]any {
		return map[string]any{"invoices": []any{map[string]any{"orderId": "O-1", "invoiceNumber": "I-" + itoa(n), "amount": amount}}}
	}
	line := func(id string, cost, price any) map[string]any {
		o := newOrder(id, 1)
		o["items"].([]map[string]any)[0]["cost"] = cost
		o["items"].([]map[string]any)[0]["price"] = price
		return map[string]any{"orders": []any{o}}
	}
	tests := []struct {
		name      string
		path, tok string
		body      any
		wantField string // empty: accepted
	}{
		{"amount a cent below zero", "/supplier/invoice-in", sup, invoice(1, json.Number("-0.01")), "invoices[0].amount"},
		{"amount far below zero", "/supplier/invoice-in", sup, invoice(2, json.Number("-1e-30")), "invoices[0].amount"},
		{"amount negative zero", "/supplier/invoice-in", sup, invoice(3, json.Number("-0.00")), ""},
		{"amount beyond the contract's float format", "/supplier/invoice-in", sup, invoice(4, json.Number("1e999999999")), "invoices[0].amount"},
		{"amount as a string", "/supplier/invoice-in", sup, invoice(5, "12.34"), "invoices[0].amount"},
		{"cost below zero", "/retailer/order-in", ret, line("N-1", json.Number("-0.001"), json.Number("1")), "orders[0].items[0].cost"},
		{"price below zero", "/retailer/order-in", ret, line("N-2", json.Number("1"), json.Number("-5E2")), "orders[0].items[0].price"},
		{"cost as a string", "/retailer/order-in", ret, line("N-3", "1.00", json.Number("1")), "orders[0].items[0].cost"},
		{"catalog cost below zero", "/supplier/catalog-in", sup, map[string]any{"items": []any{map[string]any{"sku": "S", "cost": json.Number("-0.5")}}}, "items[0].cost"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := e.callLoose(http.MethodPost, tt.path, tt.tok, tt.body)
			if tt.wantField == "" {
				require.Equal(t, http.StatusOK, status, string(body))
				return
			}
			require.Equal(t, http.StatusBadRequest, status, string(body))
			var br batchResponse
			require.NoError(t, json.Unmarshal(body, &br))
			require.Equal(t, []string{tt.wantField}, br.fields(), string(body))
			require.Equal(t, "INVALID_FIELD", br.Errors[0].Code)
		})
	}
}

// TestGeneratorMoneyText checks generated amounts are 2-decimal text, as
// Dsco writes them.
func TestGeneratorMoneyText(t *testing.T) {
	e := newEnv(t, dscotest.Config{Seed: 7})
	ids, err := e.srv.SeedOrders(20)
	require.NoError(t, err)
	sup := e.supplier()
	twoDecimals := regexp.MustCompile(`^[0-9]+\.[0-9]{2}$`)
	for _, id := range ids {
		t.Run(id, func(t *testing.T) {
			status, b := e.call(http.MethodGet, "/supplier/order-out/"+id, sup, nil)
			require.Equal(t, http.StatusOK, status, string(b))
			for _, it := range decodeNumbers(t, b)["items"].([]any) {
				line := it.(map[string]any)
				for _, k := range []string{"cost", "price"} {
					require.Regexp(t, twoDecimals, string(line[k].(json.Number)), "%s in %s", k, b)
				}
			}
		})
	}
}
