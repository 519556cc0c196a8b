package inbound

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"strconv"
	"unicode/utf8"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/dscokafka/connector/pkg/kafka"
	"github.com/dscokafka/connector/pkg/schemas"
)

// Header names of the records the pipeline writes.
const (
	// HeaderEventID is the Dsco event id.
	HeaderEventID = "dsco_event_id"
	// HeaderEventType is the Dsco event type, for example order.created.
	HeaderEventType = "dsco_event_type"
	// HeaderCorrelationID is the correlation id, Watermill's
	// middleware.CorrelationIDMetadataKey: the Dsco event id for inbound
	// events, so that a duplicate carries the same one.
	HeaderCorrelationID = "correlation_id"
	// HeaderPoisonReason is why an event went to the poison topic, the key
	// Watermill's PoisonQueue middleware uses.
	HeaderPoisonReason = "reason_poisoned"
	// HeaderStream, HeaderPartition, HeaderPosition and HeaderObjectType say
	// where a poisoned event was read. The position is the event's own when
	// Dsco gives one, else the position of the end of its page (reading
	// from the position before that page returns the event again). The
	// poison records of the GetItemInventory poller have no stream or
	// partition; their position is the highWaterMark of the item's page, or
	// for an item of a file (resultType file) "<requestId>:<line>": the
	// request id of the file and the item's line in it, from 1 (the line
	// follows the last colon).
	HeaderStream     = "dsco_stream"
	HeaderPartition  = "dsco_partition"
	HeaderPosition   = "dsco_position"
	HeaderObjectType = "dsco_object_type"
	// HeaderTruncated is "true" on a poison record whose value is only the
	// start of the event's raw bytes, cut so that the record fits
	// Kafka.BatchBytes (and then, when they were that long too, so are the
	// values of the headers taken from the event: the reason, the position,
	// the event id and type), or because the bytes were never held (an
	// inventory file line longer than the Dsco client reads); the header is
	// absent otherwise.
	HeaderTruncated = "dsco_truncated"
)

// Errors of events that cannot be mapped, in the poison reason.
var (
	// ErrNoKey: the record's business key (order id, sku) is empty.
	ErrNoKey = errors.New("inbound: the event has no business key")
	// ErrNotMapped: the event was neither published nor poisoned by the
	// page handler chain (a chain without the Poison middleware).
	ErrNotMapped = errors.New("inbound: the event was not handled")
)

// RecordTooLargeError is the poison reason of an event whose record is
// larger than Kafka.BatchBytes, the largest record the writer can produce
// (the producer refuses the whole write otherwise, and the partition would
// stop). Size is that of a record batch holding the record alone
// (kafka.RecordBatchSize), with the headers the default middleware adds.
type RecordTooLargeError struct {
	Size, Limit int64
}

func (e *RecordTooLargeError) Error() string {
	return fmt.Sprintf("inbound: record of %d bytes exceeds the Kafka batch limit of %d bytes (BatchBytes)", e.Size, e.Limit)
}

// fitHeaders cuts the values of a poison record's headers hs, when they
// take more than half of maxBytes, to a share of a quarter of it each (at a
// UTF-8 boundary), so that the record fits Kafka.BatchBytes whatever the
// values taken from the event: a reason quoting a value of the event, an
// event id, a type or a position as long as the event allows. Those values
// are copies in the record's arena; hs is the record's own.
func fitHeaders(hs []kafkago.Header, maxBytes int64) {
	if int64(headersSize(hs)) <= maxBytes/2 {
		return
	}
	each := max(1, int(maxBytes)/(4*len(hs)))
	for i := range hs {
		if v := hs[i].Value; len(v) > each {
			n := each
			for n > 0 && !utf8.RuneStart(v[n]) {
				n--
			}
			hs[i].Value = v[:n:n]
		}
	}
}

// headersSize is the size of hs in kafka.RecordBatchSize.
func headersSize(hs []kafkago.Header) int {
	n := 0
	for _, h := range hs {
		n += kafka.HeaderSize(h.Key, len(h.Value))
	}
	return n
}

// eventState is what became of one event of a batch.
type eventState uint8

