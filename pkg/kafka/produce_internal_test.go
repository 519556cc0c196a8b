package kafka

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/protocol"
	metadataAPI "github.com/segmentio/kafka-go/protocol/metadata"
	produceAPI "github.com/segmentio/kafka-go/protocol/produce"
	"github.com/segmentio/kafka-go/protocol/rawproduce"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestRecordBatchSize: RecordBatchSize and MaxValueLen agree with the batches the Producer
// encodes, at the varint length boundaries, with null keys, values and header values.
func TestRecordBatchSize(t *testing.T) {
	p := &Producer{cfg: ProducerConfig{BatchBytes: 1 << 30}}
	bytesOf := func(n int) []byte {
		if n < 0 {
			return nil
		}
		return make([]byte, n)
	}
	for _, key := range []int{-1, 0, 5, 63, 64, 300} {
		for _, value := range []int{-1, 0, 63, 64, 8191, 8192, 100_000} {
			for _, hs := range [][]kafkago.Header{nil, {{Key: "a", Value: []byte("b")}, {Key: "null"}}} {
				t.Run(fmt.Sprintf("key=%d/value=%d/headers=%d", key, value, len(hs)), func(t *testing.T) {
					r := kafkago.Message{Key: bytesOf(key), Value: bytesOf(value), Headers: hs, Time: time.Now()}
					hb := 0
					for _, h := range hs {
						hb += HeaderSize(h.Key, lenOrNull(h.Value))
					}
					batch := new(recordBatch)
					n, err := p.encodeBatch(batch, new(writeScratch), []kafkago.Message{r}, []int{0}, []int{fixedSize(&r)})
					require.NoError(t, err)
					require.Equal(t, 1, n)
					var b bytes.Buffer
					_, err = io.Copy(&b, &batchReader{b: batch})
					require.NoError(t, err)
					size := RecordBatchSize(key, value, len(hs), hb)
					assert.Equal(t, int64(b.Len()-4), size, "the batch after its size prefix")
					read, err := io.ReadAll(struct{ io.Reader }{&batchReader{b: batch}}) // Read, not WriteTo
					require.NoError(t, err)
					assert.Equal(t, b.Bytes(), read, "Read gives what WriteTo writes")

					if value < 0 {
						return
					}
					limit := size + int64(value%7) // sometimes room to spare
					room := MaxValueLen(limit, key, len(hs), hb)
					assert.LessOrEqual(t, RecordBatchSize(key, int(room), len(hs), hb), limit)
					assert.Greater(t, RecordBatchSize(key, int(room)+1, len(hs), hb), limit)
				})
			}
		}
	}
}

