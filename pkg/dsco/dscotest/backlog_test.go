package dscotest_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dscokafka/connector/pkg/dsco/dscotest"
)

// rawPage reads one page of a stream and returns the raw data of its events.
func (e *env) rawPage(tok, streamID, query string) (datas []json.RawMessage, ids []string) {
	e.t.Helper()
	status, b := e.call(http.MethodGet, "/streams/"+streamID+"/events"+query, tok, nil)
	require.Equal(e.t, http.StatusOK, status, string(b))
	var page struct {
		Events []struct {
			EventID string          `json:"eventId"`
			Data    json.RawMessage `json:"data"`
		} `json:"events"`
	}
	require.NoError(e.t, json.Unmarshal(b, &page))
	for _, ev := range page.Events {
		datas = append(datas, ev.Data)
		ids = append(ids, ev.EventID)
	}
	return datas, ids
}

func TestSeedOrderBacklog(t *testing.T) {
	e := newEnv(t, dscotest.Config{Seed: 3})
	sup, ret := e.supplier(), e.retailer()
	s := e.createStream(sup, "order", 1, nil)
	const n = 300
	require.NoError(t, e.srv.SeedOrderBacklog(n, dscotest.OrderShape{Items: 5, ExtraAttributes: 20}))
	st := e.srv.Stats()
	assert.EqualValues(t, n, st.Orders[dscotest.StatusCreated])
	assert.EqualValues(t, n, st.Events["order"])

	datas, ids := e.rawPage(sup, s.StreamID, "?limit=1000")
	require.Len(t, datas, n)
	assert.Len(t, uniq(ids), n, "event ids are unique")
	for i, d := range datas {
		var o struct {
			OrderID string                       `json:"orderId"`
			Items   []map[string]json.RawMessage `json:"items"`
		}
		require.NoError(t, json.Unmarshal(d, &o))
		require.Equal(t, fmt.Sprintf("PO-%08d", i+1), o.OrderID)
		require.Len(t, o.Items, 5)
		var top map[string]json.RawMessage
		require.NoError(t, json.Unmarshal(d, &top))
		for _, obj := range append([]map[string]json.RawMessage{top}, o.Items...) {
			for k := 1; k <= 20; k++ {
				require.Contains(t, obj, fmt.Sprintf("ext%02d", k))
			}
			require.NotContains(t, obj, "ext21")
		}
		// The order as order-out serves it is the event's data, byte for byte.
		if i%50 == 0 {
			status, body := e.call(http.MethodGet, "/supplier/order-out/"+o.OrderID, sup, nil)
			require.Equal(t, http.StatusOK, status)
			require.Equal(t, string(d), string(body))
		}
	}

	// A write makes a generated order an ordinary one; its order.created
	// event still shows the order as it was created.
	first := datas[0]
	e.write(http.StatusOK, "/supplier/shipment-in", sup, map[string]any{"shipments": []any{
		map[string]any{"orderId": "PO-00000001", "lineItemId": "PO-00000001-2", "trackingNumber": "1Z", "carrier": "UPS"}}})
	o := e.order(sup, "PO-00000001")
	assert.Equal(t, "partially_shipped", o.Status)
	assert.Positive(t, o.Items[1].QuantityShipped)
	again, _ := e.rawPage(sup, s.StreamID, "?limit=1")
	assert.Equal(t, string(first), string(again[0]))
	var l struct {
		Orders     []orderJSON `json:"orders"`
		TotalCount int         `json:"totalCount"`
	}
	e.callJSON(http.StatusOK, http.MethodGet, "/supplier/order-out?status=created&limit=2", sup, nil, &l)
	assert.Equal(t, n-1, l.TotalCount)
	assert.Equal(t, "PO-00000002", l.Orders[0].OrderID)
	e.callJSON(http.StatusOK, http.MethodGet, "/supplier/order-out?status=partially_shipped", sup, nil, &l)
	assert.Equal(t, 1, l.TotalCount)

	// Generated ids are taken: the API cannot create them again.
	br := e.write(http.StatusOK, "/retailer/order-in", ret, map[string]any{"orders": []any{newOrder("PO-00000002", 1)}})
	assert.Equal(t, []string{"ORDER_EXISTS"}, br.codes())
}

