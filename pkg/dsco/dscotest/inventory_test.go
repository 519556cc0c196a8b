package dscotest_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dscokafka/connector/pkg/dsco/dscotest"
)

type itemInventory struct {
	DscoItemID        string `json:"dscoItemId"`
	SKU               string `json:"sku"`
	DscoSupplierID    int    `json:"dscoSupplierId"`
	QuantityAvailable int    `json:"quantityAvailable"`
	Status            string `json:"status"`
	Warehouses        []struct {
		WarehouseID string `json:"warehouseId"`
		Quantity    int    `json:"quantity"`
	} `json:"warehouses"`
	LastUpdate string `json:"lastUpdate"`
}

type inventoryPage struct {
	Items         []itemInventory `json:"items"`
	HighWaterMark string          `json:"highWaterMark"`
	HasMore       bool            `json:"hasMore"`
}

func (e *env) inventory(tok string, params map[string]any) (int, []byte) {
	e.t.Helper()
	b, err := json.Marshal(params)
	require.NoError(e.t, err)
	return e.call(http.MethodGet, "/inventory?params="+url.QueryEscape(string(b)), tok, nil)
}

func (e *env) inventoryPage(tok string, params map[string]any) inventoryPage {
	e.t.Helper()
	status, body := e.inventory(tok, params)
	require.Equal(e.t, http.StatusOK, status, string(body))
	var p inventoryPage
	require.NoError(e.t, json.Unmarshal(body, &p))
	require.NotNil(e.t, p.Items)
	return p
}

func (e *env) listSKUs(tok string, n int) {
	e.t.Helper()
	items := []any{}
	for i := range n {
		items = append(items, map[string]any{"sku": fmt.Sprintf("S-%02d", i), "title": "Item", "cost": 1.5})
	}
	e.write(http.StatusOK, "/supplier/catalog-in", tok, map[string]any{"items": items})
}

func TestGetItemInventoryHighWaterMark(t *testing.T) {
	e := newEnv(t, dscotest.Config{})
	sup := e.supplier()
	e.listSKUs(sup, 10)

	// The clock does not move: every change happens in the same millisecond.
	type change struct {
		sku string
		qty int
	}
	var applied []change
	qty := 0
	update := func(n int) {
		if n == 0 {
			return
		}
		items := []any{}
		for i := range n {
			qty++
			sku := fmt.Sprintf("S-%02d", (qty*7+i)%10)
			items = append(items, map[string]any{"sku": sku, "quantity": qty})
			applied = append(applied, change{sku, qty})
		}
		e.write(http.StatusOK, "/supplier/inventory-in", sup, map[string]any{"items": items})
	}

	var got []change
	mark := "2026-11-24T09:00:00.000Z"
	read := func() bool {
		p := e.inventoryPage(sup, map[string]any{"highWaterMarkQuery": mark, "limit": 3})
		for _, it := range p.Items {
			got = append(got, change{it.SKU, it.Warehouses[0].Quantity})
		}
		mark = p.HighWaterMark
		return p.HasMore
	}
	update(5)
	for round := range 20 {
		read()
		update(round % 4) // changes interleaved between pages
	}
	for read() {
	}
	assert.Equal(t, applied, got, "every change exactly once, in order")
	assert.Len(t, got, 5+30)

	t.Run("nothing new", func(t *testing.T) {
		p := e.inventoryPage(sup, map[string]any{"highWaterMarkQuery": mark})
		assert.Empty(t, p.Items)
		assert.False(t, p.HasMore)
		assert.Equal(t, mark, p.HighWaterMark)
	})
	t.Run("iso date forms", func(t *testing.T) {
		for _, d := range []string{"2014-01-01T10:30:00.000+01:00", "2014-01-01T10:30:00.000+0100", "2014-01-01T10:30:00.000Z"} {
			p := e.inventoryPage(sup, map[string]any{"highWaterMarkQuery": d, "limit": 1000})
			assert.Len(t, p.Items, 35, d)
		}
		p := e.inventoryPage(sup, map[string]any{"highWaterMarkQuery": "2026-11-24T12:00:00.000+0100"})
		assert.Empty(t, p.Items, "a date after every change")
	})
	t.Run("item view", func(t *testing.T) {
		e.write(http.StatusOK, "/supplier/inventory-in", sup, map[string]any{"items": []any{
			map[string]any{"sku": "S-01", "quantity": 0, "warehouseId": "WH1"},
			map[string]any{"sku": "S-01", "quantity": 4, "warehouseId": "WH2"},
		}})
		p := e.inventoryPage(sup, map[string]any{"itemIdQuery": map[string]any{"itemKey": "sku", "value": "S-01"}})
		require.Len(t, p.Items, 1)
		it := p.Items[0]
		assert.Equal(t, 4, it.QuantityAvailable)
		assert.Equal(t, "in-stock", it.Status)
		assert.Equal(t, dscotest.SupplierID, it.DscoSupplierID)
		assert.Equal(t, "2026-11-24T10:00:00.000Z", it.LastUpdate)
		byID := e.inventoryPage(sup, map[string]any{"itemIdQuery": map[string]any{"itemKey": "dscoItemId", "value": it.DscoItemID}})
		assert.Equal(t, p.Items, byID.Items)
		none := e.inventoryPage(sup, map[string]any{"itemIdQuery": map[string]any{"itemKey": "sku", "value": "nope"}})
		assert.Empty(t, none.Items)
	})
	t.Run("date query", func(t *testing.T) {
		p := e.inventoryPage(sup, map[string]any{"dateQuery": map[string]any{"startDate": "2026-11-24T09:00:00.000Z", "endDate": "2026-11-24T11:00:00.000Z"}, "limit": 4})
		assert.Len(t, p.Items, 4)
		assert.True(t, p.HasMore)
		p = e.inventoryPage(sup, map[string]any{"dateQuery": map[string]any{"startDate": "2026-11-25T00:00:00.000Z", "endDate": "2026-11-26T00:00:00.000Z"}})
		assert.Empty(t, p.Items)
	})
	t.Run("retailer filters", func(t *testing.T) {
		ret := e.retailer()
		p := e.inventoryPage(ret, map[string]any{"highWaterMarkQuery": "2026-01-01T00:00:00.000Z", "dscoSupplierId": dscotest.SupplierID, "limit": 1000})
		assert.Len(t, p.Items, 37)
		p = e.inventoryPage(ret, map[string]any{"highWaterMarkQuery": "2026-01-01T00:00:00.000Z", "dscoSupplierId": 9})
		assert.Empty(t, p.Items)
	})
}