const (
	statePending eventState = iota
	statePublished
	stateFailed
	statePoisoned
)

// Batch is one page on its way to Kafka: the decoded events and the records
// the page handler chain builds for them. A Batch serves one page at a time
// and is then reused for a page of any partition of the pipeline; nothing
// in it may be kept after the handler returns. Page, and the strings of its
// events, are valid only during the handler call (the page's body is given
// back once the records are built); Records must hold copies, as the
// Batch's own methods make.
type Batch struct {
	// StreamID, ObjectType and Partition say where the page was read.
	StreamID   string
	ObjectType string
	Partition  int
	// Topic is the object type's event topic, PoisonTopic the poison topic.
	Topic       string
	PoisonTopic string
	// Page is the decoded page.
	Page *Page
	// Records are the Kafka records to produce, in event order per topic.
	Records []kafkago.Message

	serde *schemas.Serde
	// maxBytes is Kafka.BatchBytes: no record may be larger (0: no limit).
	maxBytes    int64
	state       []eventState
	reason      []error
	recordArena // keys, values, header values and header slices of Records
	partStr     string
	// bodySize is the size of the page's body, from which reset sizes the
	// arena; arenaPerByte is the arena's size over the body's of the
	// previous page built in this batch (0: none yet).
	bodySize     int
	arenaPerByte float64
}

// reset prepares b for a new page.
func (b *Batch) reset(p *Page) {
	b.Page = p
	n := len(p.Events)
	// Size the buffers from the page, so that they do not grow while the
	// records are built (a grown arena keeps its old array alive until the
	// page is acknowledged, as the records built earlier point into it).
	if cap(b.Records) < n {
		b.Records = make([]kafkago.Message, 0, n)
	}
	perByte := b.arenaPerByte
	if perByte == 0 {
		perByte = 1 // Avro is smaller than JSON but for the extra attributes, carried as JSON text
	}
	if want := int(float64(b.bodySize)*perByte*1.0625) + 4096; cap(b.arena) < want {
		b.arena = make([]byte, 0, want)
	}
	if want := 5*n + 7; cap(b.headers) < want { // event id, type and the correlation id's copy
		b.headers = make([]kafkago.Header, 0, want)
	}
	b.Records = b.Records[:0]
	b.arena = b.arena[:0]
	b.headers = b.headers[:0]
	if cap(b.state) < n {
		b.state = make([]eventState, n)
		b.reason = make([]error, n)
	}
	b.state = b.state[:n]
	b.reason = b.reason[:n]
	clear(b.state)
	clear(b.reason)
	if b.partStr == "" {
		b.partStr = strconv.Itoa(b.Partition)
	}
}

// learnSize records how large the arena grew for the page's body, to size
// it for the next page.
func (b *Batch) learnSize() {
	if b.bodySize > 0 {
		b.arenaPerByte = float64(len(b.arena)) / float64(b.bodySize)
	}
}

// Fail marks event i as not mappable for reason; the Poison middleware
// writes it to the poison topic.
func (b *Batch) Fail(i int, reason error) {
	if b.state[i] == statePending || b.state[i] == statePublished {
		b.state[i], b.reason[i] = stateFailed, reason
	}
}

// Failed reports whether event i was marked by Fail and not yet poisoned,
// and why.
func (b *Batch) Failed(i int) (bool, error) { return b.state[i] == stateFailed, b.reason[i] }

// Poisoned returns the number of events of the page written to the poison
// topic.
func (b *Batch) Poisoned() int {
	n := 0
	for _, s := range b.state {
		if s == statePoisoned {
			n++
		}
	}
	return n
}

// Published returns the number of events of the page written to their
// topic.
func (b *Batch) Published() int {
	n := 0
	for _, s := range b.state {
		if s == statePublished {
			n++
		}
	}
	return n
}

