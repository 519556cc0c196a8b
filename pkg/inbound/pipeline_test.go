package inbound_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/protocol/rawproduce"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/dscokafka/connector/pkg/dsco"
	"github.com/dscokafka/connector/pkg/dsco/dscotest"
	"github.com/dscokafka/connector/pkg/inbound"
	"github.com/dscokafka/connector/pkg/kafka/kafkatest"
	"github.com/dscokafka/connector/pkg/schemas"
)

// TestPipelineOrdersEndToEnd: order events written before and while the
// pipeline runs all reach dsco.order.v1 exactly once (no crash, no
// duplicates), keyed by order id, with the envelope and headers, in stream
// order per key; the committed positions reach the end of every partition
// and never move backwards.
func TestPipelineOrdersEndToEnd(t *testing.T) {
	sb, client, brokers, serde := newStack(t, dscotest.Config{Seed: 7}, "order")
	ids, err := sb.SeedOrders(400)
	require.NoError(t, err)

	const parts = 3
	var mu sync.Mutex
	streamID := ""
	cfg := testConfig(client, serde, brokers, inbound.StreamConfig{ObjectType: "order", PartitionCount: parts})
	newest := &newestMetrics{}
	cfg.Metrics = newest
	r := startPipeline(t, cfg)
	require.Eventually(t, func() bool {
		list, err := client.ListStreams(t.Context())
		if err != nil || len(list.Streams) == 0 {
			return false
		}
		mu.Lock()
		streamID = list.Streams[0].StreamID
		mu.Unlock()
		return true
	}, waitLimit, 10*time.Millisecond)
	watch := watchPositions(t, client, func() string { mu.Lock(); defer mu.Unlock(); return streamID })

	// More events while it runs: new orders, and acknowledgements of the
	// first ones (a second event for the same key).
	_, err = sb.SeedOrders(300)
	require.NoError(t, err)
	resp, err := client.SupplierAcknowledgeOrder(t.Context(), dsco.AcknowledgeOrderRequest{OrderIDs: ids[:100]})
	require.NoError(t, err)
	require.Empty(t, resp.Errors)

	want := witness(t, client, "order", parts)
	total := 0
	for _, evs := range want {
		total += len(evs)
	}
	require.Equal(t, 800, total)

	recs := newConsumer(t, brokers, "dsco.order.v1").until(t, func(rs []*kgo.Record) bool { return len(rs) >= total })
	require.Len(t, recs, total, "every event once, no duplicates without a crash")

	// Committed positions reach the end of each partition.
	require.Eventually(t, func() bool {
		list, err := client.ListStreams(t.Context())
		require.NoError(t, err)
		for _, s := range list.Streams {
			if s.StreamID != streamID {
				continue
			}
			for _, p := range s.Partitions {
				if sandboxSeq(p.Position) != uint64(len(want[p.Partition])) {
					return false
				}
			}
			return true
		}
		return false
	}, waitLimit, 20*time.Millisecond, "every partition committed to its end")
	require.NoError(t, r.stop(t))

	// The newest event time per partition is the Dsco timestamp of the
	// partition's newest event.
	for part, evs := range want {
		var last time.Time
		for _, ev := range evs {
			if ev.Timestamp.After(last) {
				last = ev.Timestamp
			}
		}
		assert.True(t, last.Equal(newest.get("order", part)), "partition %d: newest event %v, reported %v", part, last, newest.get("order", part))
	}
	assert.Zero(t, newest.backwards, "the newest event time never moves backwards")

	byID := map[string]*kgo.Record{}
	perKey := map[string][]string{} // event ids in Kafka order per key
	for _, rec := range recs {
		id := header(rec, inbound.HeaderEventID)
		byID[id] = rec
		perKey[string(rec.Key)] = append(perKey[string(rec.Key)], id)
	}
	wantPerKey := map[string][]string{}
	for part, evs := range want {
		for _, ev := range evs {
			rec := byID[ev.EventID]
			require.NotNil(t, rec, "event %s is on Kafka", ev.EventID)
			o, err := ev.Order()
			require.NoError(t, err)
			assert.Equal(t, o.OrderID, string(rec.Key))
			assert.Equal(t, ev.EventType, header(rec, inbound.HeaderEventType))
			assert.Equal(t, ev.EventID, header(rec, inbound.HeaderCorrelationID))
			var got schemas.OrderEvent
			require.NoError(t, serde.Decode(t.Context(), rec.Value, &got))
			assert.Equal(t, ev.EventID, got.EventID)
			assert.Equal(t, ev.EventType, got.EventType)
			assert.Equal(t, "order", got.ObjectType)
			assert.Equal(t, streamID, got.StreamID)
			assert.Equal(t, part, dscotest.PartitionFor(o.OrderID, parts))
			assert.True(t, ev.Timestamp.Truncate(time.Millisecond).Equal(got.Timestamp))
			wantPerKey[o.OrderID] = append(wantPerKey[o.OrderID], ev.EventID)
		}
	}
	assert.Equal(t, wantPerKey, perKey, "each key's events in stream order")

	watch.mu.Lock()
	defer watch.mu.Unlock()
	assert.Empty(t, watch.backwards, "committed positions never move backwards")
	assert.Positive(t, watch.samples)
}

