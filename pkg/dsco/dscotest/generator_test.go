package dscotest_test

import (
	"context"
	"net/http"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dscokafka/connector/pkg/dsco/dscotest"
)

// TestGeneratorWithConcurrentTraffic runs the generator while a consumer
// reads every partition and a supplier acknowledges orders, then checks
// that the stream holds exactly one order.created per generated order.
func TestGeneratorWithConcurrentTraffic(t *testing.T) {
	e := newEnv(t, dscotest.Config{Seed: 7})
	sup := e.supplier()
	const parts = 3
	s := e.createStream(sup, "order", parts, map[string]any{"status": "created"})

	ctx, cancel := context.WithCancel(context.Background())
	genDone := make(chan error, 1)
	go func() {
		genDone <- e.srv.RunGenerator(ctx, dscotest.GeneratorConfig{OrdersPerSecond: 2000, Burst: 10, CatalogSize: 20})
	}()

	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // a consumer committing as it goes, concurrently with writes
		defer wg.Done()
		for range 20 {
			for p := range parts {
				ev := e.events(sup, s.StreamID, "?limit=50&partition="+itoa(p))
				if len(ev.Events) > 0 {
					e.callJSON(http.StatusOK, http.MethodPost, "/streams/"+s.StreamID+"/position", sup, map[string]any{"position": ev.Position}, nil)
				}
			}
		}
	}()
	for e.srv.Stats().Orders[dscotest.StatusCreated] < 100 {
		var l struct {
			Orders []orderJSON `json:"orders"`
		}
		e.callJSON(http.StatusOK, http.MethodGet, "/supplier/order-out?status=created&limit=5", sup, nil, &l)
		ids := []string{}
		for _, o := range l.Orders {
			ids = append(ids, o.OrderID)
		}
		if len(ids) > 0 {
			e.write(http.StatusOK, "/supplier/acknowledge-order-in", sup, map[string]any{"orderIds": ids})
		}
	}
	wg.Wait()
	cancel()
	require.NoError(t, <-genDone)

	st := e.srv.Stats()
	total := int64(0)
	for _, n := range st.Orders {
		total += n
	}
	seen := map[string]bool{}
	for p := range parts {
		pos := itoa(p) + ":0000000000000000"
		for {
			page := e.events(sup, s.StreamID, "?limit=1000&position="+pos)
			for _, ev := range page.Events {
				require.Equal(t, "order.created", ev.EventType)
				id := ev.Data["orderId"].(string)
				assert.False(t, seen[id], "order %s twice", id)
				seen[id] = true
			}
			pos = page.Position
			if !page.HasMore {
				break
			}
		}
	}
	assert.Len(t, seen, int(total), "one order.created per order, across partitions")
	assert.Positive(t, st.Orders[dscotest.StatusAcknowledged])
	assert.Equal(t, int64(20), st.CatalogItems)
}

func TestGeneratorConfig(t *testing.T) {
	sb, err := dscotest.New(dscotest.Config{})
	require.NoError(t, err)
	t.Cleanup(sb.Close)
	tests := []struct {
		name string
		cfg  dscotest.GeneratorConfig
	}{
		{"negative rate", dscotest.GeneratorConfig{OrdersPerSecond: -1}},
		{"dropship share above one", dscotest.GeneratorConfig{DropshipShare: 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Error(t, sb.RunGenerator(context.Background(), tt.cfg))
		})
	}
	t.Run("stops when the sandbox closes", func(t *testing.T) {
		other, err := dscotest.New(dscotest.Config{})
		require.NoError(t, err)
		done := make(chan error, 1)
		go func() { done <- other.RunGenerator(context.Background(), dscotest.GeneratorConfig{OrdersPerSecond: 1}) }()
		other.Close()
		assert.NoError(t, <-done)
	})
}