// Poison adds the poison record of event i: its raw bytes, keyed by the
// stream and partition, with the reason and where it was read as headers.
// When the record would be larger than Kafka.BatchBytes, its value is the
// start of the raw bytes that fits, and it has the HeaderTruncated header.
func (b *Batch) Poison(i int, reason error) {
	if b.state[i] == statePoisoned {
		return
	}
	ev := &b.Page.Events[i]
	pos := ev.Position
	if pos == "" {
		pos = b.Page.Position // the end of the event's page, which covers it
	}
	h := b.hdrs(8)
	h[0] = kafkago.Header{Key: HeaderPoisonReason, Value: b.bytes(reason.Error())}
	h[1] = kafkago.Header{Key: HeaderStream, Value: b.bytes(b.StreamID)}
	h[2] = kafkago.Header{Key: HeaderPartition, Value: b.bytes(b.partStr)}
	h[3] = kafkago.Header{Key: HeaderPosition, Value: b.bytes(pos)}
	h[4] = kafkago.Header{Key: HeaderObjectType, Value: b.bytes(b.ObjectType)}
	h[5] = kafkago.Header{Key: HeaderEventID, Value: b.bytes(ev.EventID)}
	h[6] = kafkago.Header{Key: HeaderEventType, Value: b.bytes(ev.EventType)}
	key := b.bytes(b.StreamID + "/" + b.partStr)
	raw, hs := ev.Raw, h[:7]
	if b.maxBytes > 0 && kafka.RecordBatchSize(len(key), len(raw), len(hs), headersSize(hs)) > b.maxBytes {
		h[7] = kafkago.Header{Key: HeaderTruncated, Value: b.bytes("true")}
		fitHeaders(h, b.maxBytes)
		room := kafka.MaxValueLen(b.maxBytes, len(key), len(h), headersSize(h))
		raw, hs = raw[:max(0, min(room, int64(len(raw))))], h
	}
	start := len(b.arena)
	b.arena = append(b.arena, raw...)
	value := b.arena[start:len(b.arena):len(b.arena)]
	b.Records = append(b.Records, kafkago.Message{
		Topic:   b.PoisonTopic,
		Key:     key,
		Value:   value,
		Headers: hs,
	})
	b.state[i], b.reason[i] = statePoisoned, reason
}

// PageHandler turns the events of b.Page into b.Records. It is called for
// a partition's pages one at a time, in stream order, as soon as a page is
// read (before the previous pages are acknowledged by Kafka); an error
// makes the partition read the page again after a backoff.
type PageHandler func(ctx context.Context, b *Batch) error

// PageMiddleware wraps a PageHandler, as Watermill's middleware wraps a
// message handler.
type PageMiddleware func(PageHandler) PageHandler

// Chain returns h wrapped in mw, the first outermost: Chain(h, a, b) runs
// a(b(h)).
func Chain(h PageHandler, mw ...PageMiddleware) PageHandler {
	for i := len(mw) - 1; i >= 0; i-- {
		h = mw[i](h)
	}
	return h
}

// DefaultMiddleware is the chain without metrics, in the order pkg/router
// assembles it: Recoverer, Poison, CorrelationID.
func DefaultMiddleware() []PageMiddleware {
	return []PageMiddleware{Recoverer, Poison, CorrelationID}
}

// encodeEvents is the core handler: every event with a record becomes one
// record on the event topic; an event without one, with an empty key, that
// does not encode, or whose record would be larger than Kafka.BatchBytes
// (with a *RecordTooLargeError) is marked failed.
func encodeEvents(_ context.Context, b *Batch) error {
	for i := range b.Page.Events {
		if b.state[i] != statePending {
			continue
		}
		ev := &b.Page.Events[i]
		if ev.Err != nil || ev.Record == nil {
			err := ev.Err
			if err == nil {
				err = errors.New("inbound: the decoder returned no record")
			}
			b.Fail(i, err)
			continue
		}
		key := ev.Record.Key()
		if key == "" {
			b.Fail(i, ErrNoKey)
			continue
		}
		start := len(b.arena)
		var err error
		b.arena, err = b.serde.AppendEncode(b.arena, ev.Record)
		if err != nil {
			b.arena = b.arena[:start]
			b.Fail(i, err)
			continue
		}
		value := b.arena[start:len(b.arena):len(b.arena)]
		if b.maxBytes > 0 {
			// The event id and type headers and the correlation id's copy.
			hb := kafka.HeaderSize(HeaderEventID, len(ev.EventID)) + kafka.HeaderSize(HeaderEventType, len(ev.EventType)) +
				kafka.HeaderSize(HeaderCorrelationID, len(ev.EventID))
			if n := kafka.RecordBatchSize(len(key), len(value), 3, hb); n > b.maxBytes {
				b.arena = b.arena[:start]
				b.Fail(i, &RecordTooLargeError{Size: n, Limit: b.maxBytes})
				continue
			}
		}
		h := b.hdrs(2)
		h[0] = kafkago.Header{Key: HeaderEventID, Value: b.bytes(ev.EventID)}
		h[1] = kafkago.Header{Key: HeaderEventType, Value: b.bytes(ev.EventType)}
		b.Records = append(b.Records, kafkago.Message{Topic: b.Topic, Key: b.bytes(key), Value: value, Headers: h})
		b.state[i] = statePublished
	}
	return nil
}

