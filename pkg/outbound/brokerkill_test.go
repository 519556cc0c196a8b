package outbound_test

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/dscokafka/connector/pkg/dsco"
	"github.com/dscokafka/connector/pkg/dsco/dscotest"
	"github.com/dscokafka/connector/pkg/kafka"
	"github.com/dscokafka/connector/pkg/kafka/kafkatest"
	"github.com/dscokafka/connector/pkg/outbound"
	"github.com/dscokafka/connector/pkg/router"
	"github.com/dscokafka/connector/pkg/schemas"
)

// TestOutboundBrokerKilled runs the outbound pipeline on a 3-node Kafka while ship commands
// arrive in a steady stream, SIGKILLs the leader of a command topic partition, starts it
// again, then SIGKILLs the leader of a partition of the applied-ids topic (one that leads
// a results partition too, where there is one) and starts it again. Every command is
// applied in the sandbox exactly once (its line shipped once, none rejected as sent again
// after it was applied), every command has a result, nothing is poisoned, and the consumer
// group commits every command record.
func TestOutboundBrokerKilled(t *testing.T) {
	nodes := kafkatest.KillableNodes(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()

	e := newEnv(t, dscotest.Config{Seed: 71})
	const partitions = 6
	cmdTopic := e.topic("ship")
	kafkatest.CreateTopic(t, e.brokers, cmdTopic, partitions) // 3 replicas: scripts/kafka.sh's default
	adm := kafkatest.Admin(t, e.brokers)

	var cmds []schemas.Record
	var orders []*dsco.Order
	for len(cmds) < 3000 {
		more := e.seedOrders(200)
		orders = append(orders, more...)
		cmds = append(cmds, shipAll("k", more)...)
	}
	ids := make([]string, len(cmds))
	for i, c := range cmds {
		ids[i] = c.(*schemas.ShipCommand).CommandID
	}

	group := kafkatest.Name("g")
	cfg := e.pipelineConfig(outbound.RoleSupplier, fastRetry)
	cfg.MaxConcurrentBatches = 8
	e.start(router.OutboundConfig{Subscriber: e.subscriberConfig(group), Pipeline: cfg})

	// The stream: chunks of 20 commands, one every 50 ms (a publish that fails is
	// published again: the command topic then holds copies, delivered again).
	const chunkSize = 20
	sent := 0
	sendChunks := func(n int) {
		for range n {
			if sent == len(cmds) {
				return
			}
			next := min(sent+chunkSize, len(cmds))
			publishUntilDone(ctx, t, e, cmdTopic, cmds[sent:next])
			sent = next
			time.Sleep(50 * time.Millisecond)
		}
	}
	resultCount := func() int { got, _ := e.resultsByID(); return len(got) }

	// Phase 1: the leader of a command topic partition.
	sendChunks(30)
	victim := kafkatest.Leader(ctx, t, adm, cmdTopic, 0)
	t.Logf("phase 1: killing node %d, the leader of %s/0, after %d commands sent, %d with a result", victim, cmdTopic, sent, resultCount())
	nodes.Kill(victim)
	restarted := nodes.StartAgain()
	sendChunks(40)
	require.NoError(t, <-restarted, "starting node %d again", victim)
	waitInSync(ctx, t, adm, cmdTopic, e.results, e.applied, "__consumer_offsets")

	// Phase 2: the leader of an applied-ids partition, while commands keep coming.
	sendChunks(20)
	victim, what := appliedVictim(ctx, t, adm, e.applied, e.results)
	t.Logf("phase 2: killing node %d, the leader of %s, after %d commands sent, %d with a result", victim, what, sent, resultCount())
	nodes.Kill(victim)
	restarted = nodes.StartAgain()
	sendChunks(len(cmds)) // the rest
	t.Logf("all %d commands sent, %d with a result", sent, resultCount())
	require.NoError(t, <-restarted, "starting node %d again", victim)

	var got map[string]*schemas.CommandResult
	missing := func() []string {
		got, _ = e.resultsByID()
		var out []string
		for _, id := range ids {
			if got[id] == nil {
				out = append(out, id)
			}
		}
		return out
	}
	require.Eventually(t, func() bool { return len(missing()) == 0 }, 2*time.Minute, 200*time.Millisecond,
		"a result for each of %d commands", len(ids))
	// Every command record (copies included) is done and its offset committed: no
	// outcome is still to be written when the poison topic is read below.
	ends, err := adm.ListEndOffsets(ctx, cmdTopic)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		committed := kafkatest.CommittedOffsets(t, e.brokers, group+".ship", cmdTopic)
		done := true
		ends.Each(func(o kadm.ListedOffset) {
			if o.Err != nil || committed[o.Partition] < o.Offset {
				done = false
			}
		})
		return done
	}, 2*time.Minute, 200*time.Millisecond, "the group commits every command record")

	stats := e.sandbox.Stats()
	_, records := e.resultsByID()
	statuses := map[schemas.CommandStatus]int{}
	for _, id := range ids {
		r := got[id]
		statuses[r.Status]++
		assert.Equal(t, schemas.OutcomeAccepted, r.Outcome, "%s: result %s (%s)", id, r.Outcome, r.Status)
	}
	for _, o := range orders {
		for _, li := range o.Items {
			assert.EqualValues(t, 1, e.sandbox.Applied("supplierCreateShipment", dscotest.LineKey(o.OrderID, li.LineItemID)),
				"ship command of %s/%s applied once", o.OrderID, li.LineItemID)
		}
	}
	assert.EqualValues(t, len(ids), stats.Shipments, "one shipped line per command, no other")
	poisoned := e.poisoned()
	for _, p := range poisoned {
		t.Logf("poisoned: %s: %s", p.CommandID, p.Reason)
	}
	assert.Empty(t, poisoned, "nothing poisoned (a command sent again after it was applied is rejected with INVALID_STATE)")
	t.Logf("%d commands (%d orders) across 2 broker kills: %d results read (%d ids), statuses %v; %d shipment calls, %d order reads",
		len(ids), len(orders), records, len(got), statuses, stats.Calls["supplierCreateShipment"], stats.Calls["supplierGetOrder"])
}

