package inbound

import "github.com/dscokafka/connector/pkg/schemas"

// Page is one decoded page of stream events: the events in stream order, the
// position to read the next page from (the last event's, or the request's
// when the page is empty) and whether more events were ready.
type Page struct {
	Events   []Event
	Position string
	HasMore  bool
}

// Event is one decoded event of a page. Record is the event's record with
// its envelope filled in (stream id and position included), or nil when the
// event cannot be mapped; Err then says why. Raw is the event's exact JSON
// bytes. EventID, EventType and Position are read from the envelope even
// when Err is set (empty when the envelope itself is unreadable).
type Event struct {
	Record    schemas.Record
	Raw       []byte
	EventID   string
	EventType string
	Position  string
	Err       error
}

// PageDecoder decodes one page of stream events, as returned by
// getStreamEvents, in one pass. An error means the page as a whole is not a
// page (not JSON, no position); an event that cannot be mapped is reported in
// its Event.Err instead and the rest of the page is kept.
//
// A decoder is used by one goroutine at a time. The page, its records and
// its Raw slices (which may point into body) are valid until the next
// Decode on the same decoder.
type PageDecoder interface {
	Decode(body []byte, streamID string) (*Page, error)
}

// NewDecoderFunc returns a new PageDecoder for the events of an object type
// (order, return, inventory, catalog, invoice, orderitemchange).
type NewDecoderFunc func(objectType string) (PageDecoder, error)
