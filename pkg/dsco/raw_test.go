package dsco_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dscokafka/connector/pkg/dsco"
	"github.com/dscokafka/connector/pkg/dsco/dscotest"
)

// TestGetStreamEventsRaw: the raw body is the page GetStreamEvents decodes,
// read into the caller's buffer, with the same errors and retries.
func TestGetStreamEventsRaw(t *testing.T) {
	sb := newSandbox(t, dscotest.Config{Seed: 3}, dsco.WithRetry(dsco.RetryPolicy{
		MaxAttempts: 10, BaseDelay: time.Millisecond, MaxDelay: 5 * time.Millisecond, MaxElapsed: 10 * time.Second}))
	ctx := t.Context()
	_, err := sb.srv.SeedOrders(30)
	require.NoError(t, err)
	stream, err := sb.supplier.CreateStream(ctx, dsco.StreamDefinition{ObjectType: dsco.ObjectOrder, PartitionCount: 2})
	require.NoError(t, err)

	t.Run("same page as GetStreamEvents", func(t *testing.T) {
		for part := range 2 {
			p := dsco.ReadEventsParams{Limit: 7, Partition: part}
			want, err := sb.supplier.GetStreamEvents(ctx, stream.StreamID, p)
			require.NoError(t, err)
			raw, err := sb.supplier.GetStreamEventsRaw(ctx, stream.StreamID, p, nil)
			require.NoError(t, err)
			var got dsco.StreamEvents
			require.NoError(t, json.Unmarshal(raw, &got))
			assert.Equal(t, want, &got)
			assert.Len(t, got.Events, 7)
		}
	})

	t.Run("reuses the caller's buffer", func(t *testing.T) {
		buf := make([]byte, 0, 1<<20)
		raw, err := sb.supplier.GetStreamEventsRaw(ctx, stream.StreamID, dsco.ReadEventsParams{Limit: 3}, buf)
		require.NoError(t, err)
		require.NotEmpty(t, raw)
		assert.Same(t, &buf[:1][0], &raw[0], "the body is read into buf")
		var page dsco.StreamEvents
		require.NoError(t, json.Unmarshal(raw, &page))
		next, err := sb.supplier.GetStreamEventsRaw(ctx, stream.StreamID,
			dsco.ReadEventsParams{Position: page.Position, Limit: 3}, raw)
		require.NoError(t, err)
		var second dsco.StreamEvents
		require.NoError(t, json.Unmarshal(next, &second))
		require.Len(t, second.Events, 3)
		assert.NotEqual(t, page.Events[0].EventID, second.Events[0].EventID, "the position moves the read on")
	})

	t.Run("errors as GetStreamEvents", func(t *testing.T) {
		_, err := sb.supplier.GetStreamEventsRaw(ctx, "no-such-stream", dsco.ReadEventsParams{}, nil)
		assert.ErrorIs(t, err, dsco.ErrNotFound)
		_, err = sb.supplier.GetStreamEventsRaw(ctx, stream.StreamID, dsco.ReadEventsParams{Position: "bad"}, nil)
		assert.ErrorIs(t, err, dsco.ErrBadRequest)
		assert.False(t, dsco.IsRetryable(err))
	})

	t.Run("retries 503", func(t *testing.T) {
		sb.srv.SetFault("getStreamEvents", dscotest.Fault{Rate503: 0.5})
		t.Cleanup(func() { sb.srv.SetFault("getStreamEvents", dscotest.Fault{}) })
		before := sb.srv.Stats().Calls["getStreamEvents"]
		for range 10 {
			raw, err := sb.supplier.GetStreamEventsRaw(ctx, stream.StreamID, dsco.ReadEventsParams{Limit: 2}, nil)
			require.NoError(t, err)
			var page dsco.StreamEvents
			require.NoError(t, json.Unmarshal(raw, &page))
			require.Len(t, page.Events, 2)
		}
		assert.Greater(t, sb.srv.Stats().Calls["getStreamEvents"]-before, int64(10), "some calls were faulted and retried")
	})
}