// TestRecordBatchEncoding: the Producer's record batches read back with kafka-go's own
// decoder (which checks the CRC), every field as written: keys, values and header values
// of many lengths, values on both sides of refValueBytes (copied into the encoding, or
// taken from the record where the encoding reaches them, first, last or side by side), a
// long header key, and many records.
func TestRecordBatchEncoding(t *testing.T) {
	now := time.UnixMilli(time.Now().UnixMilli())
	bytesOf := func(n int) []byte {
		if n < 0 {
			return nil
		}
		b := make([]byte, n)
		for i := range b {
			b[i] = byte('a' + i%26)
		}
		return b
	}
	var edges, small []kafkago.Message
	for _, n := range []int{refValueBytes, -1, 0, 1, 63, 64, 255, refValueBytes - 1, refValueBytes, refValueBytes + 1, 1536, 3 * refValueBytes} {
		edges = append(edges, kafkago.Message{Key: bytesOf(n), Value: bytesOf(n), Time: now.Add(time.Duration(n) * time.Millisecond),
			Headers: []kafkago.Header{{Key: "h", Value: bytesOf(n)}, {Key: string(bytesOf(max(n, 0)))}}})
	}
	for i := range 300 {
		small = append(small, kafkago.Message{Key: fmt.Appendf(nil, "k%d", i), Value: bytesOf(i % 40), Time: now.Add(-time.Duration(i) * time.Millisecond),
			Headers: []kafkago.Header{{Key: "n", Value: fmt.Appendf(nil, "%d", i)}}})
	}
	for _, tc := range []struct {
		name string
		recs []kafkago.Message
	}{
		{"fields of many lengths", edges},
		{"a long header key", []kafkago.Message{{Value: []byte("v"), Time: now, Headers: []kafkago.Header{{Key: string(bytesOf(1541)), Value: []byte("x")}}}}},
		{"many small records", small},
	} {
		for _, codec := range []Compression{CompressionNone, CompressionGzip} {
			t.Run(fmt.Sprintf("%s/%s", tc.name, codec), func(t *testing.T) {
				batch := RecordBatch(0, codec, tc.recs...)
				var rs protocol.RecordSet
				_, err := rs.ReadFrom(bytes.NewReader(append(binary.BigEndian.AppendUint32(nil, uint32(len(batch))), batch...)))
				require.NoError(t, err)
				for i, want := range tc.recs {
					got, err := rs.Records.ReadRecord()
					require.NoError(t, err, "record %d", i)
					assert.Equal(t, int64(i), got.Offset)
					assert.True(t, want.Time.Equal(got.Time), "record %d time", i)
					for _, f := range []struct {
						name string
						want []byte
						got  protocol.Bytes
					}{{"key", want.Key, got.Key}, {"value", want.Value, got.Value}} {
						b, err := protocol.ReadAll(f.got)
						require.NoError(t, err)
						assert.Equal(t, f.want, b, "record %d %s", i, f.name)
						assert.Equal(t, f.want == nil, f.got == nil, "record %d %s null", i, f.name)
					}
					require.Len(t, got.Headers, len(want.Headers), "record %d headers", i)
					for j, h := range want.Headers {
						assert.Equal(t, h.Key, got.Headers[j].Key, "record %d header %d key", i, j)
						assert.Equal(t, h.Value, got.Headers[j].Value, "record %d header %d value", i, j)
					}
				}
				_, err = rs.Records.ReadRecord()
				assert.ErrorIs(t, err, io.EOF, "no more records")
			})
		}
	}
}

// scriptedTransport answers metadata requests with one topic of two partitions on two
// leaders, and produce requests from a script of error codes per partition, one entry per
// request to it (0 when the script is used up).
type scriptedTransport struct {
	mu       sync.Mutex
	codes    map[int32][]int16
	requests map[int32]int     // per partition
	batches  map[int32][]int32 // records per request, per partition
}

func (s *scriptedTransport) RoundTrip(_ context.Context, _ net.Addr, req kafkago.Request) (kafkago.Response, error) {
	switch r := req.(type) {
	case *metadataAPI.Request:
		return &metadataAPI.Response{Brokers: []metadataAPI.ResponseBroker{{NodeID: 1}, {NodeID: 2}},
			Topics: []metadataAPI.ResponseTopic{{Name: "t", Partitions: []metadataAPI.ResponsePartition{
				{PartitionIndex: 0, LeaderID: 1}, {PartitionIndex: 1, LeaderID: 2}}}}}, nil
	case *rawproduce.Request:
		return s.answer(r)
	}
	return nil, fmt.Errorf("unexpected request %T", req)
}

// answer answers a produce request from the script, keeping the record count of each
// batch.
func (s *scriptedTransport) answer(r *rawproduce.Request) (*produceAPI.Response, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	res := &produceAPI.Response{}
	for _, t := range r.Topics {
		rt := produceAPI.ResponseTopic{Topic: t.Topic}
		for _, p := range t.Partitions {
			var buf bytes.Buffer
			if _, err := io.Copy(&buf, p.RecordSet.Reader); err != nil {
				return nil, err
			}
			s.batches[p.Partition] = append(s.batches[p.Partition], int32(binary.BigEndian.Uint32(buf.Bytes()[4+57:])))
			code := int16(0)
			if n := s.requests[p.Partition]; n < len(s.codes[p.Partition]) {
				code = s.codes[p.Partition][n]
			}
			s.requests[p.Partition]++
			rt.Partitions = append(rt.Partitions, produceAPI.ResponsePartition{Partition: p.Partition, ErrorCode: code})
		}
		res.Topics = append(res.Topics, rt)
	}
	return res, nil
}