// TestPipelinePoison: events the decoder cannot map, and a record without a
// key, go to the poison topic with their raw bytes and where they were
// read; the partition goes on and is committed past them.
func TestPipelinePoison(t *testing.T) {
	sb, client, brokers, serde := newStack(t, dscotest.Config{Seed: 8}, "order")
	_, err := sb.SeedOrders(50)
	require.NoError(t, err)
	want := witness(t, client, "order", 1)[0]
	require.Len(t, want, 50)
	bad := map[string]bool{want[3].EventID: true, want[40].EventID: true}

	cfg := testConfig(client, serde, brokers, inbound.StreamConfig{ObjectType: "order"})
	cfg.PageLimit = 10
	cfg.NewDecoder = func(objectType string) (inbound.PageDecoder, error) {
		d, err := inbound.NewEventPageDecoder(objectType)
		return &failing{PageDecoder: d, fail: bad}, err
	}
	r := startPipeline(t, cfg)

	recs := newConsumer(t, brokers, "dsco.order.v1", "dsco.poison.v1").until(t, func(rs []*kgo.Record) bool { return len(rs) >= 50 })
	require.Len(t, recs, 50)
	var poisoned []*kgo.Record
	published := 0
	for _, rec := range recs {
		if rec.Topic == "dsco.poison.v1" {
			poisoned = append(poisoned, rec)
		} else {
			published++
			assert.False(t, bad[header(rec, inbound.HeaderEventID)])
		}
	}
	assert.Equal(t, 48, published)
	require.Len(t, poisoned, 2)
	// The events exactly as the sandbox serves them.
	ws, err := client.CreateStream(t.Context(), dsco.StreamDefinition{ObjectType: dsco.ObjectOrder})
	require.NoError(t, err)
	body, err := client.GetStreamEventsRaw(t.Context(), ws.StreamID, dsco.ReadEventsParams{Limit: 1000}, nil)
	require.NoError(t, err)
	var page struct{ Events []json.RawMessage }
	require.NoError(t, json.Unmarshal(body, &page))
	require.Len(t, page.Events, 50)
	raws := map[string][]byte{}
	for i, ev := range want {
		raws[ev.EventID] = page.Events[i]
	}
	streams, err := client.ListStreams(t.Context())
	require.NoError(t, err)
	for _, rec := range poisoned { // the pipeline's stream is the first
		id := header(rec, inbound.HeaderEventID)
		assert.True(t, bad[id])
		assert.Equal(t, string(raws[id]), string(rec.Value), "the raw event, byte-exact")
		assert.Contains(t, header(rec, inbound.HeaderPoisonReason), "not mappable")
		assert.Equal(t, "0", header(rec, inbound.HeaderPartition))
		assert.Equal(t, "order", header(rec, inbound.HeaderObjectType))
		assert.NotEmpty(t, header(rec, inbound.HeaderPosition))
		assert.Equal(t, streams.Streams[0].StreamID, header(rec, inbound.HeaderStream))
	}
	require.Eventually(t, func() bool {
		list, err := client.ListStreams(t.Context())
		require.NoError(t, err)
		return slices.ContainsFunc(list.Streams, func(s dsco.Stream) bool {
			return s.StreamID == streams.Streams[0].StreamID && sandboxSeq(s.Partitions[0].Position) == 50
		})
	}, waitLimit, 20*time.Millisecond, "committed past the poisoned events")
	require.NoError(t, r.stop(t))
}

// TestPipelineNewestEventNotInTheFuture: events Dsco dates in the future (its clock a
// year ahead) are delivered, and the newest-event metric says now for them, not a time
// a lag computed from it would hide behind for a year.
func TestPipelineNewestEventNotInTheFuture(t *testing.T) {
	clk := dscotest.NewClock(time.Now().Add(365 * 24 * time.Hour))
	sb, client, brokers, serde := newStack(t, dscotest.Config{Seed: 8, Now: clk.Now}, "order")
	_, err := sb.SeedOrders(20)
	require.NoError(t, err)
	cfg := testConfig(client, serde, brokers, inbound.StreamConfig{ObjectType: "order", PartitionCount: 1})
	newest := &newestMetrics{}
	cfg.Metrics = newest
	r := startPipeline(t, cfg)
	newConsumer(t, brokers, "dsco.order.v1").until(t, func(rs []*kgo.Record) bool { return len(rs) >= 20 })
	require.Eventually(t, func() bool { return !newest.get("order", 0).IsZero() }, waitLimit, 10*time.Millisecond)
	assert.False(t, newest.get("order", 0).After(time.Now()), "the newest-event metric, %v, is in the future", newest.get("order", 0))
	require.NoError(t, r.stop(t))
}

// newestMetrics records Metrics.NewestEvent per object type and partition,
// and counts the calls that did not move forward.
type newestMetrics struct {
	inbound.NopMetrics
	mu        sync.Mutex
	newest    map[string]time.Time
	backwards int
}

func (m *newestMetrics) NewestEvent(objectType string, partition int, t time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.newest == nil {
		m.newest = map[string]time.Time{}
	}
	k := fmt.Sprint(objectType, "/", partition)
	if !t.After(m.newest[k]) {
		m.backwards++
	}
	m.newest[k] = t
}

func (m *newestMetrics) get(objectType string, partition int) time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.newest[fmt.Sprint(objectType, "/", partition)]
}

// failing is a PageDecoder that reports the events in fail as not mappable.
type failing struct {
	inbound.PageDecoder
	fail map[string]bool
}

func (f *failing) Decode(body []byte, streamID string) (*inbound.Page, error) {
	p, err := f.PageDecoder.Decode(body, streamID)
	if err != nil {
		return nil, err
	}
	for i := range p.Events {
		if ev := &p.Events[i]; f.fail[ev.EventID] {
			ev.Record, ev.Err = nil, fmt.Errorf("event %s marked not mappable by the test", ev.EventID)
		}
	}
	return p, nil
}

