package kafka_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"runtime/pprof"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/dscokafka/connector/pkg/kafka"
	"github.com/dscokafka/connector/pkg/kafka/kafkatest"
)

// produceRecords writes copies of recs to partition 0 of their topic with franz-go (the
// Java client's record batch encoding) with the given producer options, in one batch per
// call.
func produceRecords(t *testing.T, brokers []string, recs []*kgo.Record, opts ...kgo.Opt) {
	t.Helper()
	copies := make([]*kgo.Record, len(recs))
	for i, r := range recs {
		c := *r // franz-go keeps state in a record it produced
		copies[i] = &c
	}
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(brokers...), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerLinger(0)}, opts...)...)
	require.NoError(t, err)
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, cl.ProduceSync(ctx, copies...).FirstErr())
}

func newReader(t *testing.T, brokers []string, topic string, mutate ...func(*kafka.PartitionReaderConfig)) *kafka.PartitionReader {
	t.Helper()
	cfg := kafka.PartitionReaderConfig{Brokers: brokers, Topic: topic, MaxWait: 100 * time.Millisecond}
	for _, m := range mutate {
		m(&cfg)
	}
	r := kafka.NewPartitionReader(cfg)
	t.Cleanup(func() { _ = r.Close() })
	return r
}

func fetchN(t *testing.T, r *kafka.PartitionReader, n int) []kafkago.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out := make([]kafkago.Message, 0, n)
	for len(out) < n {
		m, err := r.FetchMessage(ctx)
		require.NoError(t, err, "after %d records", len(out))
		out = append(out, m)
	}
	return out
}

// TestPartitionReaderRecords reads back, with every codec, records as the Java client's
// encoding writes them: null and empty keys and values, headers (one with a null value),
// timestamps; from the first offset and from an offset inside a batch; and a batch larger
// than MaxBytes, which Kafka returns whole.
func TestPartitionReaderRecords(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	base := time.UnixMilli(time.Now().UnixMilli()).Add(-time.Hour)
	want := []*kgo.Record{
		{Key: []byte("k0"), Value: []byte("v0"), Timestamp: base},
		{Key: nil, Value: []byte("null key"), Timestamp: base.Add(time.Millisecond)},
		{Key: []byte{}, Value: []byte("empty key"), Timestamp: base.Add(2 * time.Millisecond)},
		{Key: []byte("null value"), Value: nil, Timestamp: base.Add(3 * time.Millisecond)},
		{Key: []byte("empty value"), Value: []byte{}, Timestamp: base.Add(4 * time.Millisecond)},
		{Key: []byte("headers"), Value: []byte("h"), Timestamp: base.Add(5 * time.Second), Headers: []kgo.RecordHeader{
			{Key: "a", Value: []byte("1")}, {Key: "null", Value: nil}, {Key: "a", Value: []byte("2")},
		}},
		{Key: []byte("big"), Value: bytes.Repeat([]byte("x"), 100_000), Timestamp: base.Add(6 * time.Second)},
	}
	for _, tc := range []struct {
		name  string
		codec kgo.CompressionCodec
	}{
		{"none", kgo.NoCompression()},
		{"gzip", kgo.GzipCompression()},
		{"snappy", kgo.SnappyCompression()},
		{"lz4", kgo.Lz4Compression()},
		{"zstd", kgo.ZstdCompression()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			topic := kafkatest.Name("pr")
			kafkatest.CreateTopic(t, brokers, topic, 1)
			for _, rec := range want {
				rec.Topic = topic
			}
			produceRecords(t, brokers, want, kgo.ProducerBatchCompression(tc.codec))
			produceRecords(t, brokers, want, kgo.ProducerBatchCompression(tc.codec)) // a second batch

			check := func(i int, m kafkago.Message) {
				t.Helper()
				w := want[i%len(want)]
				assert.Equal(t, topic, m.Topic)
				assert.Equal(t, 0, m.Partition)
				assert.Equal(t, int64(i), m.Offset, "record %d", i)
				assert.Equal(t, w.Key, m.Key, "key of record %d", i)
				assert.Equal(t, w.Key == nil, m.Key == nil, "null key of record %d", i)
				assert.Equal(t, w.Value, m.Value, "value of record %d", i)
				assert.Equal(t, w.Value == nil, m.Value == nil, "null value of record %d", i)
				assert.True(t, w.Timestamp.Equal(m.Time), "time of record %d: %v, want %v", i, m.Time, w.Timestamp)
				require.Len(t, m.Headers, len(w.Headers), "headers of record %d", i)
				for j, h := range w.Headers {
					assert.Equal(t, h.Key, m.Headers[j].Key)
					assert.Equal(t, h.Value, m.Headers[j].Value)
				}
				assert.Equal(t, int64(2*len(want)), m.HighWaterMark)
			}
			r := newReader(t, brokers, topic, func(c *kafka.PartitionReaderConfig) { c.MaxBytes = 1024 })
			got := fetchN(t, r, 2*len(want))
			for i, m := range got {
				check(i, m)
			}
			// Records are the caller's: reading on does not change them.
			assert.Equal(t, []byte("k0"), got[0].Key)

			// FetchView's records are the same, each valid until the next call.
			view := newReader(t, brokers, topic, func(c *kafka.PartitionReaderConfig) { c.MaxBytes = 1024 })
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			for i := range 2 * len(want) {
				m, err := view.FetchView(ctx)
				require.NoError(t, err, "record %d", i)
				check(i, m)
			}

			mid := newReader(t, brokers, topic)
			mid.SetOffset(int64(len(want) + 3))
			m := fetchN(t, mid, 1)[0]
			assert.Equal(t, int64(len(want)+3), m.Offset)
			assert.Equal(t, []byte("null value"), m.Key)
		})
	}
}

