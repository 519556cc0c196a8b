package outbound_test

import (
	"context"
	"fmt"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/dscokafka/connector/pkg/dsco"
	"github.com/dscokafka/connector/pkg/dsco/dscotest"
	"github.com/dscokafka/connector/pkg/kafka/kafkatest"
	"github.com/dscokafka/connector/pkg/outbound"
	"github.com/dscokafka/connector/pkg/router"
	"github.com/dscokafka/connector/pkg/schemas"
)

// cpuTime is the process's user+system CPU time.
func cpuTime(b *testing.B) time.Duration {
	b.Helper()
	var ru syscall.Rusage
	require.NoError(b, syscall.Getrusage(syscall.RUSAGE_SELF, &ru))
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// inventoryCommands returns n inventory commands over the skus.
func inventoryCommands(prefix string, n int, skus []string) []schemas.Record {
	out := make([]schemas.Record, n)
	for i := range out {
		out[i] = &schemas.InventoryCommand{CommandID: fmt.Sprintf("%s-%d", prefix, i), SKU: skus[i%len(skus)], Quantity: i32(int32(i % 100))}
	}
	return out
}

// BenchmarkPipeline measures commands/s and process CPU per command from kfake to the
// sandbox (inventory commands, which Dsco can apply any number of times) at batch sizes
// 1, 10 and 100, beside the raw pipe: a bare client posting the same batches to the same
// sandbox, in the same run. kfake and the sandbox run in this process, so the CPU figures
// include theirs; the raw pipe's CPU is the sandbox's share plus the client's.
func BenchmarkPipeline(b *testing.B) {
	for _, size := range []int{1, 10, 100} {
		b.Run(fmt.Sprintf("batch=%d", size), func(b *testing.B) {
			e := newQuietEnv(b, dscotest.Config{Seed: 51})
			_, err := e.sandbox.SeedOrders(0) // the catalog the inventory names
			require.NoError(b, err)
			skus := make([]string, 1000)
			for i := range skus {
				skus[i] = fmt.Sprintf("SKU-B%04d", i)
			}
			var items []dsco.CatalogItem
			for _, s := range skus {
				items = append(items, dsco.CatalogItem{SKU: s, Title: "bench"})
			}
			_, err = e.client(outbound.RoleSupplier).SupplierUpdateCatalog(context.Background(), dsco.CatalogBatchRequest{Items: items})
			require.NoError(b, err)
			partitions := int32(max(size, 4))
			kafkatest.CreateTopic(b, e.brokers, e.topic("inventory"), partitions)
			n := max(b.N, 2*size)
			cmds := inventoryCommands("b", n, skus)
			for i := 0; i < len(cmds); i += 1000 {
				e.send(cmds[i:min(i+1000, len(cmds))]...)
			}
			reg := prometheus.NewRegistry()
			cfg := e.pipelineConfig(outbound.RoleSupplier)
			cfg.MaxBatchItems = size
			cfg.Registerer = reg
			cfg.MaxBatchWait = 10 * time.Millisecond
			b.ResetTimer()
			e.start(router.OutboundConfig{Subscriber: e.subscriberConfig(kafkatest.Name("g")), Pipeline: cfg})
			// Measured from the first outcome on: the consumer group's start (joins,
			// a reader per partition) is not the steady state.
			var first float64
			for first = counted(b, reg); first < 1 || first < float64(min(n/20, 500)); first = counted(b, reg) {
				time.Sleep(time.Millisecond)
			}
			cpu0, t0 := cpuTime(b), time.Now()
			for done := first; done < float64(n); time.Sleep(2 * time.Millisecond) {
				done = counted(b, reg)
			}
			measured := float64(n) - first
			elapsed, cpu := time.Since(t0), cpuTime(b)-cpu0
			b.StopTimer()
			b.ReportMetric(measured/elapsed.Seconds(), "commands/s")
			b.ReportMetric(float64(cpu.Microseconds())/measured, "cpu-µs/command")

			// The raw pipe: the same batches, posted by a bare client, 4 at a time.
			client := e.client(outbound.RoleSupplier)
			cpu0, t0 = cpuTime(b), time.Now()
			var wg sync.WaitGroup
			sem := make(chan struct{}, 4)
			for i := 0; i < n; i += size {
				batch := make([]dsco.InventoryItem, 0, size)
				for _, c := range cmds[i:min(i+size, n)] {
					ic := c.(*schemas.InventoryCommand)
					batch = append(batch, dsco.InventoryItem{SKU: ic.SKU, Quantity: int(*ic.Quantity)})
				}
				sem <- struct{}{}
				wg.Add(1)
				go func() {
					defer wg.Done()
					defer func() { <-sem }()
					_, err := client.SupplierUpdateInventory(context.Background(), dsco.InventoryBatchRequest{Items: batch})
					if err != nil {
						b.Error(err)
					}
				}()
			}
			wg.Wait()
			rawElapsed, rawCPU := time.Since(t0), cpuTime(b)-cpu0
			b.ReportMetric(float64(n)/rawElapsed.Seconds(), "raw-commands/s")
			b.ReportMetric(float64(rawCPU.Microseconds())/float64(n), "raw-cpu-µs/command")
			b.ReportMetric((measured/elapsed.Seconds())/(float64(n)/rawElapsed.Seconds()), "throughput-ratio")
		})
	}
}

// counted sums the pipeline's commands_total counter.
func counted(b testing.TB, reg *prometheus.Registry) float64 {
	b.Helper()
	mfs, err := reg.Gather()
	require.NoError(b, err)
	sum := 0.0
	for _, mf := range mfs {
		if mf.GetName() != "dsco_outbound_commands_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			sum += m.GetCounter().GetValue()
		}
	}
	return sum
}