// PanicError is a panic recovered while a page was handled.
type PanicError struct {
	Value any
	Stack []byte
}

func (e *PanicError) Error() string {
	return fmt.Sprintf("inbound: panic while mapping the event: %v", e.Value)
}

// Recoverer recovers a panic of the rest of the chain. It then handles the
// page again one event at a time, so that only the events whose handling
// panics go to the poison topic (with a *PanicError as the reason) and the
// partition goes on.
func Recoverer(next PageHandler) PageHandler {
	return func(ctx context.Context, b *Batch) error {
		p, err := callRecovering(ctx, next, b)
		if p == nil {
			return err
		}
		// Start over, one event at a time.
		page := b.Page
		b.reset(page)
		single := &Page{Events: make([]Event, 1), Position: page.Position}
		state, reason := b.state, b.reason
		for i := range page.Events {
			single.Events[0] = page.Events[i]
			b.Page, b.state, b.reason = single, state[i:i+1], reason[i:i+1]
			n := len(b.Records)
			p, err := callRecovering(ctx, next, b)
			if p != nil {
				// A panic after the event's record was added: it is poisoned, not
				// published as well.
				b.Records = b.Records[:n]
				b.Poison(0, p)
			} else if err != nil {
				b.Page, b.state, b.reason = page, state, reason
				return err
			}
		}
		b.Page, b.state, b.reason = page, state, reason
		return nil
	}
}

func callRecovering(ctx context.Context, h PageHandler, b *Batch) (p *PanicError, err error) {
	defer func() {
		if r := recover(); r != nil {
			p = &PanicError{Value: r, Stack: debug.Stack()}
		}
	}()
	return nil, h(ctx, b)
}

// Poison writes the events the rest of the chain marked with Batch.Fail to
// the poison topic.
func Poison(next PageHandler) PageHandler {
	return func(ctx context.Context, b *Batch) error {
		if err := next(ctx, b); err != nil {
			return err
		}
		for i := range b.state {
			if b.state[i] == stateFailed {
				b.Poison(i, b.reason[i])
			}
		}
		return nil
	}
}

// CorrelationID adds the correlation_id header, the Dsco event id, to every
// event record the rest of the chain built.
func CorrelationID(next PageHandler) PageHandler {
	return func(ctx context.Context, b *Batch) error {
		if err := next(ctx, b); err != nil {
			return err
		}
		for i := range b.Records {
			r := &b.Records[i]
			if r.Topic != b.Topic || hasHeader(r.Headers, HeaderCorrelationID) {
				continue
			}
			var id []byte
			for _, h := range r.Headers {
				if h.Key == HeaderEventID {
					id = h.Value
				}
			}
			h := b.hdrs(len(r.Headers) + 1)
			copy(h, r.Headers)
			h[len(r.Headers)] = kafkago.Header{Key: HeaderCorrelationID, Value: id}
			r.Headers = h
		}
		return nil
	}
}

func hasHeader(hs []kafkago.Header, key string) bool {
	for _, h := range hs {
		if h.Key == key {
			return true
		}
	}
	return false
}