// TestPartitionReaderTransactions skips the control batches of transactions and returns
// the records of committed and aborted ones alike (read_uncommitted, as kafka-go's Reader).
func TestPartitionReaderTransactions(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	topic := kafkatest.Name("prtx")
	kafkatest.CreateTopic(t, brokers, topic, 1)
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.TransactionalID(kafkatest.Name("tx")), kgo.DefaultProduceTopic(topic))
	require.NoError(t, err)
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for i, end := range []kgo.TransactionEndTry{kgo.TryCommit, kgo.TryAbort, kgo.TryCommit} {
		require.NoError(t, cl.BeginTransaction())
		require.NoError(t, cl.ProduceSync(ctx, &kgo.Record{Value: fmt.Appendf(nil, "tx%d-a", i)}, &kgo.Record{Value: fmt.Appendf(nil, "tx%d-b", i)}).FirstErr())
		require.NoError(t, cl.EndTransaction(ctx, end))
	}

	r := newReader(t, brokers, topic)
	got := fetchN(t, r, 6)
	var values []string
	var offsets []int64
	for _, m := range got {
		values = append(values, string(m.Value))
		offsets = append(offsets, m.Offset)
	}
	assert.Equal(t, []string{"tx0-a", "tx0-b", "tx1-a", "tx1-b", "tx2-a", "tx2-b"}, values)
	// Each transaction's marker takes an offset after its records.
	assert.Equal(t, []int64{0, 1, 3, 4, 6, 7}, offsets)
	produceRecords(t, brokers, []*kgo.Record{{Topic: topic, Value: []byte("after")}})
	assert.Equal(t, int64(9), fetchN(t, r, 1)[0].Offset, "the last marker is passed over")
}

