package schemas

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unsafe"

	"github.com/dscokafka/connector/pkg/schemas/internal/dscojson"
)

// The per-record decoders of dscojson_records.go are generated from the
// .avsc files by internal/avrogen (go generate in doc.go); this file holds
// the page decoder and the value readers they call.

// Errors of the Dsco JSON decoders.
var (
	// ErrInvalidPage: a page of stream events cannot be read at all (it is
	// not valid JSON, or has events but no position). Nothing of it may be
	// used.
	ErrInvalidPage = errors.New("schemas: invalid page of Dsco stream events")
	// ErrUnmappableEvent: one Dsco stream event cannot be mapped to its
	// record (a missing key, a value of the wrong type, an amount that does
	// not fit decimal(18,4)); the rest of the page is fine.
	ErrUnmappableEvent = errors.New("schemas: Dsco stream event cannot be mapped to its record")
)

// PageError says why a page of stream events cannot be read. It matches
// ErrInvalidPage.
type PageError struct {
	ObjectType string
	// Offset is the byte offset in the page where the failure was found.
	Offset int
	// InvalidJSON is true when the page is not valid JSON (as
	// encoding/json.Valid decides); false when it is JSON of the wrong
	// shape (not an object, events without a position, a position that is
	// not a string).
	InvalidJSON bool
	Reason      string
}

func (e *PageError) Error() string {
	return fmt.Sprintf("schemas: invalid page of Dsco %s events at offset %d: %s", e.ObjectType, e.Offset, e.Reason)
}

// Is reports whether target is ErrInvalidPage.
func (e *PageError) Is(target error) bool { return target == ErrInvalidPage }

// EventError says why one Dsco stream event cannot be mapped to its record,
// for the poison topic. It matches ErrUnmappableEvent, and also
// ErrInvalidDecimal when an amount is the cause (Err is then a
// *DecimalError).
type EventError struct {
	ObjectType string
	EventID    string // best effort: empty when the event has none
	// Field is the JSON path of the value at fault within the event, for
	// example "data.items[2].cost" or "eventId"; empty when the event as a
	// whole is at fault (it is not an object).
	Field  string
	Reason string
	Err    error
}

func (e *EventError) Error() string {
	var b strings.Builder
	b.WriteString("schemas: Dsco ")
	b.WriteString(e.ObjectType)
	b.WriteString(" event")
	if e.EventID != "" {
		fmt.Fprintf(&b, " %q", e.EventID)
	}
	if e.Field != "" {
		b.WriteString(": field ")
		b.WriteString(e.Field)
	}
	b.WriteString(": ")
	b.WriteString(e.Reason)
	return b.String()
}

// Is reports whether target is ErrUnmappableEvent.
func (e *EventError) Is(target error) bool { return target == ErrUnmappableEvent }

// Unwrap returns the underlying error.
func (e *EventError) Unwrap() error { return e.Err }

// EventPage is one decoded page of Dsco stream events.
type EventPage struct {
	// Events are the page's events in page order, each mapped to its record
	// or with the reason it cannot be.
	Events []DecodedEvent
	// Position is the page's position: the position after its last event,
	// where the next read starts. Empty when a page without events gives
	// none: the next read starts where this one did.
	Position string
	// HasMore is true when more events are readable at once.
	HasMore bool
}

// DecodedEvent is one event of an EventPage.
type DecodedEvent struct {
	// Record is the event's record (a *OrderEvent for a page of order
	// events, ...), nil when Err is set. Its envelope is complete: the
	// stream id is the one passed to Decode, and its position is the
	// event's own when the page gives one, else the page's position.
	Record StreamEvent
	// Raw is the event's JSON exactly as on the page: a sub-slice of the
	// body passed to Decode.
	Raw []byte
	// EventID and EventType are the event's; best effort when Err is set.
	EventID   string
	EventType string
	// Position is the event's own position when the page gives one (a
	// "position" member of the event); else empty.
	Position string
	// Err says why the event cannot be mapped: an *EventError naming the
	// field, for the poison topic.
	Err error
}

