package kafka_test

import (
	"context"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/stretchr/testify/require"

	"github.com/dscokafka/connector/pkg/kafka"
	"github.com/dscokafka/connector/pkg/kafka/kafkatest"
)

// benchKeys is how many distinct record keys BenchmarkConsumeOrdering spreads its records
// over (order ids, skus).
const benchKeys = 1000

// fillTopicKeyed writes n records of benchValueSize bytes with keys k0..k999, round robin,
// in 100-record calls, untimed.
func fillTopicKeyed(b *testing.B, brokers []string, topic string, n int) {
	b.Helper()
	pub, err := kafka.NewPublisher(kafka.PublisherConfig{Connection: kafka.ConnectionConfig{Brokers: brokers}}, nil)
	require.NoError(b, err)
	defer func() { require.NoError(b, pub.Close()) }()
	for i := 0; i < n; {
		batch := make([]*message.Message, 0, benchBatch)
		for ; i < n && len(batch) < benchBatch; i++ {
			msg := message.NewMessage(watermill.NewUUID(), benchValue)
			msg.Metadata.Set(kafka.DefaultPartitionKeyMetadata, fmt.Sprintf("k%d", i%benchKeys))
			batch = append(batch, msg)
		}
		require.NoError(b, pub.Publish(topic, batch...))
	}
}

// cpuTime is the CPU time (user + system) this process used so far.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	require.NoError(b, syscall.Getrusage(syscall.RUSAGE_SELF, &ru))
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkConsumeOrdering compares the consumption models in one run: OrderPerPartition
// (one message of a partition in flight, today's default) and OrderPerKey with 100 in
// flight per partition, on a 4-partition topic of 1 KiB records over 1,000 keys. Each
// message is handled in a goroutine of its own, as Watermill's router does, by a handler
// that acks at once ("handler-0") or after 1ms of simulated I/O ("handler-1ms", a Dsco
// call stands in for it). One op is one record received and acked. It reports records/s
// and the process CPU time per record (getrusage; with kfake the in-process broker's CPU is
// included, the same for both models). Run e.g.:
//
//	go test -run '^$' -bench ConsumeOrdering -benchtime 20000x -count 3 ./pkg/kafka/
func BenchmarkConsumeOrdering(b *testing.B) {
	brokers := kafkatest.Brokers(b)
	for _, latency := range []time.Duration{0, time.Millisecond} {
		for _, mode := range []struct {
			name   string
			mutate func(*kafka.SubscriberConfig)
		}{
			{"per-partition", func(*kafka.SubscriberConfig) {}},
			{"per-key-100", perKey},
		} {
			b.Run(fmt.Sprintf("handler-%s/%s", latencyName(latency), mode.name), func(b *testing.B) {
				benchConsumeOrdering(b, brokers, latency, mode.mutate)
			})
		}
	}
}

func latencyName(d time.Duration) string {
	if d == 0 {
		return "0"
	}
	return d.String()
}

func benchConsumeOrdering(b *testing.B, brokers []string, latency time.Duration, mutate func(*kafka.SubscriberConfig)) {
	topic := kafkatest.Name("bench-order")
	kafkatest.CreateTopic(b, brokers, topic, benchPartitions)
	fillTopicKeyed(b, brokers, topic, b.N+benchPartitions)
	cfg := testSubscriberConfig(brokers, kafkatest.Name("g"))
	mutate(&cfg)
	sub, err := kafka.NewSubscriber(cfg, nil)
	require.NoError(b, err)
	defer func() { require.NoError(b, sub.Close()) }()
	ch, err := sub.Subscribe(context.Background(), topic)
	require.NoError(b, err)
	handle := func(msg *message.Message) {
		if latency > 0 {
			time.Sleep(latency)
		}
		msg.Ack()
	}
	// The group join and the first records are not timed.
	for range benchPartitions {
		handle(<-ch)
	}
	b.SetBytes(benchValueSize)
	b.ReportAllocs()
	cpuStart := cpuTime(b)
	b.ResetTimer()
	for range b.N {
		msg, ok := <-ch
		if !ok {
			b.Fatal("channel closed")
		}
		go handle(msg)
	}
	b.StopTimer()
	cpu := cpuTime(b) - cpuStart
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/record")
}
