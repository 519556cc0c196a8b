package kafka

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math/bits"
	"net"
	"slices"
	"sync"
	"syscall"
	"time"

	kafkago "github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/compress"
	metadataAPI "github.com/segmentio/kafka-go/protocol/metadata"
	produceAPI "github.com/segmentio/kafka-go/protocol/produce"
	"github.com/segmentio/kafka-go/protocol/rawproduce"
)

// ProducerConfig configures a Producer.
type ProducerConfig struct {
	// Brokers are the bootstrap brokers. Required.
	Brokers []string
	// Transport carries the requests (TLS, SASL) and caches the cluster's metadata, which
	// routes each request to its partitions' leader. Required.
	Transport kafkago.RoundTripper
	// Balancer chooses the partition of each record. Default kafka-go's Murmur2Balancer,
	// the Java client's partitioner for keyed records.
	Balancer kafkago.Balancer
	// Acks is the acknowledgement level Write waits for. Default AcksAll.
	Acks Acks
	// Compression is the codec for record batches. Default none.
	Compression Compression
	// WriteTimeout bounds each produce request. Default 10s.
	WriteTimeout time.Duration
	// MaxAttempts is how often a batch is sent before Write gives up, and so the most
	// copies of a record one Write can leave in the log. Default 10.
	MaxAttempts int
	// BatchBytes bounds one partition's record batch, and so the largest record. Default
	// 1 MiB (the broker's default message.max.bytes).
	BatchBytes int64
	// AllowAutoTopicCreation asks the broker to create a missing topic. Default false.
	AllowAutoTopicCreation bool
	// Retrying, when set, is told of each failed attempt that will be made again (a
	// leader moved, a broker was briefly away): for a log line. Write's error reports the
	// attempts that gave up.
	Retrying func(error)
	// MetadataTTL is the Transport's metadata refresh interval: Write waits up to twice
	// as long for a topic the Transport does not know yet (one created meanwhile). Default 2s.
	MetadataTTL time.Duration
}

func (c *ProducerConfig) setDefaults() {
	if c.Balancer == nil {
		c.Balancer = &kafkago.Murmur2Balancer{}
	}
	if c.WriteTimeout == 0 {
		c.WriteTimeout = 10 * time.Second
	}
	if c.MaxAttempts == 0 {
		c.MaxAttempts = 10
	}
	if c.BatchBytes == 0 {
		c.BatchBytes = 1 << 20
	}
	if c.MetadataTTL == 0 {
		c.MetadataTTL = 2 * time.Second
	}
}

// Producer writes records with one produce request per partition leader, each
// partition's records of a call sent as one record batch (magic 2), encoded once (its
// values of 512 bytes or more are not copied: they are streamed from the caller's records
// into the request).
// kafka-go's Writer instead sends one request per partition from a goroutine per
// partition, allocates BatchSize record slots per partition batch, looks up the topic's
// metadata once per record and waits BatchTimeout for more: for the pipelines, which
// write whole batches at once, a quarter of their CPU.
//
// Guarantees are the Writer's. Write returns nil only once Kafka acknowledged every
// record at the Acks level. Records are partitioned by the Balancer once, before the
// first attempt; a partition's records stay in order (a partition holding more than
// BatchBytes is sent in several batches, each after the previous one was acknowledged).
// A request failing with a retriable error (a Kafka error marked temporary, a dropped
// connection, a timeout, a routing error after a leader moved) is sent again after a
// backoff (attempt² × 100ms, at most 1s), up to MaxAttempts times per batch; with no
// idempotent producer, a batch whose answer was lost may be in the log up to MaxAttempts
// times. Safe for concurrent use; it holds no connection or goroutine of its own. A
// Write's working memory (where its records go, its batches and their encodings, its
// groups of partitions by leader) comes from a pool that Writes share, and goes back to
// it when the Write returns.
//
// The records are read only until Write returns, whatever its result:
// a caller may then change them or reuse their memory. kafka-go's Transport encodes a
// request on the connection's goroutine, possibly after the attempt was given up on (its
// WriteTimeout or Write's context ended), so each attempt's record sets are closed once
// its round trip returned: an encoding under way is waited for (it writes to memory), and
// one that starts later fails, losing nothing but a request given up on already.
type Producer struct {
	cfg   ProducerConfig
	addr  net.Addr
	codec compress.Codec // nil: none
	// stop, closed by abort, ends the backoff between attempts at once.
	stop      chan struct{}
	abortOnce sync.Once
}

