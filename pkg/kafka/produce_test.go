package kafka_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/dscokafka/connector/pkg/kafka"
	"github.com/dscokafka/connector/pkg/kafka/kafkatest"
)

// TestWriteRecords writes records to two topics in one call, with every codec and with
// batches split by BatchBytes, and reads them back with franz-go: every field as written
// (null key, null value, empty value, headers, time), each record on the partition the
// Java client's partitioner gives its key (where Publish puts it), in order per partition.
func TestWriteRecords(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	for _, tc := range []struct {
		name        string
		compression kafka.Compression
		batchBytes  int64
	}{
		{"none", kafka.CompressionNone, 0},
		{"gzip", kafka.CompressionGzip, 0},
		{"snappy", kafka.CompressionSnappy, 0},
		{"lz4", kafka.CompressionLz4, 0},
		{"zstd", kafka.CompressionZstd, 0},
		{"split batches", kafka.CompressionNone, 2000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := kafkatest.Name("wr-a"), kafkatest.Name("wr-b")
			kafkatest.CreateTopic(t, brokers, a, 3)
			kafkatest.CreateTopic(t, brokers, b, 1)
			pub := startPublisher(t, brokers, func(c *kafka.PublisherConfig) {
				c.Compression, c.BatchBytes = tc.compression, tc.batchBytes
			})
			at := time.UnixMilli(time.Now().UnixMilli() - 5000)
			var recs []kafkago.Message
			for i := range 300 {
				r := kafkago.Message{Topic: a, Key: fmt.Appendf(nil, "k%d", i%17), Value: fmt.Appendf(nil, "v%d", i),
					Headers: []kafkago.Header{{Key: "n", Value: fmt.Appendf(nil, "%d", i)}, {Key: "nil"}}, Time: at.Add(time.Duration(i) * time.Millisecond)}
				switch i % 50 {
				case 7:
					r.Key = nil
				case 8:
					r.Value = nil // a tombstone
				case 9:
					r.Value = []byte{}
				}
				if i%3 == 0 {
					r.Topic = b
				}
				recs = append(recs, r)
			}
			want := append([]kafkago.Message(nil), recs...)
			require.NoError(t, pub.WriteRecords(recs...))

			got := readAll(t, brokers, len(want), a, b)
			byValue := map[string]*kgo.Record{}
			for _, r := range got {
				byValue[r.Topic+"/"+string(r.Headers[0].Value)] = r
			}
			last := map[string]int64{} // topic/partition → offset of the last record seen
			for i, w := range want {
				r := byValue[fmt.Sprintf("%s/%d", w.Topic, i)]
				require.NotNil(t, r, "record %d", i)
				assert.Equal(t, w.Key, r.Key, "record %d key", i)
				assert.Equal(t, w.Value, r.Value, "record %d value", i)
				assert.Equal(t, w.Time.UnixMilli(), r.Timestamp.UnixMilli(), "record %d time", i)
				require.Len(t, r.Headers, 2)
				assert.Equal(t, "nil", r.Headers[1].Key)
				assert.Nil(t, r.Headers[1].Value, "record %d null header value", i)
				if w.Key != nil {
					n := map[string]int{a: 3, b: 1}[w.Topic]
					ids := make([]int, n)
					for p := range ids {
						ids[p] = p
					}
					assert.Equal(t, (&kafkago.Murmur2Balancer{}).Balance(w, ids...), int(r.Partition), "record %d partition", i)
				}
				tp := fmt.Sprintf("%s/%d", r.Topic, r.Partition)
				if prev, ok := last[tp]; ok {
					assert.Greater(t, r.Offset, prev, "record %d in order on %s", i, tp)
				}
				last[tp] = r.Offset
			}
		})
	}
}

// TestWriteRecordsErrors: a record over BatchBytes and a missing topic fail the call with
// an error naming them; nothing is written for the first.
func TestWriteRecordsErrors(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	topic := kafkatest.Name("wr-err")
	kafkatest.CreateTopic(t, brokers, topic, 1)
	pub := startPublisher(t, brokers, func(c *kafka.PublisherConfig) { c.BatchBytes, c.MetadataTTL = 1000, 100*time.Millisecond })

	err := pub.WriteRecords(kafkago.Message{Topic: topic, Value: make([]byte, 2000)})
	var tooLarge kafkago.MessageTooLargeError
	require.ErrorAs(t, err, &tooLarge)
	assert.ErrorContains(t, err, topic)

	missing := kafkatest.Name("wr-missing")
	err = pub.WriteRecords(kafkago.Message{Topic: missing, Value: []byte("x")})
	require.ErrorIs(t, err, kafkago.UnknownTopicOrPartition)
	assert.ErrorContains(t, err, missing)

	err = pub.WriteRecords(kafkago.Message{Value: []byte("x")})
	assert.ErrorContains(t, err, "without topic")
}

// readAll reads n records from the topics with franz-go, from their start.
func readAll(t *testing.T, brokers []string, n int, topics ...string) []*kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topics...),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	require.NoError(t, err)
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	var got []*kgo.Record
	for len(got) < n {
		fs := cl.PollFetches(ctx)
		require.NoError(t, ctx.Err(), "read %d of %d records", len(got), n)
		for _, e := range fs.Errors() {
			require.NoError(t, e.Err, "fetching %s/%d", e.Topic, e.Partition)
		}
		got = append(got, fs.Records()...)
	}
	return got
}
