package outbound_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dscokafka/connector/pkg/dsco"
	"github.com/dscokafka/connector/pkg/kafka"
	"github.com/dscokafka/connector/pkg/outbound"
	"github.com/dscokafka/connector/pkg/schemas"
)

func TestValidate(t *testing.T) {
	ship := func(f func(c *schemas.ShipCommand)) *schemas.ShipCommand {
		c := &schemas.ShipCommand{CommandID: "c1", OrderID: "PO-1", LineItemID: str("1"), TrackingNumber: str("1Z"), Carrier: str("UPS")}
		f(c)
		return c
	}
	order := func(f func(c *schemas.RetailerOrderCommand)) *schemas.RetailerOrderCommand {
		c := &schemas.RetailerOrderCommand{CommandID: "c1", OrderID: "PO-1", OrderType: str("Dropship"),
			Items: []schemas.OrderItem{{SKU: str("S"), Quantity: i32(1), Cost: money("1")}}}
		f(c)
		return c
	}
	tests := []struct {
		name  string
		rec   schemas.Record
		field string // "" when valid
	}{
		{"valid ship", ship(func(*schemas.ShipCommand) {}), ""},
		{"ship without command id", ship(func(c *schemas.ShipCommand) { c.CommandID = "" }), "commandId: is required"},
		{"ship without order", ship(func(c *schemas.ShipCommand) { c.OrderID = "" }), "orderId: is required"},
		{"ship without line", ship(func(c *schemas.ShipCommand) { c.LineItemID = nil }), "lineItemId: is required"},
		{"ship with empty tracking", ship(func(c *schemas.ShipCommand) { c.TrackingNumber = str("") }), "trackingNumber: is required"},
		{"ship with unknown carrier", ship(func(c *schemas.ShipCommand) { c.Carrier = str("Owl") }), `carrier: unknown carrier "Owl"`},
		{"ship in the future", ship(func(c *schemas.ShipCommand) { c.ShippedAt = ptr(time.Now().Add(72 * time.Hour)) }), "shippedAt:"},
		{"ship with a huge id", ship(func(c *schemas.ShipCommand) { c.OrderID = string(make([]byte, 300)) }), "orderId: is 300 bytes long"},
		{"cancel with empty line", &schemas.CancelCommand{CommandID: "c", OrderID: "o", LineItemID: str("")}, "lineItemId: must not be empty"},
		{"invoice without amount", &schemas.InvoiceCommand{CommandID: "c", OrderID: "o", InvoiceNumber: str("I")}, "amount: is required"},
		{"invoice with negative amount", &schemas.InvoiceCommand{CommandID: "c", OrderID: "o", InvoiceNumber: str("I"), Amount: money("-1")}, "amount: must not be negative"},
		{"invoice of the largest amount", &schemas.InvoiceCommand{CommandID: "c", OrderID: "o", InvoiceNumber: str("I"), Amount: money("99999999999999.9999")}, ""},
		// A foreign or careless writer's decimal is not bounded by decoding: 19 digits
		// in 8 bytes, 10^20 in 9 bytes, and a megabyte of digits (which took seconds).
		{"invoice of 19 digits", &schemas.InvoiceCommand{CommandID: "c", OrderID: "o", InvoiceNumber: str("I"), Amount: schemas.Decimal{0x0d, 0xe0, 0xb6, 0xb3, 0xa7, 0x64, 0x00, 0x00}}, "amount: is out of range"},
		{"invoice of 9 bytes", &schemas.InvoiceCommand{CommandID: "c", OrderID: "o", InvoiceNumber: str("I"), Amount: schemas.Decimal{0x05, 0x6b, 0xc7, 0x5e, 0x2d, 0x63, 0x10, 0x00, 0x00}}, "amount: is out of range"},
		{"invoice of a megabyte", &schemas.InvoiceCommand{CommandID: "c", OrderID: "o", InvoiceNumber: str("I"), Amount: schemas.Decimal(bytes.Repeat([]byte{0x7f}, 1<<20))}, "amount: is out of range"},
		{"inventory without quantity", &schemas.InventoryCommand{CommandID: "c", SKU: "s"}, "quantity: is required"},
		{"inventory with negative quantity", &schemas.InventoryCommand{CommandID: "c", SKU: "s", Quantity: i32(-1)}, "quantity: must not be negative"},
		{"inventory of zero", &schemas.InventoryCommand{CommandID: "c", SKU: "s", Quantity: i32(0)}, ""},
		{"catalog with attributes not an object", &schemas.CatalogCommand{CommandID: "c", SKU: "s", Attributes: str("[1]")}, "attributes: must be a JSON object"},
		{"catalog for dropship without cost", &schemas.CatalogCommand{CommandID: "c", SKU: "s", RetailModelRules: &schemas.RetailModelRules{AllowedModels: []string{"dropship"}}}, "cost: is required when the item allows the dropship model"},
		{"catalog with unknown model", &schemas.CatalogCommand{CommandID: "c", SKU: "s", RetailModelRules: &schemas.RetailModelRules{AllowedModels: []string{"consignment"}}}, "retailModelRules.allowedModels[0]"},
		{"return of zero", &schemas.ReturnCommand{CommandID: "c", OrderID: "o", LineItemID: str("1"), Quantity: i32(0)}, "quantity: must be positive"},
		{"retailer return without line", &schemas.RetailerReturnCommand{CommandID: "c", OrderID: "o", Quantity: i32(1)}, "lineItemId: is required"},
		{"valid retailer order", order(func(*schemas.RetailerOrderCommand) {}), ""},
		{"order of unknown type", order(func(c *schemas.RetailerOrderCommand) { c.OrderType = str("Consignment") }), "orderType: must be Dropship or Marketplace"},
		{"order without items", order(func(c *schemas.RetailerOrderCommand) { c.Items = nil }), "items: an order needs at least one item"},
		{"dropship item without cost", order(func(c *schemas.RetailerOrderCommand) { c.Items[0].Cost = nil }), "items[0].cost: is required"},
		{"marketplace item without cost", order(func(c *schemas.RetailerOrderCommand) { c.OrderType = str("Marketplace"); c.Items[0].Cost = nil }), ""},
		{"item of quantity zero", order(func(c *schemas.RetailerOrderCommand) { c.Items[0].Quantity = i32(0) }), "items[0].quantity: must be positive"},
		{"duplicate line ids", order(func(c *schemas.RetailerOrderCommand) {
			c.Items = []schemas.OrderItem{{LineItemID: str("1"), SKU: str("a"), Quantity: i32(1), Cost: money("1")}, {LineItemID: str("1"), SKU: str("b"), Quantity: i32(1), Cost: money("1")}}
		}), `items[1].lineItemId: duplicate lineItemId "1"`},
		{"retailer cancel without order", &schemas.RetailerCancelCommand{CommandID: "c"}, "orderId: is required"},
		{"attribution without sku", &schemas.RetailerCatalogAttributionCommand{CommandID: "c"}, "sku: is required"},
		{"acknowledge without order", &schemas.AcknowledgeCommand{CommandID: "c"}, "orderId: is required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := outbound.Validate(tt.rec)
			if tt.field == "" {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.ErrorIs(t, err, outbound.ErrInvalidCommand)
			assert.Contains(t, err.Error(), tt.field)
			var verr *outbound.ValidationError
			require.ErrorAs(t, err, &verr)
			assert.Equal(t, schemas.DescriptorOf(tt.rec).Name, verr.Command)
		})
	}
	require.Error(t, outbound.Validate(&schemas.CommandResult{}), "a result is not a command")
}