func TestGetItemInventoryParams(t *testing.T) {
	e := newEnv(t, dscotest.Config{})
	sup, ret := e.supplier(), e.retailer()
	hwm := "2026-11-24T00:00:00.000Z"
	tests := []struct {
		name      string
		tok       string
		params    any
		wantField string
	}{
		{"no params", sup, nil, "params"},
		{"not json", sup, "{", "params"},
		{"no query kind", sup, map[string]any{"resultType": "objects"}, "params.highWaterMarkQuery"},
		{"two query kinds", sup, map[string]any{"highWaterMarkQuery": hwm, "dateQuery": map[string]any{"startDate": hwm, "endDate": hwm}}, "params.dateQuery"},
		{"bad result type", sup, map[string]any{"highWaterMarkQuery": hwm, "resultType": "csv"}, "params.resultType"},
		{"supplier id from supplier", sup, map[string]any{"highWaterMarkQuery": hwm, "dscoSupplierId": 1001}, "params.dscoSupplierId"},
		{"trading partner id from supplier", sup, map[string]any{"highWaterMarkQuery": hwm, "dscoSupplierTradingPartnerId": "x"}, "params.dscoSupplierTradingPartnerId"},
		{"both supplier ids", ret, map[string]any{"highWaterMarkQuery": hwm, "dscoSupplierId": 1001, "dscoSupplierTradingPartnerId": "x"}, "params.dscoSupplierTradingPartnerId"},
		{"file without callback", sup, map[string]any{"highWaterMarkQuery": hwm, "resultType": "file"}, "params.callbackUrl"},
		{"relative callback", sup, map[string]any{"highWaterMarkQuery": hwm, "resultType": "file", "callbackUrl": "/cb"}, "params.callbackUrl"},
		{"callback headers with objects", sup, map[string]any{"highWaterMarkQuery": hwm, "callbackHeaders": []any{map[string]any{"name": "a", "value": "b"}}}, "params.callbackHeaders"},
		{"callback header without value", sup, map[string]any{"highWaterMarkQuery": hwm, "resultType": "file", "callbackUrl": "http://127.0.0.1:1/cb", "callbackHeaders": []any{map[string]any{"name": "a"}}}, "params.callbackHeaders[0].value"},
		{"bad mark", sup, map[string]any{"highWaterMarkQuery": "last tuesday"}, "params.highWaterMarkQuery"},
		{"mark beyond the end", sup, map[string]any{"highWaterMarkQuery": "hwm1-99"}, "params.highWaterMarkQuery"},
		{"bad item key", sup, map[string]any{"itemIdQuery": map[string]any{"itemKey": "upc", "value": "1"}}, "params.itemIdQuery.itemKey"},
		{"bad start date", sup, map[string]any{"dateQuery": map[string]any{"startDate": "yesterday", "endDate": hwm}}, "params.dateQuery.startDate"},
		{"limit too big", sup, map[string]any{"highWaterMarkQuery": hwm, "limit": 5000}, "params.limit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := "/inventory"
			switch p := tt.params.(type) {
			case string:
				path += "?params=" + url.QueryEscape(p)
			case nil:
			default:
				b, err := json.Marshal(p)
				require.NoError(t, err)
				path += "?params=" + url.QueryEscape(string(b))
			}
			status, body := e.call(http.MethodGet, path, tt.tok, nil)
			require.Equal(t, http.StatusBadRequest, status, string(body))
			var br batchResponse
			require.NoError(t, json.Unmarshal(body, &br))
			assert.Equal(t, tt.wantField, br.fields()[0], string(body))
		})
	}
	t.Run("needs a token", func(t *testing.T) {
		status, _ := e.call(http.MethodGet, "/inventory?params=%7B%7D", "", nil)
		assert.Equal(t, http.StatusUnauthorized, status)
	})
}

