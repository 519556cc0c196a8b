package inbound_test

import (
	"context"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	kafkago "github.com/segmentio/kafka-go"
	"github.com/stretchr/testify/require"

	"github.com/dscokafka/connector/pkg/inbound"
	"github.com/dscokafka/connector/pkg/kafka"
	"github.com/dscokafka/connector/pkg/kafka/kafkatest"
)

// BenchmarkProduce compares the two ways the pipeline could produce a page
// of 1000 records (≈700-byte values, three headers) to kfake: kafka-go's
// Writer directly, as the pipeline does, and pkg/kafka's Watermill
// Publisher, which needs one message.Message per record (a UUID, a metadata
// map). cpu-µs/record is this process's CPU time (getrusage), which
// includes the in-process kfake's share in both cases: compare the two.
//
//	go test -run '^$' -bench Produce -benchtime 100x -count 3 ./pkg/inbound/
func BenchmarkProduce(b *testing.B) {
	brokers := kafkatest.Brokers(b)
	kafkatest.CreateTopic(b, brokers, "produce", 4)
	const n = 1000
	value := make([]byte, 700)
	keys := make([][]byte, n)
	for i := range keys {
		keys[i] = []byte("PO-" + time.Duration(i).String())
	}
	report := func(b *testing.B, cpu0 time.Duration) {
		b.ReportMetric(float64((cpuTime()-cpu0).Nanoseconds())/1e3/float64(b.N*n), "cpu-µs/record")
	}

	b.Run("kafka-go", func(b *testing.B) {
		w := &kafkago.Writer{Addr: kafkago.TCP(brokers...), Balancer: &kafkago.Murmur2Balancer{}, RequiredAcks: kafkago.RequireAll,
			BatchSize: n, BatchTimeout: time.Millisecond}
		defer w.Close()
		msgs := make([]kafkago.Message, n)
		b.ReportAllocs()
		cpu0 := cpuTime()
		for b.Loop() {
			for i := range msgs {
				msgs[i] = kafkago.Message{Topic: "produce", Key: keys[i], Value: value, Headers: []kafkago.Header{
					{Key: inbound.HeaderEventID, Value: keys[i]}, {Key: inbound.HeaderEventType, Value: keys[i]},
					{Key: inbound.HeaderCorrelationID, Value: keys[i]}}}
			}
			require.NoError(b, w.WriteMessages(context.Background(), msgs...))
		}
		report(b, cpu0)
	})

	b.Run("watermill-publisher", func(b *testing.B) {
		pub, err := kafka.NewPublisher(kafka.PublisherConfig{Connection: kafka.ConnectionConfig{Brokers: brokers}, BatchSize: n}, nil)
		require.NoError(b, err)
		defer pub.Close()
		msgs := make([]*message.Message, n)
		b.ReportAllocs()
		cpu0 := cpuTime()
		for b.Loop() {
			for i := range msgs {
				m := message.NewMessage(watermill.NewUUID(), value)
				m.Metadata.Set(kafka.DefaultPartitionKeyMetadata, string(keys[i]))
				m.Metadata.Set(inbound.HeaderEventID, string(keys[i]))
				m.Metadata.Set(inbound.HeaderEventType, string(keys[i]))
				m.Metadata.Set(inbound.HeaderCorrelationID, string(keys[i]))
				msgs[i] = m
			}
			require.NoError(b, pub.Publish("produce", msgs...))
		}
		report(b, cpu0)
	})
}
