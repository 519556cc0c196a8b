package dscotest_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/dscokafka/connector/pkg/dsco/dscotest"
)

// A test starts a sandbox, seeds orders and reads them from a stream, as
// the connector's inbound pipeline does.
func ExampleNewServer() {
	srv, err := dscotest.NewServer(dscotest.Config{Seed: 1})
	if err != nil {
		panic(err)
	}
	defer srv.Close()

	ids, err := srv.SeedOrders(3)
	if err != nil {
		panic(err)
	}
	fmt.Println(ids)

	resp, err := http.PostForm(srv.URL+"/oauth2/token", url.Values{
		"grant_type": {"client_credentials"}, "client_id": {dscotest.SupplierClientID}, "client_secret": {dscotest.SupplierClientSecret},
	})
	if err != nil {
		panic(err)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()

	call := func(method, path, body string, out any) {
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			panic(err)
		}
		defer resp.Body.Close()
		_ = json.NewDecoder(resp.Body).Decode(out)
	}
	var stream struct {
		StreamID string `json:"streamId"`
	}
	call(http.MethodPost, "/streams", `{"objectType":"order"}`, &stream)
	var page struct {
		Events []struct {
			EventType string `json:"eventType"`
			Data      struct {
				OrderID string `json:"orderId"`
			} `json:"data"`
		} `json:"events"`
		Position string `json:"position"`
		HasMore  bool   `json:"hasMore"`
	}
	call(http.MethodGet, "/streams/"+stream.StreamID+"/events?limit=2", "", &page)
	for _, ev := range page.Events {
		fmt.Println(ev.EventType, ev.Data.OrderID)
	}
	fmt.Println(page.Position, page.HasMore)
	fmt.Println(srv.Stats().Orders)
	// Output:
	// [PO-00000001 PO-00000002 PO-00000003]
	// order.created PO-00000001
	// order.created PO-00000002
	// 0:0000000000000002 true
	// map[created:3]
}

func ExamplePartitionFor() {
	for _, id := range []string{"PO-00000001", "PO-00000002", "PO-00000003"} {
		fmt.Println(id, dscotest.PartitionFor(id, 2))
	}
	// Output:
	// PO-00000001 0
	// PO-00000002 1
	// PO-00000003 0
}

func ExampleFieldPath() {
	fmt.Println(dscotest.FieldPath([]string{"shipments", "3", "trackingNumber"}))
	// Output: shipments[3].trackingNumber
}
