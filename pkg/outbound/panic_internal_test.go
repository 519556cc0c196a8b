package outbound

import (
	"context"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	kafkago "github.com/segmentio/kafka-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dscokafka/connector/pkg/schemas"
)

// TestPanicsPoisonTheRecord: a record whose decoding panics (a bug its bytes reach; here
// the Serde is nil) is undecodable, and a command whose validation panics (here the clock
// is nil) is rejected, both with the panic for their reason: they go to the poison topic
// and the partition goes on, instead of being delivered again for ever.
func TestPanicsPoisonTheRecord(t *testing.T) {
	p := &Pipeline{logger: watermill.NopLogger{}}
	rec := kafkago.Message{Topic: "t", Value: []byte{0}}
	var ship *kind
	for _, k := range kinds {
		if k.name == "ship" {
			ship = k
		}
	}
	require.NotNil(t, ship)

	c, err := p.prepare(context.Background(), ship, rec)
	require.NoError(t, err)
	require.True(t, c.undecodable)
	assert.Equal(t, StatusRejected, c.out.Status)
	assert.Contains(t, c.out.Reason, "decoding it panicked")

	at := time.Now()
	c, _ = ship.newCommand()
	c.kind, c.rec = ship, rec
	verr := p.validate(c, &schemas.ShipCommand{CommandID: "c1", OrderID: "o1", LineItemID: new("1"),
		TrackingNumber: new("1Z"), Carrier: new("UPS"), ShippedAt: &at})
	require.NotNil(t, verr)
	assert.Contains(t, verr.Error(), "validating it panicked")
}
