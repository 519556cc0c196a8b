package kafka

// The wire format a PartitionReader reads and writes: the Fetch v4 request and response,
// and the record batches (magic 2) of a response decoded into kafka-go messages (the
// messages of magic 0 and 1 a response may hold instead are legacy.go's).

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"slices"
	"time"

	kafkago "github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/compress"
	"github.com/segmentio/kafka-go/protocol"
)

// fetchVersion is the Fetch request version the reader speaks: the oldest that Kafka 4
// still serves, with the record batch format.
const fetchVersion = 4

// appendFetchRequest appends a Fetch v4 request for one partition, with its size.
func appendFetchRequest(b []byte, corr int32, clientID, topic string, partition int32, offset int64, wait time.Duration, minBytes, maxBytes int32, readCommitted bool) []byte {
	be := binary.BigEndian
	b = append(b, 0, 0, 0, 0) // size, set below
	b = be.AppendUint16(b, uint16(protocol.Fetch))
	b = be.AppendUint16(b, fetchVersion)
	b = be.AppendUint32(b, uint32(corr))
	b = be.AppendUint16(b, uint16(len(clientID)))
	b = append(b, clientID...)
	b = be.AppendUint32(b, 0xffffffff) // replica id -1: a consumer
	b = be.AppendUint32(b, uint32(wait.Milliseconds()))
	b = be.AppendUint32(b, uint32(minBytes))
	b = be.AppendUint32(b, uint32(maxBytes))
	var isolation byte // read_uncommitted
	if readCommitted {
		isolation = 1
	}
	b = append(b, isolation)
	b = be.AppendUint32(b, 1) // topics
	b = be.AppendUint16(b, uint16(len(topic)))
	b = append(b, topic...)
	b = be.AppendUint32(b, 1) // partitions
	b = be.AppendUint32(b, uint32(partition))
	b = be.AppendUint64(b, uint64(offset))
	b = be.AppendUint32(b, uint32(maxBytes))
	be.PutUint32(b, uint32(len(b)-4))
	return b
}

// fetchPartition is the answer of a Fetch v4 response for the partition asked for.
type fetchPartition struct {
	errorCode     int16
	highWatermark int64
	records       []byte // record batches, the last possibly cut short
	// aborted are the transactions aborted in the range the records cover, by first
	// offset (answered to read_committed fetches only).
	aborted []abortedTxn
}

// abortedTxn is a transaction its producer aborted, from its first record's offset on.
type abortedTxn struct{ producer, first int64 }

// errMalformed is a fetch response that does not parse.
var errMalformed = errors.New("kafka: malformed fetch response")

// batchError is a record batch of a response that does not decode (see
// PartitionReader.standIn): what is wrong with it. It wraps ErrUndecodable.
type batchError struct{ desc string }

func (e *batchError) Error() string { return ErrUndecodable.Error() + ": " + e.desc }
func (e *batchError) Unwrap() error { return ErrUndecodable }

// parseFetchResponse reads a Fetch v4 response body (after its size) for one partition.
func parseFetchResponse(b []byte, corr int32, topic string, partition int32) (fetchPartition, error) {
	d := decoder{b: b}
	if got := d.int32(); got != corr && !d.failed {
		return fetchPartition{}, fmt.Errorf("%w: correlation id %d, want %d", errMalformed, got, corr)
	}
	d.int32() // throttle time
	for range d.int32() {
		name := d.bytes16()
		for range d.int32() {
			if d.failed {
				break
			}
			var p fetchPartition
			index := d.int32()
			p.errorCode = d.int16()
			p.highWatermark = d.int64()
			d.int64() // last stable offset
			if n := int(d.int32()); n > 0 && n <= len(d.rest())/16 {
				p.aborted = make([]abortedTxn, n)
				for i := range p.aborted {
					p.aborted[i] = abortedTxn{producer: d.int64(), first: d.int64()}
				}
				slices.SortFunc(p.aborted, func(a, b abortedTxn) int { return cmp.Compare(a.first, b.first) })
			} else if n > 0 {
				d.skip(16 * n) // more than the response holds: fails
			}
			p.records = d.bytes32()
			if !d.failed && string(name) == topic && index == partition {
				return p, nil
			}
		}
		if d.failed {
			break
		}
	}
	if d.failed {
		return fetchPartition{}, errMalformed
	}
	return fetchPartition{}, fmt.Errorf("%w: no answer for %s/%d", errMalformed, topic, partition)
}