// EventPageDecoder decodes pages of Dsco stream events of one object type
// (the body of GET /streams/{id}/events) straight into records, in one
// validating pass over the page: no intermediate models, no second parse.
// It accepts exactly the JSON texts encoding/json accepts; unknown
// attributes of the event, of its object and of every nested object go to
// the records' extra fields, byte-exact; money is taken exactly from its
// number text; timestamps may be RFC 3339 or carry an offset without a colon
// (2014-01-01T10:30:00.000+0100), as Dsco documents.
//
// An EventPageDecoder is not safe for concurrent use: use one per stream
// partition worker. A page costs no allocation once the decoder has seen a
// page as large: the records (and their nested records, slices, pointer
// targets, decimals and strings) live in arenas the decoder reuses, and
// strings point into the body rather than copying it. So a page and
// everything in it stay valid only until the next call of Decode on the
// same decoder, and the body must not be modified until then: encode (or
// copy) the records of a page before decoding the next one. The Raw slices
// are sub-slices of the body. To work on two pages at once, use two
// decoders.
type EventPageDecoder struct {
	objectType string
	desc       *Descriptor
	keyField   string // JSON path of the key in the event
	decode     func(*dscoDecoder) StreamEvent
	d          dscoDecoder
	page       EventPage
}

// NewEventPageDecoder returns a decoder for pages of events of a Dsco
// object type: order, orderitemchange, return, invoice, inventory or
// catalog. An unknown object type is an error naming it.
func NewEventPageDecoder(objectType string) (*EventPageDecoder, error) {
	dec, ok := dscoEventDecoders[objectType]
	if !ok {
		known := make([]string, 0, len(dscoEventDecoders))
		for _, d := range Events {
			if _, ok := dscoEventDecoders[d.Name]; ok {
				known = append(known, d.Name)
			}
		}
		return nil, fmt.Errorf("schemas: no stream event decoder for object type %q (known: %s)", objectType, strings.Join(known, ", "))
	}
	desc, _ := Event(objectType)
	_, key, _ := strings.Cut(desc.KeyField, ".")
	return &EventPageDecoder{objectType: objectType, desc: desc, keyField: "data." + key, decode: dec}, nil
}

// ObjectType returns the object type the decoder reads.
func (p *EventPageDecoder) ObjectType() string { return p.objectType }

// Descriptor returns the descriptor of the records the decoder produces
// (their topic, key field and schema).
func (p *EventPageDecoder) Descriptor() *Descriptor { return p.desc }

// Decode decodes a page of events read from stream streamID. It fails as a
// whole, with a *PageError, only when the page itself cannot be read: the
// body is not valid JSON, is not an object, or has events but no position
// (a page without events may have none: its Position is then empty). An event
// that cannot be mapped is returned with Err set and the rest of the page
// is decoded. The page returned, its records and their strings are valid
// until the next call, and body must not be modified until then.
func (p *EventPageDecoder) Decode(body []byte, streamID string) (*EventPage, error) {
	d := &p.d
	// The strings of the records point into body: see the type's doc.
	d.reset(unsafe.String(unsafe.SliceData(body), len(body)), streamID)
	page := &p.page
	page.Events = page.Events[:0]
	page.Position, page.HasMore = d.page("events", "position",
		func() { page.Events = page.Events[:0] },
		func() { p.event(body) })
	if err := d.pageError(p.objectType, len(body)); err != nil {
		return nil, err
	}
	if page.Position == "" && len(page.Events) > 0 {
		// A page without events may leave its position out (the spec requires
		// no member): nothing was read, and the reader stays where it was.
		return nil, &PageError{ObjectType: p.objectType, Offset: len(body), Reason: "the page has events but no position"}
	}
	for i := range page.Events {
		if ev := &page.Events[i]; ev.Record != nil && ev.Position == "" {
			ev.Record.Env().Position = page.Position
		}
	}
	return page, nil
}

