package outbound_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	kafkago "github.com/segmentio/kafka-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/dscokafka/connector/pkg/kafka"
	"github.com/dscokafka/connector/pkg/kafka/kafkatest"
	"github.com/dscokafka/connector/pkg/outbound"
)

// TestTopicReaderBrokerDown: the applied-ids store and the poison tools bootstrap from
// whichever listed broker answers, so a broker down (the first one listed) stops neither
// creating a topic nor reading it; with none answering, the error names each broker.
func TestTopicReaderBrokerDown(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	dead := kafkatest.DeadAddr(t)
	tr := outbound.TopicReader{Brokers: append([]string{dead}, brokers...)}
	topic := kafkatest.Name("reader")
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	require.NoError(t, tr.CreateTopic(ctx, topic, 2, nil))

	pc, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	require.NoError(t, err)
	defer pc.Close()
	for i := range 6 {
		rec := &kgo.Record{Topic: topic, Partition: int32(i % 2), Value: fmt.Appendf(nil, "v-%d", i)}
		require.NoError(t, pc.ProduceSync(ctx, rec).FirstErr())
	}
	var mu sync.Mutex
	var got []string
	require.NoError(t, tr.Read(ctx, topic, false, nil, func(m kafkago.Message) {
		mu.Lock()
		got = append(got, string(m.Value))
		mu.Unlock()
	}))
	assert.ElementsMatch(t, []string{"v-0", "v-1", "v-2", "v-3", "v-4", "v-5"}, got)

	other := kafkatest.DeadAddr(t)
	err = outbound.TopicReader{Brokers: []string{dead, other}}.Read(ctx, topic, false, nil, func(kafkago.Message) {})
	require.Error(t, err)
	assert.ErrorContains(t, err, dead)
	assert.ErrorContains(t, err, other)
}

// TestTopicReaderMissingTopic: reading a topic that does not exist, once or following it,
// is an error naming the topic (outbound.ErrTopicNotFound), and leaves no topic behind
// although the brokers create topics on first use (kafkatest's kfake does): a mistyped
// `connector poison list -topic` created the topic it named.
func TestTopicReaderMissingTopic(t *testing.T) {
	brokers := kafkatest.Brokers(t) // kfake with AllowAutoTopicCreation, or KAFKA_BROKERS
	for _, tc := range []struct {
		name   string
		follow bool
	}{
		{"read", false},
		{"follow", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			topic := kafkatest.Name("missing")
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()
			var loaded, records bool
			err := outbound.TopicReader{Brokers: brokers}.Read(ctx, topic, tc.follow, func() { loaded = true },
				func(kafkago.Message) { records = true })
			require.ErrorIs(t, err, outbound.ErrTopicNotFound)
			assert.ErrorContains(t, err, topic)
			assert.False(t, loaded, "nothing was loaded")
			assert.False(t, records)

			topics, err := kafkatest.Admin(t, brokers).ListTopics(ctx)
			require.NoError(t, err)
			assert.False(t, topics.Has(topic), "reading %s created it", topic)
		})
	}
}

// TestTopicReaderUndecodableLastBatch: a topic whose last record batch does not decode
// (damaged in the log: its CRC fails) is read to its end, the batch passed to fn as the
// record that stands for it (kafka.Undecodable): reading it once returns, and the
// applied-ids store loads it, saying that the marks it held are lost, and has read the
// partition to its end for Store.CatchUp. The stand-in is at the batch's first offset,
// and the reader waited for a record at the batch's last: Read never returned
// (`connector poison list` hung), and the store never loaded, so the outbound pipeline
// never started.
func TestTopicReaderUndecodableLastBatch(t *testing.T) {
	if kafkatest.Real() {
		t.Skip("answers fetches with kfake's controls")
	}
	for _, tc := range []struct {
		name  string
		store bool // read by the applied-ids store, or once
	}{
		{"read", false},
		{"store", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cluster := kafkatest.NewCluster(t)
			brokers := cluster.ListenAddrs()
			topic := kafkatest.Name("damaged")
			kafkatest.CreateTopic(t, brokers, topic, 1)
			pub, err := kafka.NewPublisher(kafka.PublisherConfig{Connection: kafka.ConnectionConfig{Brokers: brokers}}, nil)
			require.NoError(t, err)
			t.Cleanup(func() { _ = pub.Close() })
			placeholder := kafkago.Message{Topic: topic, Key: []byte("cmd"), Value: []byte(outbound.MarkApplied.String())}
			require.NoError(t, pub.WriteRecords(placeholder, placeholder, placeholder)) // offsets 0 to 2, which the batch stands for
			kafkatest.ServeBatches(cluster, topic, 0, 2, damagedBatch())

			if tc.store {
				logs := watermill.NewCaptureLogger()
				store, done, _ := runStore(t, brokers, topic, pub, logs)
				storeLoads(t, store, done)
				assert.Len(t, captured(logs, watermill.ErrorLogLevel, "A record batch of the applied-ids topic does not decode; the marks it held are lost"), 1)
				ctx, cancel := context.WithTimeout(t.Context(), waitLimit)
				defer cancel()
				require.NoError(t, store.CatchUp(ctx), "the store has read the partition to its end")
				return
			}
			ctx, cancel := context.WithTimeout(t.Context(), waitLimit)
			defer cancel()
			var got []kafkago.Message
			require.NoError(t, outbound.TopicReader{Brokers: brokers}.Read(ctx, topic, false, nil, func(m kafkago.Message) { got = append(got, m) }))
			require.Len(t, got, 1)
			assert.Equal(t, int64(0), got[0].Offset)
			assert.ErrorIs(t, kafka.Undecodable(got[0]), kafka.ErrUndecodable)
		})
	}
}