// TestPartitionReaderReadCommitted reads, with read_committed, a partition where two
// transactional producers and a plain one interleave: records of the aborted transaction
// never come, the others come in offset order, and records of a transaction still open
// come only once it commits; LastOffset is the last stable offset. With read_uncommitted
// every record comes, aborted or open.
func TestPartitionReaderReadCommitted(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	topic := kafkatest.Name("prrc")
	kafkatest.CreateTopic(t, brokers, topic, 1)
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	txClient := func() *kgo.Client {
		cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.RecordPartitioner(kgo.ManualPartitioner()),
			kgo.TransactionalID(kafkatest.Name("tx")), kgo.DefaultProduceTopic(topic), kgo.ProducerLinger(0))
		require.NoError(t, err)
		t.Cleanup(cl.Close)
		return cl
	}
	produce := func(cl *kgo.Client, values ...string) {
		t.Helper()
		for _, v := range values {
			require.NoError(t, cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte(v)}).FirstErr())
		}
	}
	committing, aborting, open := txClient(), txClient(), txClient()
	plain, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerLinger(0))
	require.NoError(t, err)
	t.Cleanup(plain.Close)

	require.NoError(t, committing.BeginTransaction())
	require.NoError(t, aborting.BeginTransaction())
	produce(committing, "c1")
	produce(aborting, "a1")
	produce(plain, "p1")
	produce(committing, "c2")
	produce(aborting, "a2")
	require.NoError(t, aborting.EndTransaction(ctx, kgo.TryAbort))
	require.NoError(t, committing.EndTransaction(ctx, kgo.TryCommit))
	require.NoError(t, aborting.BeginTransaction()) // the same producer again, committing this time
	produce(aborting, "a3")
	require.NoError(t, aborting.EndTransaction(ctx, kgo.TryCommit))
	require.NoError(t, open.BeginTransaction())
	produce(open, "o1")
	produce(plain, "p2") // after the open transaction's first record: past the last stable offset

	values := func(ms []kafkago.Message) []string {
		var out []string
		for _, m := range ms {
			out = append(out, string(m.Value))
		}
		return out
	}
	t.Run("read_uncommitted", func(t *testing.T) {
		r := newReader(t, brokers, topic)
		assert.Equal(t, []string{"c1", "a1", "p1", "c2", "a2", "a3", "o1", "p2"}, values(fetchN(t, r, 8)))
	})
	t.Run("read_committed", func(t *testing.T) {
		readCommitted := func(c *kafka.PartitionReaderConfig) { c.ReadCommitted = true }
		r := newReader(t, brokers, topic, readCommitted)
		assert.Equal(t, []string{"c1", "p1", "c2", "a3"}, values(fetchN(t, r, 4)))
		wait, cancelWait := context.WithTimeout(ctx, 300*time.Millisecond)
		_, err := r.FetchMessage(wait)
		cancelWait()
		require.ErrorIs(t, err, context.DeadlineExceeded, "nothing past the open transaction's first record")

		latest := newReader(t, brokers, topic, readCommitted)
		latest.SetOffset(kafkago.LastOffset)
		require.Eventually(t, func() bool {
			wait, cancelWait := context.WithTimeout(ctx, 50*time.Millisecond)
			defer cancelWait()
			_, err := latest.FetchMessage(wait) // resolves LastOffset, and finds nothing after it
			require.ErrorIs(t, err, context.DeadlineExceeded)
			return latest.Offset() >= 0
		}, waitLimit, time.Millisecond, "LastOffset resolved")
		require.NoError(t, open.EndTransaction(ctx, kgo.TryCommit))
		assert.Equal(t, []string{"o1", "p2"}, values(fetchN(t, r, 2)), "the transaction's records once it committed")
		assert.Equal(t, []string{"o1", "p2"}, values(fetchN(t, latest, 2)), "LastOffset was the last stable offset, before o1")
	})
}

// topicOfValues creates a topic of one partition (its name made from prefix) holding n
// records, of values r0, r1, ..., and returns the brokers and the topic.
func topicOfValues(t *testing.T, prefix string, n int) ([]string, string) {
	t.Helper()
	brokers := kafkatest.Brokers(t)
	topic := kafkatest.Name(prefix)
	kafkatest.CreateTopic(t, brokers, topic, 1)
	recs := make([]*kgo.Record, n)
	for i := range recs {
		recs[i] = &kgo.Record{Topic: topic, Value: fmt.Appendf(nil, "r%d", i)}
	}
	produceRecords(t, brokers, recs)
	return brokers, topic
}

