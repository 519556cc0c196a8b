package outbound_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dscokafka/connector/pkg/dsco"
	"github.com/dscokafka/connector/pkg/dsco/dscotest"
	"github.com/dscokafka/connector/pkg/kafka/kafkatest"
	"github.com/dscokafka/connector/pkg/outbound"
	"github.com/dscokafka/connector/pkg/router"
	"github.com/dscokafka/connector/pkg/schemas"
)

// addErrorTransport adds, to every answer of calls to path, an error that names no
// item of the batch (an unattributed one, or one whose index is past the batch), and
// counts those calls and the items they carried.
type addErrorTransport struct {
	next  http.RoundTripper
	path  string
	error string // the JSON of the BatchError to add
	calls atomic.Int64
	items atomic.Int64
}

func (a *addErrorTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if strings.HasSuffix(req.URL.Path, a.path) && req.Body != nil {
		body, err := io.ReadAll(req.Body)
		_ = req.Body.Close()
		if err != nil {
			return nil, err
		}
		var batch map[string][]json.RawMessage
		if err := json.Unmarshal(body, &batch); err != nil {
			return nil, err
		}
		for _, items := range batch {
			a.items.Add(int64(len(items)))
		}
		req.Body = io.NopCloser(bytes.NewReader(body))
	}
	resp, err := a.next.RoundTrip(req)
	if err != nil || !strings.HasSuffix(req.URL.Path, a.path) || resp.StatusCode != http.StatusOK {
		return resp, err
	}
	a.calls.Add(1)
	body, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil {
		return nil, err
	}
	// The sandbox answers a valid batch with "errors":[] (or without the member).
	if bytes.Contains(body, []byte(`"errors":[]`)) {
		body = bytes.Replace(body, []byte(`"errors":[]`), []byte(`"errors":[`+a.error+`]`), 1)
	} else {
		body = append([]byte(`{"errors":[`+a.error+`],`), body[1:]...)
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	resp.ContentLength = int64(len(body))
	resp.Header.Set("Content-Length", strconv.Itoa(len(body)))
	return resp, nil
}

// TestErrorNamingNoItemIsIsolated: Dsco answers every inventory batch with HTTP 200 and
// an error that names no item of it. The commands are isolated by splitting the batch,
// down to one command per call, whose answer decides it: every command gets its one
// result, with a bounded number of calls (never the same batch again and again).
func TestErrorNamingNoItemIsIsolated(t *testing.T) {
	for _, tc := range []struct {
		name, error string
	}{
		{"no index", `{"code":"GENERAL","message":"something went wrong"}`},
		{"index past the batch", `{"code":"GENERAL","message":"no such item","field":"inventory[999].sku"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, dscotest.Config{Seed: 5})
			skus := make([]string, 20)
			var items []dsco.CatalogItem
			for i := range skus {
				skus[i] = fmt.Sprintf("SKU-U%02d", i)
				items = append(items, dsco.CatalogItem{SKU: skus[i], Title: "unattributed"})
			}
			_, err := e.client(outbound.RoleSupplier).SupplierUpdateCatalog(context.Background(), dsco.CatalogBatchRequest{Items: items})
			require.NoError(t, err)
			kafkatest.CreateTopic(t, e.brokers, e.topic("inventory"), 1)
			var cmds []schemas.Record
			var ids []string
			for i, s := range skus {
				id := fmt.Sprintf("inv-%02d", i)
				ids = append(ids, id)
				cmds = append(cmds, &schemas.InventoryCommand{CommandID: id, SKU: s, Quantity: i32(int32(i))})
			}
			e.send(cmds...)

			tr := &addErrorTransport{next: http.DefaultTransport.(*http.Transport).Clone(), path: "/supplier/inventory-in", error: tc.error}
			cfg := e.pipelineConfig(outbound.RoleSupplier, dsco.WithHTTPClient(&http.Client{Transport: tr}))
			cfg.MaxBatchWait = 200 * time.Millisecond
			e.start(router.OutboundConfig{Subscriber: e.subscriberConfig(kafkatest.Name("g")), Pipeline: cfg})

			got := e.waitResults(ids...)
			for _, id := range ids {
				require.Contains(t, got, id)
				assert.Equal(t, schemas.StatusApplied, got[id].Status, "%s: one command per call, answered completed", id)
				require.Len(t, got[id].Errors, 1, "%s: the error Dsco sent is in the result", id)
				assert.Equal(t, "GENERAL", *got[id].Errors[0].Code)
			}
			// Halving a batch of at most 20 down to single commands takes fewer than 2×20 calls.
			assert.Less(t, tr.calls.Load(), int64(2*len(ids)), "calls to inventory-in")
		})
	}
}

// failBatchTransport answers, without passing it on, every call to path whose body names
// sku with HTTP 200 and status "failed", with an error for sku's item when itemError is
// set and none at all otherwise; other calls go to the sandbox.
type failBatchTransport struct {
	next      http.RoundTripper
	path, sku string
	itemError bool
	failed    atomic.Int64
}

func (f *failBatchTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if !strings.HasSuffix(req.URL.Path, f.path) || req.Body == nil {
		return f.next.RoundTrip(req)
	}
	body, err := io.ReadAll(req.Body)
	_ = req.Body.Close()
	if err != nil {
		return nil, err
	}
	var in dsco.InventoryBatchRequest
	if err := json.Unmarshal(body, &in); err != nil {
		return nil, err
	}
	at := slices.IndexFunc(in.Items, func(it dsco.InventoryItem) bool { return it.SKU == f.sku })
	if at < 0 {
		req.Body = io.NopCloser(bytes.NewReader(body))
		return f.next.RoundTrip(req)
	}
	f.failed.Add(1)
	errs := ""
	if f.itemError {
		errs = fmt.Sprintf(`{"code":"INVALID_FIELD","message":"no","field":"items[%d].quantity"}`, at)
	}
	answer := `{"batchId":"b-failed","status":"failed","errors":[` + errs + `]}`
	return &http.Response{StatusCode: http.StatusOK, Header: http.Header{"Content-Type": {"application/json"}},
		Body: io.NopCloser(strings.NewReader(answer)), ContentLength: int64(len(answer)), Request: req}, nil
}

// TestFailedBatchIsNotApplied: Dsco answers HTTP 200 with status "failed". A command with
// no error of its own in that answer is not reported applied, which Dsco did not say: alone
// in its call it is rejected, and beside others it is isolated and sent alone. Every
// command reported applied is applied in the sandbox.
func TestFailedBatchIsNotApplied(t *testing.T) {
	for _, tc := range []struct {
		name      string
		itemError bool   // the failed answer names the failing command's item
		others    int    // commands sent with the failing one
		reason    string // in the failing command's reason
	}{
		{"alone, no error", false, 0, "failed"},
		{"with others, an error for one item", true, 5, "INVALID_FIELD"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, dscotest.Config{Seed: 5})
			items := []dsco.CatalogItem{{SKU: "SKU-FAIL", Title: "failed"}}
			for i := range tc.others {
				items = append(items, dsco.CatalogItem{SKU: fmt.Sprintf("SKU-OK-%d", i), Title: "ok"})
			}
			_, err := e.client(outbound.RoleSupplier).SupplierUpdateCatalog(context.Background(), dsco.CatalogBatchRequest{Items: items})
			require.NoError(t, err)
			kafkatest.CreateTopic(t, e.brokers, e.topic("inventory"), 1)
			cmds := []schemas.Record{&schemas.InventoryCommand{CommandID: "inv-fail", SKU: "SKU-FAIL", Quantity: i32(1)}}
			ids := []string{"inv-fail"}
			for i := range tc.others {
				id := fmt.Sprintf("inv-ok-%d", i)
				ids = append(ids, id)
				cmds = append(cmds, &schemas.InventoryCommand{CommandID: id, SKU: fmt.Sprintf("SKU-OK-%d", i), Quantity: i32(int32(i))})
			}
			e.send(cmds...)

			tr := &failBatchTransport{next: http.DefaultTransport.(*http.Transport).Clone(), path: "/supplier/inventory-in", sku: "SKU-FAIL", itemError: tc.itemError}
			cfg := e.pipelineConfig(outbound.RoleSupplier, dsco.WithHTTPClient(&http.Client{Transport: tr}))
			cfg.MaxBatchWait = 200 * time.Millisecond
			e.start(router.OutboundConfig{Subscriber: e.subscriberConfig(kafkatest.Name("g")), Pipeline: cfg})

			got := e.waitResults(ids...)
			assert.Equal(t, schemas.StatusRejected, got["inv-fail"].Status, "Dsco answered failed: %s", deref(got["inv-fail"].Reason))
			assert.Contains(t, deref(got["inv-fail"].Reason), tc.reason)
			assert.Positive(t, tr.failed.Load(), "calls answered failed")
			for i := range tc.others {
				id := ids[i+1]
				sku := fmt.Sprintf("SKU-OK-%d", i)
				require.Equal(t, schemas.StatusApplied, got[id].Status, "%s: %s", id, deref(got[id].Reason))
				assert.EqualValues(t, 1, e.sandbox.Applied("supplierUpdateInventory", dscotest.InventoryKey(sku, dscotest.DefaultWarehouse)), "%s reported applied: applied in the sandbox", id)
			}
		})
	}
}

// TestQueuedBatchWithErrorNamingNoItem: Dsco answers a batch of ship commands "accepted"
// (queued, applied later) with an error that names no item. The commands are queued, each
// sent once: the order read back cannot show what is queued, so isolating them (reading
// the orders, then sending those not shipped again, by halves) would send every one of them
// a second time, to be applied twice. Their results carry the error.
func TestQueuedBatchWithErrorNamingNoItem(t *testing.T) {
	e := newEnv(t, dscotest.Config{Seed: 67, Queue: dscotest.QueueConfig{Enabled: true, Operations: []string{"supplierCreateShipment"}}})
	orders := e.seedOrders(6)
	kafkatest.CreateTopic(t, e.brokers, e.topic("ship"), 1)
	var cmds []schemas.Record
	var ids []string
	for i, o := range orders {
		id := fmt.Sprintf("ship-q%d", i)
		ids = append(ids, id)
		cmds = append(cmds, &schemas.ShipCommand{CommandID: id, OrderID: o.OrderID, LineItemID: str(o.Items[0].LineItemID),
			TrackingNumber: str("1Z" + id), Carrier: str("UPS")})
	}
	e.send(cmds...)

	tr := &addErrorTransport{next: http.DefaultTransport.(*http.Transport).Clone(), path: "/supplier/shipment-in",
		error: `{"code":"GENERAL","message":"processing may be delayed"}`}
	cfg := e.pipelineConfig(outbound.RoleSupplier, dsco.WithHTTPClient(&http.Client{Transport: tr}))
	cfg.MaxBatchWait = 200 * time.Millisecond
	e.start(router.OutboundConfig{Subscriber: e.subscriberConfig(kafkatest.Name("g")), Pipeline: cfg})

	got := e.waitResults(ids...)
	for _, id := range ids {
		assert.Equal(t, schemas.StatusQueued, got[id].Status, "%s: %s", id, deref(got[id].Reason))
		assert.Contains(t, deref(got[id].Reason), "GENERAL", id)
	}
	assert.EqualValues(t, len(ids), tr.items.Load(), "each command sent once")
	e.sandbox.ApplyQueued()
	for _, o := range orders {
		assert.EqualValues(t, 1, e.sandbox.Applied("supplierCreateShipment", dscotest.LineKey(o.OrderID, o.Items[0].LineItemID)))
	}
}