// TestEnsureStream: the same stream across restarts and across processes
// starting at once; a different query is a different stream.
func TestEnsureStream(t *testing.T) {
	sb := newSandbox(t, dscotest.Config{Seed: 9})
	client := newClient(t, sb.URL)
	cfg := inbound.StreamConfig{ObjectType: "order", PartitionCount: 2, QueryParams: map[string]any{"status": "shipped"}}

	const racers = 6
	got := make([]inbound.StreamInfo, racers)
	var wg sync.WaitGroup
	for i := range racers {
		wg.Go(func() {
			s, err := inbound.EnsureStream(t.Context(), newClient(t, sb.URL), cfg)
			assert.NoError(t, err)
			got[i] = s
		})
	}
	wg.Wait()
	for _, s := range got {
		assert.Equal(t, got[0].ID, s.ID, "every racer settles on the same stream")
		assert.Equal(t, 2, s.Partitions)
	}
	again, err := inbound.EnsureStream(t.Context(), client, cfg)
	require.NoError(t, err)
	assert.Equal(t, got[0].ID, again.ID, "a restart finds it")
	assert.False(t, again.Created)

	other, err := inbound.EnsureStream(t.Context(), client, inbound.StreamConfig{ObjectType: "order"})
	require.NoError(t, err)
	assert.NotEqual(t, got[0].ID, other.ID, "another query is another stream")
	assert.True(t, other.Created)

	_, err = inbound.EnsureStream(t.Context(), client, inbound.StreamConfig{ObjectType: "shipment"})
	assert.ErrorContains(t, err, `unknown object type "shipment"`)
}

// TestStartLatest: a stream with StartLatest skips the events retained when
// it was created and delivers every later one, whichever process created it
// and however that process ended: also when createStream's answer was lost
// (the stream is found by listing), when the process that created it
// stopped before it skipped anything, and when the first run stopped before
// its partitions had events (the events written meanwhile are later ones).
func TestStartLatest(t *testing.T) {
	sc := inbound.StreamConfig{ObjectType: "order", PartitionCount: 2, Start: inbound.StartLatest}
	for _, tc := range []struct {
		name     string
		retained int // orders written before anything
		// before is what happens before the pipeline runs; it returns the
		// orders it wrote after the stream was created.
		before func(t *testing.T, sb *dscotest.Server, client *dsco.Client, cfg inbound.Config) []string
	}{
		{"created by the pipeline", 120, nil},
		{"createStream's answer lost", 120, func(t *testing.T, sb *dscotest.Server, _ *dsco.Client, _ inbound.Config) []string {
			sb.SetFault("createStream", dscotest.Fault{Rate500Applied: 1}) // created, then 500
			return nil
		}},
		{"created by a process that stopped before skipping", 120, func(t *testing.T, _ *dscotest.Server, client *dsco.Client, _ inbound.Config) []string {
			s, err := inbound.EnsureStream(t.Context(), client, sc)
			require.NoError(t, err)
			require.True(t, s.Created)
			return nil
		}},
		{"first run stopped before its partitions had events", 0, func(t *testing.T, sb *dscotest.Server, _ *dsco.Client, cfg inbound.Config) []string {
			p, err := inbound.NewPipeline(cfg, nil)
			require.NoError(t, err)
			_, err = p.Bootstrap(t.Context())
			require.NoError(t, err)
			require.NoError(t, p.Close())
			ids, err := sb.SeedOrders(30) // while it is stopped
			require.NoError(t, err)
			return ids
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sb, client, brokers, serde := newStack(t, dscotest.Config{Seed: 10}, "order")
			_, err := sb.SeedOrders(tc.retained)
			require.NoError(t, err)
			cfg := testConfig(client, serde, brokers, sc)
			var want []string
			if tc.before != nil {
				want = tc.before(t, sb, client, cfg)
			}

			r := startPipeline(t, cfg)
			require.Eventually(t, func() bool {
				list, err := client.ListStreams(t.Context())
				require.NoError(t, err)
				return len(list.Streams) == 1
			}, waitLimit, 10*time.Millisecond, "the stream exists")
			later, err := sb.SeedOrders(5) // after the stream's creation, maybe before the skip ends
			require.NoError(t, err)
			want = append(want, later...)
			total := uint64(tc.retained + len(want))
			require.Eventually(t, func() bool {
				list, err := client.ListStreams(t.Context())
				require.NoError(t, err)
				return len(list.Streams) == 1 && sandboxSeq(list.Streams[0].Partitions[0].Position)+sandboxSeq(list.Streams[0].Partitions[1].Position) == total
			}, waitLimit, 10*time.Millisecond, "every event is skipped or published, and committed")
			require.NoError(t, r.stop(t))

			// Everything the pipeline published was acknowledged before its
			// commit: the topic holds it all.
			end, err := kafkatest.Admin(t, brokers).ListEndOffsets(t.Context(), "dsco.order.v1")
			require.NoError(t, err)
			var n int64
			end.Each(func(o kadm.ListedOffset) { n += o.Offset })
			assert.Equal(t, int64(len(want)), n, "only the events after the stream's creation are published")
			recs := newConsumer(t, brokers, "dsco.order.v1").until(t, func(rs []*kgo.Record) bool { return len(rs) >= len(want) })
			keys := []string{}
			for _, rec := range recs {
				keys = append(keys, string(rec.Key))
			}
			assert.ElementsMatch(t, want, keys)
		})
	}
}

// TestConfigValidate names what is wrong.
func TestConfigValidate(t *testing.T) {
	_, err := inbound.NewPipeline(inbound.Config{Streams: []inbound.StreamConfig{{ObjectType: "order"}, {ObjectType: "order"}}, PageLimit: 5000,
		MaxPagesInFlight: -1, MaxPagesDecoding: 2}, nil)
	require.Error(t, err)
	for _, want := range []string{"missing Client", "missing Serde",
		`object type "order" appears twice`, "Kafka.Brokers is required", "PageLimit 5000", "MaxPagesInFlight -1",
		"MaxPagesDecoding 2 is not within 1..MaxPagesInFlight (-1)"} {
		assert.ErrorContains(t, err, want)
	}
}

