package kafkatest

import (
	"context"
	"net"
	"sync"

	kafkago "github.com/segmentio/kafka-go"
	produceAPI "github.com/segmentio/kafka-go/protocol/produce"
	"github.com/segmentio/kafka-go/protocol/rawproduce"
)

// FailingPartition is a kafka-go transport (a Producer's) that answers the next Fails
// produce requests holding records for one partition of one topic with NOT_ENOUGH_REPLICAS
// for that partition (a partition short of in-sync replicas), sending the rest of each
// request on to Kafka. Set the fields before its first use; it is safe for concurrent use.
type FailingPartition struct {
	kafkago.RoundTripper
	Topic     string
	Partition int32

	mu    sync.Mutex
	Fails int // guarded by mu once in use: read it with Left
}

// Left returns how many produce requests it will still fail.
func (f *FailingPartition) Left() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.Fails
}

// RoundTrip implements kafkago.RoundTripper.
func (f *FailingPartition) RoundTrip(ctx context.Context, addr net.Addr, req kafkago.Request) (kafkago.Response, error) {
	pr, ok := req.(*rawproduce.Request)
	if !ok {
		return f.RoundTripper.RoundTrip(ctx, addr, req)
	}
	f.mu.Lock()
	failing := f.Fails > 0
	rest := *pr
	rest.Topics = nil
	held := false
	for _, t := range pr.Topics {
		rt := rawproduce.RequestTopic{Topic: t.Topic}
		for _, p := range t.Partitions {
			if failing && t.Topic == f.Topic && p.Partition == f.Partition {
				held = true
				continue
			}
			rt.Partitions = append(rt.Partitions, p)
		}
		if len(rt.Partitions) > 0 {
			rest.Topics = append(rest.Topics, rt)
		}
	}
	if held {
		f.Fails--
	}
	f.mu.Unlock()
	if !held {
		return f.RoundTripper.RoundTrip(ctx, addr, req)
	}
	resp := &produceAPI.Response{}
	if len(rest.Topics) > 0 {
		r, err := f.RoundTripper.RoundTrip(ctx, addr, &rest)
		if err != nil {
			return nil, err
		}
		resp = r.(*produceAPI.Response)
	}
	const notEnoughReplicas = 19
	resp.Topics = append(resp.Topics, produceAPI.ResponseTopic{Topic: f.Topic,
		Partitions: []produceAPI.ResponsePartition{{Partition: f.Partition, ErrorCode: notEnoughReplicas}}})
	return resp, nil
}