// NewProducer returns a Producer.
func NewProducer(cfg ProducerConfig) (*Producer, error) {
	cfg.setDefaults()
	if len(cfg.Brokers) == 0 || cfg.Transport == nil {
		return nil, errors.New("kafka: a producer needs Brokers and a Transport")
	}
	if cfg.Acks < AcksAll || cfg.Acks > AcksNone {
		return nil, fmt.Errorf("kafka: invalid Acks %d (want AcksAll, AcksLeader or AcksNone)", cfg.Acks)
	}
	if cfg.WriteTimeout < 0 || cfg.MaxAttempts < 0 || cfg.BatchBytes < 0 || cfg.MetadataTTL < 0 {
		return nil, errors.New("kafka: producer timeouts, attempts and sizes must not be negative")
	}
	codec, err := cfg.Compression.codec()
	if err != nil {
		return nil, fmt.Errorf("kafka: %w", err)
	}
	return &Producer{cfg: cfg, addr: kafkago.TCP(cfg.Brokers...), codec: codec.Codec(), stop: make(chan struct{})}, nil
}

// abort ends the waits between attempts: every Write makes its remaining attempts at
// once. The Publisher's Close does it past its timeout, after closing the connections, so
// that those attempts fail fast.
func (p *Producer) abort() { p.abortOnce.Do(func() { close(p.stop) }) }

// RetryPause is the wait before attempt number attempt (from 1) of a write, a fetch or
// another request to Kafka asked again after a failure that may pass by itself
// (Transient; the applied-ids store's create of its topic): kafka-go's Writer's backoff,
// attempt² × 100ms, at most 1s.
func RetryPause(attempt int) time.Duration {
	attempt = min(attempt, 4) // 4² × 100ms is past the cap; attempt² overflows in time
	return min(time.Duration(attempt*attempt)*100*time.Millisecond, time.Second)
}

// partitionWrite is what one call writes to one partition.
type partitionWrite struct {
	topic     string
	partition int32
	batches   []recordBatch // sent in order
	sent      int           // batches acknowledged
	attempts  int           // failed attempts of batches[sent]
	err       error         // the last failure
}

// Write writes recs, each to its own Topic (which must be set), and returns once every
// record was acknowledged, or with the first error that is not retriable or outlasted
// the attempts. Some records may have been written then: the error is a *WriteError,
// which says which, once anything was sent. It sets the Time of records that have none.
// A topic unknown to the Transport's metadata is waited for up to twice MetadataTTL:
// that failure happens before anything is sent.
func (p *Producer) Write(ctx context.Context, recs ...kafkago.Message) error {
	if len(recs) == 0 {
		return nil
	}
	return waitForTopic(ctx, p.cfg.MetadataTTL, func() error { return p.write(ctx, recs) })
}

// waitForTopic runs send, again while it fails because a topic is unknown to the
// metadata cache, for up to twice ttl. Such a failure happens before anything is sent
// (it is not a *WriteError), so the retry cannot duplicate records.
func waitForTopic(ctx context.Context, ttl time.Duration, send func() error) error {
	deadline := time.Now().Add(2 * ttl)
	for {
		err := send()
		if _, sent := errors.AsType[*WriteError](err); err == nil || sent || !errors.Is(err, kafkago.UnknownTopicOrPartition) || time.Now().After(deadline) {
			return err
		}
		t := time.NewTimer(100 * time.Millisecond)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		}
	}
}

// write writes recs once (attempts included).
func (p *Producer) write(ctx context.Context, recs []kafkago.Message) error {
	s := newWriteScratch()
	defer s.release()
	for i := range recs {
		if recs[i].Topic == "" {
			return errors.New("a record without topic")
		}
		if !slices.Contains(s.topics, recs[i].Topic) {
			s.topics = append(s.topics, recs[i].Topic)
		}
	}
	// The topics' partitions, waiting while a topic has no leader yet (just created); a
	// topic the broker does not know is Write's to wait for (waitForTopic).
	var meta *metadataAPI.Response
	for attempt := 1; ; attempt++ {
		var err error
		if meta, err = p.metadata(ctx, s.topics); err == nil {
			err = p.partition(s, meta, recs)
		}
		if err == nil {
			break
		}
		if !retriable(err) || errors.Is(err, kafkago.UnknownTopicOrPartition) || attempt >= p.cfg.MaxAttempts {
			return err
		}
		if err := p.backoff(ctx, attempt); err != nil {
			return err
		}
	}
	return p.send(ctx, s, meta, recs)
}

