package schemas_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/sr/srfake"

	"github.com/dscokafka/connector/pkg/schemas"
)

func Example() {
	reg := srfake.New() // an in-process Schema Registry on 127.0.0.1
	defer reg.Close()
	ctx := context.Background()

	ship, _ := schemas.Command("ship")
	serde, err := schemas.NewSerde(schemas.Config{
		RegistryURL: reg.URL(),
		Records:     []*schemas.Descriptor{ship},
	})
	if err != nil {
		panic(err)
	}
	defer serde.Close() // its connections to the registry
	// Check compatibility with the registered versions and register.
	if err := serde.Register(ctx); err != nil {
		panic(err)
	}

	cmd := &schemas.ShipCommand{
		CommandID:      "cmd-1",
		OrderID:        "PO-1001",
		LineItemID:     schemas.Ptr("L1"),
		TrackingNumber: schemas.Ptr("1Z999"),
		Carrier:        schemas.Ptr("UPS"),
		ShippedAt:      schemas.Ptr(time.Date(2026, 11, 24, 20, 0, 0, 0, time.UTC)),
	}
	value, err := serde.Encode(cmd)
	if err != nil {
		panic(err)
	}
	fmt.Printf("key %s, magic byte %d, schema id %d\n", cmd.Key(), value[0], value[4])

	var got schemas.ShipCommand
	if err := serde.Decode(ctx, value, &got); err != nil {
		panic(err)
	}
	fmt.Println(got.CommandID, got.OrderID, *got.Carrier, got.ShippedAt.Format(time.RFC3339))

	err = serde.Decode(ctx, value, &schemas.CancelCommand{})
	fmt.Println(err)
	// Output:
	// key PO-1001, magic byte 0, schema id 1
	// cmd-1 PO-1001 UPS 2026-11-24T20:00:00Z
	// schemas: wrong record type: want io.dscokafka.v1.CancelCommand, the value is a io.dscokafka.v1.ShipCommand
}

func ExampleParseDecimal() {
	// Dsco sends money as JSON numbers; keep their text exact.
	cost, err := schemas.ParseDecimal("12.990")
	if err != nil {
		panic(err)
	}
	fmt.Println(cost, cost.Rat(), cost.IsNull())

	var missing schemas.Decimal // nil: the Avro null
	fmt.Println(missing, missing.IsNull())

	_, err = schemas.ParseDecimal("12.99999")
	fmt.Println(err)
	// Output:
	// 12.99 1299/100 false
	// null true
	// schemas: invalid decimal "12.99999": more than 4 fraction digits (money is decimal(18,4))
}

// A record holding a value other Avro readers could not read back as
// written is refused at encode time, naming the field.
func ExampleEncodeError() {
	serde, err := schemas.NewSerde(schemas.Config{SingleObject: true})
	if err != nil {
		panic(err)
	}
	cmd := &schemas.RetailerOrderCommand{
		CommandID: "cmd-2",
		OrderID:   "PO-2000",
		Items: []schemas.OrderItem{
			{SKU: schemas.Ptr("SKU-A")},
			{SKU: schemas.Ptr("SKU-B"), Cost: schemas.DecimalFromUnscaled(1_000_000_000_000_000_000)},
		},
	}
	_, err = serde.Encode(cmd)
	var ee *schemas.EncodeError
	if errors.As(err, &ee) {
		fmt.Println(ee.Field)
		fmt.Println(errors.Is(err, schemas.ErrInvalidDecimal), schemas.IsPermanent(err))
	}
	// Output:
	// items[1].cost
	// true true
}
