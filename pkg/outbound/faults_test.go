package outbound_test

import (
	"fmt"
	"strings"
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

// fastRetry keeps the client's own retries short in tests.
var fastRetry = dsco.WithRetry(dsco.RetryPolicy{MaxAttempts: 4, BaseDelay: 5 * time.Millisecond, MaxDelay: 50 * time.Millisecond, MaxElapsed: 10 * time.Second})

// TestFaultsEveryCommandAppliedOnceOrPoisoned sends over 5,000 ship commands, one per
// order line, while the sandbox answers shipment writes with 500, 503 and 429 and drops
// connections after applying them. Every command ends applied exactly once in the
// sandbox's state or poisoned with its reason, with one result each.
func TestFaultsEveryCommandAppliedOnceOrPoisoned(t *testing.T) {
	if testing.Short() {
		t.Skip("5,000 commands")
	}
	e := newEnv(t, dscotest.Config{Seed: 21})
	kafkatest.CreateTopic(t, e.brokers, e.topic("ship"), 32)
	var cmds []schemas.Record
	var orders []*dsco.Order
	for len(cmds) < 5000 {
		more := e.seedOrders(200)
		orders = append(orders, more...)
		cmds = append(cmds, shipAll("f", more)...)
	}
	e.sandbox.SetFault("supplierCreateShipment", dscotest.Fault{Rate500: 0.04, Rate503: 0.04, Rate429: 0.02, DropRate: 0.04, RetryAfter: time.Second})
	e.sandbox.SetFault("supplierGetOrder", dscotest.Fault{Rate503: 0.05})
	for i := 0; i < len(cmds); i += 500 {
		e.send(cmds[i:min(i+500, len(cmds))]...)
	}
	cfg := e.pipelineConfig(outbound.RoleSupplier, fastRetry)
	cfg.MaxConcurrentBatches = 8
	e.start(router.OutboundConfig{Subscriber: e.subscriberConfig(kafkatest.Name("g")), Pipeline: cfg})

	ids := make([]string, len(cmds))
	for i, c := range cmds {
		ids[i] = c.(*schemas.ShipCommand).CommandID
	}
	var got map[string]*schemas.CommandResult
	require.Eventually(t, func() bool {
		got, _ = e.resultsByID()
		return len(got) >= len(ids)
	}, 3*waitLimit, 500*time.Millisecond, "a result for each of %d commands", len(ids))
	e.sandbox.SetFault("supplierCreateShipment", dscotest.Fault{})
	e.sandbox.SetFault("supplierGetOrder", dscotest.Fault{})

	poisoned := map[string]outbound.PoisonRecord{}
	for _, p := range e.poisoned() {
		poisoned[p.CommandID] = p
	}
	stats := e.sandbox.Stats()
	applied, rejected := 0, 0
	byID := map[string]*schemas.ShipCommand{}
	for _, c := range cmds {
		byID[c.(*schemas.ShipCommand).CommandID] = c.(*schemas.ShipCommand)
	}
	shippedLines := map[string]bool{}
	for _, o := range orders {
		read := e.order(o.OrderID)
		for _, li := range read.Items {
			if li.QuantityShipped > 0 {
				shippedLines[fmt.Sprintf("f-%s-%s", o.OrderID, li.LineItemID)] = true
			}
		}
	}
	for _, id := range ids {
		r := got[id]
		require.NotNil(t, r, id)
		switch r.Outcome {
		case schemas.OutcomeAccepted:
			applied++
			assert.True(t, shippedLines[id], "%s applied: its line is shipped", id)
		default:
			rejected++
			p, ok := poisoned[id]
			assert.True(t, ok, "%s not applied: it is poisoned", id)
			assert.NotEmpty(t, p.Reason, id)
			assert.NotContains(t, p.Reason, "INVALID_STATE", "%s was never sent again after it was applied", id)
			if strings.HasPrefix(p.Reason, outbound.ReasonOutcomeUnknown) {
				t.Logf("%s: %s", id, p.Reason)
			}
		}
	}
	assert.Equal(t, int64(applied), stats.Shipments, "every applied command shipped its line exactly once, no other line shipped")
	assert.Len(t, shippedLines, applied)
	t.Logf("%d commands: %d applied, %d poisoned; %d shipment calls, %d order reads", len(ids), applied, rejected,
		stats.Calls["supplierCreateShipment"], stats.Calls["supplierGetOrder"])
	assert.Greater(t, applied, len(ids)*9/10, "faults are transient: nearly everything applies")
}
