package dscotest_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dscokafka/connector/pkg/dsco/dscotest"
)

// BenchmarkSeedOrders measures creating orders (state, event encoding,
// stream append) and the heap each order's event costs.
func BenchmarkSeedOrders(b *testing.B) {
	sb, err := dscotest.New(dscotest.Config{})
	require.NoError(b, err)
	defer sb.Close()
	_, err = sb.SeedOrders(1) // lists the catalog
	require.NoError(b, err)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	b.ResetTimer()
	_, err = sb.SeedOrders(b.N)
	require.NoError(b, err)
	b.StopTimer()
	runtime.GC()
	runtime.ReadMemStats(&after)
	b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/float64(b.N), "heapB/order")
	runtime.KeepAlive(sb)
}

// BenchmarkStreamRead measures reading a stream over HTTP in pages of
// 1000, the way the inbound pipeline micro-polls.
func BenchmarkStreamRead(b *testing.B) {
	for _, backlog := range []int{10_000, 100_000} {
		b.Run(fmt.Sprintf("backlog=%d", backlog), func(b *testing.B) {
			e := newEnv(b, dscotest.Config{})
			_, err := e.srv.SeedOrders(backlog)
			require.NoError(b, err)
			tok := e.supplier()
			s := e.createStream(tok, "order", 1, nil)
			client := &http.Client{}
			read := func(pos string) string {
				req, _ := http.NewRequest(http.MethodGet, e.srv.URL+"/streams/"+s.StreamID+"/events?limit=1000&position="+pos, nil)
				req.Header.Set("Authorization", "Bearer "+tok)
				resp, err := client.Do(req)
				require.NoError(b, err)
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				require.Equal(b, http.StatusOK, resp.StatusCode)
				return pos
			}
			b.ResetTimer()
			start := time.Now()
			for i := 0; i < b.N; i++ {
				seq := (i * 1000) % (backlog - 1000)
				read(fmt.Sprintf("0:%016d", seq))
			}
			b.ReportMetric(float64(b.N*1000)/time.Since(start).Seconds(), "events/s")
		})
	}
}

// BenchmarkBatchWrite measures an outbound-style batch of 100 inventory
// updates over HTTP: spec validation, business rules, state and events.
func BenchmarkBatchWrite(b *testing.B) {
	e := newEnv(b, dscotest.Config{})
	tok := e.supplier()
	_, err := e.srv.SeedOrders(1) // lists SKU-00001..SKU-00050
	require.NoError(b, err)
	items := make([]map[string]any, 100)
	for i := range items {
		items[i] = map[string]any{"sku": fmt.Sprintf("SKU-%05d", i%50+1), "quantity": i, "warehouseId": "WH1"}
	}
	body, err := json.Marshal(map[string]any{"items": items})
	require.NoError(b, err)
	client := &http.Client{}
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/supplier/inventory-in", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Content-Type", "application/json")
		resp, err := client.Do(req)
		require.NoError(b, err)
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		require.Equal(b, http.StatusOK, resp.StatusCode)
	}
	b.ReportMetric(float64(b.N*100)/time.Since(start).Seconds(), "items/s")
}
