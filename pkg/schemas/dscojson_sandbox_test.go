package schemas_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dscokafka/connector/pkg/dsco/dscotest"
)

// djSandbox is a dscotest server on loopback with a supplier token, closed
// when the test ends.
type djSandbox struct {
	srv      *dscotest.Server
	token    string // the supplier's
	retailer string
}

func newDjSandbox(t testing.TB) *djSandbox {
	t.Helper()
	srv, err := dscotest.NewServer(dscotest.Config{Seed: 7})
	require.NoError(t, err)
	t.Cleanup(srv.Close)
	require.True(t, strings.HasPrefix(srv.URL, "http://127.0.0.1:"), srv.URL)
	token := func(id, secret string) string {
		resp, err := http.PostForm(srv.URL+"/oauth2/token", url.Values{
			"grant_type": {"client_credentials"}, "client_id": {id}, "client_secret": {secret},
		})
		require.NoError(t, err)
		defer resp.Body.Close()
		var tok struct {
			AccessToken string `json:"access_token"`
		}
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&tok))
		return tok.AccessToken
	}
	return &djSandbox{srv: srv, token: token(dscotest.SupplierClientID, dscotest.SupplierClientSecret),
		retailer: token(dscotest.RetailerClientID, dscotest.RetailerClientSecret)}
}

// retailerCall is call with the retailer's token.
func (sb *djSandbox) retailerCall(t testing.TB, method, path, body string) []byte {
	t.Helper()
	sup := sb.token
	sb.token = sb.retailer
	defer func() { sb.token = sup }()
	return sb.call(t, method, path, body)
}

// seedEverything makes state changes that emit events of every object
// type: generated orders, an order with unknown attributes at every level
// and strings that need escaping, catalog and inventory updates,
// acknowledgements, shipments, cancellations, returns and invoices.
func (sb *djSandbox) seedEverything(t testing.TB, orders int) {
	t.Helper()
	ids, err := sb.srv.SeedOrders(orders)
	require.NoError(t, err)
	sb.retailerCall(t, http.MethodPost, "/retailer/order-in", `{"orders":[{"orderId":"PO-X\u00e9-1","orderType":"Dropship",
		"giftMessage":"Happy \"birthday\" \ud83c\udf82\n", "loyalty":{"tier":"gold","points":1200},
		"items":[{"lineItemId":"X-1","sku":"SKU-00001","quantity":2,"cost":10.5,"price":1.23e1,"engraving":"A\/B","tags":["a",1,true,null]},
		         {"lineItemId":"X-2","sku":"SKU-00002","quantity":1,"cost":0.0001,"price":99999999.9999}],
		"shippingAddress":{"name":"Zo\u00eb \u4e2d","street1":"1 Main St","city":"Lehi","state":"UT","postalCode":"84043","country":"US","deliveryNotes":"back door","geo":{"lat":40.39,"lon":-111.85}}}]}`)
	sb.call(t, http.MethodPost, "/supplier/catalog-in", `{"items":[{"sku":"SKU-C1","title":"Caf\u00e9 mug","description":"line\none","cost":4.50,
		"retailModelRules":{"allowedModels":["dropship"],"priority":3},"attributes":{"color":"red","size":[1,2]},"countryOfOrigin":"PT"}]}`)
	sb.call(t, http.MethodPost, "/supplier/inventory-in", `{"items":[{"sku":"SKU-C1","quantity":7,"warehouseId":"WH-2"},{"sku":"SKU-00003","quantity":0}]}`)
	var ack []string
	for i, id := range ids {
		if i%2 == 0 {
			ack = append(ack, `"`+id+`"`)
		}
	}
	sb.call(t, http.MethodPost, "/supplier/acknowledge-order-in", `{"orderIds":[`+strings.Join(ack, ",")+`]}`)
	for i, id := range ids {
		switch i % 4 {
		case 0:
			sb.call(t, http.MethodPost, "/supplier/shipment-in", `{"shipments":[{"orderId":"`+id+`","lineItemId":"`+id+`-1","trackingNumber":"1Z`+strconv.Itoa(i)+`","carrier":"UPS"}]}`)
			sb.call(t, http.MethodPost, "/supplier/return-in", `{"returns":[{"orderId":"`+id+`","lineItemId":"`+id+`-1","returnReason":"damaged","quantity":1}]}`)
			sb.call(t, http.MethodPost, "/supplier/invoice-in", `{"invoices":[{"orderId":"`+id+`","invoiceNumber":"INV-`+strconv.Itoa(i)+`","amount":123.45,"invoiceDate":"2026-11-30"}]}`)
		case 1:
			sb.call(t, http.MethodPost, "/supplier/cancel-in", `{"cancellations":[{"orderId":"`+id+`","reason":"out of stock"}]}`)
		}
	}
}

func (sb *djSandbox) call(t testing.TB, method, path, body string) []byte {
	t.Helper()
	req, err := http.NewRequest(method, sb.srv.URL+path, strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+sb.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Less(t, resp.StatusCode, 300, "%s %s: %s", method, path, b)
	return b
}

// pages creates a stream of objectType and returns every page of it, read
// with the given limit.
func (sb *djSandbox) pages(t testing.TB, objectType string, limit int) [][]byte {
	t.Helper()
	var stream struct {
		StreamID string `json:"streamId"`
	}
	require.NoError(t, json.Unmarshal(sb.call(t, http.MethodPost, "/streams", `{"objectType":"`+objectType+`"}`), &stream))
	var out [][]byte
	pos := ""
	for {
		body := sb.call(t, http.MethodGet, "/streams/"+stream.StreamID+"/events?limit="+strconv.Itoa(limit)+"&position="+url.QueryEscape(pos), "")
		var page struct {
			Events   []json.RawMessage `json:"events"`
			Position string            `json:"position"`
			HasMore  bool              `json:"hasMore"`
		}
		require.NoError(t, json.Unmarshal(body, &page))
		if len(page.Events) > 0 {
			out = append(out, body)
		}
		if !page.HasMore {
			return out
		}
		pos = page.Position
	}
}