// TestPipelineRecoversPanics: a page whose mapping panics is mapped again
// one event at a time; only the event that panics goes to the poison
// topic, with the panic as the reason, and the partition goes on. A panic
// after the event's record was built (a middleware after the core handler)
// poisons the event without publishing it as well.
func TestPipelineRecoversPanics(t *testing.T) {
	for _, tc := range []struct {
		name  string
		after bool // panic once the rest of the chain built the records
	}{{"before the records", false}, {"after the records", true}} {
		t.Run(tc.name, func(t *testing.T) {
			sb, client, brokers, serde := newStack(t, dscotest.Config{Seed: 16}, "order")
			_, err := sb.SeedOrders(30)
			require.NoError(t, err)
			want := witness(t, client, "order", 1)[0]
			bad := want[17].EventID

			cfg := testConfig(client, serde, brokers, inbound.StreamConfig{ObjectType: "order"})
			panicOn := func(next inbound.PageHandler) inbound.PageHandler {
				return func(ctx context.Context, b *inbound.Batch) error {
					var err error
					if tc.after {
						err = next(ctx, b)
					}
					for _, ev := range b.Page.Events {
						if ev.EventID == bad {
							panic("boom")
						}
					}
					if tc.after {
						return err
					}
					return next(ctx, b)
				}
			}
			cfg.Middleware = append(inbound.DefaultMiddleware(), panicOn)
			r := startPipeline(t, cfg)
			recs := newConsumer(t, brokers, "dsco.order.v1", "dsco.poison.v1").until(t, func(rs []*kgo.Record) bool { return len(rs) >= 30 })
			require.NoError(t, r.stop(t))
			require.Len(t, recs, 30)
			for _, rec := range recs {
				id := header(rec, inbound.HeaderEventID)
				if id == bad {
					assert.Equal(t, "dsco.poison.v1", rec.Topic)
					assert.Contains(t, header(rec, inbound.HeaderPoisonReason), "panic while mapping the event: boom")
				} else {
					assert.Equal(t, "dsco.order.v1", rec.Topic, "event %s", id)
				}
			}
		})
	}
}

// TestPipelineOwnership: two processes (here two pipelines) that each own
// one partition of the same stream deliver every event between them, once,
// and each commits its own partition.
func TestPipelineOwnership(t *testing.T) {
	sb, client, brokers, serde := newStack(t, dscotest.Config{Seed: 17}, "order")
	_, err := sb.SeedOrders(200)
	require.NoError(t, err)

	seen := make([][]int, 2)
	var mu sync.Mutex
	for owner := range 2 {
		cfg := testConfig(client, serde, brokers, inbound.StreamConfig{ObjectType: "order", PartitionCount: 2})
		cfg.Owns = func(objectType string, partition int) bool {
			mu.Lock()
			defer mu.Unlock()
			seen[owner] = append(seen[owner], partition)
			return objectType == "order" && partition == owner
		}
		startPipeline(t, cfg)
	}
	recs := newConsumer(t, brokers, "dsco.order.v1").until(t, func(rs []*kgo.Record) bool { return len(rs) >= 200 })
	ids := map[string]bool{}
	for _, rec := range recs {
		ids[header(rec, inbound.HeaderEventID)] = true
	}
	assert.Len(t, ids, 200)
	assert.Len(t, recs, 200, "no partition read twice")
	require.Eventually(t, func() bool {
		list, err := client.ListStreams(t.Context())
		require.NoError(t, err)
		// Both settled on the oldest stream (starting at once, each may have
		// created one).
		s := list.Streams[0]
		return sandboxSeq(s.Partitions[0].Position)+sandboxSeq(s.Partitions[1].Position) == 200
	}, waitLimit, 20*time.Millisecond, "both partitions committed to their end")
	mu.Lock()
	defer mu.Unlock()
	assert.Equal(t, [][]int{{0, 1}, {0, 1}}, seen, "each process was asked about every partition")
}

// TestPipelineRecordTooLarge: an event whose record is larger than
// Kafka.BatchBytes (which kafka-go refuses, failing the whole page) goes to
// the poison topic with the sizes in the reason and its raw bytes cut to
// fit; the events around it reach their topic and the stream position
// moves past it.
func TestPipelineRecordTooLarge(t *testing.T) {
	const limit = 16 << 10
	sb, client, brokers, serde := newStack(t, dscotest.Config{Seed: 18}, "order")
	_, err := sb.SeedOrders(5)
	require.NoError(t, err)
	// About 100 KB an event: 5 line items of 400 attributes each.
	require.NoError(t, sb.SeedOrderBacklog(1, dscotest.OrderShape{Items: 5, ExtraAttributes: 400}))
	_, err = sb.SeedOrders(5)
	require.NoError(t, err)
	want := witness(t, client, "order", 1)[0]

	// The events exactly as the sandbox serves them: the large ones are
	// those larger than the limit even as raw JSON.
	ws, err := client.CreateStream(t.Context(), dsco.StreamDefinition{ObjectType: dsco.ObjectOrder})
	require.NoError(t, err)
	body, err := client.GetStreamEventsRaw(t.Context(), ws.StreamID, dsco.ReadEventsParams{Limit: 1000}, nil)
	require.NoError(t, err)
	var page struct{ Events []json.RawMessage }
	require.NoError(t, json.Unmarshal(body, &page))
	require.Len(t, page.Events, len(want))
	raws := map[string][]byte{}
	large := map[string]bool{}
	for i, ev := range want {
		raws[ev.EventID] = page.Events[i]
		if len(page.Events[i]) > limit {
			large[ev.EventID] = true
		}
	}
	require.NotEmpty(t, large)
	require.Less(t, len(large), len(want))

	cfg := testConfig(client, serde, brokers, inbound.StreamConfig{ObjectType: "order"})
	cfg.Kafka.BatchBytes = limit
	r := startPipeline(t, cfg)

	recs := newConsumer(t, brokers, "dsco.order.v1", "dsco.poison.v1").until(t, func(rs []*kgo.Record) bool { return len(rs) >= len(want) })
	require.Len(t, recs, len(want))
	published := 0
	for _, rec := range recs {
		id := header(rec, inbound.HeaderEventID)
		if rec.Topic != "dsco.poison.v1" {
			published++
			assert.False(t, large[id], "a large event on its topic")
			assert.Empty(t, header(rec, inbound.HeaderTruncated))
			continue
		}
		require.True(t, large[id], "event %s poisoned", id)
		reason := header(rec, inbound.HeaderPoisonReason)
		assert.Regexp(t, `^inbound: record of \d+ bytes exceeds the Kafka batch limit of 16384 bytes \(BatchBytes\)$`, reason)
		assert.Equal(t, "true", header(rec, inbound.HeaderTruncated))
		assert.NotEmpty(t, rec.Value)
		assert.Less(t, len(rec.Value), limit)
		assert.True(t, bytes.HasPrefix(raws[id], rec.Value), "the value is the start of the raw event")
	}
	assert.Equal(t, len(want)-len(large), published)
	require.Eventually(t, func() bool {
		list, err := client.ListStreams(t.Context())
		require.NoError(t, err)
		return slices.ContainsFunc(list.Streams, func(s dsco.Stream) bool {
			return s.StreamID != ws.StreamID && sandboxSeq(s.Partitions[0].Position) == uint64(len(want))
		})
	}, waitLimit, 20*time.Millisecond, "committed past the large events")
	require.NoError(t, r.stop(t))
}

