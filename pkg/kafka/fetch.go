package kafka

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"time"

	"github.com/klauspost/compress/zstd"
	kafkago "github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/protocol"
	"github.com/segmentio/kafka-go/protocol/apiversions"
	"github.com/segmentio/kafka-go/protocol/listoffsets"
	"github.com/segmentio/kafka-go/protocol/metadata"
	"github.com/segmentio/kafka-go/protocol/saslauthenticate"
	"github.com/segmentio/kafka-go/protocol/saslhandshake"
	"github.com/segmentio/kafka-go/sasl"
)

// PartitionReaderConfig configures a PartitionReader.
type PartitionReaderConfig struct {
	// Brokers to look the partition's leader up from. Required.
	Brokers []string
	// Dialer connects (ClientID, Timeout, TLS, SASLMechanism, DialFunc); nil is a default
	// dialer with a 10 s timeout.
	Dialer *kafkago.Dialer
	// Topic and Partition to read. Required.
	Topic     string
	Partition int
	// MaxBytes bounds the records one fetch returns; a reader holds two responses (default
	// 256 KiB: a thousand records of 256 bytes, and 8 partitions' readers then hold 4 MiB;
	// the Java consumer's max.partition.fetch.bytes is 1 MiB). A record batch larger than it
	// still comes whole: Kafka returns the first batch of a fetch in full.
	MaxBytes int
	// MaxWait is how long the broker holds a fetch that finds fewer than MinBytes of
	// records (default 500 ms).
	MaxWait time.Duration
	// MinBytes is how many bytes of records the broker waits for before it answers a
	// fetch, up to MaxWait (default 1: as soon as there is a record). A reader at the end
	// of a partition that records reach a few at a time, which wants them in bulk more
	// than at once (the applied-ids store following its topic), asks for more: one fetch
	// then brings many records, each seen up to MaxWait after it was written.
	MinBytes int
	// MaxDecompressedBytes bounds what one compressed record batch may decompress to
	// (default DefaultMaxDecompressedBytes, 128 MiB): a batch that would take more does
	// not decode (see PartitionReader), and neither does a zstd frame that asks for a
	// window larger than it (or, after the batch's first frame, larger than what the frames
	// before it leave of it, where the frame does not declare its content size and its
	// blocks, of 128 KiB at most each, could take more than that). Kafka bounds a batch's
	// compressed size (message.max.bytes, 1 MiB by default), not what it expands to: the
	// default leaves room for a batch of that size of highly compressible JSON or Avro
	// (128:1, where such data compresses 5 to 20:1) and for the window of zstd's highest
	// level (128 MiB, level 22, the most Kafka's Java consumer accepts), matches the
	// largest response the reader takes, and bounds what a batch made to expand (a zip
	// bomb) costs. Whatever a batch's headers claim, no more than this of it is
	// decompressed, into storage no larger (with zstd, up to one block of 128 KiB more),
	// all its zstd frames together; the reader keeps no more than 2 × MaxBytes of it for
	// the next batch.
	MaxDecompressedBytes int
	// Retrying, when set, is told of each failure FetchMessage retries (a lost connection,
	// a leader that moved, a broker not answering) before it waits and tries again.
	Retrying func(error)
	// ReadCommitted reads with isolation read_committed: records of transactions their
	// producers aborted are skipped, and the reader reads no further than the first
	// record of a transaction still open (Kafka's last stable offset), until it ends.
	// LastOffset is then the last stable offset. Default read_uncommitted, as kafka-go's
	// and Kafka's own consumers: every record, aborted or not.
	ReadCommitted bool
	// Idle, when set, is called in the caller's goroutine during FetchMessage and
	// FetchView once every record at hand was returned, before the reader takes a
	// fetch's answer, which it may have to wait for: a caller that gathers records to
	// handle them together (the applied-ids store puts its marks in chunks) handles those
	// it gathered then, instead of holding them while no record comes. It must not use
	// the reader.
	Idle func()
}

