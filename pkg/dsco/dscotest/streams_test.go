package dscotest_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dscokafka/connector/pkg/dsco/dscotest"
)

func eventTypes(evs []eventJSON) []string {
	out := []string{}
	for _, ev := range evs {
		out = append(out, ev.EventType)
	}
	return out
}

func TestStreamEventsPerChange(t *testing.T) {
	e := newEnv(t, dscotest.Config{})
	sup, ret := e.supplier(), e.retailer()
	streams := map[string]streamJSON{}
	for _, ot := range []string{"order", "orderitemchange", "inventory", "catalog", "invoice", "return"} {
		streams[ot] = e.createStream(sup, ot, 1, nil)
	}
	shipped := e.createStream(sup, "order", 1, map[string]any{"status": "shipped"})

	e.createOrders(ret, newOrder("A", 2), newOrder("B", 1))
	e.write(http.StatusOK, "/supplier/acknowledge-order-in", sup, map[string]any{"orderIds": []string{"A"}})
	e.write(http.StatusOK, "/supplier/shipment-in", sup, map[string]any{"shipments": []any{
		map[string]any{"orderId": "A", "lineItemId": "A-L1", "trackingNumber": "1Z1", "carrier": "UPS"}}})
	e.write(http.StatusOK, "/supplier/shipment-in", sup, map[string]any{"shipments": []any{
		map[string]any{"orderId": "A", "lineItemId": "A-L2", "trackingNumber": "1Z2", "carrier": "UPS"}}})
	e.write(http.StatusOK, "/supplier/cancel-in", sup, map[string]any{"cancellations": []any{map[string]any{"orderId": "B", "reason": "discontinued"}}})
	e.write(http.StatusOK, "/retailer/return-in", ret, map[string]any{"returns": []any{map[string]any{"orderId": "A", "lineItemId": "A-L1", "quantity": 1, "returnReason": "damaged"}}})
	e.write(http.StatusOK, "/supplier/invoice-in", sup, map[string]any{"invoices": []any{map[string]any{"orderId": "A", "invoiceNumber": "INV-1", "amount": 42.1}}})
	e.write(http.StatusOK, "/supplier/catalog-in", sup, map[string]any{"items": []any{map[string]any{"sku": "S-1", "title": "Mug", "cost": 3}}})
	e.write(http.StatusOK, "/retailer/catalog-in", ret, map[string]any{"items": []any{map[string]any{"sku": "S-1", "attributes": map[string]any{"category": "Kitchen"}}}})
	e.write(http.StatusOK, "/supplier/inventory-in", sup, map[string]any{"items": []any{map[string]any{"sku": "S-1", "quantity": 7, "warehouseId": "WH2"}}})

	tests := []struct {
		stream string
		want   []string
	}{
		{"order", []string{"order.created", "order.created", "order.acknowledged", "order.partially_shipped", "order.shipped", "order.cancelled", "order.returned"}},
		{"orderitemchange", []string{"orderitem.acknowledged", "orderitem.acknowledged", "orderitem.shipped", "orderitem.shipped", "orderitem.cancelled", "orderitem.returned"}},
		{"invoice", []string{"invoice.created"}},
		{"return", []string{"return.created"}},
		{"catalog", []string{"catalog.updated", "catalog.attribution_updated"}},
		{"inventory", []string{"inventory.updated"}},
	}
	for _, tt := range tests {
		t.Run(tt.stream, func(t *testing.T) {
			evs := e.drain(sup, streams[tt.stream].StreamID, 0, 100)
			assert.Equal(t, tt.want, eventTypes(evs))
			for _, ev := range evs {
				assert.Equal(t, tt.stream, ev.ObjectType)
				assert.NotEmpty(t, ev.EventID)
				_, err := time.Parse(time.RFC3339, ev.Timestamp)
				assert.NoError(t, err)
			}
		})
	}
	t.Run("event data", func(t *testing.T) {
		evs := e.drain(sup, streams["orderitemchange"].StreamID, 0, 100)
		ship := evs[2].Data
		assert.Equal(t, map[string]any{"orderId": "A", "lineItemId": "A-L1", "sku": "SKU-00001", "quantity": 2.0, "status": "shipped",
			"changeType": "shipped", "quantityShipped": 2.0, "trackingNumber": "1Z1", "carrier": "UPS"}, ship)
		assert.Equal(t, "discontinued", evs[4].Data["reason"])
		ret := e.drain(sup, streams["return"].StreamID, 0, 100)[0].Data
		assert.Equal(t, "retailer", ret["initiatedBy"])
		assert.NotEmpty(t, ret["returnId"])
		orders := e.drain(sup, streams["order"].StreamID, 0, 100)
		assert.Equal(t, "C-A", orders[0].Data["consumerOrderNumber"], "unknown attributes reach the stream")
		assert.Equal(t, "shipped", orders[4].Data["status"])
		inv := e.drain(sup, streams["invoice"].StreamID, 0, 100)[0].Data
		assert.Equal(t, "2026-11-24", inv["invoiceDate"], "defaults to the sandbox's today")
		assert.Equal(t, 42.1, inv["amount"])
	})
	t.Run("query params filter", func(t *testing.T) {
		evs := e.drain(sup, shipped.StreamID, 0, 100)
		assert.Equal(t, []string{"order.shipped", "order.returned"}, eventTypes(evs))
	})
	t.Run("stats", func(t *testing.T) {
		st := e.srv.Stats()
		assert.Equal(t, map[string]int64{"order": 7, "orderitemchange": 6, "invoice": 1, "return": 1, "catalog": 2, "inventory": 1}, st.Events)
		assert.Equal(t, int64(1), st.InventoryItems)
		assert.Equal(t, int64(1), st.CatalogItems)
	})
}

