package kafka

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	kafkago "github.com/segmentio/kafka-go"
)

// Header and metadata keys used by the default marshaler and the subscriber.
const (
	// UUIDHeader carries the Watermill message UUID.
	UUIDHeader = "_watermill_message_uuid"
	// DefaultPartitionKeyMetadata is the metadata key whose value DefaultMarshaler uses as
	// the record key (and so to choose the partition) when no KeyFunc is set.
	DefaultPartitionKeyMetadata = "partition_key"
	// UnmarshalErrorMetadata is set on a message the Subscriber could not unmarshal; its
	// value is the error text. Such a message carries the record's raw value as payload and
	// its headers as metadata, so a handler or middleware can route it to the poison queue.
	UnmarshalErrorMetadata = "_kafka_unmarshal_error"
	// UndecodableHeader is the one header of a record that stands for a record batch the
	// PartitionReader could not decode (see Undecodable); its value says why, naming the
	// topic, the partition and the batch's offsets.
	UndecodableHeader = "_kafka_undecodable"
	// Source metadata keys, set when SubscriberConfig.SourceMetadata is true.
	TopicMetadata     = "kafka_topic"
	PartitionMetadata = "kafka_partition"
	OffsetMetadata    = "kafka_offset"
)

// Marshaler turns a Watermill message into a Kafka record. Topic is filled in by the
// Publisher when the returned record leaves it empty. Implementations must be safe for
// concurrent use.
type Marshaler interface {
	Marshal(topic string, msg *message.Message) (kafkago.Message, error)
}

// Unmarshaler turns a consumed Kafka record into a Watermill message. The Subscriber calls
// it again for every redelivery of the same record, so it must be deterministic (the same
// UUID each time) and safe for concurrent use. The returned message's context is replaced
// by the Subscriber.
type Unmarshaler interface {
	Unmarshal(rec kafkago.Message) (*message.Message, error)
}

// KeyFunc returns the record key for a message; a nil key lets the Publisher's balancer
// pick the partition.
type KeyFunc func(topic string, msg *message.Message) ([]byte, error)

// DefaultMarshaler maps metadata to headers (one header per entry, in no defined order) and
// back, carries the UUID in UUIDHeader, and takes the key from KeyFunc or, when KeyFunc is
// nil, from the metadata entry named by KeyMetadata (DefaultPartitionKeyMetadata when
// empty). A message without a key gets a nil key. The zero value is ready to use.
type DefaultMarshaler struct {
	KeyMetadata string
	KeyFunc     KeyFunc
}

var (
	_ Marshaler   = DefaultMarshaler{}
	_ Unmarshaler = DefaultMarshaler{}
)

// Marshal implements Marshaler.
func (m DefaultMarshaler) Marshal(topic string, msg *message.Message) (kafkago.Message, error) {
	var key []byte
	if m.KeyFunc != nil {
		k, err := m.KeyFunc(topic, msg)
		if err != nil {
			return kafkago.Message{}, fmt.Errorf("computing key of message %s: %w", msg.UUID, err)
		}
		key = k
	} else {
		name := m.KeyMetadata
		if name == "" {
			name = DefaultPartitionKeyMetadata
		}
		if k := msg.Metadata.Get(name); k != "" {
			key = []byte(k)
		}
	}
	headers := make([]kafkago.Header, 0, len(msg.Metadata)+1)
	headers = append(headers, kafkago.Header{Key: UUIDHeader, Value: []byte(msg.UUID)})
	for k, v := range msg.Metadata {
		headers = append(headers, kafkago.Header{Key: k, Value: []byte(v)})
	}
	return kafkago.Message{Topic: topic, Key: key, Value: msg.Payload, Headers: headers}, nil
}

// Unmarshal implements Unmarshaler. A record without UUIDHeader (written by another
// producer) gets the deterministic UUID "<topic>-<partition>-<offset>".
func (DefaultMarshaler) Unmarshal(rec kafkago.Message) (*message.Message, error) {
	return recordToMessage(rec), nil
}

// recordToMessage is the default mapping; it cannot fail, which is why the subscriber's
// fallback for failed custom unmarshalers uses it as well.
func recordToMessage(rec kafkago.Message) *message.Message {
	uuid := ""
	for _, h := range rec.Headers {
		if h.Key == UUIDHeader {
			uuid = string(h.Value)
			break
		}
	}
	if uuid == "" {
		uuid = rec.Topic + "-" + strconv.Itoa(rec.Partition) + "-" + strconv.FormatInt(rec.Offset, 10)
	}
	msg := message.NewMessage(uuid, rec.Value)
	for _, h := range rec.Headers {
		if h.Key != UUIDHeader {
			msg.Metadata[h.Key] = string(h.Value)
		}
	}
	return msg
}

type ctxKey struct{}

// recordInfo is the one context value describing the consumed record (one allocation
// instead of one per field).
type recordInfo struct {
	topic     string
	partition int32
	offset    int64
	key       []byte
	timestamp time.Time
}

func withRecordContext(ctx context.Context, rec kafkago.Message) context.Context {
	return context.WithValue(ctx, ctxKey{}, &recordInfo{
		topic: rec.Topic, partition: int32(rec.Partition), offset: rec.Offset, key: rec.Key, timestamp: rec.Time,
	})
}

func recordFromCtx(ctx context.Context) (*recordInfo, bool) {
	r, ok := ctx.Value(ctxKey{}).(*recordInfo)
	return r, ok
}

// MessageTopicFromCtx returns the topic of the record a consumed message came from.
func MessageTopicFromCtx(ctx context.Context) (string, bool) {
	if r, ok := recordFromCtx(ctx); ok {
		return r.topic, true
	}
	return "", false
}

// MessagePartitionFromCtx returns the partition of the record a consumed message came from.
func MessagePartitionFromCtx(ctx context.Context) (int32, bool) {
	if r, ok := recordFromCtx(ctx); ok {
		return r.partition, true
	}
	return 0, false
}

// MessagePartitionOffsetFromCtx returns the offset of the record a consumed message came
// from.
func MessagePartitionOffsetFromCtx(ctx context.Context) (int64, bool) {
	if r, ok := recordFromCtx(ctx); ok {
		return r.offset, true
	}
	return 0, false
}

// MessageKeyFromCtx returns the key of the record a consumed message came from (nil for a
// record without key; ok is still true).
func MessageKeyFromCtx(ctx context.Context) ([]byte, bool) {
	if r, ok := recordFromCtx(ctx); ok {
		return r.key, true
	}
	return nil, false
}

// MessageTimestampFromCtx returns the timestamp of the record a consumed message came from.
func MessageTimestampFromCtx(ctx context.Context) (time.Time, bool) {
	if r, ok := recordFromCtx(ctx); ok {
		return r.timestamp, true
	}
	return time.Time{}, false
}
