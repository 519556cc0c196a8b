package outbound_test

import (
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dscokafka/connector/pkg/dsco/dscotest"
	"github.com/dscokafka/connector/pkg/kafka/kafkatest"
	"github.com/dscokafka/connector/pkg/outbound"
	"github.com/dscokafka/connector/pkg/router"
	"github.com/dscokafka/connector/pkg/schemas"
)

// TestBreakerPausesWhileDscoIsDown: Dsco answers every shipment write with 503 (or its
// gateway with 502) for longer than the retry budget would last; the breaker opens and the commands wait instead of
// being poisoned; once Dsco is back, all are applied. Also when the breaker opens on the
// very attempt that would spend a command's budget (the connector's defaults: 5 and 5).
func TestBreakerPausesWhileDscoIsDown(t *testing.T) {
	for _, tc := range []struct {
		name               string
		fault              dscotest.Fault
		attempts, failures int
		concurrent         int  // Dsco calls in flight
		readsToo           bool // the orders' reads fail as the writes do
	}{
		{"breaker opens before the budget is spent", dscotest.Fault{Rate503: 1}, 4, 2, 4, false},
		// One call at a time, so the breaker counts one batch's attempts alone.
		{"breaker opens on the budget's last attempt", dscotest.Fault{Rate503: 1}, 4, 4, 1, false},
		// A gateway answering 502: each outcome is unknown, the orders read back show
		// nothing shipped, and the commands wait to be sent again.
		{"502 outage", dscotest.Fault{Rate502: 1}, 4, 4, 1, false},
		// Dsco down altogether behind its gateway: the orders cannot be read back
		// either, and the commands wait for Dsco to decide them.
		{"502 outage, reads too", dscotest.Fault{Rate502: 1}, 4, 4, 1, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, dscotest.Config{Seed: 61})
			logs := watermill.NewCaptureLogger()
			e.logger = logs
			kafkatest.CreateTopic(t, e.brokers, e.topic("ship"), 8)
			orders := e.seedOrders(40)
			cmds := shipAll("d", orders)
			e.sandbox.SetFault("supplierCreateShipment", tc.fault)
			if tc.readsToo {
				e.sandbox.SetFault("supplierGetOrder", tc.fault)
			}
			e.send(cmds...)
			reg := prometheus.NewRegistry()
			cfg := e.pipelineConfig(outbound.RoleSupplier, fastRetry)
			cfg.Registerer = reg
			cfg.MaxConcurrentBatches = tc.concurrent
			cfg.Retry = outbound.RetryConfig{MaxAttempts: tc.attempts, BaseDelay: 10 * time.Millisecond, MaxDelay: 50 * time.Millisecond, MaxElapsed: time.Hour}
			cfg.Breaker = outbound.BreakerConfig{ConsecutiveFailures: tc.failures, OpenTimeout: 100 * time.Millisecond}
			e.start(router.OutboundConfig{Subscriber: e.subscriberConfig(kafkatest.Name("g")), Pipeline: cfg})

			require.Eventually(t, func() bool { return gauge(t, reg, "dsco_outbound_breaker_state") == 2 }, waitLimit, 10*time.Millisecond, "the breaker opens")
			// Down for much longer than the attempts with 50ms backoff would take.
			time.Sleep(3 * time.Second)
			assert.Zero(t, counted(t, reg), "no command has an outcome while Dsco is down")
			assert.Empty(t, e.poisoned())
			e.sandbox.SetFault("supplierCreateShipment", dscotest.Fault{})
			e.sandbox.SetFault("supplierGetOrder", dscotest.Fault{})

			ids := make([]string, len(cmds))
			for i, c := range cmds {
				ids[i] = c.(*schemas.ShipCommand).CommandID
			}
			got := e.waitResults(ids...)
			for _, id := range ids {
				assert.Equal(t, schemas.OutcomeAccepted, got[id].Outcome, "%s: %s", id, deref(got[id].Reason))
			}
			assert.Empty(t, e.poisoned())
			assert.Equal(t, int64(len(cmds)), e.sandbox.Stats().Shipments)
			assert.Equal(t, 0.0, gauge(t, reg, "dsco_outbound_breaker_state"), "the breaker closed again")
			// The outage is logged once with its error (at info level: it passes by
			// itself), and its end.
			msgs := func(level watermill.LogLevel, msg string) (n int) {
				for _, m := range logs.Captured()[level] {
					if m.Msg == msg {
						n++
					}
				}
				return n
			}
			assert.Equal(t, 1, msgs(watermill.InfoLogLevel, "Dsco calls fail"))
			assert.Equal(t, 1, msgs(watermill.InfoLogLevel, "Dsco calls work again"))
		})
	}
}

// gauge reads a gauge of reg.
func gauge(t testing.TB, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	return -1
}
