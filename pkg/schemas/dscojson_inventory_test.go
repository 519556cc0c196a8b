package schemas_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"testing"

	"github.com/hamba/avro/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dscokafka/connector/pkg/dsco"
	"github.com/dscokafka/connector/pkg/schemas"
)

// TestItemInventoryDecoderMatchesDscoModels reads GetItemInventory pages
// from the sandbox and compares every field with pkg/dsco's models; the
// same items as a file (newline-delimited) decode the same way.
func TestItemInventoryDecoderMatchesDscoModels(t *testing.T) {
	sb := newDjSandbox(t)
	sb.seedEverything(t, 10)
	sb.call(t, http.MethodPost, "/supplier/inventory-in", `{"items":[{"sku":"SKU-C1","quantity":3,"warehouseId":"WH-9"}]}`)
	dec := schemas.NewItemInventoryDecoder()
	desc, _ := schemas.Event("iteminventory")
	mark := "2000-01-01T00:00:00.000+0000"
	n := 0
	for {
		params := `{"resultType":"objects","highWaterMarkQuery":"` + mark + `","limit":7}`
		body := sb.call(t, http.MethodGet, "/inventory?params="+url.QueryEscape(params), "")
		page, err := dec.DecodePage(body)
		require.NoError(t, err)
		var want dsco.InventoryPage
		require.NoError(t, json.Unmarshal(body, &want))
		var raws struct{ Items []json.RawMessage }
		require.NoError(t, json.Unmarshal(body, &raws))
		assert.Equal(t, want.HighWaterMark, page.HighWaterMark)
		assert.Equal(t, want.HasMore, page.HasMore)
		require.Len(t, page.Items, len(want.Items))
		for i, it := range page.Items {
			require.NoError(t, it.Err)
			assert.Equal(t, string(raws.Items[i]), string(it.Raw))
			compareItemInventory(t, want.Items[i], it.Item)
			_, err := avro.Marshal(desc.Schema, &schemas.ItemInventoryEvent{EventID: "e", EventType: "updated",
				ObjectType: "iteminventory", ItemInventory: *it.Item})
			require.NoError(t, err)
			n++
		}
		// The same items as a file.
		file := bytes.Join(bytesOf(raws.Items), []byte("\n"))
		lines := dec.DecodeLines(append(file, '\n'))
		require.Len(t, lines, len(want.Items))
		for i, it := range lines {
			require.NoError(t, it.Err)
			compareItemInventory(t, want.Items[i], it.Item)
		}
		if !page.HasMore {
			break
		}
		mark = page.HighWaterMark
	}
	assert.Greater(t, n, 50)
}

func bytesOf(raws []json.RawMessage) [][]byte {
	out := make([][]byte, len(raws))
	for i, r := range raws {
		out[i] = r
	}
	return out
}

func compareItemInventory(t *testing.T, want dsco.ItemInventory, got *schemas.ItemInventory) {
	t.Helper()
	require.NotNil(t, got)
	assert.Equal(t, want.SKU, got.SKU)
	assert.Equal(t, want.DscoItemID, djDeref(got.DscoItemID))
	assert.Equal(t, want.DscoSupplierID, djDeref(got.DscoSupplierID))
	assert.Equal(t, want.QuantityAvailable, int(djDeref(got.QuantityAvailable)))
	assert.Equal(t, want.Status, djDeref(got.Status))
	assertTime(t, want.LastUpdate, got.LastUpdate)
	require.Len(t, got.Warehouses, len(want.Warehouses))
	for i, w := range want.Warehouses {
		assert.Equal(t, w.WarehouseID, djDeref(got.Warehouses[i].WarehouseID))
		assert.Equal(t, w.Quantity, int(djDeref(got.Warehouses[i].Quantity)))
		assertExtra(t, w.Extra, got.Warehouses[i].Extra, "warehouse")
	}
	assertExtra(t, want.Extra, got.Extra, "itemInventory")
}

func TestItemInventoryDecoderErrors(t *testing.T) {
	const good = `{"sku":"S1","dscoSupplierId":1001,"quantityAvailable":5,"warehouses":[{"warehouseId":"W","quantity":5,"bin":"A1"}],"lastUpdate":"2014-01-01T10:30:00.000+0100","x":1}`
	dec := schemas.NewItemInventoryDecoder()
	page, err := dec.DecodePage([]byte(`{"items":[` + good + `,{"sku":"S2","dscoSupplierId":99999999999999999999},{"sku":""},7],"highWaterMark":"m","hasMore":true}`))
	require.NoError(t, err)
	require.Len(t, page.Items, 4)
	require.NoError(t, page.Items[0].Err)
	it := page.Items[0].Item
	assert.Equal(t, `{"x":1}`, *it.Extra)
	assert.Equal(t, `{"bin":"A1"}`, *it.Warehouses[0].Extra)
	assert.Equal(t, "2014-01-01T09:30:00Z", it.LastUpdate.Format("2006-01-02T15:04:05Z07:00"))
	for i, want := range []struct{ field, reason, sku string }{
		{"dscoSupplierId", "out of range for int64", "S2"},
		{"sku", "empty key", ""},
		{"", "want an object, got a number", ""},
	} {
		ev := page.Items[i+1]
		assert.Nil(t, ev.Item)
		var ee *schemas.EventError
		require.ErrorAs(t, ev.Err, &ee)
		assert.Equal(t, want.field, ee.Field)
		assert.Contains(t, ee.Reason, want.reason)
		assert.Equal(t, want.sku, ev.SKU)
	}

	_, err = dec.DecodePage([]byte(`{"items":[],"hasMore":false}`))
	assert.ErrorIs(t, err, schemas.ErrInvalidPage)
	_, err = dec.DecodePage([]byte(`{"items":[` + good + `,],"highWaterMark":"m"}`))
	var pe *schemas.PageError
	require.ErrorAs(t, err, &pe)
	assert.True(t, pe.InvalidJSON)

	lines := dec.DecodeLines([]byte(good + "\n\n{\"sku\":\"S3\",}\r\n" + `{"sku":"S4"}` + " x\n" + `{"sku":"S5"}`))
	require.Len(t, lines, 4)
	assert.Equal(t, "S1", lines[0].Item.SKU)
	assert.Error(t, lines[1].Err, "a line that is not JSON")
	assert.Error(t, lines[2].Err, "trailing data on a line")
	assert.Equal(t, "S5", lines[3].Item.SKU, "the last line needs no newline")
	assert.Equal(t, "S1", lines[0].Item.SKU, "earlier lines are intact")
	assert.Equal(t, `{"x":1}`, *lines[0].Item.Extra)
	for i, want := range []int{1, 3, 4, 5} {
		assert.Equal(t, want, lines[i].Line, "item %d's line, blank lines counted", i)
	}
}