// wholeBatch splits the first record batch off b. It returns a nil batch when b holds no
// whole one: b is empty, or its batch was cut short by the response's size limit (fetched
// again from its start next time); and an error when the batch's size cannot be one.
func wholeBatch(b []byte) (batch, rest []byte, err error) {
	if len(b) < 17 {
		return nil, nil, nil
	}
	size := int(int32(binary.BigEndian.Uint32(b[8:12])))
	least := batchHeaderSize - 12
	if magic := b[16]; magic < 2 {
		least = legacyOverhead[magic]
	}
	if size < least {
		return nil, nil, fmt.Errorf("%w: a record batch at offset %d claims %d bytes, fewer than its header", errMalformed, int64(binary.BigEndian.Uint64(b)), size)
	}
	if len(b)-12 < size {
		return nil, nil, nil
	}
	return b[:12+size], b[12+size:], nil
}

// batchesEnd returns the offset after the last whole record batch of b, or from when b
// holds none. It fails when b has records but no whole batch: Kafka returns the first batch
// of a fetch whole, so a fetch from the same offset would bring the same again.
func batchesEnd(b []byte, from int64) (int64, error) {
	end, whole := from, false
	for {
		batch, rest, err := wholeBatch(b)
		if err != nil {
			return 0, err
		}
		if batch == nil {
			break
		}
		end, whole, b = max(end, batchLast(batch)+1), true, rest
	}
	if !whole && len(b) > 0 {
		return 0, fmt.Errorf("%w: the first record batch at offset %d is cut short (%d bytes in the response)", errMalformed, from, len(b))
	}
	return end, nil
}

// batchLast returns the offset of the last record the whole batch b stands for: a record
// batch's base offset plus its last offset delta; a message's own offset (magic 0 and 1),
// which for a compressed one is its last inner message's.
func batchLast(b []byte) int64 {
	base := int64(binary.BigEndian.Uint64(b))
	if b[16] < 2 {
		return base
	}
	return base + int64(int32(binary.BigEndian.Uint32(b[23:27])))
}

// next returns the next record of the fetched batches from r.offset on, if any is left.
func (r *PartitionReader) next() (kafkago.Message, bool, error) {
	for {
		if r.left > 0 {
			rec, err := r.record()
			if err != nil {
				return kafkago.Message{}, false, err
			}
			if rec.Offset < r.offset {
				continue // a batch starts before the offset asked for
			}
			r.offset = rec.Offset + 1
			return rec, true, nil
		}
		if r.inBatch {
			r.inBatch = false
			if r.batch.last >= r.offset {
				// The batch's last records were compacted away, or it is a control batch.
				r.offset = r.batch.last + 1
				if r.passed != nil {
					r.passed(r.offset)
				}
			}
		}
		batch, rest, err := wholeBatch(r.batches)
		if batch == nil || err != nil {
			r.batches = nil
			return kafkago.Message{}, false, err
		}
		r.batches = rest
		if err := r.startBatch(batch); err != nil {
			return kafkago.Message{}, false, err
		}
	}
}

