package kafka

import (
	"context"
	"net"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"
	metadataAPI "github.com/segmentio/kafka-go/protocol/metadata"
	produceAPI "github.com/segmentio/kafka-go/protocol/produce"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// countingTripper answers metadata requests with one topic of 3
// partitions (or unknown, for the topic "missing") and counts the requests
// it sees.
type countingTripper struct{ calls int }

func (c *countingTripper) RoundTrip(_ context.Context, _ net.Addr, req kafkago.Request) (kafkago.Response, error) {
	c.calls++
	mr, ok := req.(*metadataAPI.Request)
	if !ok {
		return &produceAPI.Response{}, nil
	}
	res := &metadataAPI.Response{}
	for _, name := range mr.TopicNames {
		t := metadataAPI.ResponseTopic{Name: name, Partitions: make([]metadataAPI.ResponsePartition, 3)}
		if name == "missing" {
			t = metadataAPI.ResponseTopic{Name: name, ErrorCode: int16(kafkago.UnknownTopicOrPartition)}
		}
		res.Topics = append(res.Topics, t)
	}
	return res, nil
}

// TestMetadataCache: a successful lookup of one topic is answered from the
// cache within its TTL; failures, lookups of several topics and other
// requests always reach the transport.
func TestMetadataCache(t *testing.T) {
	one := func(topic string) kafkago.Request { return &metadataAPI.Request{TopicNames: []string{topic}} }
	for _, tc := range []struct {
		name      string
		ttl       time.Duration
		reqs      []kafkago.Request
		wantCalls int
	}{
		{"one topic, within the TTL", time.Hour, []kafkago.Request{one("a"), one("a"), one("a")}, 1},
		{"two topics, each once", time.Hour, []kafkago.Request{one("a"), one("b"), one("a"), one("b")}, 2},
		{"auto-creation is part of the key", time.Hour,
			[]kafkago.Request{one("a"), &metadataAPI.Request{TopicNames: []string{"a"}, AllowAutoTopicCreation: true}}, 2},
		{"an unknown topic is asked again", time.Hour, []kafkago.Request{one("missing"), one("missing")}, 2},
		{"several topics pass through", time.Hour,
			[]kafkago.Request{&metadataAPI.Request{TopicNames: []string{"a", "b"}}, &metadataAPI.Request{TopicNames: []string{"a", "b"}}}, 2},
		{"other requests pass through", time.Hour, []kafkago.Request{&produceAPI.Request{}, &produceAPI.Request{}}, 2},
		{"expired", 0, []kafkago.Request{one("a"), one("a")}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			under := &countingTripper{}
			c := &MetadataCache{RoundTripper: under, TTL: tc.ttl}
			for _, req := range tc.reqs {
				res, err := c.RoundTrip(t.Context(), nil, req)
				require.NoError(t, err)
				if mr, ok := req.(*metadataAPI.Request); ok {
					got := res.(*metadataAPI.Response)
					require.Len(t, got.Topics, len(mr.TopicNames))
					assert.Equal(t, mr.TopicNames[0], got.Topics[0].Name)
				}
			}
			assert.Equal(t, tc.wantCalls, under.calls)
		})
	}
}
