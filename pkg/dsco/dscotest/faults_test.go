package dscotest_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dscokafka/connector/pkg/dsco/dscotest"
)

func statusSequence(t *testing.T, seed int64, n int) []int {
	t.Helper()
	e := newEnv(t, dscotest.Config{Seed: seed, Faults: map[string]dscotest.Fault{
		"listStreams": {Rate500: 0.2, Rate503: 0.2, Rate429: 0.2},
	}})
	tok := e.supplier()
	out := make([]int, n)
	for i := range out {
		out[i], _ = e.call(http.MethodGet, "/streams", tok, nil)
	}
	return out
}

func TestFaultDeterminism(t *testing.T) {
	a := statusSequence(t, 42, 60)
	b := statusSequence(t, 42, 60)
	c := statusSequence(t, 43, 60)
	assert.Equal(t, a, b, "same seed, same faults")
	assert.NotEqual(t, a, c, "another seed, other faults")
	counts := map[int]int{}
	for _, s := range a {
		counts[s]++
	}
	for _, s := range []int{http.StatusOK, http.StatusInternalServerError, http.StatusServiceUnavailable, http.StatusTooManyRequests} {
		assert.Positive(t, counts[s], "status %d drawn", s)
	}
}

func TestFaults(t *testing.T) {
	e := newEnv(t, dscotest.Config{})
	sup := e.supplier()

	t.Run("429 with Retry-After in whole seconds", func(t *testing.T) {
		e.srv.SetFault("listStreams", dscotest.Fault{Rate429: 1, RetryAfter: 1500 * time.Millisecond})
		t.Cleanup(func() { e.srv.SetFault("listStreams", dscotest.Fault{}) })
		resp := e.do(http.MethodGet, "/streams", sup, nil)
		resp.Body.Close()
		assert.Equal(t, http.StatusTooManyRequests, resp.StatusCode)
		assert.Equal(t, "2", resp.Header.Get("Retry-After"))
	})
	t.Run("operation fault overrides the wildcard", func(t *testing.T) {
		e.srv.SetFault(dscotest.AllOperations, dscotest.Fault{Rate503: 1})
		e.srv.SetFault("listStreams", dscotest.Fault{Latency: time.Millisecond})
		t.Cleanup(func() {
			e.srv.SetFault(dscotest.AllOperations, dscotest.Fault{})
			e.srv.SetFault("listStreams", dscotest.Fault{})
		})
		status, _ := e.call(http.MethodGet, "/supplier/order-out", sup, nil)
		assert.Equal(t, http.StatusServiceUnavailable, status)
		status, _ = e.call(http.MethodGet, "/streams", sup, nil)
		assert.Equal(t, http.StatusOK, status)
	})
	t.Run("dropped write is applied", func(t *testing.T) {
		e.listSKUs(sup, 1)
		e.srv.SetFault("supplierUpdateInventory", dscotest.Fault{DropRate: 1})
		body := strings.NewReader(`{"items":[{"sku":"S-00","quantity":3}]}`)
		req, err := http.NewRequest(http.MethodPost, e.srv.URL+"/supplier/inventory-in", body)
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+sup)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		require.Error(t, err, "the connection is closed without a response")
		assert.Equal(t, int64(1), e.srv.Stats().Events["inventory"])

		e.srv.SetFault("supplierUpdateInventory", dscotest.Fault{})
		br := e.write(http.StatusOK, "/supplier/inventory-in", sup, map[string]any{"items": []any{map[string]any{"sku": "S-00", "quantity": 4}}})
		assert.Equal(t, "completed", br.Status)
	})
	t.Run("faults over HTTP", func(t *testing.T) {
		resp, err := http.Post(strings.TrimSuffix(e.srv.URL, "/api/v3")+"/_sandbox/faults", "application/json",
			strings.NewReader(`{"operation":"getStreamEvents","rate500":1}`))
		require.NoError(t, err)
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode, string(b))
		assert.Equal(t, dscotest.Fault{Rate500: 1}, e.srv.Faults()["getStreamEvents"])
		// The listing gives the Retry-After a 429 is sent with, 1s unless set.
		var listed map[string]map[string]any
		require.NoError(t, json.Unmarshal(b, &listed), string(b))
		assert.Equal(t, "1s", listed["getStreamEvents"]["retryAfter"], string(b))

		resp, err = http.Post(strings.TrimSuffix(e.srv.URL, "/api/v3")+"/_sandbox/faults", "application/json",
			strings.NewReader(`{"operation":"getStreamEvents","rate500":2}`))
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, http.StatusBadRequest, resp.StatusCode)

		resp, err = http.Post(strings.TrimSuffix(e.srv.URL, "/api/v3")+"/_sandbox/faults", "application/json",
			strings.NewReader(`{"operation":"getStreamEvents"}`))
		require.NoError(t, err)
		resp.Body.Close()
		assert.NotContains(t, e.srv.Faults(), "getStreamEvents", "all zero clears")

		// A body the sandbox cannot apply as meant is refused, naming what is
		// wrong, and changes nothing: a misspelt rate is not taken for a zero
		// (which would clear the fault), an unknown operation is not kept.
		e.srv.SetFault("getStreamEvents", dscotest.Fault{Rate503: 0.5})
		for body, want := range map[string]string{
			`{"operation":"getStreamEvents","rate5003":0.2}`: `unknown field \"rate5003\"`,
			`{"operation":"getStreamEvent","rate503":0.2}`:   `fault operation \"getStreamEvent\" is no operation of the sandbox`,
		} {
			resp, err = http.Post(strings.TrimSuffix(e.srv.URL, "/api/v3")+"/_sandbox/faults", "application/json", strings.NewReader(body))
			require.NoError(t, err)
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			assert.Equal(t, http.StatusBadRequest, resp.StatusCode, body)
			assert.Contains(t, string(b), want, body)
		}
		assert.Equal(t, map[string]dscotest.Fault{"getStreamEvents": {Rate503: 0.5}}, e.srv.Faults())
		e.srv.SetFault("getStreamEvents", dscotest.Fault{})
	})
	t.Run("stats over HTTP", func(t *testing.T) {
		resp, err := http.Get(strings.TrimSuffix(e.srv.URL, "/api/v3") + "/_sandbox/stats")
		require.NoError(t, err)
		defer resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode)
		assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))
		var st dscotest.Stats
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&st))
		assert.Equal(t, e.srv.Stats().Calls["listStreams"], st.Calls["listStreams"])
		assert.Positive(t, st.Calls["getAccessToken"])
		assert.Equal(t, int64(2), st.Events["inventory"])
	})
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  dscotest.Config
	}{
		{"same client ids", dscotest.Config{SupplierClientID: "x", RetailerClientID: "x"}},
		{"negative ttl", dscotest.Config{TokenTTL: -time.Second}},
		{"rate above one", dscotest.Config{Faults: map[string]dscotest.Fault{"*": {Rate500: 1.5}}}},
		{"rates summing above one", dscotest.Config{Faults: map[string]dscotest.Fault{"*": {Rate500: 0.6, Rate429: 0.6}}}},
		{"unknown operation", dscotest.Config{Faults: map[string]dscotest.Fault{"supplierCreateShipments": {Rate503: 0.5}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := dscotest.New(tt.cfg)
			assert.Error(t, err)
		})
	}
	t.Run("every operation", func(t *testing.T) {
		for _, op := range []string{dscotest.AllOperations, "getAccessToken", "supplierCreateShipment", "getStreamEvents",
			dscotest.OpGetItemInventory, dscotest.OpGetInventoryFile} {
			_, err := dscotest.New(dscotest.Config{Faults: map[string]dscotest.Fault{op: {Rate503: 0.5}}})
			assert.NoError(t, err, op)
		}
	})
}