// startBatch reads the header of the whole batch b (a record batch, or a message of magic
// 0 or 1) and makes its records the next ones. A batch that does not decode is a
// *batchError, with r.batch its header.
func (r *PartitionReader) startBatch(b []byte) error {
	magic := b[16]
	if magic < 2 {
		return r.startLegacy(b)
	}
	be := binary.BigEndian
	base := int64(be.Uint64(b[0:]))
	attrs := be.Uint16(b[21:])
	r.batch = batchHeader{
		base:       base,
		last:       batchLast(b),
		firstTime:  int64(be.Uint64(b[27:])),
		maxTime:    int64(be.Uint64(b[35:])),
		appendTime: attrs&0x08 != 0,
		raw:        b,
		magic:      magic,
	}
	r.inBatch = true
	if magic != 2 {
		return r.damaged(fmt.Sprintf("has an unknown message format, v%d", magic))
	}
	if crc := be.Uint32(b[17:]); crc != crc32.Checksum(b[21:], castagnoli) {
		return r.damaged("fails its CRC")
	}
	count := int(int32(be.Uint32(b[57:])))
	records := b[batchHeaderSize:]
	if r.cfg.ReadCommitted && r.skipAborted(b, attrs) {
		return nil // records of an aborted transaction: passed over as a control batch is
	}
	if attrs&0x20 != 0 { // a control batch (transaction marker)
		return nil
	}
	if count < 0 {
		return r.undecodable(fmt.Sprintf("declares %d records", count))
	}
	if count == 0 && len(records) == 0 { // every record compacted away
		return nil
	}
	if codec := compress.Compression(attrs & 0x07); codec != compress.None {
		var err error
		if records, err = r.unpack(codec, records); err != nil {
			return err
		}
	}
	if why := r.checkRecords(records, count); why != "" {
		return r.undecodable(why)
	}
	r.recs, r.left = records, count
	return nil
}

// unpack returns src, the records of the current batch compressed with codec,
// decompressed (see decompress); an error is the batch's (see undecodable).
func (r *PartitionReader) unpack(codec compress.Compression, src []byte) ([]byte, error) {
	if codec.Codec() == nil {
		return nil, r.undecodable(fmt.Sprintf("has unknown compression %d", codec))
	}
	plain, err := r.decompress(codec, src)
	switch {
	case errors.Is(err, errTooLarge):
		return nil, r.undecodable(fmt.Sprintf("(%s) %v", codec, err))
	case err != nil:
		return nil, r.undecodable(fmt.Sprintf("does not decompress (%s): %v", codec, err))
	}
	return plain, nil
}

// checkRecords says what is wrong with records, the records of the current batch, which
// declares count of them: "" when they are count records, each of which parses to its
// end, filling records exactly, at offsets that increase within the batch's. Kafka's
// Java client trusts the count too (DefaultRecordBatch), and fails a batch with bytes
// left after that many records ("records still remaining") or too few of them
// ("premature EOF"); a batch is checked whole before any of its records is returned, so
// that one that does not decode stands in for all of them (see standIn).
func (r *PartitionReader) checkRecords(records []byte, count int) string {
	prev := r.batch.base - 1
	for i := 0; len(records) > 0 || i < count; i++ {
		switch {
		case i == count:
			return fmt.Sprintf("declares %d records but holds more (%d bytes after the last)", count, len(records))
		case len(records) == 0:
			return fmt.Sprintf("declares %d records but holds %d", count, i)
		}
		size, n := binary.Varint(records)
		if n <= 0 || size < 0 || size > int64(len(records)-n) {
			return "has a record whose size does not parse"
		}
		f, ok := parseRecord(records[n : n+int(size)])
		if !ok {
			return fmt.Sprintf("has a record that does not parse (record %d of %d)", i+1, count)
		}
		switch offset := r.batch.base + f.offsetDelta; {
		case offset <= prev:
			return fmt.Sprintf("has a record at offset %d after offset %d", offset, prev)
		case offset > r.batch.last:
			return fmt.Sprintf("has a record at offset %d, past its last", offset)
		default:
			prev = offset
		}
		records = records[n+int(size):]
	}
	return ""
}

// skipAborted reports whether the record batch b (attributes attrs), read with
// read_committed, holds records of a transaction its producer aborted. It follows the
// producers with an aborted transaction under way as Kafka's own consumer does: a
// producer enters at its first batch that reaches the first offset of its aborted
// transaction (the response lists them), and leaves at its abort marker.
func (r *PartitionReader) skipAborted(b []byte, attrs uint16) bool {
	producer := int64(binary.BigEndian.Uint64(b[43:]))
	if producer < 0 {
		return false // neither idempotent nor transactional
	}
	for len(r.aborted) > 0 && r.aborted[0].first <= r.batch.last {
		if r.abortedBy == nil {
			r.abortedBy = make(map[int64]struct{})
		}
		r.abortedBy[r.aborted[0].producer] = struct{}{}
		r.aborted = r.aborted[1:]
	}
	_, aborting := r.abortedBy[producer]
	if attrs&0x20 != 0 { // a control batch: skipped anyway; an abort marker ends the transaction
		if aborting && abortMarker(b[batchHeaderSize:]) {
			delete(r.abortedBy, producer)
		}
		return false
	}
	return aborting && attrs&0x10 != 0 // transactional
}

