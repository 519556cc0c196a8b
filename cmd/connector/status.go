package main

import (
	"cmp"
	"context"
	"slices"
	"strconv"
	"sync"
	"time"

	dto "github.com/prometheus/client_model/go"
	kafkago "github.com/segmentio/kafka-go"

	"github.com/dscokafka/connector/pkg/dsco"
	"github.com/dscokafka/connector/pkg/ops"
	"github.com/dscokafka/connector/pkg/schemas"
)

// streamLagUnknown is why the stream partitions have no lag.
const streamLagUnknown = "Dsco streams do not report lag"

// statusTracker is the ops status provider of a connector. Every interval it
// builds a snapshot: the totals and per-partition and per-command counters
// from the connector's Prometheus registry (the pipelines' own metrics), the
// committed stream positions from Dsco (ListStreams) and the command topics'
// consumer lag from Kafka. Status returns the last snapshot without I/O, so
// the status page and /status.json cost nothing however often they are read.
// LastEventTime is the Dsco timestamp of the newest event the partition
// published (the pipeline's dsco_inbound_last_event_timestamp_seconds). The
// stream lag is not known: Dsco's stream API says whether more events are
// ready (hasMore) but not how many lie ahead of a position, so Lag is nil
// and LagUnknown says so.
type statusTracker struct {
	c        *connector
	kafka    *kafkago.Client
	interval time.Duration

	mu   sync.Mutex
	last ops.Status
}

func newStatusTracker(c *connector, brokers []string, transport *kafkago.Transport, interval time.Duration) *statusTracker {
	s := &statusTracker{c: c, interval: interval,
		kafka: &kafkago.Client{Addr: kafkago.TCP(brokers...), Transport: transport, Timeout: 5 * time.Second}}
	s.last = ops.Status{Started: c.started, Version: readBuildInfo().String(), Role: string(c.cfg.Dsco.Role)}
	return s
}

// Status returns the latest snapshot. It is safe for concurrent use.
func (s *statusTracker) Status() ops.Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.last
	st.Streams = slices.Clone(st.Streams)
	st.Commands = slices.Clone(st.Commands)
	return st
}

// run refreshes the snapshot every interval until ctx ends, and once more
// then (the final counters, without I/O).
func (s *statusTracker) run(ctx context.Context) {
	t := time.NewTicker(s.interval)
	defer t.Stop()
	s.refresh(ctx)
	for {
		select {
		case <-ctx.Done():
			s.refresh(ctx)
			return
		case <-t.C:
			s.refresh(ctx)
		}
	}
}

// metricKey identifies a series by its labels' values in a fixed order.
type metricKey struct{ a, b string }

// counters reads the counters (or histogram sums) of name by two labels.
func counters(mfs []*dto.MetricFamily, name, la, lb string) map[metricKey]float64 {
	out := map[metricKey]float64{}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			var k metricKey
			for _, l := range m.GetLabel() {
				switch l.GetName() {
				case la:
					k.a = l.GetValue()
				case lb:
					k.b = l.GetValue()
				}
			}
			v := m.GetCounter().GetValue()
			if h := m.GetHistogram(); h != nil {
				v = h.GetSampleSum()
			}
			if g := m.GetGauge(); g != nil {
				v = g.GetValue()
			}
			out[k] += v
		}
	}
	return out
}

func (s *statusTracker) refresh(ctx context.Context) {
	st := s.Status()
	mfs, err := s.c.reg.Gather()
	if err != nil {
		s.c.log.Debug("status: gathering metrics", "error", err.Error())
	}
	var tot ops.Totals
	for _, v := range counters(mfs, "dsco_inbound_events_published_total", "object_type", "") {
		tot.EventsIn += int64(v)
	}
	for _, v := range counters(mfs, "dsco_inbound_events_poisoned_total", "object_type", "") {
		tot.Poisoned += int64(v)
	}
	for _, v := range counters(mfs, "dsco_outbound_batch_size", "command", "") {
		tot.CommandsOut += int64(v)
	}
	outcomes := counters(mfs, "dsco_outbound_commands_total", "command", "status")
	poisoned := counters(mfs, "dsco_outbound_poisoned_total", "command", "")
	for k, v := range outcomes {
		switch k.b {
		case "applied", "queued":
			tot.Accepted += int64(v)
		case "rejected":
			tot.Rejected += int64(v)
		default:
			tot.Failed += int64(v)
		}
	}
	for _, v := range poisoned {
		tot.Poisoned += int64(v)
	}
	st.Totals = tot

	if s.c.in != nil {
		st.Streams = s.streams(ctx, mfs, st.Streams)
	}
	if s.c.out != nil {
		st.Commands = s.commands(ctx, outcomes, poisoned, st.Commands)
	}
	s.mu.Lock()
	s.last = st
	s.mu.Unlock()
}

