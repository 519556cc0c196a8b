package inbound

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	kafkago "github.com/segmentio/kafka-go"
)

// markStore keeps high-water marks in a compacted Kafka topic of one
// partition: the record of a key with the highest offset is its mark. It
// is the only place the marks live, so that the connector needs no other
// store.
type markStore struct {
	client *kafkago.Client
	writer *writer
	topic  string
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
		return fmt.Errorf("inbound: creating the mark topic %s: %w", m.topic, err)
	}
	return nil
}

// load returns the last mark stored under key, or "" when there is none.
func (m *markStore) load(ctx context.Context, key string) (string, error) {
	var first, last int64
	for attempt := 0; ; attempt++ {
		resp, err := m.client.ListOffsets(ctx, &kafkago.ListOffsetsRequest{Topics: map[string][]kafkago.OffsetRequest{
			m.topic: {kafkago.FirstOffsetOf(0), kafkago.LastOffsetOf(0)}}})
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
		// A topic just created may not have a leader yet.
		if attempt == 50 || ctx.Err() != nil {
			return "", fmt.Errorf("inbound: reading the offsets of the mark topic %s: %w", m.topic, err)
		}
		if err := sleepCtx(ctx, 100*time.Millisecond); err != nil {
			return "", err
		}
	}
	mark := ""
	for off := first; off < last; {
		resp, err := m.client.Fetch(ctx, &kafkago.FetchRequest{Topic: m.topic, Partition: 0, Offset: off,
			MinBytes: 1, MaxBytes: 4 << 20, MaxWait: 100 * time.Millisecond})
		if err == nil {
			err = resp.Error
		}
		if err != nil {
			return "", fmt.Errorf("inbound: reading the mark topic %s at offset %d: %w", m.topic, off, err)
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

// save stores mark under key and returns once Kafka acknowledged it.
func (m *markStore) save(ctx context.Context, key, mark string) error {
	if err := m.writer.Write(ctx, kafkago.Message{Topic: m.topic, Key: []byte(key), Value: []byte(mark)}); err != nil {
		return fmt.Errorf("inbound: storing the high-water mark in %s: %w", m.topic, err)
	}
	return nil
}