// abortMarker reports whether the records of a control batch start with an abort marker:
// a record whose key is a version (int16) and the type 0 (ABORT; 1 is COMMIT).
func abortMarker(records []byte) bool {
	d := decoder{b: records}
	d.varint() // size
	d.skip(1)  // attributes
	d.varint() // timestamp delta
	d.varint() // offset delta
	key := d.varBytes()
	return !d.failed && len(key) >= 4 && binary.BigEndian.Uint16(key[2:]) == 0
}

// record decodes the next record of the current batch, which checkRecords passed. Its
// key, value and header values share one allocation, a copy of the record (for FetchView,
// they point into the batch, and the headers into r.headers); header keys are interned.
func (r *PartitionReader) record() (kafkago.Message, error) {
	if r.batch.magic < 2 {
		return r.legacyRecord()
	}
	r.left--
	size, n := binary.Varint(r.recs)
	if n <= 0 || size < 0 || size > int64(len(r.recs)-n) {
		return kafkago.Message{}, r.undecodable("has a record whose size does not parse")
	}
	body := r.recs[n : n+int(size) : n+int(size)]
	r.recs = r.recs[n+int(size):]
	if !r.view {
		body = bytes.Clone(body) // the record's own storage
	}
	f, ok := parseRecord(body)
	if !ok {
		return kafkago.Message{}, r.undecodable("has a record that does not parse")
	}
	rec := kafkago.Message{
		Topic:         r.cfg.Topic,
		Partition:     r.cfg.Partition,
		Offset:        r.batch.base + f.offsetDelta,
		HighWaterMark: r.hwm,
		Key:           f.key,
		Value:         f.value,
	}
	ms := r.batch.firstTime + f.timeDelta
	if r.batch.appendTime {
		ms = r.batch.maxTime
	}
	rec.Time = time.UnixMilli(ms)
	if f.headerCount > 0 {
		if r.view {
			r.headers = slices.Grow(r.headers[:0], f.headerCount)[:f.headerCount]
			rec.Headers = r.headers
		} else {
			rec.Headers = make([]kafkago.Header, f.headerCount)
		}
		d := decoder{b: f.headers}
		for i := range rec.Headers {
			key := d.varBytes()
			name, ok := r.names[string(key)]
			if !ok {
				name = string(key)
				if len(r.names) < 256 {
					r.names[name] = name
				}
			}
			rec.Headers[i] = kafkago.Header{Key: name, Value: d.varBytes()}
		}
	}
	return rec, nil
}

// recordFields are the fields of a record (magic 2), slices of its body.
type recordFields struct {
	timeDelta, offsetDelta int64
	key, value             []byte // nil when null
	headers                []byte // headerCount headers, each a key and a value
	headerCount            int
}

// parseRecord reads the body of a record (after its size). It reports false when the
// body does not parse as a record, as Kafka's Java client refuses it (DefaultRecord): a
// field past its end, a negative header count, a header without a key, bytes after its
// last header.
func parseRecord(body []byte) (recordFields, bool) {
	var f recordFields
	d := decoder{b: body}
	d.skip(1) // attributes
	f.timeDelta = d.varint()
	f.offsetDelta = d.varint()
	f.key = d.varBytes()
	f.value = d.varBytes()
	n := d.varint()
	if n < 0 || n > int64(len(d.rest())) {
		return f, false
	}
	f.headers, f.headerCount = d.rest(), int(n)
	for range n {
		k := d.varint()
		if k < 0 {
			return f, false
		}
		d.skip(int(k))
		d.varBytes()
	}
	return f, !d.failed && d.off == len(d.b)
}