func TestStreamPositions(t *testing.T) {
	e := newEnv(t, dscotest.Config{})
	sup, ret := e.supplier(), e.retailer()
	for i := range 25 {
		e.createOrders(ret, newOrder(fmt.Sprintf("P-%02d", i), 1))
	}
	// Created after the orders: a new stream starts with the retained history.
	s := e.createStream(sup, "order", 1, nil)
	all := e.events(sup, s.StreamID, "?limit=1000")
	require.Len(t, all.Events, 25)
	require.False(t, all.HasMore)

	t.Run("hasMore paging", func(t *testing.T) {
		var got []eventJSON
		var more []bool
		pos := ""
		for {
			q := "?limit=10"
			if pos != "" {
				q += "&position=" + url.QueryEscape(pos)
			}
			ev := e.events(sup, s.StreamID, q)
			got = append(got, ev.Events...)
			more = append(more, ev.HasMore)
			pos = ev.Position
			if !ev.HasMore {
				break
			}
		}
		assert.Equal(t, []bool{true, true, false}, more)
		assert.Equal(t, all.Events, got)
		assert.Equal(t, all.Position, pos)
	})
	t.Run("commit and resume", func(t *testing.T) {
		first := e.events(sup, s.StreamID, "?limit=7")
		require.Len(t, first.Events, 7)
		again := e.events(sup, s.StreamID, "?limit=7")
		assert.Equal(t, first.Events, again.Events, "without a commit a read starts at the beginning")

		e.callJSON(http.StatusOK, http.MethodPost, "/streams/"+s.StreamID+"/position", sup, map[string]any{"position": first.Position}, nil)
		next := e.events(sup, s.StreamID, "?limit=7")
		assert.Equal(t, all.Events[7:14], next.Events)

		var list struct {
			Streams []streamJSON `json:"streams"`
		}
		e.callJSON(http.StatusOK, http.MethodGet, "/streams", sup, nil, &list)
		require.Len(t, list.Streams, 1)
		assert.Equal(t, first.Position, list.Streams[0].Partitions[0].Position)

		empty := e.events(sup, s.StreamID, "?position="+url.QueryEscape(all.Position))
		assert.Empty(t, empty.Events)
		assert.Equal(t, all.Position, empty.Position, "no events: the request position comes back")
		assert.False(t, empty.HasMore)
	})
	t.Run("errors", func(t *testing.T) {
		tests := []struct {
			name, method, path, tok string
			body                    any
			want                    int
			wantCode                string
		}{
			{"malformed position", http.MethodGet, "/streams/" + s.StreamID + "/events?position=abc", sup, nil, http.StatusBadRequest, "INVALID_POSITION"},
			{"position beyond the end", http.MethodGet, "/streams/" + s.StreamID + "/events?position=0:0000000000000999", sup, nil, http.StatusBadRequest, "INVALID_POSITION"},
			{"unknown partition", http.MethodGet, "/streams/" + s.StreamID + "/events?partition=3", sup, nil, http.StatusBadRequest, "INVALID_FIELD"},
			{"unknown stream", http.MethodGet, "/streams/nope/events", sup, nil, http.StatusNotFound, "STREAM_NOT_FOUND"},
			{"another account's stream", http.MethodGet, "/streams/" + s.StreamID + "/events", ret, nil, http.StatusNotFound, "STREAM_NOT_FOUND"},
			{"commit malformed", http.MethodPost, "/streams/" + s.StreamID + "/position", sup, map[string]any{"position": "x"}, http.StatusBadRequest, "INVALID_POSITION"},
			{"commit unknown stream", http.MethodPost, "/streams/nope/position", sup, map[string]any{"position": "0:1"}, http.StatusNotFound, "STREAM_NOT_FOUND"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				status, body := e.call(tt.method, tt.path, tt.tok, tt.body)
				assert.Equal(t, tt.want, status, string(body))
				var br batchResponse
				require.NoError(t, json.Unmarshal(body, &br))
				assert.Equal(t, []string{tt.wantCode}, br.codes())
			})
		}
	})
}

