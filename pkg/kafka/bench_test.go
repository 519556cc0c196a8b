package kafka_test

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	kafkago "github.com/segmentio/kafka-go"
	"github.com/stretchr/testify/require"

	"github.com/dscokafka/connector/pkg/kafka"
	"github.com/dscokafka/connector/pkg/kafka/kafkatest"
)

// Benchmarks compare the adapter with raw kafka-go on the same brokers, records and batch
// sizes in the same run: 100-record batches of 1 KiB values on a 4-partition topic, acks=all.
// Run e.g.: go test -run '^$' -bench . -benchtime 2000x ./pkg/kafka/
// (with KAFKA_BROKERS set they run against real Kafka).

const (
	benchBatch      = 100
	benchValueSize  = 1024
	benchPartitions = 4
)

var benchValue = bytes.Repeat([]byte{'x'}, benchValueSize)

// benchWriter is the raw baseline: a kafka-go Writer configured like the Publisher's. Its
// transport, which the Writer's Close leaves running, is closed when b ends.
func benchWriter(b *testing.B, brokers []string, topic string) *kafkago.Writer {
	tr := &kafkago.Transport{MetadataTTL: 2 * time.Second} // like the Publisher's: fresh, not shared
	b.Cleanup(tr.CloseIdleConnections)
	return &kafkago.Writer{
		Addr:         kafkago.TCP(brokers...),
		Topic:        topic,
		Balancer:     &kafkago.Murmur2Balancer{},
		BatchSize:    100, // the Publisher's default
		BatchBytes:   1 << 20,
		BatchTimeout: time.Millisecond,
		RequiredAcks: kafkago.RequireAll,
		Transport:    tr,
	}
}

func benchMessages() []*message.Message {
	msgs := make([]*message.Message, benchBatch)
	for i := range msgs {
		msgs[i] = message.NewMessage(watermill.NewUUID(), benchValue)
	}
	return msgs
}

func BenchmarkPublish(b *testing.B) {
	brokers := kafkatest.Brokers(b)
	b.Run("adapter", func(b *testing.B) {
		topic := kafkatest.Name("bench-pub")
		kafkatest.CreateTopic(b, brokers, topic, benchPartitions)
		pub, err := kafka.NewPublisher(kafka.PublisherConfig{Connection: kafka.ConnectionConfig{Brokers: brokers}}, nil)
		require.NoError(b, err)
		defer func() { require.NoError(b, pub.Close()) }()
		msgs := benchMessages()
		require.NoError(b, pub.Publish(topic, msgs...)) // connect and load metadata
		b.SetBytes(benchBatch * benchValueSize)
		b.ReportAllocs()
		b.ResetTimer()
		for b.Loop() {
			if err := pub.Publish(topic, msgs...); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N*benchBatch)/b.Elapsed().Seconds(), "records/s")
	})
	b.Run("raw-kafka-go", func(b *testing.B) {
		topic := kafkatest.Name("bench-pub")
		kafkatest.CreateTopic(b, brokers, topic, benchPartitions)
		w := benchWriter(b, brokers, topic)
		defer func() { require.NoError(b, w.Close()) }()
		// The same records the adapter writes: the value and the UUID header.
		recs := make([]kafkago.Message, benchBatch)
		for i, m := range benchMessages() {
			recs[i] = kafkago.Message{Value: m.Payload, Headers: []kafkago.Header{{Key: kafka.UUIDHeader, Value: []byte(m.UUID)}}}
		}
		require.NoError(b, w.WriteMessages(context.Background(), recs...))
		b.SetBytes(benchBatch * benchValueSize)
		b.ReportAllocs()
		b.ResetTimer()
		for b.Loop() {
			if err := w.WriteMessages(context.Background(), recs...); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N*benchBatch)/b.Elapsed().Seconds(), "records/s")
	})
}

// fillTopic writes n records (as the Publisher would, so the adapter can unmarshal them)
// with the raw writer, untimed.
func fillTopic(b *testing.B, brokers []string, topic string, n int) {
	b.Helper()
	pub, err := kafka.NewPublisher(kafka.PublisherConfig{Connection: kafka.ConnectionConfig{Brokers: brokers}}, nil)
	require.NoError(b, err)
	defer func() { require.NoError(b, pub.Close()) }()
	for n > 0 {
		batch := benchMessages()
		if n < len(batch) {
			batch = batch[:n]
		}
		require.NoError(b, pub.Publish(topic, batch...))
		n -= len(batch)
	}
}

