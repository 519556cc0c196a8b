package inbound_test

import (
	"context"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/dscokafka/connector/pkg/dsco/dscotest"
	"github.com/dscokafka/connector/pkg/inbound"
	"github.com/dscokafka/connector/pkg/kafka/kafkatest"
	"github.com/dscokafka/connector/pkg/schemas"
)

// BenchmarkInboundLatency's knobs: the order rate (orders per second,
// default 200) and the pipeline's PollInterval (default its own, 1s).
const (
	benchLatencyRateEnv = "INBOUND_LATENCY_RATE"
	benchLatencyPollEnv = "INBOUND_LATENCY_POLL"
)

// BenchmarkInboundLatency measures how long a new Dsco event takes to reach
// Kafka with the pipeline's default configuration (the design's target:
// within one poll interval + 50 ms, p99). The sandbox creates orders at a
// steady rate while the pipeline follows the order stream (4 partitions);
// a consumer stamps each record as it arrives (kfake answers a waiting
// fetch as soon as a record is written) and subtracts the event's Dsco
// timestamp, which the sandbox sets when it creates the order. b.N is the
// number of events measured, after the first poll of every partition:
//
//	go test -run '^$' -bench InboundLatency -benchtime 5000x ./pkg/inbound/
//
// INBOUND_LATENCY_RATE and INBOUND_LATENCY_POLL (a duration) change the
// rate and the poll interval. Reported: the delay's p50, p99 and maximum,
// and p99 less the poll interval (the part the pipeline adds; the target
// is at most 50 ms).
func BenchmarkInboundLatency(b *testing.B) {
	rate, poll := 200.0, time.Second
	if v := os.Getenv(benchLatencyRateEnv); v != "" {
		var err error
		rate, err = strconv.ParseFloat(v, 64)
		require.NoError(b, err, benchLatencyRateEnv)
	}
	if v := os.Getenv(benchLatencyPollEnv); v != "" {
		var err error
		poll, err = time.ParseDuration(v)
		require.NoError(b, err, benchLatencyPollEnv)
	}
	sb := newSandbox(b, dscotest.Config{Seed: 11})
	client := newClient(b, sb.URL)
	brokers := kafkatest.Brokers(b)
	serde := newSerde(b, newRegistry(b))
	createTopics(b, brokers, "order")

	cfg := inbound.Config{Client: client, Serde: serde, Kafka: inbound.KafkaConfig{Brokers: brokers},
		Streams: []inbound.StreamConfig{{ObjectType: "order", PartitionCount: 4}}, PollInterval: poll}
	r := startPipeline(b, cfg)
	// The stream exists once the pipeline has bootstrapped it; every
	// partition has then polled once within a poll interval.
	require.Eventually(b, func() bool {
		list, err := client.ListStreams(b.Context())
		return err == nil && len(list.Streams) == 1
	}, waitLimit, 10*time.Millisecond)
	time.Sleep(poll)

	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics("dsco.order.v1"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(time.Second))
	require.NoError(b, err)
	defer cl.Close()

	ctx, cancel := context.WithCancel(b.Context())
	defer cancel()
	gen := make(chan error, 1)
	go func() {
		gen <- sb.RunGenerator(ctx, dscotest.GeneratorConfig{OrdersPerSecond: rate, Shape: dscotest.OrderShape{Items: 5}})
	}()

	delays := make([]time.Duration, 0, b.N)
	var ev schemas.OrderEvent
	deadline := time.Now().Add(time.Duration(float64(b.N)/rate*float64(time.Second)) + waitLimit)
	b.ResetTimer()
	for len(delays) < b.N && time.Now().Before(deadline) {
		fetches := cl.PollFetches(ctx)
		now := time.Now()
		require.NoError(b, fetches.Err())
		fetches.EachRecord(func(rec *kgo.Record) {
			if len(delays) == b.N {
				return
			}
			require.NoError(b, serde.Decode(ctx, rec.Value, &ev))
			delays = append(delays, now.Sub(ev.Timestamp))
		})
	}
	b.StopTimer()
	cancel()
	require.NoError(b, <-gen)
	require.NoError(b, r.stop(b))
	require.Len(b, delays, b.N, "every generated event reached Kafka")

	slices.Sort(delays)
	at := func(q float64) time.Duration { return delays[min(len(delays)-1, int(q*float64(len(delays))))] }
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	b.ReportMetric(ms(at(0.5)), "p50-ms")
	b.ReportMetric(ms(at(0.99)), "p99-ms")
	b.ReportMetric(ms(delays[len(delays)-1]), "max-ms")
	b.ReportMetric(ms(at(0.99)-poll), "p99-over-poll-ms")
	b.ReportMetric(0, "ns/op")
}