// pageSizes records the events of each page read.
type pageSizes struct {
	inbound.NopMetrics
	mu     sync.Mutex
	events []int
}

func (m *pageSizes) PageRead(_ string, _, events int, _ time.Duration) {
	m.mu.Lock()
	m.events = append(m.events, events)
	m.mu.Unlock()
}

func (m *pageSizes) pages() []int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.events)
}

// TestPipelinePageBytes: a partition's first read asks for at most 100
// events; later reads ask for as many as fit in PageBytes at the size the
// last page's events had, so that large events come fewer to a page, also
// when they arrive after pages without events; every event is published.
func TestPipelinePageBytes(t *testing.T) {
	for _, tc := range []struct {
		name       string
		events     int
		extra      int // unknown attributes per object: about 260 bytes each per 5-line order
		pageBytes  int
		idle       bool // the events arrive after the partition read pages without events
		mostLater  int  // the most events a page after the first may hold
		leastLater int  // and the least, for all but the last
	}{
		{"small events fill PageLimit", 2500, 0, 0, false, 1000, 1000},
		{"large events are bounded by PageBytes", 400, 20, 64 << 10, false, 64 << 10 / 4000, 64 << 10 / 7000},
		{"large events after empty pages too", 400, 20, 64 << 10, true, 64 << 10 / 4000, 64 << 10 / 7000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sb, client, brokers, serde := newStack(t, dscotest.Config{Seed: 19}, "order")
			seed := func() {
				require.NoError(t, sb.SeedOrderBacklog(tc.events, dscotest.OrderShape{Items: 5, ExtraAttributes: tc.extra}))
			}
			if !tc.idle {
				seed()
			}

			sizes := &pageSizes{}
			cfg := testConfig(client, serde, brokers, inbound.StreamConfig{ObjectType: "order"})
			cfg.PageLimit, cfg.PageBytes, cfg.Metrics = 1000, tc.pageBytes, sizes
			var decoders atomic.Int32
			cfg.NewDecoder = func(objectType string) (inbound.PageDecoder, error) {
				decoders.Add(1)
				return inbound.NewEventPageDecoder(objectType)
			}
			r := startPipeline(t, cfg)
			if tc.idle {
				require.Eventually(t, func() bool { return len(sizes.pages()) >= 3 }, waitLimit, 10*time.Millisecond)
				require.Equal(t, []int{0, 0, 0}, sizes.pages()[:3])
				seed()
			}
			recs := newConsumer(t, brokers, "dsco.order.v1").until(t, func(rs []*kgo.Record) bool { return len(rs) >= tc.events })
			require.Len(t, recs, tc.events)
			require.NoError(t, r.stop(t))

			var read []int
			for _, n := range sizes.pages() {
				if n > 0 {
					read = append(read, n)
				}
			}
			require.GreaterOrEqual(t, len(read), 3, "pages read: %v", read)
			// One partition reads one page at a time: one page buffer and decoder
			// serve every read, unless one grew past 2 × PageBytes (the first page of
			// large events, 100 of them): it is not kept, and a new one reads on.
			if tc.pageBytes == 0 {
				assert.Equal(t, int32(1), decoders.Load(), "decoders made")
			} else {
				assert.Equal(t, int32(2), decoders.Load(), "decoders made")
			}
			assert.Equal(t, 100, read[0], "the first read's limit, pages read: %v", read)
			for i, n := range read[1:] {
				assert.LessOrEqual(t, n, tc.mostLater, "page %d of %v", i+1, read)
				if i+2 < len(read) {
					assert.GreaterOrEqual(t, n, tc.leastLater, "page %d of %v", i+1, read)
				}
			}
		})
	}
}