func TestStreamPartitions(t *testing.T) {
	e := newEnv(t, dscotest.Config{})
	sup, ret := e.supplier(), e.retailer()
	const parts = 4
	s := e.createStream(sup, "order", parts, nil)
	items := e.createStream(sup, "orderitemchange", parts, nil)
	var ids []string
	for i := range 40 {
		id := fmt.Sprintf("Q-%03d", i)
		ids = append(ids, id)
		e.createOrders(ret, newOrder(id, 2))
	}
	e.write(http.StatusOK, "/supplier/acknowledge-order-in", sup, map[string]any{"orderIds": ids})

	for _, str := range []streamJSON{s, items} {
		t.Run(str.ObjectType, func(t *testing.T) {
			seen := map[string]bool{}
			perOrder := map[string]int{}
			nonEmpty := 0
			for p := range parts {
				evs := e.drain(sup, str.StreamID, p, 7)
				if len(evs) > 0 {
					nonEmpty++
				}
				for _, ev := range evs {
					id := ev.Data["orderId"].(string)
					assert.Equal(t, dscotest.PartitionFor(id, parts), p, "order %s in partition %d", id, p)
					assert.False(t, seen[ev.EventID], "event %s twice", ev.EventID)
					seen[ev.EventID] = true
					perOrder[id]++
				}
			}
			assert.Greater(t, nonEmpty, 1, "keys spread over partitions")
			assert.Len(t, perOrder, 40)
			for id, n := range perOrder {
				assert.Equal(t, 2, n, id) // created+acknowledged, or two acknowledged lines
			}
			assert.Len(t, seen, 80)
		})
	}
	t.Run("position names its partition", func(t *testing.T) {
		ev := e.events(sup, s.StreamID, "?partition=2&limit=1")
		require.Len(t, ev.Events, 1)
		e.callJSON(http.StatusOK, http.MethodPost, "/streams/"+s.StreamID+"/position", sup, map[string]any{"position": ev.Position}, nil)
		var list struct {
			Streams []streamJSON `json:"streams"`
		}
		e.callJSON(http.StatusOK, http.MethodGet, "/streams", sup, nil, &list)
		assert.Equal(t, ev.Position, list.Streams[0].Partitions[2].Position)
		assert.Equal(t, "0:0000000000000000", list.Streams[0].Partitions[0].Position)
		status, _ := e.call(http.MethodGet, "/streams/"+s.StreamID+"/events?partition=1&position="+url.QueryEscape(ev.Position), sup, nil)
		assert.Equal(t, http.StatusBadRequest, status, "a position of partition 2 read as partition 1")
	})
}

func TestStreamRetention(t *testing.T) {
	e := newEnv(t, dscotest.Config{Retention: time.Hour})
	sup, ret := e.supplier(), e.retailer()
	s := e.createStream(sup, "order", 1, nil)
	e.createOrders(ret, newOrder("OLD-1", 1), newOrder("OLD-2", 1), newOrder("OLD-3", 1))
	old := e.events(sup, s.StreamID, "?limit=1")
	e.callJSON(http.StatusOK, http.MethodPost, "/streams/"+s.StreamID+"/position", sup, map[string]any{"position": old.Position}, nil)

	e.clock.Add(59 * time.Minute)
	e.createOrders(ret, newOrder("MID-1", 1))
	e.clock.Add(2 * time.Minute) // OLD-* are now older than the retention, MID-1 is not
	tok := e.supplier()

	t.Run("read from before the oldest kept event", func(t *testing.T) {
		for _, q := range []string{"", "?position=" + url.QueryEscape(old.Position), "?position=0:0000000000000000"} {
			status, body := e.call(http.MethodGet, "/streams/"+s.StreamID+"/events"+q, tok, nil)
			assert.Equal(t, http.StatusGone, status, q)
			var br batchResponse
			require.NoError(t, json.Unmarshal(body, &br))
			assert.Equal(t, []string{"POSITION_EXPIRED"}, br.codes())
			assert.Contains(t, br.Errors[0].Message, "0:0000000000000003", "names the oldest available position")
		}
	})
	t.Run("resume from the oldest available position", func(t *testing.T) {
		ev := e.events(tok, s.StreamID, "?position=0:0000000000000003")
		assert.Equal(t, []string{"order.created"}, eventTypes(ev.Events))
		assert.Equal(t, "MID-1", ev.Events[0].Data["orderId"])
	})
	t.Run("pruned on append", func(t *testing.T) {
		e.createOrders(e.retailer(), newOrder("NEW-1", 1))
		later := e.createStream(tok, "order", 1, nil)
		evs := e.drain(tok, later.StreamID, 0, 10)
		assert.Len(t, evs, 2, "a new stream only gets retained history")
		ev := e.events(tok, s.StreamID, "?position=0:0000000000000003")
		assert.Len(t, ev.Events, 2)
	})
}