// event decodes the event at the scanner's position and appends it to the
// page; a syntax error is left in the scanner for Decode.
func (p *EventPageDecoder) event(body []byte) {
	s := &p.d.s
	s.Peek()
	start, depth := s.Pos(), s.Depth()
	p.d.ownPosition = false
	rec := p.decode(&p.d)
	if !s.Failed() {
		env := rec.Env()
		ev := DecodedEvent{Record: rec, Raw: body[start:s.Pos()], EventID: env.EventID, EventType: env.EventType}
		if p.d.ownPosition {
			ev.Position = env.Position
		}
		switch {
		case env.ObjectType != p.objectType:
			ev.Err = &EventError{ObjectType: p.objectType, EventID: env.EventID, Field: "objectType",
				Reason: fmt.Sprintf("object type %q on a stream of %s events", env.ObjectType, p.objectType)}
		case rec.Key() == "":
			ev.Err = &EventError{ObjectType: p.objectType, EventID: env.EventID, Field: p.keyField,
				Reason: "empty key"}
		}
		if ev.Err != nil {
			ev.Record = nil
		}
		p.page.Events = append(p.page.Events, ev)
		return
	}
	failure := s.Failure()
	if failure.Syntax {
		return
	}
	// Validate the rest of the event (a syntax error fails the page) and
	// read what can be read of its envelope.
	ev := DecodedEvent{}
	if !p.d.reread(start, depth, envelopeStrings[:], []*string{&ev.EventID, &ev.EventType, &ev.Position}) {
		return
	}
	ev.Raw = body[start:s.Pos()]
	ev.Err = p.d.eventError(failure, p.objectType, ev.EventID)
	p.page.Events = append(p.page.Events, ev)
}

// dscoDecoder is the state the generated decoders share: the scanner and
// the arenas that pointer targets, nested records, slices and decimals are
// taken from. reset reuses the arenas.
type dscoDecoder struct {
	s           dscojson.Scanner
	streamID    string
	ownPosition bool // the event being decoded has a position member

	records  dscoArenas // generated: one arena per record type
	strings  []string
	int32s   []int32
	int64s   []int64
	times    []time.Time
	decimals []byte
}

func (d *dscoDecoder) reset(src, streamID string) {
	d.s.Reset(src)
	d.streamID = streamID
	d.records.reset()
	d.strings = d.strings[:0]
	d.int32s = d.int32s[:0]
	d.int64s = d.int64s[:0]
	d.times = d.times[:0]
	d.decimals = d.decimals[:0]
}

// page reads a page of Dsco objects: a JSON object whose member list is an
// array of objects, each read by each with the scanner on it (reset is
// called first, so that the last of duplicate members wins, as in
// encoding/json), and whose members mark and hasMore say where the next
// page starts and whether it can be read at once. Other members are
// skipped; a failure is left in the scanner for pageError.
func (d *dscoDecoder) page(list, mark string, reset, each func()) (markValue string, hasMore bool) {
	s := &d.s
	if !s.BeginObject() {
		return "", false
	}
	for i := 0; ; i++ {
		key, ok := s.NextKey(i)
		if !ok {
			break
		}
		switch key {
		case list:
			reset()
			if s.Null() || !s.BeginArray() {
				break
			}
			for j := 0; s.NextElem(j); j++ {
				each()
			}
		case mark:
			markValue = ""
			if !s.Null() {
				markValue = s.Str()
			}
		case "hasMore":
			if !s.Null() {
				hasMore = s.Bool()
			}
		default:
			s.Skip()
		}
		if s.Failed() {
			s.Within(key)
			break
		}
	}
	return markValue, hasMore
}

// envelopeStrings are the members of an event that reread reads for the
// poison record.
var envelopeStrings = [...]string{"eventId", "eventType", "position"}

// reread reads again, after a mapping failure, the object that starts at
// start (at depth): it checks that the rest of it is valid JSON (false, the
// syntax error left in the scanner, when it is not) and reads the string
// members keys[i] into *dst[i], best effort, for the poison record.
func (d *dscoDecoder) reread(start, depth int, keys []string, dst []*string) bool {
	s := &d.s
	s.Rewind(start, depth)
	if s.Peek() == '{' && s.BeginObject() {
		for i := 0; ; i++ {
			key, ok := s.NextKey(i)
			if !ok {
				break
			}
			if i := slices.Index(keys, key); i >= 0 && s.Peek() == '"' {
				*dst[i] = s.Str()
			} else {
				s.Skip()
			}
		}
	} else {
		s.Skip()
	}
	return !s.Failed()
}