// WriteError is the error of a Write that failed after it sent records: some of them
// may be in the log. It knows which Kafka acknowledged (at the Acks level), so that a
// caller writing the records again can leave those out (see Unwritten) instead of
// writing them once more at every try.
type WriteError struct {
	// Err is the failure that ended the Write.
	Err     error
	written []bool // per record of the Write
}

func (e *WriteError) Error() string { return e.Err.Error() }

// Unwrap returns Err.
func (e *WriteError) Unwrap() error { return e.Err }

// Unwritten returns the records to write again after a write of recs failed with err:
// when err is (or wraps) a *WriteError of that write, in a new slice and in their order,
// those Kafka did not acknowledge, recs staying as they were; otherwise recs. Writing them again keeps each partition's records in
// order: those of a partition that Kafka did not acknowledge are its last.
func Unwritten(recs []kafkago.Message, err error) []kafkago.Message {
	e, ok := errors.AsType[*WriteError](err)
	if !ok {
		return recs
	}
	out := make([]kafkago.Message, 0, len(recs))
	for i := range recs {
		if !e.written[i] {
			out = append(out, recs[i])
		}
	}
	return out
}

// send sends the batches of s's writes, each partition's in order, until every one is
// acknowledged; its error is a *WriteError.
func (p *Producer) send(ctx context.Context, s *writeScratch, meta *metadataAPI.Response, recs []kafkago.Message) error {
	fail := func(err error) error {
		written := make([]bool, len(recs))
		for _, w := range s.writes {
			for k := range w.batches[:w.sent] {
				for _, i := range w.batches[k].idx {
					written[i] = true
				}
			}
		}
		return &WriteError{Err: err, written: written}
	}
	for round := 0; ; round++ {
		pending := s.pending[:0]
		for i := range s.writes {
			if w := &s.writes[i]; w.sent < len(w.batches) {
				pending = append(pending, w)
			}
		}
		s.pending = pending
		if len(pending) == 0 {
			return nil
		}
		var err error
		if round > 0 { // leaders may have moved
			var m *metadataAPI.Response
			if m, err = p.metadata(ctx, s.topics); err == nil {
				meta = m
			}
		}
		if err != nil { // a failed attempt for every pending partition
			for _, w := range pending {
				w.attempts, w.err = w.attempts+1, err
			}
		} else {
			p.sendRound(ctx, s.leaders(meta, pending))
		}
		retry := 0
		for _, w := range pending {
			if w.err == nil {
				continue
			}
			err := fmt.Errorf("writing to %s partition %d (attempt %d of %d): %w", w.topic, w.partition, w.attempts, p.cfg.MaxAttempts, w.err)
			if !retriable(w.err) || w.attempts >= p.cfg.MaxAttempts {
				return fail(err)
			}
			retry = max(retry, w.attempts)
			if p.cfg.Retrying != nil {
				p.cfg.Retrying(err)
			}
		}
		if retry > 0 {
			if err := p.backoff(ctx, retry); err != nil {
				return fail(err)
			}
		}
	}
}

// backoff waits RetryPause before the next attempt, not at all once aborted.
func (p *Producer) backoff(ctx context.Context, attempt int) error {
	t := time.NewTimer(RetryPause(attempt))
	defer t.Stop()
	select {
	case <-t.C:
	case <-p.stop:
	case <-ctx.Done():
		return ctx.Err()
	}
	return nil
}

// writeScratch is the memory a write works in, kept in scratchPool for the next one: a
// write of the pipelines' (a few hundred records, to a few dozen partitions) made a map of
// its topics' partitions, one of its partitions' writes, each write and each batch, and
// slices of the records' places, at every call.
type writeScratch struct {
	topics []string // the write's, in the order of their first records
	parts  []int    // per topic: its partition count
	base   []int    // per topic: where its partitions start in count
	ids    []int    // 0, 1, 2, ...: a topic's partition ids, for the Balancer
	slot   []int    // per record: its partition's place in count
	// count is per partition of the write's topics (topic after topic): its records' count,
	// then where its records end in idx.
	count     []int
	idx       []int // the records, partition after partition, in their order within each
	fixed     []int // per record of idx: its fixedSize
	writes    []partitionWrite
	batches   []recordBatch // the writes' batches, one write's after the other's
	arena     []byte        // the batches' encodings (see recordBatch)
	cuts      []cut         // the values cut out of them
	pending   []*partitionWrite
	groups    [][]*partitionWrite // pending writes per leader
	leaderIDs []int32             // the leader of each group
}

