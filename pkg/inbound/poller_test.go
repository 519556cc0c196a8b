package inbound_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/dscokafka/connector/pkg/dsco"
	"github.com/dscokafka/connector/pkg/dsco/dscotest"
	"github.com/dscokafka/connector/pkg/inbound"
	"github.com/dscokafka/connector/pkg/kafka/kafkatest"
	"github.com/dscokafka/connector/pkg/schemas"
)

// runPoller runs a poller until the returned stop is called (or the test
// ends).
func runPoller(t *testing.T, cfg inbound.PollerConfig) (p *inbound.Poller, stop func()) {
	t.Helper()
	p, err := inbound.NewPoller(cfg, nil)
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- p.Run(context.Background()) }()
	stop = func() {
		t.Helper()
		require.NoError(t, p.Close())
		select {
		case err := <-done:
			require.NoError(t, err)
		case <-time.After(waitLimit):
			t.Fatal("the poller's Run did not return after Close")
		}
	}
	t.Cleanup(func() { _ = p.Close() })
	return p, stop
}

// setInventory changes the quantity of skus n times each.
func setInventory(t *testing.T, c *dsco.Client, skus []string, qty int) {
	t.Helper()
	items := make([]dsco.InventoryItem, len(skus))
	for i, s := range skus {
		items[i] = dsco.InventoryItem{SKU: s, Quantity: qty + i, WarehouseID: "WH1"}
	}
	resp, err := c.SupplierUpdateInventory(t.Context(), dsco.InventoryBatchRequest{Items: items})
	require.NoError(t, err)
	require.Empty(t, resp.Errors)
}

func skus(from, to int) []string {
	var out []string
	for i := from; i <= to; i++ {
		out = append(out, fmt.Sprintf("SKU-%05d", i))
	}
	return out
}

// itemRecords decodes item inventory records and counts them by event id.
func itemRecords(t *testing.T, serde *schemas.Serde, recs []*kgo.Record) map[string]*schemas.ItemInventoryEvent {
	t.Helper()
	out := map[string]*schemas.ItemInventoryEvent{}
	for _, rec := range recs {
		require.Equal(t, "dsco.iteminventory.v1", rec.Topic)
		var ev schemas.ItemInventoryEvent
		require.NoError(t, serde.Decode(t.Context(), rec.Value, &ev))
		require.Equal(t, ev.ItemInventory.SKU, string(rec.Key))
		require.Equal(t, ev.EventID, header(rec, inbound.HeaderEventID))
		require.NotContains(t, out, ev.EventID, "each change once")
		out[ev.EventID] = &ev
	}
	return out
}

// TestPollerObjects: every inventory change once, in pages; after a
// restart the poller resumes from the mark it stored in Kafka and delivers
// only the changes made meanwhile.
func TestPollerObjects(t *testing.T) {
	sb := newSandbox(t, dscotest.Config{Seed: 13})
	client := newClient(t, sb.URL)
	brokers := kafkatest.Brokers(t)
	serde := newSerde(t, newRegistry(t))
	kafkatest.CreateTopic(t, brokers, "dsco.iteminventory.v1", 4)
	_, err := sb.SeedOrders(0) // 50 catalog items with inventory: 50 changes
	require.NoError(t, err)
	cons := newConsumer(t, brokers, "dsco.iteminventory.v1", "dsco.poison.v1")

	cfg := inbound.PollerConfig{Client: client, Serde: serde, Kafka: inbound.KafkaConfig{Brokers: brokers},
		Limit: 7, PollInterval: 20 * time.Millisecond, RetryBackoff: 10 * time.Millisecond}
	_, stop := runPoller(t, cfg)
	recs := cons.until(t, func(rs []*kgo.Record) bool { return len(rs) >= 50 })
	setInventory(t, client, skus(1, 10), 100)
	setInventory(t, client, skus(1, 10), 200)
	recs = append(recs, cons.until(t, func(rs []*kgo.Record) bool { return len(rs) >= 20 })...)
	stop()

	setInventory(t, client, skus(20, 24), 300) // while it is stopped
	_, stop = runPoller(t, cfg)
	recs = append(recs, cons.until(t, func(rs []*kgo.Record) bool { return len(rs) >= 5 })...)
	recs = append(recs, drain(t, cons)...)
	stop()

	got := itemRecords(t, serde, recs)
	require.Len(t, got, 75, "50 + 20 + 5 changes, each once")
	last := map[string]int32{}
	for _, ev := range got {
		require.NotNil(t, ev.HighWaterMark)
		if ev.ItemInventory.LastUpdate != nil && *ev.ItemInventory.QuantityAvailable >= last[ev.ItemInventory.SKU] {
			last[ev.ItemInventory.SKU] = *ev.ItemInventory.QuantityAvailable
		}
		assert.Equal(t, "updated", ev.EventType)
		assert.Equal(t, "iteminventory", ev.ObjectType)
		assert.Equal(t, int64(dscotest.SupplierID), *ev.ItemInventory.DscoSupplierID)
	}
	for i, s := range skus(1, 10) {
		assert.Equal(t, int32(200+i), last[s], "the last change of %s", s)
	}
	for i, s := range skus(20, 24) {
		assert.Equal(t, int32(300+i), last[s], "the change made while stopped, of %s", s)
	}
}

