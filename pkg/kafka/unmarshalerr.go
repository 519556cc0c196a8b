package kafka

import (
	"errors"
	"fmt"

	"github.com/ThreeDotsLabs/watermill/message"
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
