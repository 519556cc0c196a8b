package outbound_test

import (
	"context"
	"net/http"
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

// undecidable is a command of a kind whose earlier call Dsco's state cannot tell applied
// or not (a return, a retailer cancel), on an order of the sandbox.
type undecidable struct {
	name    string
	command string // its name
	role    outbound.Role
	op      string // the sandbox's operation of the command's Dsco call
	// setup prepares order o in the sandbox for the command.
	setup func(e *env, o *dsco.Order)
	// record returns the command with id on o; every command of o has the same key.
	record func(id string, o *dsco.Order) schemas.Record
}

var undecidables = []undecidable{
	{
		name: "supplier return", command: "return", role: outbound.RoleSupplier, op: "supplierCreateReturn",
		setup: func(e *env, o *dsco.Order) {
			e.t.Helper()
			_, err := e.client(outbound.RoleSupplier).SupplierCreateShipment(context.Background(), dsco.ShipmentBatchRequest{Shipments: []dsco.ShipmentItem{
				{OrderID: o.OrderID, LineItemID: o.Items[0].LineItemID, TrackingNumber: "1Z", Carrier: "UPS"}}})
			require.NoError(e.t, err)
		},
		record: func(id string, o *dsco.Order) schemas.Record {
			return &schemas.ReturnCommand{CommandID: id, OrderID: o.OrderID, LineItemID: str(o.Items[0].LineItemID), Quantity: i32(1)}
		},
	},
	{
		name: "retailer cancel", command: "retailer-cancel", role: outbound.RoleRetailer, op: "retailerRequestCancel",
		setup: func(*env, *dsco.Order) {},
		record: func(id string, o *dsco.Order) schemas.Record {
			return &schemas.RetailerCancelCommand{CommandID: id, OrderID: o.OrderID}
		},
	},
}

// TestShutdownFinishesCallsInFlight: the pipeline is shut down (Close, or the end of
// Run's context) while the Dsco call of a return or a retailer cancel is in flight. The
// call is not cut short: the command is applied, its result written and its offset
// committed, so that after a restart it is neither delivered again nor, as a call cut
// short would have it (its "sending" mark left behind), poisoned as outcome_unknown. The
// call takes longer than the subscriber's DrainTimeout (2s): when Run's context ends, the
// router must keep its subscriptions until the pipeline is done, or their final commit
// comes before the ack.
func TestShutdownFinishesCallsInFlight(t *testing.T) {
	for _, tc := range []struct {
		undecidable
		byClose bool // Close, or else the end of Run's context
	}{
		{undecidable: undecidables[0], byClose: true},
		{undecidable: undecidables[1]},
	} {
		name := tc.name + ", context ended"
		if tc.byClose {
			name = tc.name + ", Close"
		}
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, dscotest.Config{Seed: 71})
			kafkatest.CreateTopic(t, e.brokers, e.topic(tc.command), 2)
			o := e.seedOrders(1)[0]
			tc.setup(e, o)
			e.send(tc.record("first", o))
			e.sandbox.SetFault(tc.op, dscotest.Fault{Latency: 3 * time.Second})
			group := kafkatest.Name("g")
			cfg := router.OutboundConfig{Subscriber: e.subscriberConfig(group), Pipeline: e.pipelineConfig(tc.role)}
			out, stop := e.run(cfg)

			require.Eventually(t, func() bool { return e.sandbox.Stats().Calls[tc.op] > 0 }, waitLimit, 5*time.Millisecond, "the call is made")
			if tc.byClose {
				require.NoError(t, out.Close())
			}
			require.NoError(t, stop())
			assert.Equal(t, int64(1), e.sandbox.Stats().Calls[tc.op], "one call, made before the shutdown")
			assert.Equal(t, int64(1), e.sandbox.Applied(tc.op, dscotest.LineKey(o.OrderID, o.Items[0].LineItemID)), "the call was applied")

			// A restart, and a command of the same key after the first: once it has its
			// result, the first was delivered again before it, if it was at all.
			e.sandbox.SetFault(tc.op, dscotest.Fault{})
			e.start(router.OutboundConfig{Subscriber: e.subscriberConfig(group), Pipeline: e.pipelineConfig(tc.role)})
			e.send(tc.record("after", o))
			got := e.waitResults("first", "after")

			assert.Equal(t, schemas.StatusApplied, got["first"].Status, deref(got["first"].Reason))
			for _, p := range e.poisoned() {
				assert.NotEqual(t, "first", p.CommandID, "poisoned: %s", p.Reason)
			}
			_, n := e.resultsByID()
			assert.Equal(t, 2, n, "one result each: the first command's offset was committed, it was not delivered again")
		})
	}
}