var scratchPool = sync.Pool{New: func() any { return new(writeScratch) }}

// maxScratchRecords and maxScratchBytes bound the records and the arena of a scratch kept
// for a later write: one grown for a large write is left to the collector.
const (
	maxScratchRecords = 1 << 16
	maxScratchBytes   = 1 << 20
)

func newWriteScratch() *writeScratch { return scratchPool.Get().(*writeScratch) }

// release returns s to scratchPool, without what it refers to of the write's records. The
// write must have returned: its batches' readers are closed, so a request encoded late
// does not read them (see Producer).
func (s *writeScratch) release() {
	if cap(s.slot) > maxScratchRecords || cap(s.arena) > maxScratchBytes {
		return
	}
	clear(s.topics)
	clear(s.writes)
	clear(s.batches)
	clear(s.cuts)
	s.topics, s.writes, s.batches, s.arena, s.cuts = s.topics[:0], s.writes[:0], s.batches[:0], s.arena[:0], s.cuts[:0]
	scratchPool.Put(s)
}

// partition assigns each record its partition and encodes each partition's records, into
// s.writes, ordered by topic (as in s.topics) and partition.
func (p *Producer) partition(s *writeScratch, meta *metadataAPI.Response, recs []kafkago.Message) error {
	s.parts, s.base = s.parts[:0], s.base[:0]
	total := 0
	for _, name := range s.topics {
		n := 0
		for _, t := range meta.Topics {
			if t.Name == name {
				if t.ErrorCode != 0 {
					return fmt.Errorf("topic %s: %w", t.Name, kafkago.Error(t.ErrorCode))
				}
				n = len(t.Partitions)
				break
			}
		}
		if n == 0 {
			return fmt.Errorf("topic %s: %w", name, kafkago.UnknownTopicOrPartition)
		}
		s.parts, s.base = append(s.parts, n), append(s.base, total)
		total += n
		for len(s.ids) < n {
			s.ids = append(s.ids, len(s.ids))
		}
	}
	s.count = append(s.count[:0], make([]int, total)...)
	s.slot = s.slot[:0]
	now := time.Now()
	t := 0 // the topic of the record before
	for i := range recs {
		r := &recs[i]
		if r.Topic != s.topics[t] {
			t = slices.Index(s.topics, r.Topic)
		}
		if r.Time.IsZero() {
			r.Time = now
		}
		n := s.parts[t]
		id := p.cfg.Balancer.Balance(*r, s.ids[:n]...)
		if id < 0 || id >= n {
			return fmt.Errorf("topic %s: the Balancer chose partition %d of %d", r.Topic, id, n)
		}
		s.count[s.base[t]+id]++
		s.slot = append(s.slot, s.base[t]+id)
	}
	// The records of each partition, in their order, side by side in idx.
	end := 0
	for k, n := range s.count {
		end += n
		s.count[k] = end - n // now: where the next of its records goes
	}
	s.idx = append(s.idx[:0], s.slot...)
	for i, k := range s.slot {
		s.idx[s.count[k]] = i
		s.count[k]++ // at last: where its records end
	}
	s.fixed = s.fixed[:0]
	room, cuts := 0, 0 // the arena's and cuts' room for the whole write, so that neither moves
	for _, i := range s.idx {
		n := fixedSize(&recs[i])
		s.fixed = append(s.fixed, n)
		room += 1 + 2*binary.MaxVarintLen64 + binary.MaxVarintLen32 + n // the record's size, attributes, deltas
		if v := len(recs[i].Value); v >= refValueBytes {
			room -= v
			cuts++
		}
	}
	s.writes, s.batches = s.writes[:0], s.batches[:0]
	s.arena, s.cuts = slices.Grow(s.arena[:0], room), slices.Grow(s.cuts[:0], cuts)
	start := 0
	for t, name := range s.topics {
		for id := range s.parts[t] {
			end := s.count[s.base[t]+id]
			if end == start {
				continue
			}
			first := len(s.batches)
			for rest, sizes := s.idx[start:end], s.fixed[start:end]; len(rest) > 0; {
				s.batches = slices.Grow(s.batches, 1)[:len(s.batches)+1]
				n, err := p.encodeBatch(&s.batches[len(s.batches)-1], s, recs, rest, sizes)
				if err != nil {
					return fmt.Errorf("topic %s: %w", name, err)
				}
				rest, sizes = rest[n:], sizes[n:]
			}
			// batches may move as it grows: the write's are set below.
			s.writes = append(s.writes, partitionWrite{topic: name, partition: int32(id), batches: s.batches[first:]})
			start = end
		}
	}
	b := s.batches
	for i := range s.writes {
		w := &s.writes[i]
		n := len(w.batches)
		w.batches, b = b[:n:n], b[n:]
	}
	return nil
}

