package inbound_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/dscokafka/connector/pkg/dsco/dscotest"
	"github.com/dscokafka/connector/pkg/inbound"
)

// TestRunAgain: a pipeline and a poller whose Run returned (its context ended, as when
// the inbound lease is lost) run again when Run is called again, from where they
// stopped: every event and every inventory change once.
func TestRunAgain(t *testing.T) {
	t.Run("pipeline", func(t *testing.T) {
		sb, client, brokers, serde := newStack(t, dscotest.Config{Seed: 47}, "order")
		_, err := sb.SeedOrders(60)
		require.NoError(t, err)
		cons := newConsumer(t, brokers, "dsco.order.v1")
		p, err := inbound.NewPipeline(testConfig(client, serde, brokers, inbound.StreamConfig{ObjectType: "order"}), nil)
		require.NoError(t, err)
		t.Cleanup(func() { _ = p.Close() })
		recs := runRounds(t, cons, []int{60, 90}, func() {
			_, err := sb.SeedOrders(30)
			require.NoError(t, err)
		}, p.Run)
		ids := map[string]int{}
		for _, r := range recs {
			ids[header(r, inbound.HeaderEventID)]++
		}
		assert.Len(t, ids, 90)
		for id, n := range ids {
			assert.Equal(t, 1, n, "event %s", id)
		}
	})
	t.Run("poller", func(t *testing.T) {
		client, _, cons, cfg := objectsPoller(t, 49, nil)
		p, err := inbound.NewPoller(cfg, nil)
		require.NoError(t, err)
		t.Cleanup(func() { _ = p.Close() })
		recs := runRounds(t, cons, []int{50, 52}, func() { setInventory(t, client, skus(1, 2), 700) }, p.Run)
		assert.Len(t, recs, 52, "every change once")
	})
}

// runRounds calls run once per round, each time with a context of its own: before every
// round but the first it calls more; it waits until cons got want[round] records in all,
// ends the round's context and waits for run to return nil. It returns the records.
func runRounds(t *testing.T, cons *consumer, want []int, more func(), run func(context.Context) error) []*kgo.Record {
	t.Helper()
	var recs []*kgo.Record
	for round, n := range want {
		if round > 0 {
			more()
		}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- run(ctx) }()
		require.Eventually(t, func() bool {
			recs = append(recs, drain(t, cons)...)
			return len(recs) >= n
		}, waitLimit, 10*time.Millisecond, "round %d", round)
		cancel()
		require.NoError(t, <-done)
	}
	return append(recs, drain(t, cons)...)
}