// undecodable returns the error of the current batch, which does not decode: it says
// what is wrong with it, and which offsets it stands for from r.offset on.
func (r *PartitionReader) undecodable(what string) error {
	r.left = 0
	return &batchError{fmt.Sprintf("the record batch of %s/%d at offsets %d to %d %s", r.cfg.Topic, r.cfg.Partition,
		r.batchFirst(), r.batch.last, what)}
}

// damaged is undecodable for a record batch whose header cannot be trusted past the
// offset and size that frame it: its CRC fails, or its format is unknown. The last offset
// it claims may then be anything: taken as it is, a last before the offset asked for
// would pass the batch over unseen, and a last past the next batch's would take that
// batch's records for its own (the reader would read on after it, and the broker, which
// places a fetch by the same claim, would serve it so). The batch stands instead for the
// offsets up to the next batch's base offset in the response, or, when it is the
// response's last, up to the last it claims but not past the high watermark; and for its
// first offset at least.
func (r *PartitionReader) damaged(what string) error {
	last := r.batch.last
	if len(r.batches) >= 8 { // the next batch's base offset, which frames it as this one's does
		last = int64(binary.BigEndian.Uint64(r.batches)) - 1
	} else if r.hwm > 0 {
		last = min(last, r.hwm-1)
	}
	r.batch.last = max(last, r.batchFirst())
	return r.undecodable(what)
}

// batchFirst is the first offset the current batch stands for from r.offset on: its base,
// or the offset asked for when the batch starts before it.
func (r *PartitionReader) batchFirst() int64 { return max(r.offset, r.batch.base) }

// decoder reads big-endian and varint fields from b, from off on; a read past its end
// sets failed and returns zero values from then on. It moves an offset, not a slice: a
// record's fields are read twice (checkRecords, then record), and moving a slice is a
// pointer written at each field, which the collector's write barrier records while it
// marks.
type decoder struct {
	b      []byte
	off    int
	failed bool
}

// rest returns what is left to read.
func (d *decoder) rest() []byte { return d.b[d.off:] }

func (d *decoder) fail() { d.off, d.failed = len(d.b), true }

// take returns the next n bytes (nil, and failed set, when fewer are left).
func (d *decoder) take(n int) []byte {
	if n < 0 || n > len(d.b)-d.off {
		d.fail()
		return nil
	}
	v := d.b[d.off : d.off+n : d.off+n]
	d.off += n
	return v
}

func (d *decoder) int16() int16 {
	if v := d.take(2); v != nil {
		return int16(binary.BigEndian.Uint16(v))
	}
	return 0
}

func (d *decoder) int32() int32 {
	if v := d.take(4); v != nil {
		return int32(binary.BigEndian.Uint32(v))
	}
	return 0
}

func (d *decoder) int64() int64 {
	if v := d.take(8); v != nil {
		return int64(binary.BigEndian.Uint64(v))
	}
	return 0
}

func (d *decoder) skip(n int) { d.take(n) }

// bytes16 reads a string with an int16 length.
func (d *decoder) bytes16() []byte { return d.take(int(d.int16())) }

// bytes32 reads nullable bytes with an int32 length: nil when null.
func (d *decoder) bytes32() []byte {
	if n := int(d.int32()); n >= 0 {
		return d.take(n)
	}
	return nil
}

// varint reads a zigzag varint (Kafka's varint and varlong). One byte long, as most
// lengths and deltas of a record are, it is read without a call.
func (d *decoder) varint() int64 {
	if d.off < len(d.b) {
		if c := int64(d.b[d.off]); c < 0x80 {
			d.off++
			return c>>1 ^ -(c & 1)
		}
	}
	return d.longVarint()
}

func (d *decoder) longVarint() int64 {
	v, n := binary.Varint(d.b[d.off:])
	if n <= 0 {
		d.fail()
		return 0
	}
	d.off += n
	return v
}

// varBytes reads nullable bytes with a varint length: nil when null.
func (d *decoder) varBytes() []byte {
	if n := d.varint(); n >= 0 && !d.failed {
		return d.take(int(n))
	}
	return nil
}
