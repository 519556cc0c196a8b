package inbound_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/dscokafka/connector/pkg/dsco"
	"github.com/dscokafka/connector/pkg/dsco/dscotest"
	"github.com/dscokafka/connector/pkg/inbound"
	"github.com/dscokafka/connector/pkg/kafka/kafkatest"
)

// TestInboundBrokerKilled runs the inbound pipeline on a 3-node Kafka from a
// backlog of 4,000 order events, SIGKILLs the leader of a partition of
// dsco.order.v1 mid-drain and starts it again while the stream keeps growing
// (new orders, their acknowledgements and shipments: up to four events per
// order).
// Every event of the stream is on Kafka at least once, each key's events are
// in stream order (a page produced again after a failed write restarts a
// key where it was, never skips ahead), nothing is poisoned, and the
// pipeline commits every partition of its stream to the end.
func TestInboundBrokerKilled(t *testing.T) {
	nodes := kafkatest.KillableNodes(t)

	sb, client, brokers, serde := newStack(t, dscotest.Config{Seed: 23}, "order") // 3 replicas: scripts/kafka.sh's default
	const topic, parts = "dsco.order.v1", 3
	adm := kafkatest.Admin(t, brokers)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()

	// What reaches Kafka, read as it comes.
	var mu sync.Mutex
	var recs []*kgo.Record
	cons := newConsumer(t, brokers, topic, "dsco.poison.v1")
	cctx, stopConsuming := context.WithCancel(ctx)
	consumed := make(chan struct{})
	go func() {
		defer close(consumed)
		for cctx.Err() == nil {
			fs := cons.cl.PollFetches(cctx)
			mu.Lock()
			recs = append(recs, fs.Records()...)
			mu.Unlock()
		}
	}()
	defer func() { stopConsuming(); <-consumed }()
	onKafka := func() int { mu.Lock(); defer mu.Unlock(); return len(recs) }

	// A backlog of 4,000 events (3,000 new orders, 1,000 of them acknowledged) and
	// the leader to kill, found before the pipeline starts so that the kill is
	// quick once the drain is under way.
	seeded, err := sb.SeedOrders(3000)
	require.NoError(t, err)
	resp, err := client.SupplierAcknowledgeOrder(ctx, dsco.AcknowledgeOrderRequest{OrderIDs: seeded[:1000]})
	require.NoError(t, err)
	require.Empty(t, resp.Errors)
	const backlog = 4000
	leader := kafkatest.Leader(ctx, t, adm, topic, 0)

	r := startPipeline(t, testConfig(client, serde, brokers, inbound.StreamConfig{ObjectType: "order", PartitionCount: parts}))
	require.Eventually(t, func() bool { return onKafka() >= backlog/4 }, waitLimit, time.Millisecond, "the drain starts")
	t.Logf("killing node %d, the leader of %s/0, mid-drain: %d of the %d events of the backlog on Kafka", leader, topic, onKafka(), backlog)
	nodes.Kill(leader)
	restarted := nodes.StartAgain() // while the stream grows
	var streamID string
	require.Eventually(t, func() bool {
		list, err := client.ListStreams(t.Context())
		if err != nil || len(list.Streams) != 1 {
			return false
		}
		streamID = list.Streams[0].StreamID
		return true
	}, waitLimit, 10*time.Millisecond, "the pipeline's stream")

	// Then the stream grows while the node is down and starts again: each
	// step adds 40 orders, acknowledges the 40 of the step before, ships the
	// first line of 10 acknowledged two steps before and the other lines of
	// those 10 one step later (up to four events per order).
	const steps = 30
	var created, acked, firstShipped [][]string
	created = append(created, seeded[len(seeded)-40:])
	for range steps {
		ids, err := sb.SeedOrders(40)
		require.NoError(t, err)
		created = append(created, ids)
		if n := len(created); n >= 2 {
			resp, err := client.SupplierAcknowledgeOrder(ctx, dsco.AcknowledgeOrderRequest{OrderIDs: created[n-2]})
			require.NoError(t, err)
			require.Empty(t, resp.Errors)
			acked = append(acked, created[n-2][:10])
		}
		if n := len(acked); n >= 2 {
			var first []string
			var items []dsco.ShipmentItem
			for _, id := range acked[n-2] {
				o, err := client.SupplierGetOrder(ctx, id)
				require.NoError(t, err)
				items = append(items, dsco.ShipmentItem{OrderID: id, LineItemID: o.Items[0].LineItemID, TrackingNumber: "1Z" + id, Carrier: "UPS"})
				first = append(first, id)
			}
			ship(ctx, t, client, items)
			firstShipped = append(firstShipped, first)
		}
		if n := len(firstShipped); n >= 2 {
			var items []dsco.ShipmentItem
			for _, id := range firstShipped[n-2] {
				o, err := client.SupplierGetOrder(ctx, id)
				require.NoError(t, err)
				for _, li := range o.Items[1:] {
					items = append(items, dsco.ShipmentItem{OrderID: id, LineItemID: li.LineItemID, TrackingNumber: "1Z" + id, Carrier: "UPS"})
				}
			}
			ship(ctx, t, client, items)
		}
		time.Sleep(300 * time.Millisecond)
	}
	t.Logf("the stream stopped growing: %d records on Kafka", onKafka())
	require.NoError(t, <-restarted, "starting the killed node again")

	// Every event the sandbox holds, per partition in stream order.
	want := witness(t, client, "order", parts)
	total := 0
	for _, evs := range want {
		total += len(evs)
	}
	count, counted := map[string]int{}, 0
	allOnKafka := func() bool {
		mu.Lock()
		for _, rec := range recs[counted:] {
			count[header(rec, inbound.HeaderEventID)]++
		}
		counted = len(recs)
		mu.Unlock()
		for _, evs := range want {
			for _, ev := range evs {
				if count[ev.EventID] == 0 {
					return false
				}
			}
		}
		return true
	}
	require.Eventually(t, allOnKafka, 2*time.Minute, 200*time.Millisecond, "each of the %d events on Kafka", total)

	// The pipeline commits its stream to the end of every partition.
	require.Eventually(t, func() bool {
		committed := committedSeqs(t, client, streamID)
		for part, evs := range want {
			if committed[part] != uint64(len(evs)) {
				return false
			}
		}
		return true
	}, 2*time.Minute, 100*time.Millisecond, "every partition of the stream committed to its end")
	require.NoError(t, r.stop(t))
	stopConsuming()
	<-consumed

	mu.Lock()
	defer mu.Unlock()
	// Each key's events, in stream order: the index of each in its key's list.
	index := map[string]int{}
	keyOf := map[string]string{}
	perKey := map[string]int{}
	for _, evs := range want {
		for _, ev := range evs {
			o, err := ev.Order()
			require.NoError(t, err)
			index[ev.EventID] = perKey[o.OrderID]
			keyOf[ev.EventID] = o.OrderID
			perKey[o.OrderID]++
		}
	}
	last := map[string]int{}
	seen := map[string]int{}
	var outOfOrder []string
	for _, rec := range recs {
		require.Equal(t, topic, rec.Topic, "nothing poisoned: %s", header(rec, inbound.HeaderPoisonReason))
		id := header(rec, inbound.HeaderEventID)
		i, ok := index[id]
		require.True(t, ok, "record of an unknown event %q", id)
		key := string(rec.Key)
		require.Equal(t, keyOf[id], key, "event %s keyed by its order id", id)
		prev, ok := last[key]
		if !ok {
			prev = -1
		}
		if i > prev+1 {
			outOfOrder = append(outOfOrder, fmt.Sprintf("%s: event %d (%s) after %d", key, i, id, prev))
		}
		last[key] = i
		seen[id]++
	}
	dups := 0
	for id := range index {
		require.Positive(t, seen[id], "event %s is on Kafka", id)
		dups += seen[id] - 1
	}
	assert.Empty(t, outOfOrder, "a key's events skipped ahead")
	assert.Len(t, perKey, len(seeded)+40*steps, "one key per order")
	t.Logf("%d events of %d orders, %d records on Kafka (%d duplicates) across the kill", total, len(perKey), len(recs), dups)
}

// ship ships items in one call; every item applies.
func ship(ctx context.Context, t *testing.T, client *dsco.Client, items []dsco.ShipmentItem) {
	t.Helper()
	if len(items) == 0 {
		return
	}
	resp, err := client.SupplierCreateShipment(ctx, dsco.ShipmentBatchRequest{Shipments: items})
	require.NoError(t, err)
	require.Empty(t, resp.Errors)
}
