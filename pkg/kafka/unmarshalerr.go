package kafka

import (
	"errors"
	"fmt"

	"github.com/ThreeDotsLabs/watermill/message"
	kafkago "github.com/segmentio/kafka-go"
)

// ErrUnmarshal marks a message the Subscriber could not unmarshal (see
// UnmarshalErrorMetadata). It is permanent: retrying cannot fix the record.
var ErrUnmarshal = errors.New("kafka: record could not be unmarshaled")

// UnmarshalError returns an error wrapping ErrUnmarshal if msg is a record the Subscriber
// could not unmarshal, and nil otherwise.
func UnmarshalError(msg *message.Message) error {
	reason, ok := msg.Metadata[UnmarshalErrorMetadata]
	if !ok {
		return nil
	}
	return fmt.Errorf("%w: %s", ErrUnmarshal, reason)
}

// RejectUnmarshalFailures is a Watermill middleware that fails messages carrying
// UnmarshalErrorMetadata with an error wrapping ErrUnmarshal, without calling the handler.
// Place it inside a PoisonQueue middleware (whose filter can match ErrUnmarshal with
// errors.Is) so that undecodable records go to the poison queue with their raw bytes and
// headers, and outside Retry, which cannot help them.
func RejectUnmarshalFailures(h message.HandlerFunc) message.HandlerFunc {
	return func(msg *message.Message) ([]*message.Message, error) {
		if err := UnmarshalError(msg); err != nil {
			return nil, err
		}
		return h(msg)
	}
}

// ErrUndecodable marks a record that stands for a record batch the PartitionReader could
// not decode (see Undecodable). It is permanent: the batch is damaged in the log.
var ErrUndecodable = errors.New("kafka: record batch could not be decoded")

// Undecodable returns an error wrapping ErrUndecodable, with the reason, if rec stands for
// a record batch the PartitionReader could not decode (it carries UndecodableHeader), and
// nil otherwise. Such a record is at the batch's first offset; its value is the whole
// batch as the log holds it (compressed, if it was), its key nil; the batch's other
// offsets pass without a record. The Subscriber delivers it like any record, logged at
// error level: Subscribe as a message carrying UnmarshalErrorMetadata (the reason), for
// RejectUnmarshalFailures and the poison queue; Consume as is, for the handler to send to
// its poison topic. A record that carries UndecodableHeader in the log (one such record
// written back, as a poison queue's replay does) stands for one too.
func Undecodable(rec kafkago.Message) error {
	for _, h := range rec.Headers {
		if h.Key == UndecodableHeader {
			return fmt.Errorf("%w: %s", ErrUndecodable, h.Value)
		}
	}
	return nil
}
