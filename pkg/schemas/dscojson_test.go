package schemas_test

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dscokafka/connector/pkg/dsco"
	"github.com/dscokafka/connector/pkg/schemas"
)

func TestEventPageDecoderOrdersFromSandbox(t *testing.T) {
	sb := newSandbox(t)
	_, err := sb.srv.SeedOrders(250)
	require.NoError(t, err)
	dec, err := schemas.NewEventPageDecoder("order")
	require.NoError(t, err)
	n := 0
	for _, body := range sb.pages(t, "order", 100) {
		page, err := dec.Decode(body, "stream-1")
		require.NoError(t, err)
		var want dsco.StreamEvents
		require.NoError(t, json.Unmarshal(body, &want))
		require.Len(t, page.Events, len(want.Events))
		assert.Equal(t, want.Position, page.Position)
		assert.Equal(t, want.HasMore, page.HasMore)
		for i, ev := range page.Events {
			require.NoError(t, ev.Err)
			o, err := want.Events[i].Order()
			require.NoError(t, err)
			rec := ev.Record.(*schemas.OrderEvent)
			assert.Equal(t, o.OrderID, rec.Order.OrderID)
			assert.Equal(t, o.OrderID, rec.Key())
			require.Len(t, rec.Order.Items, len(o.Items))
			n++
		}
	}
	assert.Equal(t, 250, n)
}