// TestPartitionReaderOffsets: an offset before the start of the log moves to the start; one
// past its end is kafkago.OffsetOutOfRange; FirstOffset and LastOffset resolve; a fetch
// waiting for records ends with its context.
func TestPartitionReaderOffsets(t *testing.T) {
	brokers, topic := topicOfValues(t, "proff", 10)
	adm := kafkatest.Admin(t, brokers)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	offs := kadm.Offsets{}
	offs.Add(kadm.Offset{Topic: topic, Partition: 0, At: 4})
	res, err := adm.DeleteRecords(ctx, offs)
	require.NoError(t, err)
	require.NoError(t, res.Error())

	t.Run("before the start", func(t *testing.T) {
		r := newReader(t, brokers, topic)
		r.SetOffset(1)
		assert.Equal(t, int64(4), fetchN(t, r, 1)[0].Offset)
	})
	t.Run("first", func(t *testing.T) {
		r := newReader(t, brokers, topic)
		r.SetOffset(kafkago.FirstOffset)
		assert.Equal(t, int64(4), fetchN(t, r, 1)[0].Offset)
	})
	t.Run("back, with the next fetch under way", func(t *testing.T) {
		r := newReader(t, brokers, topic)
		r.SetOffset(6)
		assert.Equal(t, int64(6), fetchN(t, r, 1)[0].Offset)
		r.SetOffset(5)
		got := fetchN(t, r, 5)
		assert.Equal(t, int64(5), got[0].Offset)
		assert.Equal(t, int64(9), got[4].Offset)
	})
	t.Run("past the end", func(t *testing.T) {
		r := newReader(t, brokers, topic)
		r.SetOffset(15)
		_, err := r.FetchMessage(ctx)
		assert.ErrorIs(t, err, kafkago.OffsetOutOfRange)
	})
	t.Run("last, then waiting until the context ends", func(t *testing.T) {
		r := newReader(t, brokers, topic, func(c *kafka.PartitionReaderConfig) { c.MaxWait = 5 * time.Second })
		r.SetOffset(kafkago.LastOffset)
		wctx, wcancel := context.WithTimeout(ctx, 300*time.Millisecond)
		defer wcancel()
		_, err := r.FetchMessage(wctx)
		assert.ErrorIs(t, err, context.DeadlineExceeded)
		produceRecords(t, brokers, []*kgo.Record{{Topic: topic, Value: []byte("after")}})
		m := fetchN(t, r, 1)[0]
		assert.Equal(t, int64(10), m.Offset)
		assert.Equal(t, []byte("after"), m.Value)
	})
}