// streams returns the stream partitions: positions from Dsco (the previous
// ones when Dsco does not answer or ctx ended), counters from the metrics.
func (s *statusTracker) streams(ctx context.Context, mfs []*dto.MetricFamily, prev []ops.StreamPartition) []ops.StreamPartition {
	events := counters(mfs, "dsco_inbound_checkpoint_events_total", "object_type", "partition")
	eventTimes := counters(mfs, "dsco_inbound_last_event_timestamp_seconds", "object_type", "partition")
	out := prev
	if ctx.Err() == nil {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		list, err := s.c.client.ListStreams(cctx)
		cancel()
		if err == nil {
			out = out[:0:0]
			wanted := map[string]bool{}
			for _, o := range s.c.cfg.Dsco.Streams {
				wanted[string(o)] = true
			}
			// The pipeline reads the oldest stream of each object type (see
			// inbound.EnsureStream).
			streams := slices.Clone(list.Streams)
			slices.SortFunc(streams, func(a, b dsco.Stream) int {
				return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.StreamID, b.StreamID))
			})
			for _, st := range streams {
				obj := string(st.ObjectType)
				if !wanted[obj] {
					continue
				}
				delete(wanted, obj)
				var topic string
				if d, ok := schemas.Event(obj); ok {
					topic = s.c.cfg.Topic(d)
				}
				for _, p := range st.Partitions {
					out = append(out, ops.StreamPartition{ObjectType: obj, StreamID: st.StreamID, Partition: p.Partition,
						Topic: topic, Position: p.Position})
				}
			}
			slices.SortFunc(out, func(a, b ops.StreamPartition) int {
				return cmp.Or(cmp.Compare(a.ObjectType, b.ObjectType), cmp.Compare(a.Partition, b.Partition))
			})
		} else {
			s.c.log.Debug("status: listing streams", "error", err.Error())
		}
	}
	for i := range out {
		k := metricKey{out[i].ObjectType, strconv.Itoa(out[i].Partition)}
		out[i].Events = int64(events[k])
		if ts := eventTimes[k]; ts > 0 {
			out[i].LastEventTime = time.Unix(0, int64(ts*1e9))
		}
		out[i].LagUnknown = streamLagUnknown
	}
	return out
}

// commands returns the command topics with their counters and consumer lag
// (the previous lag when Kafka does not answer or ctx ended).
func (s *statusTracker) commands(ctx context.Context, outcomes, poisoned map[metricKey]float64, prev []ops.CommandTopic) []ops.CommandTopic {
	lags := map[string]int64{}
	for _, ct := range prev {
		lags[ct.Command] = ct.Lag
	}
	topics := s.c.out.Pipeline().Topics()
	if ctx.Err() == nil {
		for name, topic := range topics {
			if lag, err := s.lag(ctx, s.c.cfg.Kafka.ConsumerGroup+"."+name, topic); err == nil {
				lags[name] = lag
			}
		}
	}
	out := make([]ops.CommandTopic, 0, len(topics))
	for name, topic := range topics {
		ct := ops.CommandTopic{Command: name, Topic: topic, Lag: lags[name],
			Poisoned: int64(poisoned[metricKey{name, ""}])}
		for k, v := range outcomes {
			if k.a != name {
				continue
			}
			switch k.b {
			case "applied", "queued":
				ct.Accepted += int64(v)
			case "rejected":
				ct.Rejected += int64(v)
			default:
				ct.Failed += int64(v)
			}
		}
		out = append(out, ct)
	}
	slices.SortFunc(out, func(a, b ops.CommandTopic) int { return cmp.Compare(a.Command, b.Command) })
	return out
}

// lag returns the records of topic not yet committed by group, summed over
// its partitions (a partition without a commit counts from its first
// offset).
func (s *statusTracker) lag(ctx context.Context, group, topic string) (int64, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	meta, err := s.kafka.Metadata(ctx, &kafkago.MetadataRequest{Topics: []string{topic}})
	if err != nil {
		return 0, err
	}
	var parts []int
	for _, t := range meta.Topics {
		if t.Error != nil {
			return 0, t.Error
		}
		for _, p := range t.Partitions {
			parts = append(parts, p.ID)
		}
	}
	if len(parts) == 0 {
		return 0, nil
	}
	reqs := make([]kafkago.OffsetRequest, 0, 2*len(parts))
	for _, p := range parts {
		reqs = append(reqs, kafkago.FirstOffsetOf(p), kafkago.LastOffsetOf(p))
	}
	offs, err := s.kafka.ListOffsets(ctx, &kafkago.ListOffsetsRequest{Topics: map[string][]kafkago.OffsetRequest{topic: reqs}})
	if err != nil {
		return 0, err
	}
	committed, err := s.kafka.OffsetFetch(ctx, &kafkago.OffsetFetchRequest{GroupID: group, Topics: map[string][]int{topic: parts}})
	if err != nil {
		return 0, err
	}
	done := map[int]int64{}
	for _, p := range committed.Topics[topic] {
		done[p.Partition] = p.CommittedOffset
	}
	var lag int64
	for _, p := range offs.Topics[topic] {
		from := p.FirstOffset
		if c, ok := done[p.Partition]; ok && c >= 0 {
			from = max(from, c)
		}
		lag += max(0, p.LastOffset-from)
	}
	return lag, nil
}