// metadata returns the metadata of the topics, from the transport's cache.
func (p *Producer) metadata(ctx context.Context, topics []string) (*metadataAPI.Response, error) {
	names := slices.Clone(topics) // the request's own: the transport may keep it
	slices.Sort(names)
	res, err := p.cfg.Transport.RoundTrip(ctx, p.addr, &metadataAPI.Request{TopicNames: names, AllowAutoTopicCreation: p.cfg.AllowAutoTopicCreation})
	if err != nil {
		return nil, fmt.Errorf("reading the metadata of %v: %w", names, err)
	}
	meta, ok := res.(*metadataAPI.Response)
	if !ok {
		return nil, fmt.Errorf("reading the metadata of %v: unexpected answer %T", names, res)
	}
	return meta, nil
}

// leaders groups the pending writes by their partitions' leaders, each group in the order
// of pending. A partition without a leader is not sent this round: it counts a failed
// attempt.
func (s *writeScratch) leaders(meta *metadataAPI.Response, pending []*partitionWrite) [][]*partitionWrite {
	s.groups, s.leaderIDs = s.groups[:0], s.leaderIDs[:0]
	for _, w := range pending {
		w.err = nil
		id, ok := leaderOf(meta, w.topic, w.partition)
		if !ok || id < 0 {
			w.attempts++
			w.err = kafkago.LeaderNotAvailable
			continue
		}
		g := slices.Index(s.leaderIDs, id) // a few leaders, as a rule
		if g < 0 {
			g = len(s.leaderIDs)
			s.leaderIDs = append(s.leaderIDs, id)
			s.groups = slices.Grow(s.groups, 1)[:g+1]
			s.groups[g] = s.groups[g][:0]
		}
		s.groups[g] = append(s.groups[g], w)
	}
	return s.groups
}

// leaderOf returns the leader of a partition in meta, looked up: a map of every partition of
// the write's topics took an allocation of their size at each write, for the few
// partitions a write has.
func leaderOf(meta *metadataAPI.Response, topic string, partition int32) (int32, bool) {
	for _, t := range meta.Topics {
		if t.Name != topic {
			continue
		}
		if partition >= 0 && int(partition) < len(t.Partitions) && t.Partitions[partition].PartitionIndex == partition {
			return t.Partitions[partition].LeaderID, true // partitions listed in order
		}
		for _, pt := range t.Partitions {
			if pt.PartitionIndex == partition {
				return pt.LeaderID, true
			}
		}
	}
	return 0, false
}

// sendRound sends one request per leader, at once, and records each partition's outcome.
func (p *Producer) sendRound(ctx context.Context, leaders [][]*partitionWrite) {
	switch len(leaders) {
	case 0:
		return
	case 1:
		p.request(ctx, leaders[0])
		return
	}
	var wg sync.WaitGroup
	for _, g := range leaders {
		wg.Go(func() { p.request(ctx, g) })
	}
	wg.Wait()
}

