package inbound

import "github.com/dscokafka/connector/pkg/schemas"

// Page is one decoded page of stream events: the events in stream order, the
// position to read the next page from, and whether more events were ready.
type Page = schemas.EventPage

// Event is one decoded event of a page: its record (nil when it cannot be
// mapped; Err then says why, for the poison topic), its exact JSON bytes and
// its envelope fields.
type Event = schemas.DecodedEvent

// PageDecoder decodes one page of stream events, as returned by
// getStreamEvents, in one pass. An error means the page as a whole is not a
// page (not JSON, events without a position); an event that cannot be mapped
// is reported in its Event.Err instead and the rest of the page is kept.
// *schemas.EventPageDecoder is the implementation; the interface lets tests
// and other profiles of the Dsco API put theirs in its place.
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

// NewEventPageDecoder is the default NewDecoderFunc:
// schemas.NewEventPageDecoder, the single-pass decoder generated from the
// Avro schemas.
func NewEventPageDecoder(objectType string) (PageDecoder, error) {
	d, err := schemas.NewEventPageDecoder(objectType)
	if err != nil {
		return nil, err
	}
	return d, nil
}

var _ PageDecoder = (*schemas.EventPageDecoder)(nil)