func TestSeedOrdersSkipsIDsTakenByTheAPI(t *testing.T) {
	e := newEnv(t, dscotest.Config{Seed: 1})
	e.createOrders(e.retailer(), newOrder("PO-00000002", 1))
	ids, err := e.srv.SeedOrders(3)
	require.NoError(t, err)
	assert.Equal(t, []string{"PO-00000001", "PO-00000003", "PO-00000004"}, ids)
	sup := e.supplier()
	assert.Equal(t, "PO-00000002-L1", e.order(sup, "PO-00000002").Items[0].LineItemID, "the API's order is kept")
	status, _ := e.call(http.MethodGet, "/supplier/order-out/PO-00000005", sup, nil)
	assert.Equal(t, http.StatusNotFound, status)
}

// TestBacklogStreamsWithQuery: a stream with a query sees generated orders
// like any other, whether created before or after them.
func TestBacklogStreamsWithQuery(t *testing.T) {
	e := newEnv(t, dscotest.Config{Seed: 5})
	sup := e.supplier()
	before := e.createStream(sup, "order", 2, map[string]any{"orderType": "Marketplace"})
	require.NoError(t, e.srv.SeedOrderBacklog(100, dscotest.OrderShape{}))
	after := e.createStream(sup, "order", 2, map[string]any{"orderType": "Marketplace"})
	count := func(s streamJSON) int {
		n := 0
		for p := range 2 {
			for _, ev := range e.drain(sup, s.StreamID, p, 1000) {
				require.Equal(t, "Marketplace", ev.Data["orderType"])
				n++
			}
		}
		return n
	}
	n := count(before)
	assert.Positive(t, n)
	assert.Less(t, n, 100)
	assert.Equal(t, n, count(after))
}

func TestOrderShapeValidate(t *testing.T) {
	sb, err := dscotest.New(dscotest.Config{})
	require.NoError(t, err)
	t.Cleanup(sb.Close)
	for _, sh := range []dscotest.OrderShape{{Items: -1}, {Items: 101}, {ExtraAttributes: -1}, {ExtraAttributes: 1001}} {
		assert.Error(t, sb.SeedOrderBacklog(1, sh), "%+v", sh)
	}
	assert.Error(t, sb.SeedOrderBacklog(-1, dscotest.OrderShape{}))
	assert.Zero(t, sb.Stats().Orders[dscotest.StatusCreated])
}

func uniq(s []string) map[string]bool {
	m := map[string]bool{}
	for _, v := range s {
		m[v] = true
	}
	return m
}

// TestPageLimitCapped: the contract states no maximum for the limit of a stream read or
// an order list, and the sandbox refuses none: a larger limit than 1000 gets a page of
// 1000 whose hasMore says that more follow, the rest read from there as after any page
// (docs/dsco-sandbox.md), and the cap is logged at debug level.
func TestPageLimitCapped(t *testing.T) {
	var logs lockedBuffer
	e := newEnv(t, dscotest.Config{Seed: 4, Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	sup := e.supplier()
	s := e.createStream(sup, "order", 1, nil)
	const n = 1001
	require.NoError(t, e.srv.SeedOrderBacklog(n, dscotest.OrderShape{Items: 1}))

	t.Run("stream events", func(t *testing.T) {
		page := e.events(sup, s.StreamID, "?limit=5000")
		assert.Len(t, page.Events, 1000)
		assert.True(t, page.HasMore)
		rest := e.events(sup, s.StreamID, "?limit=5000&position="+url.QueryEscape(page.Position))
		assert.Len(t, rest.Events, n-1000)
		assert.False(t, rest.HasMore)
	})
	t.Run("order list", func(t *testing.T) {
		var l struct {
			Orders     []orderJSON `json:"orders"`
			TotalCount int         `json:"totalCount"`
			HasMore    bool        `json:"hasMore"`
		}
		e.callJSON(http.StatusOK, http.MethodGet, "/supplier/order-out?limit=5000", sup, nil, &l)
		assert.Len(t, l.Orders, 1000)
		assert.Equal(t, n, l.TotalCount)
		assert.True(t, l.HasMore)
	})
	for _, op := range []string{"getStreamEvents", "supplierListOrders"} {
		assert.Contains(t, logs.String(), "msg=\"dscotest: limit capped\" operation="+op+" limit=5000 max=1000")
	}
}

// lockedBuffer is a bytes.Buffer safe for concurrent use: the sandbox logs from its
// handlers' goroutines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