// publishUntilDone publishes recs to topic, keyed by their business key, again and again
// until a Publish call returns nil (a broker that was just killed fails some).
func publishUntilDone(ctx context.Context, t *testing.T, e *env, topic string, recs []schemas.Record) {
	t.Helper()
	values := make([][]byte, len(recs))
	for i, r := range recs {
		b, err := e.serde.Encode(r)
		require.NoError(t, err)
		values[i] = b
	}
	for attempt := 1; ; attempt++ {
		msgs := make([]*message.Message, len(recs))
		for i, r := range recs {
			msgs[i] = message.NewMessage(watermill.NewUUID(), values[i])
			msgs[i].Metadata.Set(kafka.DefaultPartitionKeyMetadata, r.Key())
		}
		err := e.pub.Publish(topic, msgs...)
		if err == nil {
			return
		}
		t.Logf("publishing %d commands (attempt %d): %v", len(recs), attempt, err)
		select {
		case <-ctx.Done():
			t.Fatalf("publishing commands: %v (%v)", err, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// appliedVictim returns the leader of a partition of the applied-ids topic, preferring
// one that also leads a partition of the results topic, and what it leads.
func appliedVictim(ctx context.Context, t *testing.T, adm *kadm.Client, applied, results string) (int32, string) {
	t.Helper()
	md, err := adm.Metadata(ctx, applied, results)
	require.NoError(t, err)
	leads := map[int32][]string{}
	for _, topic := range []string{applied, results} {
		for _, p := range md.Topics[topic].Partitions.Sorted() {
			if p.Err == nil && p.Leader >= 0 {
				leads[p.Leader] = append(leads[p.Leader], topic+"/"+strconv.Itoa(int(p.Partition)))
			}
		}
	}
	var appliedLeaders, both []int32
	for node, parts := range leads {
		if slices.ContainsFunc(parts, func(p string) bool { return strings.HasPrefix(p, applied+"/") }) {
			appliedLeaders = append(appliedLeaders, node)
			if slices.ContainsFunc(parts, func(p string) bool { return strings.HasPrefix(p, results+"/") }) {
				both = append(both, node)
			}
		}
	}
	slices.Sort(appliedLeaders)
	slices.Sort(both)
	require.NotEmpty(t, appliedLeaders, "a leader of %s", applied)
	node := appliedLeaders[0]
	if len(both) > 0 {
		node = both[0]
	}
	return node, strings.Join(leads[node], ", ")
}

// waitInSync waits until every partition of topics has a leader and 3 in-sync replicas
// (a node started again has caught up), so that the next kill leaves a leader to elect.
func waitInSync(ctx context.Context, t *testing.T, adm *kadm.Client, topics ...string) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		why := inSync(ctx, adm, topics)
		if why == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("partitions not in sync again within 2 minutes: %s", why)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// inSync returns why a partition of topics is not in sync (no leader, fewer than 3
// in-sync replicas), or "".
func inSync(ctx context.Context, adm *kadm.Client, topics []string) string {
	md, err := adm.Metadata(ctx, topics...)
	if err != nil {
		return err.Error()
	}
	for _, topic := range topics {
		td, ok := md.Topics[topic]
		if !ok || td.Err != nil || len(td.Partitions) == 0 {
			return topic + ": not in the metadata"
		}
		for _, p := range td.Partitions.Sorted() {
			if p.Err != nil || p.Leader < 0 || len(p.ISR) < 3 {
				return fmt.Sprintf("%s/%d: leader %d, in-sync replicas %v (%v)", topic, p.Partition, p.Leader, p.ISR, p.Err)
			}
		}
	}
	return ""
}
