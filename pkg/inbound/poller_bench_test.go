package inbound

import (
	"encoding/json"
	"fmt"
	"net/http"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/sr/srfake"

	"github.com/dscokafka/connector/pkg/dsco"
	"github.com/dscokafka/connector/pkg/dsco/dscotest"
	"github.com/dscokafka/connector/pkg/schemas"
)

// BenchmarkPollerMap measures the poller's CPU per item from a
// GetItemInventory answer (1000 items, exactly as the sandbox serves them)
// to the Kafka messages of its records: decoding, mapping and Avro
// encoding, without the Kafka write. cpu-ns/item is this process's CPU time
// (getrusage: the garbage collector's share included), allocs/item the
// heap allocations.
//
//	go test -run '^$' -bench PollerMap -count 5 ./pkg/inbound/
func BenchmarkPollerMap(b *testing.B) {
	body := inventoryAnswer(b, 1000)
	reg := srfake.New()
	b.Cleanup(reg.Close)
	serde, err := schemas.NewSerde(schemas.Config{RegistryURL: reg.URL(), Records: schemas.Events})
	require.NoError(b, err)
	require.NoError(b, serde.Register(b.Context()))
	p, err := NewPoller(PollerConfig{Client: benchClient(b, "http://127.0.0.1:1"), Serde: serde,
		Kafka: KafkaConfig{Brokers: []string{"127.0.0.1:1"}}}, nil)
	require.NoError(b, err)
	b.Cleanup(func() { _ = p.Close() })

	items := 0
	mapAnswer := func() {
		page, err := p.dec.DecodePage(body)
		require.NoError(b, err)
		mark := strings.Clone(page.HighWaterMark)
		published, _ := p.out.build(p.pageItems(page), serde, p.cfg.Topic, p.cfg.PoisonTopic, p.cfg.Kafka.BatchBytes, nil, &mark)
		require.Equal(b, len(page.Items), published)
		items += len(p.out.msgs)
	}
	mapAnswer()
	items = 0
	runtime.GC()
	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	cpu0 := rusageCPU()
	start := time.Now()
	for b.Loop() {
		mapAnswer()
	}
	wall, cpu := time.Since(start), rusageCPU()-cpu0
	runtime.ReadMemStats(&ms1)
	b.ReportMetric(float64(wall.Nanoseconds())/float64(items), "ns/item")
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(items), "cpu-ns/item")
	b.ReportMetric(float64(ms1.Mallocs-ms0.Mallocs)/float64(items), "allocs/item")
}

// inventoryAnswer returns a GetItemInventory answer of n items (n ≥ 50) as
// the sandbox serves it: 50 catalog items and their inventory changes.
func inventoryAnswer(b *testing.B, n int) []byte {
	b.Helper()
	sb, err := dscotest.NewServer(dscotest.Config{Seed: 21})
	require.NoError(b, err)
	b.Cleanup(sb.Close)
	client := benchClient(b, sb.URL)
	_, err = sb.SeedOrders(0) // 50 catalog items, each with its first change
	require.NoError(b, err)
	for round := 1; 50*round < n; round++ {
		items := make([]dsco.InventoryItem, min(50, n-50*round))
		for i := range items {
			items[i] = dsco.InventoryItem{SKU: fmt.Sprintf("SKU-%05d", i+1), Quantity: round*100 + i, WarehouseID: "WH2"}
		}
		resp, err := client.SupplierUpdateInventory(b.Context(), dsco.InventoryBatchRequest{Items: items})
		require.NoError(b, err)
		require.Empty(b, resp.Errors)
	}
	body, err := client.GetItemInventoryRaw(b.Context(), dsco.InventoryQuery{HighWaterMarkQuery: "2000-01-01T00:00:00.000Z", Limit: n}, nil)
	require.NoError(b, err)
	var page struct{ Items []json.RawMessage }
	require.NoError(b, json.Unmarshal(body, &page))
	require.Len(b, page.Items, n)
	return body
}

func benchClient(b *testing.B, base string) *dsco.Client {
	b.Helper()
	c, err := dsco.NewClient(base, dsco.WithClientCredentials(dscotest.SupplierClientID, dscotest.SupplierClientSecret),
		dsco.WithHTTPClient(&http.Client{Timeout: 30 * time.Second}))
	require.NoError(b, err)
	return c
}

// rusageCPU is this process's CPU time, user and system.
func rusageCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
