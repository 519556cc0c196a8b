package dsco_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/dscokafka/connector/pkg/dsco"
	"github.com/dscokafka/connector/pkg/dsco/dscotest"
)

func ExampleNewClient() {
	srv, err := dscotest.NewServer(dscotest.Config{})
	if err != nil {
		panic(err)
	}
	defer srv.Close()

	client, err := dsco.NewClient(srv.URL,
		dsco.WithClientCredentials(dscotest.SupplierClientID, dscotest.SupplierClientSecret))
	if err != nil {
		panic(err)
	}
	stream, err := client.CreateStream(context.Background(), dsco.StreamDefinition{ObjectType: dsco.ObjectOrder, PartitionCount: 3})
	if err != nil {
		panic(err)
	}
	fmt.Println(stream.ObjectType, len(stream.Partitions))
	// Output: order 3
}

func ExampleBatchResponse_ItemErrors() {
	var resp dsco.BatchResponse
	_ = json.Unmarshal([]byte(`{"batchId":"b-1","status":"completed","errors":[
		{"code":"ORDER_NOT_FOUND","message":"order X not found","field":"shipments[1].orderId"},
		{"code":"INVALID_STATE","field":"shipments[3]"}]}`), &resp)
	byItem := resp.ItemErrors("shipments")
	for i := range 4 {
		if errs, failed := byItem[i]; failed {
			fmt.Println(i, "failed:", errs[0].Code)
		} else {
			fmt.Println(i, "applied")
		}
	}
	// Output:
	// 0 applied
	// 1 failed: ORDER_NOT_FOUND
	// 2 applied
	// 3 failed: INVALID_STATE
}

func ExampleBatchError_Index() {
	prop, i, ok := dsco.BatchError{Field: "shipments[3].trackingNumber"}.Index()
	fmt.Println(prop, i, ok)
	// Output: shipments 3 true
}

func ExampleMoney() {
	var item dsco.OrderItem
	_ = json.Unmarshal([]byte(`{"sku":"S","quantity":1,"cost":19.990,"giftWrap":true}`), &item)
	fmt.Println(item.Cost)
	out, _ := json.Marshal(item)
	fmt.Println(string(out))
	// Output:
	// 19.990
	// {"sku":"S","quantity":1,"cost":19.990,"giftWrap":true}
}

func ExampleIsRetryable() {
	for _, err := range []error{
		&dsco.APIError{Operation: "listStreams", StatusCode: 503},
		&dsco.APIError{Operation: "supplierCreateShipment", StatusCode: 400},
		&dsco.OutcomeUnknownError{Operation: "supplierCreateShipment", Err: errors.New("connection reset")},
	} {
		fmt.Println(dsco.IsRetryable(err), errors.Is(err, dsco.ErrOutcomeUnknown))
	}
	// Output:
	// true false
	// false false
	// false true
}

func ExampleDecodeInventoryFile() {
	file := strings.NewReader(`{"sku":"A","quantityAvailable":3,"status":"in-stock"}
{"sku":"B","quantityAvailable":0,"status":"out-of-stock"}
`)
	for item, err := range dsco.DecodeInventoryFile(file) {
		if err != nil {
			panic(err)
		}
		fmt.Println(item.SKU, item.QuantityAvailable, item.Status)
	}
	// Output:
	// A 3 in-stock
	// B 0 out-of-stock
}
