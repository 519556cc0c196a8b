package kafka

import (
	"context"
	"net"
	"sync"
	"time"

	kafkago "github.com/segmentio/kafka-go"
	metadataAPI "github.com/segmentio/kafka-go/protocol/metadata"
)

// MetadataCache is a kafka-go Writer's RoundTripper: kafka-go's Writer asks
// for the metadata of a record's topic once per record (WriteMessages looks
// up the partition count of each), and each lookup through the Transport's
// own cache costs four allocations, a copy of the topic's metadata and a
// round through its connection pool. MetadataCache answers a lookup of one
// topic from the last successful answer for up to TTL; a topic unknown or
// failing is asked again each time, so that a topic created meanwhile is
// found. Other requests pass through to RoundTripper. The cached answer is
// shared: kafka-go's Writer only reads it. Safe for concurrent use; the
// zero value of the unexported fields is ready.
type MetadataCache struct {
	kafkago.RoundTripper
	TTL time.Duration

	mu     sync.RWMutex
	topics map[metadataKey]cachedMetadata
}

type metadataKey struct {
	topic      string
	autoCreate bool
}

type cachedMetadata struct {
	res *metadataAPI.Response
	at  time.Time
}

// RoundTrip implements kafkago.RoundTripper.
func (c *MetadataCache) RoundTrip(ctx context.Context, addr net.Addr, req kafkago.Request) (kafkago.Response, error) {
	mr, ok := req.(*metadataAPI.Request)
	if !ok || len(mr.TopicNames) != 1 {
		return c.RoundTripper.RoundTrip(ctx, addr, req)
	}
	key := metadataKey{topic: mr.TopicNames[0], autoCreate: mr.AllowAutoTopicCreation}
	c.mu.RLock()
	e, ok := c.topics[key]
	c.mu.RUnlock()
	if ok && time.Since(e.at) < c.TTL {
		return e.res, nil
	}
	res, err := c.RoundTripper.RoundTrip(ctx, addr, req)
	if err != nil {
		return res, err
	}
	if r, ok := res.(*metadataAPI.Response); ok && len(r.Topics) == 1 && r.Topics[0].Name == key.topic && r.Topics[0].ErrorCode == 0 {
		c.mu.Lock()
		if c.topics == nil {
			c.topics = map[metadataKey]cachedMetadata{}
		}
		c.topics[key] = cachedMetadata{res: r, at: time.Now()}
		c.mu.Unlock()
	}
	return res, nil
}