// TestPollerFile: in file mode the poller serves the callback, downloads
// the file and delivers every item; later changes come with the next file.
func TestPollerFile(t *testing.T) {
	sb := newSandbox(t, dscotest.Config{Seed: 14})
	client := newClient(t, sb.URL)
	brokers := kafkatest.Brokers(t)
	serde := newSerde(t, newRegistry(t))
	kafkatest.CreateTopic(t, brokers, "dsco.iteminventory.v1", 4)
	_, err := sb.SeedOrders(0)
	require.NoError(t, err)
	cons := newConsumer(t, brokers, "dsco.iteminventory.v1", "dsco.poison.v1")

	cfg := inbound.PollerConfig{Client: client, Serde: serde, Kafka: inbound.KafkaConfig{Brokers: brokers},
		ResultType: dsco.ResultFile, PollInterval: 20 * time.Millisecond, RetryBackoff: 10 * time.Millisecond,
		MarkKey: "file"}
	p, stop := runPoller(t, cfg)
	assert.Contains(t, p.CallbackURL(), "http://127.0.0.1:")
	recs := cons.until(t, func(rs []*kgo.Record) bool { return len(rs) >= 50 })
	seen := map[string]bool{}
	for _, rec := range recs {
		seen[string(rec.Key)] = true
	}
	assert.Len(t, seen, 50, "every item of the file")

	time.Sleep(5 * time.Millisecond) // a later millisecond than the file's newest item
	before := time.Now().Truncate(time.Millisecond)
	setInventory(t, client, skus(3, 5), 900)
	var later []*kgo.Record
	require.Eventually(t, func() bool {
		later = append(later, drain(t, cons)...)
		n := 0
		for _, rec := range later {
			var ev schemas.ItemInventoryEvent
			require.NoError(t, serde.Decode(t.Context(), rec.Value, &ev))
			require.NotNil(t, ev.RequestID, "file records name their request")
			if *ev.ItemInventory.QuantityAvailable >= 900 {
				n++
			}
		}
		return n >= 3
	}, waitLimit, 10*time.Millisecond, "the changes after the first file come with a later one")
	stop()

	// A restart resumes from the stored mark: only changes from the last
	// file's newest millisecond on come again.
	time.Sleep(5 * time.Millisecond)
	setInventory(t, client, skus(7, 8), 500)
	_, stop = runPoller(t, cfg)
	var after []*kgo.Record
	require.Eventually(t, func() bool {
		after = append(after, drain(t, cons)...)
		n := 0
		for _, rec := range after {
			var ev schemas.ItemInventoryEvent
			require.NoError(t, serde.Decode(t.Context(), rec.Value, &ev))
			require.False(t, ev.ItemInventory.LastUpdate.Before(before), "%s: a change older than the stored mark came again", ev.EventID)
			if q := *ev.ItemInventory.QuantityAvailable; q >= 500 && q < 900 {
				n++
			}
		}
		return n >= 2
	}, waitLimit, 10*time.Millisecond, "the changes made while stopped")
	stop()
}

// TestPollerCallbackRefusesStrangers: the callback server only accepts
// Dsco's calls, which carry the token the poller sent with its request.
func TestPollerCallbackRefusesStrangers(t *testing.T) {
	sb := newSandbox(t, dscotest.Config{Seed: 15})
	serde := newSerde(t, newRegistry(t))
	p, err := inbound.NewPoller(inbound.PollerConfig{Client: newClient(t, sb.URL), Serde: serde,
		Kafka: inbound.KafkaConfig{Brokers: []string{"127.0.0.1:1"}}, ResultType: dsco.ResultFile}, nil)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, p.Close()) })
	resp, err := httpPost(t, p.CallbackURL(), `{"requestId":"r","fileUrl":"http://127.0.0.1:1/f"}`)
	require.NoError(t, err)
	assert.Equal(t, 401, resp)
}