// request sends the current batch of each of ws (partitions of one leader, a topic's
// side by side) in one produce request.
func (p *Producer) request(ctx context.Context, ws []*partitionWrite) {
	req := &rawproduce.Request{Acks: int16(p.cfg.Acks.required()), Timeout: int32(p.cfg.WriteTimeout.Milliseconds())}
	// One allocation each for the request's partitions and their readers, which the
	// transport may keep (see Producer).
	parts := make([]rawproduce.RequestPartition, len(ws))
	readers := make([]batchReader, len(ws))
	for i, w := range ws {
		readers[i].b = &w.batches[w.sent]
		parts[i] = rawproduce.RequestPartition{Partition: w.partition}
		parts[i].RecordSet.Reader = &readers[i]
		if n := len(req.Topics); n > 0 && req.Topics[n-1].Topic == w.topic {
			req.Topics[n-1].Partitions = parts[i-len(req.Topics[n-1].Partitions) : i+1]
			continue
		}
		if req.Topics == nil {
			req.Topics = make([]rawproduce.RequestTopic, 0, 2)
		}
		req.Topics = append(req.Topics, rawproduce.RequestTopic{Topic: w.topic, Partitions: parts[i : i+1]})
	}
	ctx, cancel := context.WithTimeout(ctx, p.cfg.WriteTimeout)
	defer cancel()
	res, err := p.cfg.Transport.RoundTrip(ctx, p.addr, req)
	// Given up on, the request may still be encoded: not from the records once Write
	// returned (see Producer).
	for i := range readers {
		readers[i].close()
	}
	fail := func(w *partitionWrite, err error) {
		w.attempts++
		w.err = err
	}
	if err != nil {
		for _, w := range ws {
			fail(w, err)
		}
		return
	}
	if p.cfg.Acks == AcksNone {
		for _, w := range ws {
			w.sent, w.attempts = w.sent+1, 0
		}
		return
	}
	pr, _ := res.(*produceAPI.Response)
	for _, w := range ws {
		code, found := int16(0), false
		if pr != nil {
			for _, t := range pr.Topics {
				if t.Topic != w.topic {
					continue
				}
				for _, pt := range t.Partitions {
					if pt.Partition == w.partition {
						code, found = pt.ErrorCode, true
					}
				}
			}
		}
		switch {
		case !found:
			fail(w, errors.New("no answer for the partition in the produce response"))
		case code != 0:
			fail(w, kafkago.Error(code))
		default:
			w.sent, w.attempts = w.sent+1, 0
		}
	}
}

// retriable reports whether a failed produce request may be sent again: kafka-go's
// Writer's rule (a temporary Kafka error, a dropped connection), plus routing errors,
// which fail before anything is sent.
func retriable(err error) bool {
	var routing *rawproduce.Error
	var temporary interface{ Temporary() bool }
	return errors.As(err, &routing) || (errors.As(err, &temporary) && temporary.Temporary()) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) || errors.Is(err, net.ErrClosed)
}

// batchHeaderSize is the size of a record batch (magic 2) before its records.
const batchHeaderSize = 61

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// recordBatch is one partition's records of a write as a record batch (magic 2), in the
// form a produce request carries it (its size first). Its records are encoded once, into
// the write's arena (writeScratch.arena), but for their values of refValueBytes or more,
// which the encoding takes from the caller's records where it reaches them (cuts): a
// write's copy of its records is its small fields, and no more than refValueBytes of each
// value. Compressed, the records are kept compressed instead (body).
type recordBatch struct {
	idx    []int // the records of the write it holds, in order
	header [4 + batchHeaderSize]byte
	enc    []byte // the records' encoding, without the values cut out
	cuts   []cut  // the values cut out of enc, in order
	body   []byte // the compressed records; nil without compression
}

// refValueBytes is the length from which a record's value is not copied into its batch's
// encoding but read from the record, as the transport encodes the request: a write of
// large values (the inbound pipeline's events with many attributes) keeps no second copy
// of them.
const refValueBytes = 512

// A cut is a value the encoding of a batch's records takes from the record, at pos in
// the encoding without it (recordBatch.enc).
type cut struct {
	pos   int
	value []byte
}

