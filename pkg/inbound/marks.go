package inbound

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/dscokafka/connector/pkg/kafka"
)

// markStore keeps high-water marks in a compacted Kafka topic, made with one
// partition (one made beforehand with more serves too): the record of a key
// with the highest offset in its partition is its mark. It
// is the only place the marks live, so that the connector needs no other
// store.
type markStore struct {
	client *kafkago.Client // on a transport of the mark topic alone (markTransport)
	own    *kafkago.Transport
	topic  string
}

// newMarkStore is the mark store of topic, reading on a transport of its
// own (see markTransport) from the brokers of w, which writes its records.
func newMarkStore(k KafkaConfig, w *writer, topic string) *markStore {
	t, own := markTransport(k, topic)
	return &markStore{client: &kafkago.Client{Addr: w.Addr, Transport: t, Timeout: k.WriteTimeout}, own: own,
		topic: topic}
}

// markTransport returns the transport the mark store reads on: one of its
// own, whose metadata cache holds topic alone (kafka.TopicsTransport), with
// the connection settings of k.Transport (TLS, SASL, client id) when that is
// a *kafkago.Transport. On a transport whose cache lists every topic, Kafka
// leaves out a topic the credentials may not describe, so the mark topic
// would look missing (UNKNOWN_TOPIC_OR_PARTITION) instead of refused
// (TOPIC_AUTHORIZATION_FAILED), and one made beforehand would be waited for
// for ever. Another RoundTripper given is used as it is; own is the
// transport to close, nil then.
func markTransport(k KafkaConfig, topic string) (t kafkago.RoundTripper, own *kafkago.Transport) {
	switch given := k.Transport.(type) {
	case nil:
		own = kafka.TopicsTransport(&kafkago.Transport{MetadataTTL: k.MetadataTTL}, topic)
	case *kafkago.Transport:
		own = kafka.TopicsTransport(given, topic)
	default:
		return k.Transport, nil
	}
	return own, own
}

// close closes the connections of the store's own transport.
func (m *markStore) close() {
	if m.own != nil {
		m.own.CloseIdleConnections()
	}
}

// ensure creates the topic, compacted with one partition, unless it exists.
func (m *markStore) ensure(ctx context.Context) error {
	resp, err := m.client.CreateTopics(ctx, &kafkago.CreateTopicsRequest{Topics: []kafkago.TopicConfig{{
		Topic: m.topic, NumPartitions: 1, ReplicationFactor: -1,
		ConfigEntries: []kafkago.ConfigEntry{{ConfigName: "cleanup.policy", ConfigValue: "compact"}},
	}}})
	if err == nil {
		err = resp.Errors[m.topic]
	}
	if err != nil && !errors.Is(err, kafkago.TopicAlreadyExists) {
		return fmt.Errorf("inbound: creating the mark topic %s: %w", m.topic, kafka.ClientError(err))
	}
	return nil
}

// load returns the last mark stored under key, or "" when there is none.
// It reads the partition the writer puts key in, so that a topic made
// beforehand with several partitions serves as well.
func (m *markStore) load(ctx context.Context, key string) (string, error) {
	var first, last int64
	var partition int
	for attempt := 0; ; attempt++ {
		var resp *kafkago.ListOffsetsResponse
		var err error
		partition, err = m.partition(ctx, key)
		if err == nil {
			resp, err = m.client.ListOffsets(ctx, &kafkago.ListOffsetsRequest{Topics: map[string][]kafkago.OffsetRequest{
				m.topic: {kafkago.FirstOffsetOf(partition), kafkago.LastOffsetOf(partition)}}})
		}
		if err == nil {
			if ps := resp.Topics[m.topic]; len(ps) == 1 {
				first, last, err = ps[0].FirstOffset, ps[0].LastOffset, ps[0].Error
			} else {
				err = fmt.Errorf("%d partitions in the answer", len(ps))
			}
		}
		if err == nil {
			break
		}
		// A topic just created may not have a leader yet. Anything else
		// (Kafka not answering, refusing) is the caller's to retry or not.
		var kerr kafkago.Error
		if !errors.As(err, &kerr) || !kerr.Temporary() || attempt == 50 || ctx.Err() != nil {
			return "", fmt.Errorf("inbound: reading the offsets of the mark topic %s: %w", m.topic, kafka.ClientError(err))
		}
		if err := sleepCtx(ctx, 100*time.Millisecond); err != nil {
			return "", err
		}
	}
	mark := ""
	for off := first; off < last; {
		resp, err := m.client.Fetch(ctx, &kafkago.FetchRequest{Topic: m.topic, Partition: partition, Offset: off,
			MinBytes: 1, MaxBytes: 4 << 20, MaxWait: 100 * time.Millisecond})
		if err == nil {
			err = resp.Error
		}
		if err != nil {
			return "", fmt.Errorf("inbound: reading the mark topic %s at offset %d: %w", m.topic, off, kafka.ClientError(err))
		}
		for {
			r, err := resp.Records.ReadRecord()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return "", fmt.Errorf("inbound: reading the mark topic %s: %w", m.topic, err)
			}
			if r.Offset >= off {
				off = r.Offset + 1
				if r.Key != nil && r.Value != nil {
					k, _ := io.ReadAll(r.Key)
					if string(k) == key {
						v, _ := io.ReadAll(r.Value)
						mark = string(v)
					}
				}
			}
		}
		if resp.HighWatermark > 0 && off >= resp.HighWatermark {
			break
		}
	}
	return mark, nil
}

// partition is the partition of the mark topic that holds key's marks: the
// one the writer's balancer (murmur2, as the Java client's) gives key.
func (m *markStore) partition(ctx context.Context, key string) (int, error) {
	md, err := m.client.Metadata(ctx, &kafkago.MetadataRequest{Topics: []string{m.topic}})
	if err != nil {
		return 0, kafka.ClientError(err)
	}
	for _, t := range md.Topics {
		if t.Name != m.topic {
			continue
		}
		if t.Error != nil {
			return 0, t.Error
		}
		ids := make([]int, len(t.Partitions))
		for i, p := range t.Partitions {
			ids[i] = p.ID
		}
		if len(ids) == 0 {
			return 0, kafkago.LeaderNotAvailable
		}
		slices.Sort(ids)
		return (&kafkago.Murmur2Balancer{}).Balance(kafkago.Message{Key: []byte(key)}, ids...), nil
	}
	return 0, fmt.Errorf("no metadata for %s", m.topic)
}

// record is the record that stores mark under key.
func (m *markStore) record(key, mark string) kafkago.Message {
	return kafkago.Message{Topic: m.topic, Key: []byte(key), Value: []byte(mark)}
}