func TestGetItemInventoryFile(t *testing.T) {
	e := newEnv(t, dscotest.Config{FileTTL: time.Hour})
	sup := e.supplier()
	e.listSKUs(sup, 3)
	e.write(http.StatusOK, "/supplier/inventory-in", sup, map[string]any{"items": []any{
		map[string]any{"sku": "S-00", "quantity": 1}, map[string]any{"sku": "S-01", "quantity": 2}, map[string]any{"sku": "S-02", "quantity": 0},
	}})

	type callback struct {
		RequestID string `json:"requestId"`
		FileURL   string `json:"fileUrl"`
		auth      string
	}
	got := make(chan callback, 1)
	cb := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var c callback
		if err := json.NewDecoder(r.Body).Decode(&c); err != nil || r.Method != http.MethodPost {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		c.auth = r.Header.Get("X-Callback-Auth")
		got <- c
	}))
	t.Cleanup(cb.Close)

	status, body := e.inventory(sup, map[string]any{
		"resultType": "file", "highWaterMarkQuery": "2026-01-01T00:00:00.000Z",
		"callbackUrl": cb.URL + "/inventory-ready", "callbackHeaders": []any{map[string]any{"name": "X-Callback-Auth", "value": "s3cret"}},
	})
	require.Equal(t, http.StatusOK, status, string(body))
	var accepted struct {
		RequestID string `json:"requestId"`
	}
	require.NoError(t, json.Unmarshal(body, &accepted))
	require.NotEmpty(t, accepted.RequestID)

	c := <-got
	assert.Equal(t, accepted.RequestID, c.RequestID)
	assert.Equal(t, "s3cret", c.auth)
	assert.Equal(t, e.srv.URL+"/inventory/files/"+accepted.RequestID, c.FileURL)

	download := func() *http.Response {
		resp, err := http.Get(c.FileURL) // no bearer needed
		require.NoError(t, err)
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}
	t.Run("file", func(t *testing.T) {
		resp := download()
		require.Equal(t, http.StatusOK, resp.StatusCode)
		assert.Equal(t, "application/x-ndjson", resp.Header.Get("Content-Type"))
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		var items []itemInventory
		sc := bufio.NewScanner(bytes.NewReader(b))
		for sc.Scan() {
			var it itemInventory
			require.NoError(t, json.Unmarshal(sc.Bytes(), &it))
			items = append(items, it)
		}
		require.Len(t, items, 3)
		assert.Equal(t, []string{"in-stock", "in-stock", "out-of-stock"}, []string{items[0].Status, items[1].Status, items[2].Status})
	})
	t.Run("unknown file", func(t *testing.T) {
		resp, err := http.Get(e.srv.URL + "/inventory/files/nope")
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, http.StatusNotFound, resp.StatusCode)
	})
	t.Run("expired", func(t *testing.T) {
		e.clock.Add(time.Hour)
		resp := download()
		assert.Equal(t, http.StatusGone, resp.StatusCode)
	})
}

// TestCloseCancelsCallbacks: Close waits for callbacks in flight and
// cancels them, so it returns even when the callback receiver hangs.
func TestCloseCancelsCallbacks(t *testing.T) {
	srv, err := dscotest.NewServer(dscotest.Config{})
	require.NoError(t, err)
	t.Cleanup(srv.Close)
	e := &env{t: t, srv: srv, client: http.DefaultClient, loose: http.DefaultClient}

	arrived, released := make(chan struct{}), make(chan struct{})
	cb := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body) // the server notices a disconnect only once the body is read
		close(arrived)
		<-r.Context().Done() // hang until the sandbox gives up
		close(released)
	}))
	t.Cleanup(cb.Close)

	status, body := e.inventory(e.supplier(), map[string]any{
		"resultType": "file", "highWaterMarkQuery": "2026-01-01T00:00:00.000Z", "callbackUrl": cb.URL,
	})
	require.Equal(t, http.StatusOK, status, string(body))
	<-arrived
	srv.Close()
	<-released
}