// encodeBatch makes b a record batch of the records of recs at idx, as many as fit into
// BatchBytes (at least one), encoded into s's arena and cuts, and returns the number of
// records it holds. fixed holds the fixedSize of each record of idx.
func (p *Producer) encodeBatch(b *recordBatch, s *writeScratch, recs []kafkago.Message, idx, fixed []int) (int, error) {
	if alone := aloneSize(fixed[0]); alone > p.cfg.BatchBytes {
		return 0, fmt.Errorf("a record taking %d bytes, over BatchBytes (%d): %w", alone, p.cfg.BatchBytes, kafkago.MessageTooLargeError{Message: recs[idx[0]]})
	}
	first := recs[idx[0]].Time.UnixMilli()
	n, size, maxTS := 0, 0, first
	start, cuts := len(s.arena), len(s.cuts)
	enc := s.arena
	for k, i := range idx {
		r := &recs[i]
		ts := r.Time.UnixMilli()
		body := bodySize(fixed[k], ts-first, k)
		rs := varintLen(int64(body)) + body
		if k > 0 && int64(batchHeaderSize+size+rs) > p.cfg.BatchBytes {
			break
		}
		size += rs
		maxTS = max(maxTS, ts)
		n++
		enc = binary.AppendVarint(enc, int64(body))
		enc = append(enc, 0) // attributes
		enc = binary.AppendVarint(enc, ts-first)
		enc = binary.AppendVarint(enc, int64(k))
		enc = appendBytes(enc, r.Key)
		if len(r.Value) >= refValueBytes {
			enc = binary.AppendVarint(enc, int64(len(r.Value)))
			s.cuts = append(s.cuts, cut{pos: len(enc) - start, value: r.Value})
		} else {
			enc = appendBytes(enc, r.Value)
		}
		enc = binary.AppendVarint(enc, int64(len(r.Headers)))
		for _, h := range r.Headers {
			enc = binary.AppendVarint(enc, int64(len(h.Key)))
			enc = append(enc, h.Key...)
			enc = appendBytes(enc, h.Value)
		}
	}
	s.arena = enc
	b.idx, b.enc, b.cuts, b.body = idx[:n], enc[start:len(enc):len(enc)], s.cuts[cuts:len(s.cuts):len(s.cuts)], nil
	attrs := uint16(0)
	if p.codec != nil {
		var buf bytes.Buffer
		cw := p.codec.NewWriter(&buf)
		_, err := b.writeRecords(cw)
		if err == nil {
			err = cw.Close()
		}
		if err != nil {
			return 0, fmt.Errorf("compressing a record batch: %w", err)
		}
		b.body, size = buf.Bytes(), buf.Len()
		attrs = uint16(p.codec.Code())
		// The records are in body now: the values cut out are forgotten, not only cut off
		// (release clears the cuts up to their length).
		clear(s.cuts[cuts:])
		s.arena, s.cuts = s.arena[:start], s.cuts[:cuts]
		b.enc, b.cuts = nil, nil
	}
	h := b.header[4:]
	be := binary.BigEndian
	be.PutUint32(b.header[:], uint32(batchHeaderSize+size))
	be.PutUint64(h[0:], 0)                               // base offset
	be.PutUint32(h[8:], uint32(batchHeaderSize-12+size)) // length after this field
	be.PutUint32(h[12:], 0xffffffff)                     // partition leader epoch: none
	h[16] = 2                                            // magic
	be.PutUint16(h[21:], attrs)                          // compression, create time
	be.PutUint32(h[23:], uint32(n-1))                    // last offset delta
	be.PutUint64(h[27:], uint64(first))                  // first timestamp
	be.PutUint64(h[35:], uint64(maxTS))                  // max timestamp
	be.PutUint64(h[43:], 0xffffffffffffffff)             // producer id: none
	be.PutUint16(h[51:], 0xffff)                         // producer epoch: none
	be.PutUint32(h[53:], 0xffffffff)                     // base sequence: none
	be.PutUint32(h[57:], uint32(n))                      // records
	// The CRC covers what follows it: the rest of the header and the records.
	crc := crc32.Update(0, castagnoli, h[21:])
	if b.body != nil {
		crc = crc32.Update(crc, castagnoli, b.body)
	} else {
		for piece := range b.pieces {
			crc = crc32.Update(crc, castagnoli, piece)
		}
	}
	be.PutUint32(h[17:], crc)
	return n, nil
}

// appendBytes appends a length-prefixed byte string; nil is null (length -1).
func appendBytes(b, v []byte) []byte {
	if v == nil {
		return binary.AppendVarint(b, -1)
	}
	return append(binary.AppendVarint(b, int64(len(v))), v...)
}

// pieces yields b's records, uncompressed, in order: its encoding, and the values cut out
// of it where they go.
func (b *recordBatch) pieces(yield func([]byte) bool) {
	at := 0
	for _, c := range b.cuts {
		if !yield(b.enc[at:c.pos]) || !yield(c.value) {
			return
		}
		at = c.pos
	}
	yield(b.enc[at:])
}