// TestPartitionReaderIdle: Idle is called once every record at hand was returned, before
// the reader waits for a fetch's answer, and not between the records of one answer: here
// before the first fetch's, not among the 3 records of one batch, and after the third,
// where the record it then writes is the one the reader waits for.
func TestPartitionReaderIdle(t *testing.T) {
	brokers, topic := topicOfValues(t, "pridle", 3)
	var events []string // the records returned and the calls of Idle, in their order
	r := newReader(t, brokers, topic, func(c *kafka.PartitionReaderConfig) {
		c.Idle = func() {
			events = append(events, "idle")
			if len(events) > 1 && events[len(events)-2] == "r2" {
				produceRecords(t, brokers, []*kgo.Record{{Topic: topic, Value: []byte("r3")}})
			}
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for len(events) == 0 || events[len(events)-1] != "r3" {
		m, err := r.FetchMessage(ctx)
		require.NoError(t, err, "after %v", events)
		events = append(events, string(m.Value))
	}
	// A fetch answered without records, the reader waiting, has Idle called again.
	assert.Equal(t, []string{"idle", "r0", "r1", "r2", "idle", "r3"}, compact(events))
}

// compact is events without the repeats of an event that follow it.
func compact(events []string) []string {
	var out []string
	for _, e := range events {
		if len(out) == 0 || out[len(out)-1] != e {
			out = append(out, e)
		}
	}
	return out
}

// TestPartitionReaderRetries: with no broker to reach, FetchMessage reports each failure to
// Retrying and keeps trying until its context ends.
func TestPartitionReaderRetries(t *testing.T) {
	var failures []error
	r := kafka.NewPartitionReader(kafka.PartitionReaderConfig{
		Brokers: []string{"127.0.0.1:1"}, Topic: "t",
		Retrying: func(err error) { failures = append(failures, err) },
	})
	defer r.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 700*time.Millisecond)
	defer cancel()
	_, err := r.FetchMessage(ctx)
	assert.True(t, errors.Is(err, context.DeadlineExceeded), "got %v", err)
	require.NotEmpty(t, failures)
	assert.ErrorContains(t, failures[0], "looking up the leader of t/0")
}

// TestPartitionReaderCloseEndsFetch: a fetch left waiting by a FetchMessage whose context
// ended goes on in its goroutine; Close ends it, and nothing the reader started outlives
// Close.
func TestPartitionReaderCloseEndsFetch(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	topic := kafkatest.Name("prclose")
	kafkatest.CreateTopic(t, brokers, topic, 1)
	r := kafka.NewPartitionReader(kafka.PartitionReaderConfig{Brokers: brokers, Topic: topic, MaxWait: time.Minute})
	label := kafkatest.Name("pr")
	pprof.Do(context.Background(), pprof.Labels("leakcheck", label), func(context.Context) {
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		_, err := r.FetchMessage(ctx)
		require.ErrorIs(t, err, context.DeadlineExceeded)
	})
	require.NotEmpty(t, labelledGoroutines(t, label), "the fetch waits on")
	require.NoError(t, r.Close())
	requireNoGoroutinesLeft(t, label) // the fetch's goroutine may still be returning
}

// TestPartitionReaderWithoutBrokers fails at once: retrying cannot cure a configuration.
func TestPartitionReaderWithoutBrokers(t *testing.T) {
	r := kafka.NewPartitionReader(kafka.PartitionReaderConfig{Topic: "t"})
	defer r.Close()
	_, err := r.FetchMessage(context.Background())
	assert.ErrorContains(t, err, "needs brokers")
}

// TestCommitPassesTransactionMarkers: once every record of a partition written in
// transactions was acked, the group's commit reaches the end of the partition, past the
// last transaction's marker, as the Java consumer's does; stopping at the marker left the
// group's lag at 1 for good (a stalled consumer to lag monitoring) until another record
// came. With ReadCommitted the records of an aborted transaction are never delivered, and
// the commit passes them too. In both ordering models, through both APIs.
func TestCommitPassesTransactionMarkers(t *testing.T) {
	for _, tc := range []struct {
		name          string
		ends          []kgo.TransactionEndTry // one transaction of one record each
		readCommitted bool
		want          []string // the values delivered, in any order (per key)
	}{
		// Offsets: tx0 0, its marker 1, tx1 2, marker 3, tx2 4, marker 5.
		{name: "committed", ends: []kgo.TransactionEndTry{kgo.TryCommit, kgo.TryCommit}, want: []string{"tx0", "tx1"}},
		{name: "read_committed, one aborted", ends: []kgo.TransactionEndTry{kgo.TryCommit, kgo.TryAbort, kgo.TryCommit},
			readCommitted: true, want: []string{"tx0", "tx2"}},
	} {
		for _, order := range []struct {
			name   string
			mutate func(*kafka.SubscriberConfig)
		}{
			{name: "per partition", mutate: func(*kafka.SubscriberConfig) {}},
			{name: "per key", mutate: perKey},
		} {
			t.Run(tc.name+"/"+order.name, func(t *testing.T) {
				forEachAPI(t, func(t *testing.T, subscribe subscribeFunc) {
					brokers := kafkatest.Brokers(t)
					topic, group := kafkatest.Name("txcommit"), kafkatest.Name("g")
					kafkatest.CreateTopic(t, brokers, topic, 1)
					cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.RecordPartitioner(kgo.ManualPartitioner()),
						kgo.TransactionalID(kafkatest.Name("tx")), kgo.DefaultProduceTopic(topic))
					require.NoError(t, err)
					defer cl.Close()
					ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
					defer cancel()
					for i, end := range tc.ends {
						require.NoError(t, cl.BeginTransaction())
						require.NoError(t, cl.ProduceSync(ctx, &kgo.Record{Key: fmt.Appendf(nil, "k%d", i), Value: fmt.Appendf(nil, "tx%d", i)}).FirstErr())
						require.NoError(t, cl.EndTransaction(ctx, end))
					}

					sub := startSubscriber(t, brokers, group, order.mutate, func(c *kafka.SubscriberConfig) { c.ReadCommitted = tc.readCommitted })
					ch := subscribe(t, sub, topic)
					var got []string
					for range tc.want {
						msg := receive(t, ch)
						got = append(got, string(msg.Payload))
						require.True(t, msg.Ack())
					}
					assert.ElementsMatch(t, tc.want, got)
					end := int64(2 * len(tc.ends))
					require.Eventually(t, func() bool {
						return kafkatest.CommittedOffsets(t, brokers, group, topic)[0] == end
					}, waitLimit, 50*time.Millisecond, "the commit passes the last marker, at %d", end-1)
				})
			})
		}
	}
}