// A PartitionReader reads the records of one partition from an offset on, with Fetch
// requests of its own to the partition's leader over a connection of its own. It is what
// the Subscriber and the pipelines read with in place of kafka-go's Reader, which hands
// every record from a goroutine of its own over a channel and allocates each key, value,
// header key and header value apart: here each record costs one allocation for its bytes
// and one for its headers (none with FetchView), decoded in the caller's goroutine. The
// next fetch is sent as soon as a response arrives, from where that response ends, and
// runs in a goroutine while the caller reads the records: the network and the broker's
// wait overlap the caller's work, and a goroutine hand-off happens once per response,
// not once per record.
//
// A record from FetchMessage is the caller's: its Key, Value and header values stay valid
// and unchanged for as long as the caller keeps them (FetchView's are valid only until the
// next call). Memory is bounded by two responses (MaxBytes each: the one being read and
// the one being fetched) and the decompressed batch (MaxDecompressedBytes), whatever the
// caller holds.
//
// Failures are retried inside FetchMessage, with a growing pause (100 ms to 1 s) and the
// leader looked up again: a lost connection, a leader that moved, a partition not yet
// available, a response that does not parse. A record batch that does not decode (its
// CRC fails, it does not decompress or would decompress to more than
// MaxDecompressedBytes, its records do not parse or are not as many as its header
// declares) is fetched again too, and when the third fetch in a row brings it so,
// FetchMessage returns one record in its place, at its first offset, carrying the whole
// batch and UndecodableHeader (see Undecodable), and reads on after the batch: a batch
// damaged in the log would hold the partition for ever, and dropping it would lose its
// records unseen. FetchMessage returns only a record, the context's error,
// kafkago.OffsetOutOfRange for an offset past the end of the log (an offset before its
// start moves to the start, as kafka-go's Reader does), or a Kafka error retrying cannot
// cure (an authorization error). An unknown topic or partition is retried like one not
// yet available: Kafka answers so while a new topic spreads to the brokers, and for a
// deleted one alike; the Retrying callback sees each such failure.
//
// Records of control batches (transaction markers) are skipped; records of aborted
// transactions are returned unless ReadCommitted is set. Besides the record batches of
// Kafka 0.11 and later (magic 2), the messages of the formats before (magic 0 and 1),
// which Kafka 2.x and 3.x brokers still serve where old producers wrote them, are read as
// Kafka's Java consumer reads them: uncompressed or in compressed wrappers, without
// headers, and (magic 0) without a timestamp, their Time zero.
//
// A PartitionReader is used by one goroutine at a time; Close ends the fetch under way.
type PartitionReader struct {
	cfg    PartitionReaderConfig
	ctx    context.Context // ended by Close
	cancel context.CancelFunc
	offset int64 // of the next record to return; kafkago.FirstOffset or LastOffset until resolved

	// The fetch under way, if any. While one is, its goroutine alone uses conn, corr and
	// req; the caller's goroutine uses them only when none is.
	inflight bool
	abort    context.CancelFunc // ends the fetch under way
	results  chan fetchResult
	conn     *protocol.Conn // to the leader; nil until connected, and after a failure
	corr     int32
	req      []byte // the encoded fetch request
	spare    []byte // a response buffer no record is read from

	resp    []byte        // the buffer of the response being read
	plain   []byte        // the current batch's records, decompressed
	zstd    *zstd.Decoder // nil until a batch needs it
	zstdMax uint64        // the bound on one frame's output zstd was last given (see unzstd)
	batches []byte        // the response's record batches not yet read
	recs    []byte        // the current batch's records not yet read
	left    int           // records of the current batch not yet read
	batch   batchHeader
	inBatch bool // batch is the one being read
	hwm     int64
	// ReadCommitted: the response's aborted transactions not reached yet, by first offset,
	// and the producers whose records are in an aborted transaction from here on.
	aborted   []abortedTxn
	abortedBy map[int64]struct{}

	names    map[string]string // header keys seen, so that each is allocated once
	view     bool              // the call under way is FetchView's: records are not copied
	headers  []kafkago.Header  // FetchView's records' headers
	failures int               // consecutive failed fetches: the pause before the next
	// bad is the offset of the last batch that did not decode, and how many fetches in a
	// row brought it so (see standIn).
	bad struct {
		offset  int64
		fetches int
	}

	// passed, when set, is told the offset the reader moved to past offsets without a
	// record (a control batch, records compacted away), in the caller's goroutine, during
	// FetchMessage: every record before that offset was returned already.
	passed func(offset int64)
	// deleted, when set, is told when the reader moved from offset from to the start of
	// the log, to, because the records in between were deleted (retention, DeleteRecords)
	// before they were read; in the caller's goroutine, during FetchMessage.
	deleted func(from, to int64)
}

