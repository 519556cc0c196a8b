package kafka_test

import (
	"bytes"
	"context"
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

// benchWriter is the raw baseline: a kafka-go Writer configured like the Publisher's.
func benchWriter(brokers []string, topic string) *kafkago.Writer {
	return &kafkago.Writer{
		Addr:         kafkago.TCP(brokers...),
		Topic:        topic,
		Balancer:     &kafkago.Murmur2Balancer{},
		BatchSize:    10000,
		BatchBytes:   1 << 20,
		BatchTimeout: time.Millisecond,
		RequiredAcks: kafkago.RequireAll,
		Transport:    &kafkago.Transport{MetadataTTL: 2 * time.Second}, // like the Publisher's: fresh, not shared
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
		w := benchWriter(brokers, topic)
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