// TestPipelineRunsAgainAfterStopInProduceBackoff: a run stopped while it
// waits to produce a page again (its topic is missing) gives the page's
// place in the pipeline back, so that a later run of the same Pipeline
// reads and publishes the partition.
func TestPipelineRunsAgainAfterStopInProduceBackoff(t *testing.T) {
	sb := newSandbox(t, dscotest.Config{Seed: 3})
	client := newClient(t, sb.URL)
	brokers := kafkatest.NewClusterWithoutAutoCreate(t).ListenAddrs()
	serde := newSerde(t, newRegistry(t))
	kafkatest.CreateTopic(t, brokers, "dsco.poison.v1", 1)
	_, err := sb.SeedOrders(10)
	require.NoError(t, err)

	cfg := testConfig(client, serde, brokers, inbound.StreamConfig{ObjectType: "order"})
	cfg.MaxPagesInFlight, cfg.MaxPagesDecoding, cfg.PagesInFlight = 1, 1, 1 // one page lost is every page
	cfg.RetryBackoff, cfg.RetryBackoffMax = time.Minute, time.Minute        // the stop lands in the wait
	cfg.Kafka.MetadataTTL = 50 * time.Millisecond                           // the missing topic fails the write soon
	backoff := newLogSignal("inbound: producing a page failed; trying again")
	p, err := inbound.NewPipeline(cfg, slog.New(backoff))
	require.NoError(t, err)
	t.Cleanup(func() { _ = p.Close() })
	streams, err := p.Bootstrap(t.Context())
	require.NoError(t, err)
	as := []inbound.Assignment{{Stream: streams[0], Partition: 0}}

	// The first run: the topic is missing; the owner stops the run (an
	// ownership change) while it waits to produce the page again.
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- p.RunPartitions(ctx, as) }()
	select {
	case <-backoff.logged:
	case <-time.After(waitLimit):
		t.Fatal("the produce did not fail")
	}
	cancel()
	require.NoError(t, <-done)

	kafkatest.CreateTopic(t, brokers, "dsco.order.v1", 4)
	ctx, cancel = context.WithCancel(t.Context())
	go func() { done <- p.RunPartitions(ctx, as) }()
	recs := newConsumer(t, brokers, "dsco.order.v1").until(t, func(rs []*kgo.Record) bool { return len(rs) >= 10 })
	cancel()
	require.NoError(t, <-done)
	assert.Len(t, recs, 10, "the second run publishes the events")
}

// oversizedReads is a transport that answers the reads of stream events
// from the committed position (a partition's first read) asking for more
// than most events with a body larger than the Dsco client reads, as Dsco
// would a page of events too large together. It records their limits.
type oversizedReads struct {
	base http.RoundTripper
	most int

	mu     sync.Mutex
	limits []int
}

func (o *oversizedReads) RoundTrip(req *http.Request) (*http.Response, error) {
	q := req.URL.Query()
	if strings.HasSuffix(req.URL.Path, "/events") && q.Get("position") == "" {
		limit, _ := strconv.Atoi(q.Get("limit"))
		o.mu.Lock()
		o.limits = append(o.limits, limit)
		o.mu.Unlock()
		if limit > o.most {
			return &http.Response{StatusCode: http.StatusOK, Header: http.Header{"Content-Type": {"application/json"}},
				Body: io.NopCloser(io.LimitReader(zeros{}, 65<<20)), ContentLength: -1, Request: req}, nil
		}
	}
	return o.base.RoundTrip(req)
}

type zeros struct{}

func (zeros) Read(b []byte) (int, error) { clear(b); return len(b), nil }

// TestPipelineReadsFewerEventsWhenAPageIsTooLarge: a page larger than the
// Dsco client reads is asked for again with half the limit, until it fits,
// and the partition goes on.
func TestPipelineReadsFewerEventsWhenAPageIsTooLarge(t *testing.T) {
	sb := newSandbox(t, dscotest.Config{Seed: 12})
	base := newTransport(t)
	tr := &oversizedReads{base: base, most: 25}
	client := newClient(t, sb.URL, dsco.WithHTTPClient(&http.Client{Transport: tr, Timeout: 30 * time.Second}))
	brokers := kafkatest.Brokers(t)
	serde := newSerde(t, newRegistry(t))
	createTopics(t, brokers, "order")
	_, err := sb.SeedOrders(40)
	require.NoError(t, err)

	r := startPipeline(t, testConfig(client, serde, brokers, inbound.StreamConfig{ObjectType: "order"}))
	recs := newConsumer(t, brokers, "dsco.order.v1").until(t, func(rs []*kgo.Record) bool { return len(rs) >= 40 })
	require.NoError(t, r.stop(t))
	assert.Len(t, recs, 40)
	tr.mu.Lock()
	defer tr.mu.Unlock()
	assert.Equal(t, []int{100, 50, 25}, tr.limits, "the first read, its limit halved until the page fits")
}

// TestPipelineEndsPartitionOnPermanentReadError: a partition whose reads
// Dsco refuses with a status that retrying cannot mend ends, and
// RunPartitions returns the error, as for an expired position.
func TestPipelineEndsPartitionOnPermanentReadError(t *testing.T) {
	for _, tc := range []struct {
		name      string
		secret    string
		partition int
		want      error
	}{
		{"a partition the stream does not have (400)", dscotest.SupplierClientSecret, 3, dsco.ErrBadRequest},
		{"credentials Dsco refuses (401)", "not-the-secret", 0, dsco.ErrUnauthorized},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sb := newSandbox(t, dscotest.Config{Seed: 3})
			client := newClient(t, sb.URL)
			s, err := inbound.EnsureStream(t.Context(), client, inbound.StreamConfig{ObjectType: "order"})
			require.NoError(t, err)
			reader := newClient(t, sb.URL, dsco.WithClientCredentials(dscotest.SupplierClientID, tc.secret))
			cfg := testConfig(reader, newSerde(t, newRegistry(t)), kafkatest.Brokers(t), inbound.StreamConfig{ObjectType: "order"})
			p, err := inbound.NewPipeline(cfg, nil)
			require.NoError(t, err)
			t.Cleanup(func() { _ = p.Close() })

			done := make(chan error, 1)
			go func() {
				done <- p.RunPartitions(t.Context(), []inbound.Assignment{{Stream: s, Partition: tc.partition}})
			}()
			select {
			case err := <-done:
				assert.ErrorIs(t, err, tc.want)
			case <-time.After(waitLimit):
				t.Fatal("the partition did not end")
			}
		})
	}
}