// TestProducerRetries: retriable errors are retried per partition (the other partition's
// batch is not sent again), up to MaxAttempts, each told to Retrying; an error that is not
// retriable fails the Write at once; a partition beyond BatchBytes goes in several batches.
func TestProducerRetries(t *testing.T) {
	notLeader, tooLarge := int16(kafkago.NotLeaderForPartition), int16(kafkago.MessageSizeTooLarge)
	for _, tc := range []struct {
		name       string
		codes      map[int32][]int16
		batchBytes int64
		err        error
		requests   map[int32]int
		retries    int
	}{
		{"no errors", nil, 0, nil, map[int32]int{0: 1, 1: 1}, 0},
		{"leader moved", map[int32][]int16{0: {notLeader, notLeader}}, 0, nil, map[int32]int{0: 3, 1: 1}, 2},
		{"attempts used up", map[int32][]int16{1: {notLeader, notLeader, notLeader}}, 0, kafkago.NotLeaderForPartition, map[int32]int{0: 1, 1: 3}, 2},
		{"not retriable", map[int32][]int16{0: {tooLarge}}, 0, kafkago.MessageSizeTooLarge, map[int32]int{0: 1, 1: 1}, 0},
		{"several batches", map[int32][]int16{0: {0, notLeader}}, 200, nil, nil, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := &scriptedTransport{codes: tc.codes, requests: map[int32]int{}, batches: map[int32][]int32{}}
			retries := 0
			p, err := NewProducer(ProducerConfig{Brokers: []string{"x"}, Transport: tr, MaxAttempts: 3, BatchBytes: tc.batchBytes,
				Retrying: func(error) { retries++ }})
			require.NoError(t, err)
			p.abort() // no backoff waits in a unit test
			var recs []kafkago.Message
			for i := range 20 {
				recs = append(recs, kafkago.Message{Topic: "t", Key: fmt.Appendf(nil, "k%d", i), Value: []byte("0123456789")})
			}
			err = p.Write(context.Background(), recs...)
			if tc.err != nil {
				require.ErrorIs(t, err, tc.err)
			} else {
				require.NoError(t, err)
			}
			assert.Equal(t, tc.retries, retries, "retries told")
			if tc.requests != nil {
				assert.Equal(t, tc.requests, tr.requests, "requests per partition")
				return
			}
			// Several batches: every record sent, a batch again only after its failure.
			total := 0
			for part, sizes := range tr.batches {
				assert.Greater(t, len(sizes), 1, "partition %d in several batches", part)
				for _, n := range sizes {
					total += int(n)
				}
			}
			assert.Equal(t, len(recs)+int(tr.batches[0][1]), total, "each record once, the failed batch twice")
			assert.Equal(t, tr.batches[0][1], tr.batches[0][2], "the failed batch sent again before the next")
		})
	}
}

// TestProducerBalancerOutOfRange: a Balancer choosing a partition the topic does not have
// fails the Write with an error naming it, before anything is sent.
func TestProducerBalancerOutOfRange(t *testing.T) {
	for _, partition := range []int{-1, 2} {
		t.Run(fmt.Sprint(partition), func(t *testing.T) {
			tr := &scriptedTransport{requests: map[int32]int{}, batches: map[int32][]int32{}}
			p, err := NewProducer(ProducerConfig{Brokers: []string{"x"}, Transport: tr,
				Balancer: kafkago.BalancerFunc(func(kafkago.Message, ...int) int { return partition })})
			require.NoError(t, err)
			err = p.Write(context.Background(), kafkago.Message{Topic: "t", Value: []byte("v")})
			assert.ErrorContains(t, err, fmt.Sprintf("topic t: the Balancer chose partition %d of 2", partition))
			assert.Empty(t, tr.requests, "nothing sent")
		})
	}
}