// TestShutdownReleasesWhatWaitsForARetry: Dsco answers 503 to every return; the pipeline
// is closed while the command waits for its next attempt. Close does not wait for the
// retries: the command is released, marked so (Dsco never applied it), and delivered again
// after a restart, when it is sent (not poisoned as outcome_unknown) and applied once.
func TestShutdownReleasesWhatWaitsForARetry(t *testing.T) {
	tc := undecidables[0]
	e := newEnv(t, dscotest.Config{Seed: 73})
	kafkatest.CreateTopic(t, e.brokers, e.topic(tc.command), 2)
	o := e.seedOrders(1)[0]
	tc.setup(e, o)
	e.send(tc.record("first", o))
	e.sandbox.SetFault(tc.op, dscotest.Fault{Rate503: 1})
	group := kafkatest.Name("g")
	cfg := router.OutboundConfig{Subscriber: e.subscriberConfig(group), Pipeline: e.pipelineConfig(tc.role, fastRetry)}
	// A budget that outlasts the test: the command must not fail before the shutdown.
	cfg.Pipeline.Retry = outbound.RetryConfig{MaxAttempts: 1 << 20, MaxElapsed: time.Hour, BaseDelay: 50 * time.Millisecond, MaxDelay: 500 * time.Millisecond}
	out, _ := e.run(cfg)

	require.Eventually(t, func() bool { return e.sandbox.Stats().Calls[tc.op] > 4 }, waitLimit, 5*time.Millisecond, "the pipeline retries")
	require.NoError(t, out.Close())
	res, _ := e.resultsByID()
	assert.Empty(t, res, "no outcome before the shutdown")

	e.sandbox.SetFault(tc.op, dscotest.Fault{})
	e.start(router.OutboundConfig{Subscriber: e.subscriberConfig(group), Pipeline: e.pipelineConfig(tc.role)})
	got := e.waitResults("first")
	assert.Equal(t, schemas.StatusApplied, got["first"].Status, deref(got["first"].Reason))
	assert.Equal(t, int64(1), e.sandbox.Applied(tc.op, dscotest.LineKey(o.OrderID, o.Items[0].LineItemID)), "applied exactly once")
	assert.Empty(t, e.poisoned())
}

// TestShutdownPastCloseTimeoutRedelivers: the call of a return does not come back (the
// client's transport holds it, unsent, until its context ends). The shutdown cancels it
// when CloseTimeout passes, and Close says so. The command is not lost: delivered again
// after a restart, it is sent and applied once. Not poisoned as outcome_unknown either:
// the client reports that the request never reached Dsco, so the command is marked
// released, not left "sending".
func TestShutdownPastCloseTimeoutRedelivers(t *testing.T) {
	tc := undecidables[0]
	e := newEnv(t, dscotest.Config{Seed: 79})
	kafkatest.CreateTopic(t, e.brokers, e.topic(tc.command), 2)
	o := e.seedOrders(1)[0]
	tc.setup(e, o)
	e.send(tc.record("first", o))
	held := &holder{next: http.DefaultTransport, path: "/supplier/return-in", arrived: make(chan struct{}, 1)}
	group := kafkatest.Name("g")
	cfg := router.OutboundConfig{Subscriber: e.subscriberConfig(group),
		Pipeline: e.pipelineConfig(tc.role, dsco.WithHTTPClient(&http.Client{Transport: held}))}
	cfg.Pipeline.CloseTimeout = 300 * time.Millisecond
	out, _ := e.run(cfg)

	select {
	case <-held.arrived:
	case <-time.After(waitLimit):
		t.Fatal("the call was not made")
	}
	err := out.Close()
	require.Error(t, err)
	assert.Contains(t, err.Error(), "did not finish within CloseTimeout")
	res, _ := e.resultsByID()
	assert.Empty(t, res, "no outcome: the call was cut short")

	e.start(router.OutboundConfig{Subscriber: e.subscriberConfig(group), Pipeline: e.pipelineConfig(tc.role)})
	got := e.waitResults("first")
	assert.Equal(t, schemas.StatusApplied, got["first"].Status, deref(got["first"].Reason))
	assert.Equal(t, int64(1), e.sandbox.Applied(tc.op, dscotest.LineKey(o.OrderID, o.Items[0].LineItemID)), "applied exactly once")
	assert.Empty(t, e.poisoned())
}

// holder is a transport that holds every request to a path ending in path until the
// request's context ends, as a Dsco call that never answers, and reports each on arrived.
type holder struct {
	next    http.RoundTripper
	path    string
	arrived chan struct{}
}

func (h *holder) RoundTrip(r *http.Request) (*http.Response, error) {
	if !strings.HasSuffix(r.URL.Path, h.path) {
		return h.next.RoundTrip(r)
	}
	select {
	case h.arrived <- struct{}{}:
	default:
	}
	<-r.Context().Done()
	return nil, r.Context().Err()
}