// TestPipelineCloseDuringBootstrap: Close while Run still makes sure of its
// streams makes Run return nil, as a Close at any other time does.
func TestPipelineCloseDuringBootstrap(t *testing.T) {
	sb := newSandbox(t, dscotest.Config{Seed: 3})
	client := newClient(t, sb.URL)
	sb.SetFault("listStreams", dscotest.Fault{Latency: waitLimit}) // until the request ends
	r := startPipeline(t, testConfig(client, newSerde(t, newRegistry(t)), kafkatest.Brokers(t), inbound.StreamConfig{ObjectType: "order"}))
	require.Eventually(t, func() bool { return sb.Stats().Calls["listStreams"] > 0 }, waitLimit, 10*time.Millisecond, "Run lists the streams")
	assert.NoError(t, r.stop(t))
}

// TestPipelineWaitsForDscoAtStart: a pipeline started while Dsco answers
// 503 (a deploy during an outage) sets up its streams once Dsco answers
// again, and delivers; it does not end Run. Refused credentials still do.
func TestPipelineWaitsForDscoAtStart(t *testing.T) {
	t.Run("outage", func(t *testing.T) {
		sb, _, brokers, serde := newStack(t, dscotest.Config{Seed: 9}, "order")
		// The client gives up after 2 attempts: the pipeline asks again.
		client := newClient(t, sb.URL, dsco.WithRetry(dsco.RetryPolicy{MaxAttempts: 2, BaseDelay: 5 * time.Millisecond, MaxDelay: 10 * time.Millisecond}))
		_, err := sb.SeedOrders(20)
		require.NoError(t, err)
		sb.SetFault("listStreams", dscotest.Fault{Rate503: 1})
		r := startPipeline(t, testConfig(client, serde, brokers, inbound.StreamConfig{ObjectType: "order", PartitionCount: 1}))
		deadline := time.After(waitLimit)
		for sb.Stats().Calls["listStreams"] < 8 { // 4 rounds of the client's attempts
			select {
			case err := <-r.done:
				t.Fatalf("Run ended while Dsco answered 503: %v", err)
			case <-deadline:
				t.Fatal("Run did not ask again")
			case <-time.After(10 * time.Millisecond):
			}
		}
		sb.SetFault("listStreams", dscotest.Fault{})
		newConsumer(t, brokers, "dsco.order.v1").until(t, func(rs []*kgo.Record) bool { return len(rs) >= 20 })
		require.NoError(t, r.stop(t))
	})
	t.Run("credentials refused", func(t *testing.T) {
		sb, _, brokers, serde := newStack(t, dscotest.Config{Seed: 9}, "order")
		client := newClient(t, sb.URL, dsco.WithClientCredentials(dscotest.SupplierClientID, "wrong"))
		r := startPipeline(t, testConfig(client, serde, brokers, inbound.StreamConfig{ObjectType: "order"}))
		select {
		case err := <-r.done:
			require.Error(t, err)
		case <-time.After(waitLimit):
			t.Fatal("Run went on with credentials Dsco refuses")
		}
	})
}

// TestPipelineWithoutPartitionsRunsUntilStopped: a process that owns no
// partition (one that only polls item inventory beside the pipeline) runs
// until it is stopped, not until its streams are ready.
func TestPipelineWithoutPartitionsRunsUntilStopped(t *testing.T) {
	sb := newSandbox(t, dscotest.Config{Seed: 3})
	client := newClient(t, sb.URL)
	cfg := testConfig(client, newSerde(t, newRegistry(t)), kafkatest.Brokers(t), inbound.StreamConfig{ObjectType: "order"})
	cfg.Owns = func(string, int) bool { return false }
	waiting := newLogSignal("inbound: no partition to read; waiting until stopped")
	r := startPipelineLogged(t, cfg, slog.New(waiting))
	select {
	case err := <-r.done:
		t.Fatalf("Run returned %v before it was stopped", err)
	case <-waiting.logged:
	case <-time.After(waitLimit):
		t.Fatal("Run neither waited nor returned")
	}
	assert.NoError(t, r.stop(t))
}

// readMetrics records the events read and published, and the pages in
// flight reported last and at most.
type readMetrics struct {
	inbound.NopMetrics
	mu              sync.Mutex
	read, published int
	inFlight, peak  int
}

func (m *readMetrics) PageRead(_ string, _, events int, _ time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.read += events
}

func (m *readMetrics) PagePublished(_ string, _, published, _ int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.published += published
}

func (m *readMetrics) PagesInFlight(_ string, _, n int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.inFlight, m.peak = n, max(m.peak, n)
}

func (m *readMetrics) get() (read, published, inFlight, peak int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.read, m.published, m.inFlight, m.peak
}

// TestPipelinePagesInFlightFallToZero: once every page of a partition is
// acknowledged, its pages in flight are reported as 0.
func TestPipelinePagesInFlightFallToZero(t *testing.T) {
	sb, client, brokers, serde := newStack(t, dscotest.Config{Seed: 3}, "order")
	_, err := sb.SeedOrders(250)
	require.NoError(t, err)
	m := &readMetrics{}
	cfg := testConfig(client, serde, brokers, inbound.StreamConfig{ObjectType: "order"})
	cfg.Metrics = m
	r := startPipeline(t, cfg)
	require.Eventually(t, func() bool {
		_, published, inFlight, _ := m.get()
		return published == 250 && inFlight == 0
	}, waitLimit, 10*time.Millisecond, "every event published, no page in flight")
	require.NoError(t, r.stop(t))
	_, _, _, peak := m.get()
	assert.Positive(t, peak, "pages were in flight")
}