// BenchmarkConsume measures one operation per record: receive, ack (adapter) or fetch,
// commit (raw kafka-go consumer-group Reader with asynchronous commits every 100ms, the
// adapter's commit interval here). The group join and the first record are not timed.
func BenchmarkConsume(b *testing.B) {
	brokers := kafkatest.Brokers(b)
	b.Run("adapter", func(b *testing.B) {
		topic := kafkatest.Name("bench-sub")
		kafkatest.CreateTopic(b, brokers, topic, benchPartitions)
		fillTopic(b, brokers, topic, b.N+1)
		cfg := testSubscriberConfig(brokers, kafkatest.Name("g"))
		sub, err := kafka.NewSubscriber(cfg, nil)
		require.NoError(b, err)
		defer func() { require.NoError(b, sub.Close()) }()
		ch, err := sub.Subscribe(context.Background(), topic)
		require.NoError(b, err)
		(<-ch).Ack()
		b.SetBytes(benchValueSize)
		b.ReportAllocs()
		b.ResetTimer()
		for range b.N {
			msg, ok := <-ch
			if !ok {
				b.Fatal("channel closed")
			}
			msg.Ack()
		}
		b.StopTimer()
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
	})
	b.Run("raw-kafka-go", func(b *testing.B) {
		topic := kafkatest.Name("bench-sub")
		kafkatest.CreateTopic(b, brokers, topic, benchPartitions)
		fillTopic(b, brokers, topic, b.N+1)
		r := kafkago.NewReader(kafkago.ReaderConfig{
			Brokers:           brokers,
			GroupID:           kafkatest.Name("g"),
			Topic:             topic,
			StartOffset:       kafkago.FirstOffset,
			CommitInterval:    100 * time.Millisecond,
			HeartbeatInterval: 100 * time.Millisecond,
			SessionTimeout:    6 * time.Second,
			RebalanceTimeout:  5 * time.Second,
			JoinGroupBackoff:  100 * time.Millisecond,
			MaxWait:           100 * time.Millisecond,
		})
		defer func() { require.NoError(b, r.Close()) }()
		ctx := context.Background()
		first, err := r.FetchMessage(ctx)
		require.NoError(b, err)
		require.NoError(b, r.CommitMessages(ctx, first))
		b.SetBytes(benchValueSize)
		b.ReportAllocs()
		b.ResetTimer()
		for range b.N {
			m, err := r.FetchMessage(ctx)
			if err != nil {
				b.Fatal(err)
			}
			if err := r.CommitMessages(ctx, m); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
	})
}

// BenchmarkPublishInterleaved alternates one adapter batch and one raw kafka-go batch per
// iteration, timing each, so that both see the same machine load (the host is shared and
// its load drifts between sequential sub-benchmarks). It reports both rates and their
// ratio; the target is adapter/raw >= 0.8.
func BenchmarkPublishInterleaved(b *testing.B) {
	brokers := kafkatest.Brokers(b)
	// writerBatchSize is the Writer's BatchSize (records per partition request) on both sides:
	// kafka-go allocates that many Message slots per partition batch.
	for _, writerBatchSize := range []int{100, 1000, 10000} {
		b.Run(fmt.Sprintf("writer-batch-%d", writerBatchSize), func(b *testing.B) {
			benchPublishInterleaved(b, brokers, writerBatchSize)
		})
	}
}

func benchPublishInterleaved(b *testing.B, brokers []string, writerBatchSize int) {
	topicA, topicR := kafkatest.Name("bench-pub"), kafkatest.Name("bench-pub")
	kafkatest.CreateTopic(b, brokers, topicA, benchPartitions)
	kafkatest.CreateTopic(b, brokers, topicR, benchPartitions)
	pub, err := kafka.NewPublisher(kafka.PublisherConfig{
		Connection: kafka.ConnectionConfig{Brokers: brokers},
		BatchSize:  writerBatchSize,
	}, nil)
	require.NoError(b, err)
	defer func() { require.NoError(b, pub.Close()) }()
	w := benchWriter(b, brokers, topicR)
	w.BatchSize = writerBatchSize
	defer func() { require.NoError(b, w.Close()) }()
	msgs := benchMessages()
	recs := make([]kafkago.Message, benchBatch)
	for i, m := range msgs {
		recs[i] = kafkago.Message{Value: m.Payload, Headers: []kafkago.Header{{Key: kafka.UUIDHeader, Value: []byte(m.UUID)}}}
	}
	require.NoError(b, pub.Publish(topicA, msgs...))
	require.NoError(b, w.WriteMessages(context.Background(), recs...))
	var adapter, raw time.Duration
	b.SetBytes(2 * benchBatch * benchValueSize)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		runAdapter := func() {
			start := time.Now()
			if err := pub.Publish(topicA, msgs...); err != nil {
				b.Fatal(err)
			}
			adapter += time.Since(start)
		}
		runRaw := func() {
			start := time.Now()
			if err := w.WriteMessages(context.Background(), recs...); err != nil {
				b.Fatal(err)
			}
			raw += time.Since(start)
		}
		// Alternate which goes first so neither always runs on a warmer cache.
		if i%2 == 0 {
			runAdapter()
			runRaw()
		} else {
			runRaw()
			runAdapter()
		}
	}
	records := float64(b.N * benchBatch)
	b.ReportMetric(records/adapter.Seconds(), "adapter-records/s")
	b.ReportMetric(records/raw.Seconds(), "raw-records/s")
	b.ReportMetric(raw.Seconds()/adapter.Seconds(), "adapter/raw")
}