// damagedBatch returns a record batch of offsets 0 to 2 as a log damaged on disk holds
// it: its CRC fails.
func damagedBatch() []byte {
	be := binary.BigEndian
	b := be.AppendUint64(nil, 0)                  // base offset
	b = be.AppendUint32(b, 49+3)                  // size: the header's after it, and three bytes of records
	b = be.AppendUint32(b, 0)                     // partition leader epoch
	b = append(b, 2)                              // magic
	b = be.AppendUint32(b, 0)                     // CRC, not the batch's
	b = be.AppendUint16(b, 0)                     // attributes
	b = be.AppendUint32(b, 2)                     // last offset delta
	b = be.AppendUint64(be.AppendUint64(b, 0), 0) // first and max timestamps
	b = be.AppendUint64(b, ^uint64(0))            // producer id: none
	b = be.AppendUint32(be.AppendUint16(b, 0), 0) // producer epoch, base sequence
	b = be.AppendUint32(b, 3)                     // records
	return append(b, 1, 2, 3)
}

// TestTopicReaderFollowWaitsForRecords: following a topic, once a partition is read to its
// end, each fetch asks the broker to wait for 64 KiB of records, up to 100 ms, so that a
// fetch brings many of the marks the applied-ids store follows instead of each bringing
// the few written since the one before; up to the end (the store's load, and reading once,
// as `poison list` does) each fetch is answered as soon as there are records.
func TestTopicReaderFollowWaitsForRecords(t *testing.T) {
	if kafkatest.Real() {
		t.Skip("watches fetches with kfake's controls")
	}
	for _, tc := range []struct {
		name    string
		records int
		follow  bool
	}{
		{"read once", 3, false},
		{"follow", 3, true},
		{"follow an empty partition", 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cluster := kafkatest.NewCluster(t)
			brokers := cluster.ListenAddrs()
			topic := kafkatest.Name("wait")
			kafkatest.CreateTopic(t, brokers, topic, 1)
			pub, err := kafka.NewPublisher(kafka.PublisherConfig{Connection: kafka.ConnectionConfig{Brokers: brokers}}, nil)
			require.NoError(t, err)
			t.Cleanup(func() { _ = pub.Close() })
			for range tc.records {
				require.NoError(t, pub.WriteRecords(kafkago.Message{Topic: topic, Value: []byte("v")}))
			}

			type fetch struct {
				offset   int64
				minBytes int32
				maxWait  int32
			}
			var mu sync.Mutex
			var fetches []fetch
			waiting := make(chan struct{}, 1) // a fetch that waits for records came
			cluster.ControlKey(int16(kmsg.Fetch), func(r kmsg.Request) (kmsg.Response, error, bool) {
				req := r.(*kmsg.FetchRequest)
				for _, rt := range req.Topics {
					for _, rp := range rt.Partitions {
						if rt.Topic != topic {
							continue
						}
						mu.Lock()
						fetches = append(fetches, fetch{rp.FetchOffset, req.MinBytes, req.MaxWaitMillis})
						mu.Unlock()
						if req.MinBytes > 1 {
							select {
							case waiting <- struct{}{}:
							default:
							}
						}
					}
				}
				return nil, nil, false
			})

			ctx, cancel := context.WithTimeout(t.Context(), waitLimit)
			defer cancel()
			read := 0
			if !tc.follow {
				require.NoError(t, outbound.TopicReader{Brokers: brokers}.Read(ctx, topic, false, nil, func(kafkago.Message) { read++ }))
			} else {
				loaded := make(chan struct{})
				errs := make(chan error, 1)
				go func() {
					errs <- outbound.TopicReader{Brokers: brokers}.Read(ctx, topic, true, func() { close(loaded) }, func(kafkago.Message) { read++ })
				}()
				select {
				case <-waiting:
				case err := <-errs:
					t.Fatalf("Read returned: %v", err)
				case <-ctx.Done():
					t.Fatal("no fetch waited for records")
				}
				<-loaded
				cancel()
				require.ErrorIs(t, <-errs, context.Canceled)
			}
			assert.Equal(t, tc.records, read, "records read")

			mu.Lock()
			defer mu.Unlock()
			require.NotEmpty(t, fetches)
			for _, f := range fetches {
				switch {
				case f.offset < int64(tc.records):
					assert.Equal(t, int32(1), f.minBytes, "a fetch up to the end: %+v", f)
				case f.minBytes > 1:
					assert.Equal(t, fetch{f.offset, 64 << 10, 100}, f, "a fetch following")
				default:
					// The load's next fetch, sent as the records before came: dropped once
					// the load reached the end.
					assert.Equal(t, int64(tc.records), f.offset, "a fetch that does not wait: %+v", f)
					assert.NotZero(t, tc.records, "a fetch of an empty partition followed that does not wait: %+v", f)
				}
			}
		})
	}
}
