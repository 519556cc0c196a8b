package outbound_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"
	"github.com/stretchr/testify/require"

	"github.com/dscokafka/connector/pkg/dsco"
	"github.com/dscokafka/connector/pkg/dsco/dscotest"
	"github.com/dscokafka/connector/pkg/kafka/kafkatest"
	"github.com/dscokafka/connector/pkg/outbound"
	"github.com/dscokafka/connector/pkg/router"
	"github.com/dscokafka/connector/pkg/schemas"
)

// benchLatencyRateEnv sets BenchmarkCommandLatency's command rate (commands per second,
// default 500).
const benchLatencyRateEnv = "OUTBOUND_LATENCY_RATE"

// BenchmarkCommandLatency measures how long a command takes from its Kafka write to its
// result on the results topic, with the pipeline's default batching (MaxBatchWait 20 ms,
// MaxBatchItems 100): inventory commands are written at a steady rate (those of each
// 10 ms in one write, stamped just before it), while a reader of the results topic stamps
// each result as it arrives (kfake answers a waiting fetch as soon as a record is
// written). Everything runs in this process. b.N is the number of commands:
//
//	go test -run '^$' -bench CommandLatency -benchtime 5000x ./pkg/outbound/
//
// OUTBOUND_LATENCY_RATE changes the rate. Reported: the p50, p90, p95, p99 and maximum of
// the delay, and the rate the commands were written at.
func BenchmarkCommandLatency(b *testing.B) {
	rate := 500.0
	if v := os.Getenv(benchLatencyRateEnv); v != "" {
		var err error
		rate, err = strconv.ParseFloat(v, 64)
		require.NoError(b, err, benchLatencyRateEnv)
	}
	e := newQuietEnv(b, dscotest.Config{Seed: 52})
	skus := make([]string, 100)
	items := make([]dsco.CatalogItem, len(skus))
	for i := range skus {
		skus[i] = fmt.Sprintf("SKU-L%03d", i)
		items[i] = dsco.CatalogItem{SKU: skus[i], Title: "latency"}
	}
	_, err := e.client(outbound.RoleSupplier).SupplierUpdateCatalog(context.Background(), dsco.CatalogBatchRequest{Items: items})
	require.NoError(b, err)
	kafkatest.CreateTopic(b, e.brokers, e.topic("inventory"), benchPartitions)

	cfg := e.pipelineConfig(outbound.RoleSupplier)
	cfg.MaxBatchWait = 0 // the default
	e.start(router.OutboundConfig{Subscriber: e.subscriberConfig(kafkatest.Name("g")), Pipeline: cfg})

	var mu sync.Mutex
	sent := make(map[string]time.Time, b.N)
	delays := make([]time.Duration, 0, b.N)
	all := make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	reading := make(chan struct{})
	go func() {
		defer close(reading)
		// The results topic exists (newQuietEnv creates it) and is empty.
		_ = outbound.TopicReader{Brokers: e.brokers}.Read(ctx, e.results, true, nil, func(m kafkago.Message) {
			now := time.Now()
			mu.Lock()
			defer mu.Unlock()
			if t, ok := sent[string(m.Key)]; ok {
				delete(sent, string(m.Key))
				delays = append(delays, now.Sub(t))
				if len(delays) == b.N {
					close(all)
				}
			}
		})
	}()

	// Every 10 ms, the commands of those 10 ms in one write.
	const every = 10 * time.Millisecond
	per := max(1, int(rate*every.Seconds()))
	cmds := inventoryCommands("lat", b.N, skus)
	tick := time.NewTicker(every)
	defer tick.Stop()
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < len(cmds); i += per {
		<-tick.C
		group := cmds[i:min(i+per, len(cmds))]
		mu.Lock()
		now := time.Now()
		for _, c := range group {
			sent[c.(*schemas.InventoryCommand).CommandID] = now
		}
		mu.Unlock()
		e.send(group...)
	}
	writing := time.Since(start)
	select {
	case <-all:
	case <-time.After(waitLimit):
		mu.Lock()
		n := len(delays)
		mu.Unlock()
		b.Fatalf("%d of %d results within %v", n, b.N, waitLimit)
	}
	b.StopTimer()
	cancel()
	<-reading

	slices.Sort(delays)
	at := func(q float64) time.Duration { return delays[min(len(delays)-1, int(q*float64(len(delays))))] }
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	b.ReportMetric(ms(at(0.5)), "p50-ms")
	b.ReportMetric(ms(at(0.99)), "p99-ms")
	b.ReportMetric(ms(at(0.9)), "p90-ms")
	b.ReportMetric(ms(at(0.95)), "p95-ms")
	b.ReportMetric(ms(delays[len(delays)-1]), "max-ms")
	b.ReportMetric(float64(b.N)/writing.Seconds(), "commands/s")
	b.ReportMetric(0, "ns/op")
}