// TestGetItemInventoryRaw: the raw body is the page GetItemInventory
// decodes, read into the caller's buffer, with the same errors and retries.
func TestGetItemInventoryRaw(t *testing.T) {
	sb := newSandbox(t, dscotest.Config{Seed: 4}, dsco.WithRetry(dsco.RetryPolicy{
		MaxAttempts: 10, BaseDelay: time.Millisecond, MaxDelay: 5 * time.Millisecond, MaxElapsed: 10 * time.Second}))
	ctx := t.Context()
	_, err := sb.srv.SeedOrders(0) // 50 catalog items with inventory
	require.NoError(t, err)
	const start = "2000-01-01T00:00:00.000+0000"

	t.Run("same pages as GetItemInventory", func(t *testing.T) {
		mark, n := start, 0
		var buf []byte
		for more := true; more; {
			q := dsco.InventoryQuery{HighWaterMarkQuery: mark, Limit: 7}
			want, err := sb.supplier.GetItemInventory(ctx, q)
			require.NoError(t, err)
			buf, err = sb.supplier.GetItemInventoryRaw(ctx, q, buf)
			require.NoError(t, err)
			var got dsco.InventoryPage
			require.NoError(t, json.Unmarshal(buf, &got))
			assert.Equal(t, want, &got)
			n += len(got.Items)
			mark, more = got.HighWaterMark, got.HasMore
		}
		assert.Equal(t, 50, n)
	})

	t.Run("reuses the caller's buffer", func(t *testing.T) {
		buf := make([]byte, 0, 1<<20)
		raw, err := sb.supplier.GetItemInventoryRaw(ctx, dsco.InventoryQuery{HighWaterMarkQuery: start, Limit: 3}, buf)
		require.NoError(t, err)
		require.NotEmpty(t, raw)
		assert.Same(t, &buf[:1][0], &raw[0], "the body is read into buf")
	})

	t.Run("errors as GetItemInventory", func(t *testing.T) {
		before := sb.srv.Stats().Calls[dscotest.OpGetItemInventory]
		_, err := sb.supplier.GetItemInventoryRaw(ctx, dsco.InventoryQuery{}, nil)
		require.ErrorIs(t, err, dsco.ErrInvalidRequest)
		_, err = sb.supplier.GetItemInventoryRaw(ctx, dsco.InventoryQuery{ResultType: dsco.ResultFile, HighWaterMarkQuery: start,
			CallbackURL: "https://cb.example/x"}, nil)
		require.ErrorIs(t, err, dsco.ErrInvalidRequest)
		assert.Equal(t, before, sb.srv.Stats().Calls[dscotest.OpGetItemInventory], "invalid queries are not sent")
		_, err = sb.supplier.GetItemInventoryRaw(ctx, dsco.InventoryQuery{HighWaterMarkQuery: "hwm1-999999"}, nil)
		assert.ErrorIs(t, err, dsco.ErrBadRequest)
		assert.False(t, dsco.IsRetryable(err))
	})

	t.Run("retries 503", func(t *testing.T) {
		sb.srv.SetFault(dscotest.OpGetItemInventory, dscotest.Fault{Rate503: 0.5})
		t.Cleanup(func() { sb.srv.SetFault(dscotest.OpGetItemInventory, dscotest.Fault{}) })
		before := sb.srv.Stats().Calls[dscotest.OpGetItemInventory]
		for range 10 {
			raw, err := sb.supplier.GetItemInventoryRaw(ctx, dsco.InventoryQuery{HighWaterMarkQuery: start, Limit: 2}, nil)
			require.NoError(t, err)
			var page dsco.InventoryPage
			require.NoError(t, json.Unmarshal(raw, &page))
			require.Len(t, page.Items, 2)
		}
		assert.Greater(t, sb.srv.Stats().Calls[dscotest.OpGetItemInventory]-before, int64(10), "some calls were faulted and retried")
	})
}