// recordingTransport answers like scriptedTransport (no errors) and keeps the value of
// every record it is sent, decoded with kafka-go's own decoder.
type recordingTransport struct {
	scriptedTransport
	values map[string]int // value → times sent
}

func (r *recordingTransport) RoundTrip(ctx context.Context, addr net.Addr, req kafkago.Request) (kafkago.Response, error) {
	if pr, ok := req.(*rawproduce.Request); ok {
		for _, t := range pr.Topics {
			for _, p := range t.Partitions {
				var rs protocol.RecordSet
				if _, err := rs.ReadFrom(p.RecordSet.Reader); err != nil {
					return nil, err
				}
				for {
					rec, err := rs.Records.ReadRecord()
					if err != nil {
						break
					}
					v, err := protocol.ReadAll(rec.Value)
					if err != nil {
						return nil, err
					}
					r.mu.Lock()
					r.values[string(v)]++
					r.mu.Unlock()
				}
			}
		}
		return r.scriptedTransport.answer(pr)
	}
	return r.scriptedTransport.RoundTrip(ctx, addr, req)
}

// TestConcurrentWrites: Writes at once on one Producer, whose memory each takes from a
// pool shared by them, each send every one of their records once, as written.
func TestConcurrentWrites(t *testing.T) {
	tr := &recordingTransport{scriptedTransport: scriptedTransport{requests: map[int32]int{}, batches: map[int32][]int32{}}, values: map[string]int{}}
	p, err := NewProducer(ProducerConfig{Brokers: []string{"x"}, Transport: tr, BatchBytes: 1000})
	require.NoError(t, err)
	const writers, writes, records = 4, 25, 30
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for n := range writes {
				var recs []kafkago.Message
				for i := range records + n%7 {
					recs = append(recs, kafkago.Message{Topic: "t", Key: fmt.Appendf(nil, "k%d", i), Value: fmt.Appendf(nil, "%d/%d/%d", w, n, i),
						Headers: []kafkago.Header{{Key: "n", Value: fmt.Appendf(nil, "%d", i)}}})
				}
				assert.NoError(t, p.Write(context.Background(), recs...))
			}
		})
	}
	wg.Wait()
	want := map[string]int{}
	for w := range writers {
		for n := range writes {
			for i := range records + n%7 {
				want[fmt.Sprintf("%d/%d/%d", w, n, i)] = 1
			}
		}
	}
	assert.Equal(t, want, tr.values)
}

// lateTransport gives up on the first produce request of each partition as kafka-go's
// Transport does when an attempt's time ends while the connection's goroutine has yet to
// encode the request: it returns the context's error at once and keeps the record set,
// for the test to read late. It answers the requests after those.
type lateTransport struct {
	scriptedTransport
	given map[int32]bool
	late  []io.Reader // the record sets of the requests given up on
}

func (l *lateTransport) RoundTrip(ctx context.Context, addr net.Addr, req kafkago.Request) (kafkago.Response, error) {
	if r, ok := req.(*rawproduce.Request); ok {
		l.mu.Lock()
		for _, p := range r.Topics[0].Partitions {
			if !l.given[p.Partition] {
				l.given[p.Partition] = true
				l.late = append(l.late, p.RecordSet.Reader)
				l.mu.Unlock()
				return nil, context.DeadlineExceeded
			}
		}
		l.mu.Unlock()
	}
	return l.scriptedTransport.RoundTrip(ctx, addr, req)
}

