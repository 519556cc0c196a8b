package outbound_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dscokafka/connector/pkg/dsco"
	"github.com/dscokafka/connector/pkg/dsco/dscotest"
	"github.com/dscokafka/connector/pkg/kafka/kafkatest"
	"github.com/dscokafka/connector/pkg/outbound"
	"github.com/dscokafka/connector/pkg/router"
	"github.com/dscokafka/connector/pkg/schemas"
)

// TestRequeueFromPoisonTopic: a ship command for an order Dsco does not know yet is
// poisoned; once the order exists, requeuing the poison record sends the command again and
// it is applied. The other poison record, not selected, stays where it is.
func TestRequeueFromPoisonTopic(t *testing.T) {
	e := newEnv(t, dscotest.Config{Seed: 41})
	kafkatest.CreateTopic(t, e.brokers, e.topic("ship"), 2)
	e.send(
		&schemas.ShipCommand{CommandID: "early", OrderID: "PO-LATER", LineItemID: str("1"), TrackingNumber: str("1Z1"), Carrier: str("UPS")},
		&schemas.ShipCommand{CommandID: "never", OrderID: "PO-NEVER", LineItemID: str("1"), TrackingNumber: str("1Z2"), Carrier: str("UPS")},
	)
	e.start(router.OutboundConfig{Subscriber: e.subscriberConfig(kafkatest.Name("g")), Pipeline: e.pipelineConfig(outbound.RoleSupplier)})
	got := e.waitResults("early", "never")
	require.Equal(t, schemas.OutcomeRejected, got["early"].Outcome)
	assert.Contains(t, deref(got["early"].Reason), "ORDER_NOT_FOUND")
	poisoned := e.waitPoisoned(2)

	_, err := e.client(outbound.RoleRetailer).RetailerCreateOrder(context.Background(), dsco.RetailerOrderRequest{Orders: []dsco.Order{{
		OrderID: "PO-LATER", OrderType: dsco.OrderTypeMarketplace,
		Items: []dsco.OrderItem{{LineItemID: "1", SKU: "SKU-L", Quantity: 1}},
	}}})
	require.NoError(t, err)

	var selected []outbound.PoisonRecord
	for _, p := range poisoned {
		if p.CommandID == "early" {
			selected = append(selected, p)
		}
	}
	require.Len(t, selected, 1)
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	require.NoError(t, outbound.Requeue(ctx, e.pub, selected))

	require.Eventually(t, func() bool {
		res, _ := e.resultsByID()
		return res["early"] != nil && res["early"].Outcome == schemas.OutcomeAccepted
	}, waitLimit, 100*time.Millisecond, "the requeued command is applied")
	assert.Positive(t, line(e.order("PO-LATER"), "1").QuantityShipped)
	assert.Len(t, e.poisoned(), 2, "nothing new was poisoned; the unselected record stays")
	_, n := e.resultsByID()
	assert.Equal(t, 3, n, "one result per delivery: two first, one for the requeued command")
}
