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
		var recs []*kgo.Record
		for round, want := range []int{60, 90} {
			if round > 0 {
				_, err := sb.SeedOrders(30)
				require.NoError(t, err)
			}
			ctx, cancel := context.WithCancel(t.Context())
			done := make(chan error, 1)
			go func() { done <- p.Run(ctx) }()
			require.Eventually(t, func() bool {
				recs = append(recs, drain(t, cons)...)
				return len(recs) >= want
			}, waitLimit, 10*time.Millisecond, "round %d", round)
			cancel()
			require.NoError(t, <-done)
		}
		ids := map[string]int{}
		for _, r := range append(recs, drain(t, cons)...) {
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
		var recs []*kgo.Record
		for round, want := range []int{50, 52} {
			if round > 0 {
				setInventory(t, client, skus(1, 2), 700)
			}
			ctx, cancel := context.WithCancel(t.Context())
			done := make(chan error, 1)
			go func() { done <- p.Run(ctx) }()
			require.Eventually(t, func() bool {
				recs = append(recs, drain(t, cons)...)
				return len(recs) >= want
			}, waitLimit, 10*time.Millisecond, "round %d", round)
			cancel()
			require.NoError(t, <-done)
		}
		assert.Len(t, append(recs, drain(t, cons)...), 52, "every change once")
	})
}
