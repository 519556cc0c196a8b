package warehouse_test

import (
	"context"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	kafkago "github.com/segmentio/kafka-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/sr/srfake"

	"github.com/dscokafka/connector/cmd/connector/internal/warehouse"
	"github.com/dscokafka/connector/pkg/kafka"
	"github.com/dscokafka/connector/pkg/kafka/kafkatest"
	"github.com/dscokafka/connector/pkg/outbound"
	"github.com/dscokafka/connector/pkg/schemas"
)

func descriptors(t *testing.T) []*schemas.Descriptor {
	t.Helper()
	order, ok := schemas.Event("order")
	require.True(t, ok)
	ship, ok := schemas.Command("ship")
	require.True(t, ok)
	invoice, ok := schemas.Command("invoice")
	require.True(t, ok)
	return []*schemas.Descriptor{order, ship, invoice}
}

func money(t *testing.T, s string) schemas.Decimal {
	t.Helper()
	d, err := schemas.ParseDecimal(s)
	require.NoError(t, err)
	return d
}

func ptr[T any](v T) *T { return &v }

// TestWarehouse: a new order yields a ship command per line and one invoice
// for the order's cost; the same event again yields the same command ids;
// other order events and records that are not order events yield nothing.
func TestWarehouse(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	reg := srfake.New()
	t.Cleanup(reg.Close)
	// Topics of their own: the test may run on a shared KAFKA_BROKERS.
	prefix := kafkatest.Name("wh")
	topics := map[string]string{}
	for _, d := range descriptors(t) {
		topics[schemas.TopicKey(d)] = prefix + "." + d.Name
	}
	serde, err := schemas.NewSerde(schemas.Config{RegistryURL: reg.URL(), Records: descriptors(t), Topics: topics})
	require.NoError(t, err)
	require.NoError(t, serde.Register(context.Background()))

	conn := kafka.ConnectionConfig{Brokers: brokers}
	pub, err := kafka.NewPublisher(kafka.PublisherConfig{Connection: conn, AllowAutoTopicCreation: true}, nil)
	require.NoError(t, err)
	t.Cleanup(func() { _ = pub.Close() })
	event := func(typ string, o schemas.Order) *message.Message {
		b, err := serde.Encode(&schemas.OrderEvent{Envelope: schemas.Envelope{EventID: typ + "-" + o.OrderID, EventType: typ,
			ObjectType: "order", Timestamp: time.Now().UTC().Truncate(time.Millisecond), StreamID: "s", Position: "p"}, Order: o})
		require.NoError(t, err)
		m := message.NewMessage(typ+o.OrderID, b)
		m.Metadata.Set(kafka.DefaultPartitionKeyMetadata, o.OrderID)
		return m
	}
	order := schemas.Order{OrderID: "PO-1", Items: []schemas.OrderItem{
		{LineItemID: ptr("1"), Quantity: ptr[int32](2), Cost: money(t, "3.25")},
		{LineItemID: ptr("2"), Quantity: ptr[int32](1), Price: money(t, "10.00")},
	}}
	junk := message.NewMessage("junk", []byte("not avro"))
	require.NoError(t, pub.Publish(prefix+".order",
		event("order.created", order), junk, event("order.shipped", order), event("order.created", order)))

	wh, err := warehouse.New(warehouse.Config{Connection: conn, Serde: serde, ConsumerGroup: kafkatest.Name("wh")}, nil)
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- wh.Run(context.Background()) }()
	t.Cleanup(func() { _ = wh.Close() })
	require.Eventually(t, func() bool { return wh.Stats().Orders == 2 }, time.Minute, 20*time.Millisecond)
	assert.Equal(t, warehouse.Stats{Orders: 2, Ships: 4, Invoices: 2}, wh.Stats())
	require.NoError(t, wh.Close())
	require.NoError(t, <-done)
	require.NoError(t, wh.Close(), "Close is idempotent")

	read := func(topic string) []schemas.Record {
		var out []schemas.Record
		require.NoError(t, outbound.TopicReader{Brokers: brokers}.Read(context.Background(), topic, false, nil, func(m kafkago.Message) {
			r, err := serde.DecodeAny(context.Background(), m.Value)
			require.NoError(t, err)
			assert.Equal(t, r.Key(), string(m.Key), "keyed by the order id")
			out = append(out, r)
		}))
		return out
	}
	ids := map[string]int{}
	for _, r := range read(prefix + ".ship") {
		s := r.(*schemas.ShipCommand)
		ids[s.CommandID]++
		assert.Equal(t, "PO-1", s.OrderID)
		assert.Equal(t, "UPS", *s.Carrier)
	}
	assert.Equal(t, map[string]int{"ship-PO-1-1": 2, "ship-PO-1-2": 2}, ids, "the same command ids for the repeated event")
	invoices := read(prefix + ".invoice")
	require.Len(t, invoices, 2)
	inv := invoices[0].(*schemas.InvoiceCommand)
	assert.Equal(t, "invoice-PO-1", inv.CommandID)
	assert.Equal(t, "INV-PO-1", *inv.InvoiceNumber)
	assert.Equal(t, 0, inv.Amount.Rat().Cmp(money(t, "16.50").Rat()), "2 × 3.25 (cost) + 1 × 10.00 (price, no cost): %s", inv.Amount)
}

func TestConfigValidate(t *testing.T) {
	_, err := warehouse.New(warehouse.Config{}, nil)
	require.Error(t, err)
	assert.ErrorContains(t, err, "missing Connection.Brokers")
	assert.ErrorContains(t, err, "missing Serde")
}