// BenchmarkPublishParallel publishes 100-record batches from concurrent goroutines (the
// shared writer merges them), adapter and raw kafka-go.
func BenchmarkPublishParallel(b *testing.B) {
	brokers := kafkatest.Brokers(b)
	b.Run("adapter", func(b *testing.B) {
		topic := kafkatest.Name("bench-pub")
		kafkatest.CreateTopic(b, brokers, topic, benchPartitions)
		pub, err := kafka.NewPublisher(kafka.PublisherConfig{Connection: kafka.ConnectionConfig{Brokers: brokers}}, nil)
		require.NoError(b, err)
		defer func() { require.NoError(b, pub.Close()) }()
		require.NoError(b, pub.Publish(topic, benchMessages()...))
		b.SetBytes(benchBatch * benchValueSize)
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			msgs := benchMessages()
			for pb.Next() {
				if err := pub.Publish(topic, msgs...); err != nil {
					b.Error(err)
					return
				}
			}
		})
		b.ReportMetric(float64(b.N*benchBatch)/b.Elapsed().Seconds(), "records/s")
	})
	b.Run("raw-kafka-go", func(b *testing.B) {
		topic := kafkatest.Name("bench-pub")
		kafkatest.CreateTopic(b, brokers, topic, benchPartitions)
		w := benchWriter(b, brokers, topic)
		defer func() { require.NoError(b, w.Close()) }()
		b.SetBytes(benchBatch * benchValueSize)
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			recs := make([]kafkago.Message, benchBatch)
			for i, m := range benchMessages() {
				recs[i] = kafkago.Message{Value: m.Payload, Headers: []kafkago.Header{{Key: kafka.UUIDHeader, Value: []byte(m.UUID)}}}
			}
			for pb.Next() {
				if err := w.WriteMessages(context.Background(), recs...); err != nil {
					b.Error(err)
					return
				}
			}
		})
		b.ReportMetric(float64(b.N*benchBatch)/b.Elapsed().Seconds(), "records/s")
	})
}

// BenchmarkConsumeInterleaved alternates chunks of 100 records between the adapter
// (receive + Ack) and a raw kafka-go consumer-group Reader (FetchMessage + CommitMessages
// with asynchronous commits), timing each, so both see the same machine load. One op is one
// record on each side.
func BenchmarkConsumeInterleaved(b *testing.B) {
	brokers := kafkatest.Brokers(b)
	topicA, topicR := kafkatest.Name("bench-sub"), kafkatest.Name("bench-sub")
	kafkatest.CreateTopic(b, brokers, topicA, benchPartitions)
	kafkatest.CreateTopic(b, brokers, topicR, benchPartitions)
	fillTopic(b, brokers, topicA, b.N+1)
	fillTopic(b, brokers, topicR, b.N+1)

	sub, err := kafka.NewSubscriber(testSubscriberConfig(brokers, kafkatest.Name("g")), nil)
	require.NoError(b, err)
	defer func() { require.NoError(b, sub.Close()) }()
	ch, err := sub.Subscribe(context.Background(), topicA)
	require.NoError(b, err)
	(<-ch).Ack()

	r := kafkago.NewReader(kafkago.ReaderConfig{
		Brokers: brokers, GroupID: kafkatest.Name("g"), Topic: topicR, StartOffset: kafkago.FirstOffset,
		CommitInterval: 100 * time.Millisecond, HeartbeatInterval: 100 * time.Millisecond,
		SessionTimeout: 6 * time.Second, RebalanceTimeout: 5 * time.Second,
		JoinGroupBackoff: 100 * time.Millisecond, MaxWait: 100 * time.Millisecond,
	})
	defer func() { require.NoError(b, r.Close()) }()
	ctx := context.Background()
	first, err := r.FetchMessage(ctx)
	require.NoError(b, err)
	require.NoError(b, r.CommitMessages(ctx, first))

	var adapter, raw time.Duration
	b.SetBytes(2 * benchValueSize)
	b.ResetTimer()
	for done := 0; done < b.N; {
		n := min(benchBatch, b.N-done)
		start := time.Now()
		for range n {
			msg, ok := <-ch
			if !ok {
				b.Fatal("channel closed")
			}
			msg.Ack()
		}
		adapter += time.Since(start)
		start = time.Now()
		for range n {
			m, err := r.FetchMessage(ctx)
			if err != nil {
				b.Fatal(err)
			}
			if err := r.CommitMessages(ctx, m); err != nil {
				b.Fatal(err)
			}
		}
		raw += time.Since(start)
		done += n
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/adapter.Seconds(), "adapter-records/s")
	b.ReportMetric(float64(b.N)/raw.Seconds(), "raw-records/s")
	b.ReportMetric(raw.Seconds()/adapter.Seconds(), "adapter/raw")
}
