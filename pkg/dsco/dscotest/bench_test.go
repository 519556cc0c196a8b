package dscotest_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"syscall"
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

// BenchmarkSeedOrderBacklog measures seeding a backlog of order events
// into one stream (run with -benchtime 1x): seconds per backlog and heap
// per order, kept after a GC.
func BenchmarkSeedOrderBacklog(b *testing.B) {
	for _, bc := range []struct {
		n     int
		shape dscotest.OrderShape
	}{
		{20_000, dscotest.OrderShape{Items: 5}},
		{1_000_000, dscotest.OrderShape{Items: 5}},
		{1_000_000, dscotest.OrderShape{Items: 5, ExtraAttributes: 20}},
	} {
		b.Run(fmt.Sprintf("n=%d/extra=%d", bc.n, bc.shape.ExtraAttributes), func(b *testing.B) {
			var heap, secs float64
			for range b.N {
				e := newEnv(b, dscotest.Config{})
				e.createStream(e.supplier(), "order", 4, nil)
				var before, after runtime.MemStats
				runtime.GC()
				runtime.ReadMemStats(&before)
				start := time.Now()
				require.NoError(b, e.srv.SeedOrderBacklog(bc.n, bc.shape))
				secs += time.Since(start).Seconds()
				runtime.GC()
				runtime.ReadMemStats(&after)
				heap += float64(after.HeapAlloc - before.HeapAlloc)
				runtime.KeepAlive(e)
			}
			b.ReportMetric(secs/float64(b.N), "s/backlog")
			b.ReportMetric(heap/float64(b.N)/float64(bc.n), "heapB/order")
			b.ReportMetric(heap/float64(b.N)/(1<<20), "heapMiB")
		})
	}
}

// BenchmarkStreamRead measures reading a stream over HTTP in pages of
// 1000, the way the inbound pipeline micro-polls: events/s (wall) and the
// process CPU per event (getrusage, sandbox and bare client together).
func BenchmarkStreamRead(b *testing.B) {
	for _, bc := range []struct {
		backlog int
		shape   dscotest.OrderShape
	}{
		{10_000, dscotest.OrderShape{}},
		{100_000, dscotest.OrderShape{}},
		{100_000, dscotest.OrderShape{Items: 5}},
		{100_000, dscotest.OrderShape{Items: 5, ExtraAttributes: 20}},
	} {
		b.Run(fmt.Sprintf("backlog=%d/items=%d/extra=%d", bc.backlog, bc.shape.Items, bc.shape.ExtraAttributes), func(b *testing.B) {
			backlog := bc.backlog
			e := newEnv(b, dscotest.Config{})
			require.NoError(b, e.srv.SeedOrderBacklog(backlog, bc.shape))
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
			start, cpu0 := time.Now(), cpuTime(b)
			for i := 0; i < b.N; i++ {
				seq := (i * 1000) % (backlog - 1000)
				read(fmt.Sprintf("0:%016d", seq))
			}
			b.ReportMetric(float64(b.N*1000)/time.Since(start).Seconds(), "events/s")
			b.ReportMetric(float64((cpuTime(b)-cpu0).Microseconds())/float64(b.N*1000), "cpu-µs/event")
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

// cpuTime is the process's user and system CPU time so far.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	require.NoError(b, syscall.Getrusage(syscall.RUSAGE_SELF, &ru))
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