// dialTimeout is the error of a dial that timed out.
func dialTimeout() error {
	_, err := timingOutDial(context.Background(), "tcp", "127.0.0.1:9")
	return err
}

func TestClassify(t *testing.T) {
	tests := []struct {
		err  error
		want outbound.Class
	}{
		{&dsco.APIError{StatusCode: http.StatusServiceUnavailable}, outbound.Retryable},
		{&dsco.APIError{StatusCode: http.StatusTooManyRequests}, outbound.Retryable},
		{&dsco.APIError{StatusCode: http.StatusRequestTimeout}, outbound.Retryable},
		{&dsco.NetworkError{Operation: "x", Err: errors.New("refused")}, outbound.Retryable},
		{&dsco.OutcomeUnknownError{Operation: "x", Err: errors.New("EOF")}, outbound.Unknown},
		{&dsco.APIError{StatusCode: http.StatusBadRequest}, outbound.Permanent},
		{&dsco.APIError{StatusCode: http.StatusForbidden}, outbound.Permanent},
		{fmt.Errorf("wrapped: %w", schemas.ErrBadMagic), outbound.Permanent},
		{&schemas.WrongRecordError{Want: "a", Got: "b"}, outbound.Permanent},
		{fmt.Errorf("%w: x", kafka.ErrUnmarshal), outbound.Permanent},
		{&outbound.ValidationError{Command: "ship", Field: "f", Reason: "r"}, outbound.Permanent},
		{context.Canceled, outbound.Stopped},
		{outbound.ErrClosed, outbound.Stopped},
		{&dsco.OutcomeUnknownError{Operation: "cancelled", Err: context.Canceled}, outbound.Stopped},
		// The Dsco client closed before a call could send (again): nothing was decided.
		{fmt.Errorf("dsco: x: %w", dsco.ErrClosed), outbound.Stopped},
		{fmt.Errorf("dsco: x: %w (last failure: %w)", dsco.ErrClosed, &dsco.APIError{StatusCode: http.StatusBadRequest}), outbound.Stopped},
		// Timeouts are Dsco or the network failing, not a shutdown.
		{dialTimeout(), outbound.Retryable},
		{context.DeadlineExceeded, outbound.Retryable},
		// The connector's own credentials refused: the commands wait, they are not rejected.
		{fmt.Errorf("dsco: x: %w: %w", dsco.ErrToken, &dsco.APIError{StatusCode: http.StatusUnauthorized}), outbound.Retryable},
		{&dsco.APIError{StatusCode: http.StatusUnauthorized}, outbound.Retryable},
		{&dsco.OutcomeUnknownError{Operation: "slow answer", Err: context.DeadlineExceeded}, outbound.Unknown},
		{errors.New("registry unreachable"), outbound.Retryable},
	}
	for _, tt := range tests {
		t.Run(tt.err.Error(), func(t *testing.T) {
			assert.Equal(t, tt.want, outbound.Classify(tt.err))
		})
	}
}