// pageError checks that only white space follows the page and returns a
// *PageError for any failure: InvalidJSON when the text is not valid JSON,
// which is checked again from the start when the failure was one of shape.
func (d *dscoDecoder) pageError(objectType string, size int) error {
	s := &d.s
	s.End()
	e := s.Failure()
	if e == nil {
		return nil
	}
	if !e.Syntax {
		s.Rewind(0, 0)
		s.Skip()
		s.End()
		if se := s.Failure(); se != nil {
			e = se
		}
	}
	reason := e.Reason
	if path := e.Path(); path != "" && !e.Syntax {
		reason = path + ": " + reason
	}
	return &PageError{ObjectType: objectType, Offset: min(e.Offset, size), InvalidJSON: e.Syntax, Reason: reason}
}

// eventError turns the scanner's mapping failure into an *EventError.
func (d *dscoDecoder) eventError(e *dscojson.Error, objectType, eventID string) error {
	return &EventError{ObjectType: objectType, EventID: eventID, Field: e.Path(), Reason: e.Reason, Err: decimalError(e.Err)}
}

// dscoTake returns a pointer to a new zero element of an arena. Growing
// the arena leaves earlier elements where they are (in the old array), so
// pointers handed out stay valid.
func dscoTake[T any](arena *[]T) *T {
	var zero T
	*arena = append(*arena, zero)
	return &(*arena)[len(*arena)-1]
}

// dscoKeep returns a pointer to v in an arena, or nil when the scanner has
// failed (v is then not a value).
func dscoKeep[T any](d *dscoDecoder, arena *[]T, v T) *T {
	if d.s.Failed() {
		return nil
	}
	p := dscoTake(arena)
	*p = v
	return p
}

// The value readers the generated decoders call, one per Avro type. Each
// reads one member value; null gives nil for the nullable types.

func (d *dscoDecoder) optString() *string {
	if d.s.Null() {
		return nil
	}
	return dscoKeep(d, &d.strings, d.s.Str())
}

func (d *dscoDecoder) optRawObject() *string {
	if d.s.Null() {
		return nil
	}
	return dscoKeep(d, &d.strings, d.s.RawObject())
}

func (d *dscoDecoder) optInt32() *int32 {
	if d.s.Null() {
		return nil
	}
	return dscoKeep(d, &d.int32s, int32(d.s.Int(32)))
}

func (d *dscoDecoder) optInt64() *int64 {
	if d.s.Null() {
		return nil
	}
	return dscoKeep(d, &d.int64s, d.s.Int(64))
}

func (d *dscoDecoder) optTime() *time.Time {
	if d.s.Null() {
		return nil
	}
	return dscoKeep(d, &d.times, d.s.Time())
}

func (d *dscoDecoder) optDate() *time.Time {
	if d.s.Null() {
		return nil
	}
	return dscoKeep(d, &d.times, d.s.Date())
}

// optDecimal reads an amount as a Decimal of the given scale and
// precision (the field's Avro decimal type), its bytes in the arena.
func (d *dscoDecoder) optDecimal(scale, precision int) Decimal {
	if d.s.Null() {
		return nil
	}
	v := d.s.Money(scale, precision)
	if d.s.Failed() {
		return nil
	}
	start := len(d.decimals)
	d.decimals = appendUnscaled(d.decimals, v)
	return Decimal(d.decimals[start:len(d.decimals):len(d.decimals)])
}

func (d *dscoDecoder) stringArray() []string {
	s := &d.s
	if s.Null() || !s.BeginArray() {
		return nil
	}
	start := len(d.strings)
	for i := 0; s.NextElem(i); i++ {
		v := s.Str()
		if s.Failed() {
			s.WithinIndex(i)
			return nil
		}
		d.strings = append(d.strings, v)
	}
	return d.strings[start:len(d.strings):len(d.strings)]
}

// extra returns the unknown members of the object decoded since mark.
func (d *dscoDecoder) extra(mark int) *string {
	v, ok := d.s.Extra(mark)
	if !ok {
		return nil
	}
	return dscoKeep(d, &d.strings, v)
}

// missing records that a required member is absent.
func (d *dscoDecoder) missing(member string) {
	d.s.Fail("missing required member")
	d.s.Within(member)
}