// TestWriteReadsRecordsUntilItReturns: a produce request given up on (its time ended) and
// encoded late, after Write returned, does not read the records, which the caller may
// then reuse (the outbound pipeline reuses the memory of its results): its encoding fails.
// It read them, whatever the caller had made of them since.
func TestWriteReadsRecordsUntilItReturns(t *testing.T) {
	for _, tc := range []struct {
		name        string
		maxAttempts int
		fails       bool
	}{
		{"the write fails", 1, true},
		{"the write succeeds at the next attempt", 2, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := &lateTransport{scriptedTransport: scriptedTransport{requests: map[int32]int{}, batches: map[int32][]int32{}},
				given: map[int32]bool{}}
			p, err := NewProducer(ProducerConfig{Brokers: []string{"x"}, Transport: tr, MaxAttempts: tc.maxAttempts})
			require.NoError(t, err)
			p.abort() // no backoff waits in a unit test
			var recs []kafkago.Message
			for i := range 10 {
				recs = append(recs, kafkago.Message{Topic: "t", Key: fmt.Appendf(nil, "k%d", i), Value: []byte("0123456789")})
			}
			err = p.Write(context.Background(), recs...)
			if tc.fails {
				require.ErrorIs(t, err, context.DeadlineExceeded)
			} else {
				require.NoError(t, err)
			}
			for _, r := range recs {
				copy(r.Value, "reused....") // the caller's, now
			}
			require.Len(t, tr.late, 2, "a request given up on per partition")
			for _, r := range tr.late {
				var buf bytes.Buffer
				_, err := io.Copy(&buf, r)
				require.ErrorIs(t, err, errAttemptOver, "the late encoding fails")
				assert.Zero(t, buf.Len(), "nothing of the records read")
			}
		})
	}
}

// TestLeaderOf: a partition's leader is found whether the metadata lists the partitions
// in order or not; a partition or topic it does not list has none.
func TestLeaderOf(t *testing.T) {
	meta := &metadataAPI.Response{Topics: []metadataAPI.ResponseTopic{
		{Name: "in-order", Partitions: []metadataAPI.ResponsePartition{{PartitionIndex: 0, LeaderID: 10}, {PartitionIndex: 1, LeaderID: 11}}},
		{Name: "shuffled", Partitions: []metadataAPI.ResponsePartition{{PartitionIndex: 2, LeaderID: 22}, {PartitionIndex: 0, LeaderID: 20}, {PartitionIndex: 1, LeaderID: 21}}},
	}}
	for _, tc := range []struct {
		topic     string
		partition int32
		leader    int32
		found     bool
	}{
		{"in-order", 1, 11, true},
		{"shuffled", 0, 20, true},
		{"shuffled", 2, 22, true},
		{"shuffled", 3, 0, false},
		{"shuffled", -1, 0, false},
		{"missing", 0, 0, false},
	} {
		leader, found := leaderOf(meta, tc.topic, tc.partition)
		assert.Equal(t, tc.found, found, "%s/%d found", tc.topic, tc.partition)
		assert.Equal(t, tc.leader, leader, "%s/%d", tc.topic, tc.partition)
	}
}

// TestCompressedBatchKeepsNoValue: a batch kept compressed leaves no reference to its
// records' values in the write's scratch, which goes back to the pool when the write
// returns (release clears the cuts up to their length): the values cut out while its
// records were encoded, before compression, would stay reachable from the pool.
func TestCompressedBatchKeepsNoValue(t *testing.T) {
	for _, codec := range []Compression{CompressionGzip, CompressionSnappy, CompressionLz4, CompressionZstd} {
		t.Run(string(codec), func(t *testing.T) {
			c, err := codec.codec()
			require.NoError(t, err)
			p := &Producer{cfg: ProducerConfig{BatchBytes: 1 << 20}, codec: c.Codec()}
			recs := make([]kafkago.Message, 3)
			idx, fixed := make([]int, len(recs)), make([]int, len(recs))
			for i := range recs {
				recs[i] = kafkago.Message{Value: bytes.Repeat([]byte{'v'}, refValueBytes+i), Time: time.Now()}
				idx[i], fixed[i] = i, fixedSize(&recs[i])
			}
			s := new(writeScratch)
			var b recordBatch
			n, err := p.encodeBatch(&b, s, recs, idx, fixed)
			require.NoError(t, err)
			require.Equal(t, len(recs), n)
			require.NotNil(t, b.body, "kept compressed")
			for i, cut := range s.cuts[:cap(s.cuts)] {
				assert.Nil(t, cut.value, "cut %d of the scratch", i)
			}
		})
	}
}