// writeRecords writes b's records, uncompressed (see pieces).
func (b *recordBatch) writeRecords(w io.Writer) (int64, error) {
	var n int64
	for piece := range b.pieces {
		m, err := w.Write(piece)
		n += int64(m)
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// writeTo writes b as a produce request carries it.
func (b *recordBatch) writeTo(w io.Writer) (int64, error) {
	n, err := w.Write(b.header[:])
	if err != nil {
		return int64(n), err
	}
	if b.body != nil {
		m, err := w.Write(b.body)
		return int64(n + m), err
	}
	m, err := b.writeRecords(w)
	return int64(n) + m, err
}

// batchReader is the io.Reader a produce request takes a record set from: the transport
// copies it with io.Copy, which calls WriteTo. One per attempt; closed once the attempt's
// round trip returned, it reads the records no more (see Producer).
type batchReader struct {
	b      *recordBatch
	mu     sync.Mutex    // held while the records are read
	closed bool          // the attempt is over
	r      *bytes.Reader // Read's, made on first use
}

// errAttemptOver is the encoding of a produce request given up on that had not read its
// records when the attempt ended.
var errAttemptOver = errors.New("kafka: the produce attempt is over: its records are not read any more")

func (r *batchReader) WriteTo(w io.Writer) (int64, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return 0, errAttemptOver
	}
	return r.b.writeTo(w)
}

// close ends the reads of the records, once a read under way has ended.
func (r *batchReader) close() {
	r.mu.Lock()
	r.closed = true
	r.mu.Unlock()
}

func (r *batchReader) Read(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return 0, errAttemptOver
	}
	if r.r == nil {
		var buf bytes.Buffer
		if _, err := r.b.writeTo(&buf); err != nil {
			return 0, err
		}
		r.r = bytes.NewReader(buf.Bytes())
	}
	return r.r.Read(p)
}

// RecordBatchSize is the size of a record batch holding one record alone, with a key of
// keyLen bytes, a value of valueLen bytes (-1: null) and nHeaders headers taking
// headerBytes (each HeaderSize): a Producer writes a record only if this is at most its
// BatchBytes, and fails the whole Write otherwise.
func RecordBatchSize(keyLen, valueLen, nHeaders, headerBytes int) int64 {
	return aloneSize(bytesLen(keyLen) + bytesLen(valueLen) + varintLen(int64(nHeaders)) + headerBytes)
}

// MaxValueLen is the longest value a record with a key of keyLen bytes and nHeaders
// headers taking headerBytes can have within batchBytes (RecordBatchSize), or a negative
// number when even an empty value does not fit.
func MaxValueLen(batchBytes int64, keyLen, nHeaders, headerBytes int) int64 {
	v := batchBytes - RecordBatchSize(keyLen, 0, nHeaders, headerBytes)
	for v > 0 && RecordBatchSize(keyLen, int(v), nHeaders, headerBytes) > batchBytes {
		v-- // the value's and the record's length prefixes grew
	}
	return v
}

// HeaderSize is the size of a record header with key and a value of valueLen bytes (-1:
// null).
func HeaderSize(key string, valueLen int) int {
	return varintLen(int64(len(key))) + len(key) + bytesLen(valueLen)
}

// fixedSize is the size of r's encoding in a record batch but for its length prefix, its
// attributes and its deltas: its key, value and headers.
func fixedSize(r *kafkago.Message) int {
	n := bytesLen(lenOrNull(r.Key)) + bytesLen(lenOrNull(r.Value)) + varintLen(int64(len(r.Headers)))
	for _, h := range r.Headers {
		n += HeaderSize(h.Key, lenOrNull(h.Value))
	}
	return n
}

// bodySize is the size of a record's encoding after its length prefix, from its
// fixedSize and its deltas.
func bodySize(fixed int, tsDelta int64, offsetDelta int) int {
	return 1 + varintLen(tsDelta) + varintLen(int64(offsetDelta)) + fixed
}

// aloneSize is the size of a record batch holding alone a record of that fixedSize.
func aloneSize(fixed int) int64 {
	n := bodySize(fixed, 0, 0)
	return int64(batchHeaderSize + varintLen(int64(n)) + n)
}

func lenOrNull(v []byte) int {
	if v == nil {
		return -1
	}
	return len(v)
}

// bytesLen is the size of a length-prefixed byte string of n bytes (-1: null).
func bytesLen(n int) int {
	return varintLen(int64(n)) + max(n, 0)
}

// varintLen is the length of v as a zigzag varint.
func varintLen(v int64) int {
	u := uint64(v<<1) ^ uint64(v>>63)
	return (bits.Len64(u|1) + 6) / 7
}