// TestPipelineCountsEventsReadOnce: a page read again because its records
// could not be built counts its events read once.
func TestPipelineCountsEventsReadOnce(t *testing.T) {
	sb, client, brokers, serde := newStack(t, dscotest.Config{Seed: 3}, "order")
	_, err := sb.SeedOrders(30)
	require.NoError(t, err)
	m := &readMetrics{}
	cfg := testConfig(client, serde, brokers, inbound.StreamConfig{ObjectType: "order"})
	cfg.Metrics = m
	var failed atomic.Bool
	failOnce := func(next inbound.PageHandler) inbound.PageHandler {
		return func(ctx context.Context, b *inbound.Batch) error {
			if failed.CompareAndSwap(false, true) {
				return errors.New("not this time")
			}
			return next(ctx, b)
		}
	}
	cfg.Middleware = append(inbound.DefaultMiddleware(), failOnce)
	r := startPipeline(t, cfg)
	require.Eventually(t, func() bool { _, published, _, _ := m.get(); return published == 30 }, waitLimit, 10*time.Millisecond)
	require.NoError(t, r.stop(t))
	read, _, _, _ := m.get()
	assert.True(t, failed.Load())
	assert.Equal(t, 30, read, "events read")
}

// stallingProduce is a Kafka transport whose produce requests, once stall is
// set, wait until their context ends (a Kafka slow at shutdown), or until
// release is closed, which sends them on.
type stallingProduce struct {
	kafkago.RoundTripper
	stall   atomic.Bool
	stalled chan struct{} // closed at the first stalled request
	release <-chan struct{}
	once    sync.Once
}

func (s *stallingProduce) RoundTrip(ctx context.Context, addr net.Addr, req kafkago.Request) (kafkago.Response, error) {
	if _, ok := req.(*rawproduce.Request); ok && s.stall.Load() {
		s.once.Do(func() { close(s.stalled) })
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-s.release:
		}
	}
	return s.RoundTripper.RoundTrip(ctx, addr, req)
}

// TestPipelineFinalCommitAfterStalledProduce: when the pipeline stops while
// Kafka does not answer a page's produce, the produce gives up in time for
// the final commit to store the position of the pages Kafka acknowledged
// before (they would be published again, within the checkpoint window, if
// the produce took the whole ShutdownTimeout), and the page left unwritten is
// said at warn level (nothing said it).
func TestPipelineFinalCommitAfterStalledProduce(t *testing.T) {
	sb, client, brokers, serde := newStack(t, dscotest.Config{Seed: 23}, "order")
	_, err := sb.SeedOrders(10)
	require.NoError(t, err)
	base := &kafkago.Transport{}
	t.Cleanup(base.CloseIdleConnections)
	tr := &stallingProduce{RoundTripper: base, stalled: make(chan struct{})}
	cfg := testConfig(client, serde, brokers, inbound.StreamConfig{ObjectType: "order"})
	cfg.Kafka.Transport = tr
	cfg.CheckpointInterval, cfg.CheckpointEvents = time.Hour, 1000 // the final commit alone
	cfg.ShutdownTimeout = time.Second
	const abandoned = "inbound: stopping with a page Kafka did not acknowledge; the next start reads it again"
	logs := newLogSignal(abandoned)
	p, err := inbound.NewPipeline(cfg, slog.New(logs))
	require.NoError(t, err)
	t.Cleanup(func() { _ = p.Close() })
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	newConsumer(t, brokers, "dsco.order.v1").until(t, func(rs []*kgo.Record) bool { return len(rs) >= 10 })

	tr.stall.Store(true)
	_, err = sb.SeedOrders(5)
	require.NoError(t, err)
	select {
	case <-tr.stalled:
	case <-time.After(waitLimit):
		t.Fatal("no page produced after the first")
	}
	cancel()
	require.NoError(t, <-done)
	list, err := client.ListStreams(t.Context())
	require.NoError(t, err)
	require.Len(t, list.Streams, 1)
	assert.Equal(t, uint64(10), sandboxSeq(list.Streams[0].Partitions[0].Position), "the final commit stored the acknowledged pages' position")
	lines := logs.find(slog.LevelWarn, abandoned)
	require.Len(t, lines, 1, "the page left unwritten is said")
	assert.Equal(t, int64(5), lines[0].attrs["records"])
	assert.Equal(t, int64(0), lines[0].attrs["partition"])
}

// panicOnce is a page decoder that panics at its first page when armed,
// and decodes with the default decoder otherwise.
type panicOnce struct {
	inbound.PageDecoder
	armed *atomic.Bool
}

func (d panicOnce) Decode(body []byte, streamID string) (*inbound.Page, error) {
	if d.armed.CompareAndSwap(true, false) {
		panic("a bug the page reaches")
	}
	return d.PageDecoder.Decode(body, streamID)
}

// TestPipelineSurvivesADecoderPanic: a page whose decoding panics does not
// take the process down: the page is read again (with a new decoder) and
// its events are delivered.
func TestPipelineSurvivesADecoderPanic(t *testing.T) {
	sb, client, brokers, serde := newStack(t, dscotest.Config{Seed: 29}, "order")
	_, err := sb.SeedOrders(10)
	require.NoError(t, err)
	var armed, made atomic.Bool
	armed.Store(true)
	cfg := testConfig(client, serde, brokers, inbound.StreamConfig{ObjectType: "order"})
	cfg.NewDecoder = func(objectType string) (inbound.PageDecoder, error) {
		d, err := inbound.NewEventPageDecoder(objectType)
		if made.Swap(true) {
			return d, err // the decoders made after the first never panic
		}
		return panicOnce{PageDecoder: d, armed: &armed}, err
	}
	startPipeline(t, cfg)
	recs := newConsumer(t, brokers, "dsco.order.v1").until(t, func(rs []*kgo.Record) bool { return len(rs) >= 10 })
	assert.False(t, armed.Load(), "the decoder panicked")
	ids := map[string]bool{}
	for _, rec := range recs {
		ids[header(rec, inbound.HeaderEventID)] = true
	}
	assert.Len(t, ids, 10)
}