// batchHeader is what the records of a batch need from its header.
type batchHeader struct {
	base       int64 // offset of the batch's first record
	last       int64 // offset of its last record (compaction may have removed it)
	firstTime  int64 // milliseconds
	maxTime    int64
	appendTime bool   // timestamps are the broker's (LogAppendTime): every record has maxTime
	raw        []byte // the whole batch, as the response holds it
	magic      byte   // its format: 2, or a message of the old formats, 0 and 1
	// legacyBase is what the offsets of a message set of magic 0 and 1 are relative to:
	// the wrapper's base for the inner messages of a compressed message of magic 1, 0
	// otherwise (absolute offsets).
	legacyBase int64
}

// fetchResult is what one fetch brought.
type fetchResult struct {
	asked int64  // the offset asked for
	from  int64  // the offset fetched from: asked, resolved or moved to the start of the log
	buf   []byte // the response buffer, records or not
	part  fetchPartition
	err   error
}

// DefaultMaxDecompressedBytes is the default of PartitionReaderConfig.MaxDecompressedBytes
// and SubscriberConfig.MaxDecompressedBytes.
const DefaultMaxDecompressedBytes = 128 << 20

// NewPartitionReader returns a reader of cfg's partition, positioned at its first
// retained record; SetOffset moves it.
func NewPartitionReader(cfg PartitionReaderConfig) *PartitionReader {
	if cfg.Dialer == nil {
		cfg.Dialer = &kafkago.Dialer{Timeout: 10 * time.Second}
	}
	if cfg.MaxBytes <= 0 {
		cfg.MaxBytes = 256 << 10
	}
	if cfg.MaxWait <= 0 {
		cfg.MaxWait = 500 * time.Millisecond
	}
	if cfg.MinBytes <= 0 {
		cfg.MinBytes = 1
	}
	if cfg.MaxDecompressedBytes <= 0 {
		cfg.MaxDecompressedBytes = DefaultMaxDecompressedBytes
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &PartitionReader{cfg: cfg, ctx: ctx, cancel: cancel, offset: kafkago.FirstOffset,
		results: make(chan fetchResult, 1), names: map[string]string{}}
}

// SetOffset makes the next FetchMessage return the record at offset, or the first record
// after it. kafkago.FirstOffset and kafkago.LastOffset designate the first retained record
// and the end of the log, resolved at the next fetch.
func (r *PartitionReader) SetOffset(offset int64) {
	if r.inflight {
		r.drop() // it fetches from elsewhere
	}
	r.offset = offset
	r.batches, r.recs, r.left, r.inBatch = nil, nil, 0, false
}

// Offset returns the offset of the record the next FetchMessage looks for: after the
// last record of a batch, past the batch's offsets that hold none (records compacted away,
// those of a batch a record stood in for).
func (r *PartitionReader) Offset() int64 {
	if r.inBatch && r.left == 0 {
		return max(r.offset, r.batch.last+1)
	}
	return r.offset
}

// Close ends the fetch under way and closes the reader's connection. The reader must not
// be used afterwards.
func (r *PartitionReader) Close() error {
	r.cancel()
	r.drop()
	if r.zstd != nil {
		r.zstd.Close()
		r.zstd = nil
	}
	return nil
}

// FetchMessage returns the next record of the partition, waiting for it as long as ctx
// allows. See PartitionReader for the errors it returns.
func (r *PartitionReader) FetchMessage(ctx context.Context) (kafkago.Message, error) {
	r.view = false
	return r.fetchMessage(ctx)
}

// FetchView is FetchMessage without the copy: the record's Key, Value and Headers point
// into the reader's buffers and stay valid only until the next call to FetchMessage,
// FetchView or Close. It is for a caller done with each record before it asks for the next
// (the outbound pipeline's applied-ids store follows its topic so), and saves the
// record's two allocations.
func (r *PartitionReader) FetchView(ctx context.Context) (kafkago.Message, error) {
	r.view = true
	return r.fetchMessage(ctx)
}

func (r *PartitionReader) fetchMessage(ctx context.Context) (kafkago.Message, error) {
	for {
		rec, ok, err := r.next()
		if ok {
			return rec, nil
		}
		var bad *batchError
		if errors.As(err, &bad) {
			if r.batch.last < r.offset {
				continue // the batch ends before the offset asked for: nothing of it is wanted
			}
			if rec, ok := r.standIn(bad); ok {
				if len(r.abortedBy) > 0 {
					// With read_committed, a producer's aborted transaction is under way,
					// and the batch may have been its abort marker: read on in this
					// response, the producer's next transaction, committed, would be
					// skipped as aborted. The rest is fetched again, with the aborted
					// transactions Kafka lists for it.
					r.batches = nil
				}
				return rec, nil
			}
		}
		if err == nil {
			if !r.inflight {
				r.start(r.offset)
			}
			r.idle()
			select {
			case res := <-r.results:
				r.inflight = false
				if err = r.use(res); err == nil {
					continue
				}
			case <-ctx.Done():
				return kafkago.Message{}, ctx.Err() // the fetch goes on: the next call takes it
			}
		}
		// The batches are dropped whatever follows, so that the next call reads again
		// from the record that failed: returned mid-batch, the reader would take the
		// rest of the batch as read.
		r.drop()
		if ctx.Err() != nil {
			return kafkago.Message{}, ctx.Err()
		}
		if errors.Is(err, kafkago.OffsetOutOfRange) || !fetchRetriable(err) {
			return kafkago.Message{}, err
		}
		if r.cfg.Retrying != nil {
			r.cfg.Retrying(err)
		}
		r.failures++
		t := time.NewTimer(RetryPause(r.failures))
		select {
		case <-ctx.Done():
			t.Stop()
			return kafkago.Message{}, ctx.Err()
		case <-t.C:
		}
	}
}

// idle calls the Idle callback, if any.
func (r *PartitionReader) idle() {
	if r.cfg.Idle != nil {
		r.cfg.Idle()
	}
}

// undecodableFetches is how many fetches in a row must bring a record batch that does not
// decode before the reader gives it up (see standIn).
const undecodableFetches = 3

// standIn returns the record that stands for the current batch, which does not decode
// (err says why), once undecodableFetches fetches in a row brought it so, and moves the
// reader past the batch: a response spoiled on its way, or a broker's passing fault,
// decodes when fetched again, a batch damaged in the log never does, and the partition
// must go on without losing it. Until then it reports false, and the batch is fetched
// again. The record is at the first offset the batch stands for (the batch's first, or
// the offset asked for when the batch starts before it); its value is the whole batch as
// the log holds it, its key nil, and its one header UndecodableHeader, what err says (see
// Undecodable). Every other offset of the batch passes without a record.
func (r *PartitionReader) standIn(err *batchError) (kafkago.Message, bool) {
	first := r.batchFirst()
	if r.bad.offset != first {
		r.bad.offset, r.bad.fetches = first, 0
	}
	r.bad.fetches++
	if r.bad.fetches < undecodableFetches {
		return kafkago.Message{}, false
	}
	r.bad.fetches = 0
	r.left, r.recs = 0, nil // the batch is over: next passes its other offsets
	value := r.batch.raw
	if !r.view {
		value = bytes.Clone(value)
	}
	r.offset = first + 1
	return kafkago.Message{
		Topic:         r.cfg.Topic,
		Partition:     r.cfg.Partition,
		Offset:        first,
		HighWaterMark: r.hwm,
		Value:         value,
		Time:          time.UnixMilli(r.batch.firstTime),
		Headers:       []kafkago.Header{{Key: UndecodableHeader, Value: []byte(err.desc)}},
	}, true
}

// start sends a fetch from offset in a goroutine of its own; its result comes on r.results.
func (r *PartitionReader) start(offset int64) {
	ctx, cancel := context.WithCancel(r.ctx)
	buf := r.spare
	r.spare, r.inflight, r.abort = nil, true, cancel
	go func() {
		res := r.fetch(ctx, offset, buf)
		cancel() // before the result is handed over: then nothing of the fetch runs after drop
		r.results <- res
	}()
}

// use makes the records of res, a fetch from r.offset, the next ones, and sends the next
// fetch, from where they end.
func (r *PartitionReader) use(res fetchResult) error {
	if res.asked != r.offset {
		// Fetched from elsewhere, whatever it brought (an offset out of range, say): from
		// where the response before ends by its batches' claims, which a damaged batch's
		// may not be (see damaged). Fetched again.
		r.spare = res.buf
		return nil
	}
	if res.err != nil {
		r.spare = res.buf
		return res.err
	}
	end, err := batchesEnd(res.part.records, res.from)
	if err != nil {
		r.spare = res.buf
		return err
	}
	r.failures = 0
	if r.deleted != nil && res.asked >= 0 && res.from > res.asked {
		r.deleted(res.asked, res.from)
	}
	r.offset = res.from
	r.spare, r.resp = r.resp, res.buf // the records before are read through
	r.batches, r.hwm = res.part.records, res.part.highWatermark
	r.aborted = res.part.aborted // each response lists those its records overlap
	clear(r.abortedBy)
	r.start(end)
	return nil
}

// errNoBrokers is a PartitionReader configured without brokers.
var errNoBrokers = errors.New("kafka: a PartitionReader needs brokers")

// fetchRetriable reports whether fetching again (after looking the leader up again) may
// cure err: anything but a missing configuration or a Kafka error that says otherwise.
func fetchRetriable(err error) bool {
	if errors.Is(err, errNoBrokers) {
		return false
	}
	var kerr kafkago.Error
	if errors.As(err, &kerr) {
		// Temporary covers the moved leader (NOT_LEADER, FENCED_LEADER_EPOCH and the like).
		return kerr.Temporary() || kerr == kafkago.ReplicaNotAvailable
	}
	return true
}

// drop ends the fetch under way, if any, closes the connection and forgets what is left of
// the last response: the next fetch looks the leader up again and reads from r.offset.
func (r *PartitionReader) drop() {
	if r.inflight {
		r.abort()
		r.spare = (<-r.results).buf
		r.inflight = false
	}
	if r.conn != nil {
		_ = r.conn.Close()
		r.conn = nil
	}
	r.batches, r.recs, r.left, r.inBatch = nil, nil, 0, false
}

// fetch sends one Fetch request from offset, reading the response into buf's storage. It
// runs in the fetch's goroutine.
func (r *PartitionReader) fetch(ctx context.Context, offset int64, buf []byte) fetchResult {
	res := fetchResult{asked: offset, from: offset, buf: buf}
	if r.conn == nil {
		if res.err = r.connect(ctx); res.err != nil {
			return res
		}
	}
	if offset < 0 {
		if res.from, res.err = r.listOffset(ctx, offset); res.err != nil {
			return res
		}
	}
	r.corr++
	r.req = appendFetchRequest(r.req[:0], r.corr, r.cfg.Dialer.ClientID, r.cfg.Topic, int32(r.cfg.Partition), res.from, r.cfg.MaxWait, int32(r.cfg.MinBytes), int32(r.cfg.MaxBytes), r.cfg.ReadCommitted)
	if res.buf, res.err = r.roundTrip(ctx, r.req, buf); res.err != nil {
		return res
	}
	if res.part, res.err = parseFetchResponse(res.buf, r.corr, r.cfg.Topic, int32(r.cfg.Partition)); res.err != nil {
		return res
	}
	switch res.part.errorCode {
	case 0:
	case int16(kafkago.OffsetOutOfRange):
		// Before the start of the log (retention or compaction removed it): move to the
		// start. Past its end: the caller decides.
		start, err := r.listOffset(ctx, kafkago.FirstOffset)
		switch {
		case err != nil:
			res.err = err
		case res.from < start:
			res.from, res.part.records = start, nil
		default:
			res.err = kafkago.OffsetOutOfRange
		}
	default:
		res.err = fmt.Errorf("kafka: fetching %s/%d at offset %d: %w", r.cfg.Topic, r.cfg.Partition, res.from, kafkago.Error(res.part.errorCode))
	}
	return res
}

// roundTrip writes the request req and returns the response's body after its size, in
// buf's storage when it is large enough. The exchange may take MaxWait longer than the
// dial timeout; ctx ending interrupts it.
func (r *PartitionReader) roundTrip(ctx context.Context, req, buf []byte) ([]byte, error) {
	conn := r.conn
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	_ = conn.SetDeadline(time.Now().Add(r.cfg.MaxWait + r.dialTimeout()))
	if _, err := conn.Write(req); err != nil {
		return buf, err
	}
	var size [4]byte
	if _, err := io.ReadFull(conn, size[:]); err != nil {
		return buf, err
	}
	n := int(int32(binary.BigEndian.Uint32(size[:])))
	if n < 4 || n > max(2*r.cfg.MaxBytes, 128<<20) {
		return buf, fmt.Errorf("kafka: a response of %d bytes from %s", n, conn.RemoteAddr())
	}
	if cap(buf) < n {
		// With room to spare, up to a full response: the responses of a busy partition
		// differ by a few bytes, and each one larger than the buffer took a new one, of
		// about MaxBytes (a hundred bytes per command for the outbound pipeline).
		buf = make([]byte, n, max(n, min(n+n/8, r.cfg.MaxBytes+responseFields)))
	}
	buf = buf[:n]
	if _, err := io.ReadFull(conn, buf); err != nil {
		return buf, err
	}
	_ = conn.SetDeadline(time.Time{})
	return buf, nil
}

// responseFields is room, in a response buffer, for a fetch response's fields around its
// records (their sizes and offsets, the aborted transactions it lists).
const responseFields = 1 << 10

func (r *PartitionReader) dialTimeout() time.Duration {
	if r.cfg.Dialer.Timeout > 0 {
		return r.cfg.Dialer.Timeout
	}
	return 10 * time.Second
}

// connect looks up the partition's leader through the brokers and connects to it. A
// broker it cannot connect to, or that does not answer the lookup (a broker that hangs
// after the handshake, a connection lost), makes it ask the next one; an answer of the
// cluster (an error code) ends the attempt, since another broker would answer the same.
// After a failed attempt it starts from the next broker, so that a broker that hangs is
// not the first one asked every time.
func (r *PartitionReader) connect(ctx context.Context) error {
	var lastErr error
	for i := range r.cfg.Brokers {
		addr := r.cfg.Brokers[(i+r.failures)%len(r.cfg.Brokers)]
		pc, err := r.dial(ctx, addr)
		if err != nil {
			lastErr = err
			continue
		}
		leader, err := r.leader(ctx, pc)
		if err != nil {
			_ = pc.Close()
			var kerr kafkago.Error
			if errors.As(err, &kerr) || ctx.Err() != nil {
				return err
			}
			lastErr = fmt.Errorf("kafka: asking %s for the leader: %w", addr, err)
			continue
		}
		if leader != addr {
			_ = pc.Close()
			if pc, err = r.dial(ctx, leader); err != nil {
				return err
			}
		}
		r.conn = pc
		return nil
	}
	if lastErr == nil {
		return errNoBrokers
	}
	return fmt.Errorf("kafka: looking up the leader of %s/%d: %w", r.cfg.Topic, r.cfg.Partition, lastErr)
}

// leader asks pc's broker for the address of the partition's leader.
func (r *PartitionReader) leader(ctx context.Context, pc *protocol.Conn) (string, error) {
	res, err := r.exchange(ctx, pc, &metadata.Request{TopicNames: []string{r.cfg.Topic}})
	if err != nil {
		return "", err
	}
	md := res.(*metadata.Response)
	for _, t := range md.Topics {
		if t.Name != r.cfg.Topic {
			continue
		}
		if t.ErrorCode != 0 {
			return "", fmt.Errorf("kafka: metadata of %s: %w", r.cfg.Topic, kafkago.Error(t.ErrorCode))
		}
		for _, p := range t.Partitions {
			if int(p.PartitionIndex) != r.cfg.Partition {
				continue
			}
			if p.ErrorCode != 0 && p.LeaderID < 0 {
				return "", fmt.Errorf("kafka: metadata of %s/%d: %w", r.cfg.Topic, r.cfg.Partition, kafkago.Error(p.ErrorCode))
			}
			for _, b := range md.Brokers {
				if b.NodeID == p.LeaderID {
					return net.JoinHostPort(b.Host, strconv.Itoa(int(b.Port))), nil
				}
			}
			return "", fmt.Errorf("kafka: metadata of %s/%d: %w", r.cfg.Topic, r.cfg.Partition, kafkago.LeaderNotAvailable)
		}
		return "", fmt.Errorf("kafka: %s has no partition %d: %w", r.cfg.Topic, r.cfg.Partition, kafkago.UnknownTopicOrPartition)
	}
	return "", fmt.Errorf("kafka: metadata of %s: %w", r.cfg.Topic, kafkago.UnknownTopicOrPartition)
}

// listOffset asks the leader for the offset at (kafkago.FirstOffset or LastOffset).
func (r *PartitionReader) listOffset(ctx context.Context, at int64) (int64, error) {
	var isolation int8
	if r.cfg.ReadCommitted {
		isolation = 1 // LastOffset: the last stable offset
	}
	res, err := r.exchange(ctx, r.conn, &listoffsets.Request{
		ReplicaID:      -1,
		IsolationLevel: isolation,
		Topics: []listoffsets.RequestTopic{{Topic: r.cfg.Topic, Partitions: []listoffsets.RequestPartition{
			{Partition: int32(r.cfg.Partition), CurrentLeaderEpoch: -1, Timestamp: at},
		}}},
	})
	if err != nil {
		return 0, err
	}
	for _, t := range res.(*listoffsets.Response).Topics {
		for _, p := range t.Partitions {
			if t.Topic == r.cfg.Topic && int(p.Partition) == r.cfg.Partition {
				if p.ErrorCode != 0 {
					return 0, fmt.Errorf("kafka: listing the offsets of %s/%d: %w", r.cfg.Topic, r.cfg.Partition, kafkago.Error(p.ErrorCode))
				}
				return p.Offset, nil
			}
		}
	}
	return 0, fmt.Errorf("kafka: listing the offsets of %s/%d: no answer for the partition", r.cfg.Topic, r.cfg.Partition)
}

// exchange sends a request of kafka-go's protocol package over pc, within the dial
// timeout; ctx ending interrupts it.
func (r *PartitionReader) exchange(ctx context.Context, pc *protocol.Conn, req protocol.Message) (protocol.Message, error) {
	stop := context.AfterFunc(ctx, func() { _ = pc.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	_ = pc.SetDeadline(time.Now().Add(r.dialTimeout()))
	res, err := pc.RoundTrip(req)
	_ = pc.SetDeadline(time.Time{})
	return res, err
}

// dial connects to addr as the Dialer says (TLS, SASL), and negotiates API versions.
func (r *PartitionReader) dial(ctx context.Context, addr string) (*protocol.Conn, error) {
	d := r.cfg.Dialer
	ctx, cancel := context.WithTimeout(ctx, r.dialTimeout())
	defer cancel()
	var nc net.Conn
	var err error
	if d.DialFunc != nil {
		nc, err = d.DialFunc(ctx, "tcp", addr)
	} else {
		nc, err = (&net.Dialer{}).DialContext(ctx, "tcp", addr)
	}
	if err != nil {
		return nil, err
	}
	if d.TLS != nil {
		cfg := d.TLS
		if cfg.ServerName == "" {
			host, _, _ := net.SplitHostPort(addr)
			cfg = cfg.Clone()
			cfg.ServerName = host
		}
		tc := tls.Client(nc, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			_ = nc.Close()
			return nil, err
		}
		nc = tc
	}
	pc := protocol.NewConn(nc, d.ClientID)
	if err := r.handshake(ctx, pc, addr); err != nil {
		_ = pc.Close()
		return nil, fmt.Errorf("kafka: connecting to %s: %w", addr, err)
	}
	return pc, nil
}

// handshake negotiates the API versions of pc and authenticates it (SASL), as kafka-go's
// Transport does.
func (r *PartitionReader) handshake(ctx context.Context, pc *protocol.Conn, addr string) error {
	res, err := r.exchange(ctx, pc, &apiversions.Request{})
	if err != nil {
		return err
	}
	av := res.(*apiversions.Response)
	if av.ErrorCode != 0 {
		return kafkago.Error(av.ErrorCode)
	}
	versions := make(map[protocol.ApiKey]int16, len(av.ApiKeys))
	fetchOK := false
	for _, k := range av.ApiKeys {
		key := protocol.ApiKey(k.ApiKey)
		versions[key] = key.SelectVersion(k.MinVersion, k.MaxVersion)
		if key == protocol.Fetch && k.MinVersion <= fetchVersion && fetchVersion <= k.MaxVersion {
			fetchOK = true
		}
	}
	if !fetchOK {
		return fmt.Errorf("the broker does not serve Fetch v%d", fetchVersion)
	}
	pc.SetVersions(versions)
	mech := r.cfg.Dialer.SASLMechanism
	if mech == nil {
		return nil
	}
	host, port, _ := net.SplitHostPort(addr)
	portNum, _ := strconv.Atoi(port)
	ctx = sasl.WithMetadata(ctx, &sasl.Metadata{Host: host, Port: portNum})
	hs, err := r.exchange(ctx, pc, &saslhandshake.Request{Mechanism: mech.Name()})
	if err != nil {
		return err
	}
	if code := hs.(*saslhandshake.Response).ErrorCode; code != 0 {
		return kafkago.Error(code)
	}
	sess, state, err := mech.Start(ctx)
	if err != nil {
		return err
	}
	for done := false; !done; {
		res, err := r.exchange(ctx, pc, &saslauthenticate.Request{AuthBytes: state})
		if err != nil {
			if errors.Is(err, io.EOF) {
				return kafkago.SASLAuthenticationFailed
			}
			return err
		}
		auth := res.(*saslauthenticate.Response)
		if auth.ErrorCode != 0 {
			return fmt.Errorf("%w: %s", kafkago.Error(auth.ErrorCode), auth.ErrorMessage)
		}
		if done, state, err = sess.Next(ctx, auth.AuthBytes); err != nil {
			return err
		}
	}
	return nil
}
