package router_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/sr/srfake"

	"github.com/dscokafka/connector/pkg/dsco"
	"github.com/dscokafka/connector/pkg/dsco/dscotest"
	"github.com/dscokafka/connector/pkg/inbound"
	"github.com/dscokafka/connector/pkg/kafka/kafkatest"
	"github.com/dscokafka/connector/pkg/router"
	"github.com/dscokafka/connector/pkg/schemas"
)

// TestInbound runs the inbound side (stream pipeline and poller) against
// the sandbox and Kafka and checks what its metrics count: every event read
// and published, the commits covering them, the poller's items, no errors.
func TestInbound(t *testing.T) {
	srv, err := dscotest.NewServer(dscotest.Config{Seed: 21})
	require.NoError(t, err)
	t.Cleanup(srv.Close)
	_, err = srv.SeedOrders(250)
	require.NoError(t, err)
	tr := http.DefaultTransport.(*http.Transport).Clone()
	t.Cleanup(tr.CloseIdleConnections)
	client, err := dsco.NewClient(srv.URL, dsco.WithClientCredentials(dscotest.SupplierClientID, dscotest.SupplierClientSecret),
		dsco.WithHTTPClient(&http.Client{Transport: tr}))
	require.NoError(t, err)
	brokers := kafkatest.Brokers(t)
	for _, topic := range []string{"dsco.order.v1", "dsco.iteminventory.v1", "dsco.poison.v1"} {
		kafkatest.CreateTopic(t, brokers, topic, 2)
	}
	reg := srfake.New()
	t.Cleanup(reg.Close)
	serde, err := schemas.NewSerde(schemas.Config{RegistryURL: reg.URL(), Records: schemas.Events})
	require.NoError(t, err)
	require.NoError(t, serde.Register(t.Context()))

	promReg := prometheus.NewRegistry()
	kafkaCfg := inbound.KafkaConfig{Brokers: brokers}
	in, err := router.NewInbound(router.InboundConfig{
		Pipeline: inbound.Config{Client: client, Serde: serde, Kafka: kafkaCfg,
			Streams:   []inbound.StreamConfig{{ObjectType: "order", PartitionCount: 2}},
			PageLimit: 100, PollInterval: 20 * time.Millisecond, CheckpointInterval: 20 * time.Millisecond},
		Poller:     &inbound.PollerConfig{Client: client, Serde: serde, Kafka: kafkaCfg, PollInterval: 20 * time.Millisecond},
		Registerer: promReg,
	}, nil)
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- in.Run(context.Background()) }()
	t.Cleanup(func() { _ = in.Close() })

	counter := func(name string, labels ...string) float64 {
		mfs, err := promReg.Gather()
		require.NoError(t, err)
		sum := 0.0
		for _, mf := range mfs {
			if mf.GetName() != name {
				continue
			}
		metrics:
			for _, m := range mf.GetMetric() {
				for i := 0; i+1 < len(labels); i += 2 {
					found := false
					for _, l := range m.GetLabel() {
						found = found || (l.GetName() == labels[i] && l.GetValue() == labels[i+1])
					}
					if !found {
						continue metrics
					}
				}
				sum += m.GetCounter().GetValue()
			}
		}
		return sum
	}
	require.Eventually(t, func() bool {
		return counter("dsco_inbound_checkpoint_events_total", "object_type", "order") == 250 &&
			counter("dsco_inbound_events_published_total", "object_type", "iteminventory") == 50
	}, time.Minute, 20*time.Millisecond, "every event published and committed, every item polled")
	assert.Equal(t, 250.0, counter("dsco_inbound_events_read_total", "object_type", "order"))
	assert.Equal(t, 250.0, counter("dsco_inbound_events_published_total", "object_type", "order"))
	assert.Zero(t, counter("dsco_inbound_events_poisoned_total"))
	assert.Zero(t, counter("dsco_inbound_errors_total"))
	n, err := testutil.GatherAndCount(promReg, "dsco_inbound_checkpoint_timestamp_seconds", "dsco_inbound_poll_duration_seconds",
		"dsco_inbound_page_handle_duration_seconds", "dsco_inbound_pages_in_flight")
	require.NoError(t, err)
	assert.GreaterOrEqual(t, n, 2+2+1+2, "checkpoint time and pages in flight per partition, durations per object type")
	n, err = testutil.GatherAndCount(promReg, "dsco_inbound_last_event_timestamp_seconds")
	require.NoError(t, err)
	assert.Equal(t, 2+1, n, "the newest event time per order partition and of the poller's items")

	require.NoError(t, in.Close())
	require.NoError(t, <-done)
	require.NoError(t, in.Close(), "Close is idempotent")
}

// TestInboundMiddlewareOrder: the order is part of the contract.
func TestInboundMiddlewareOrder(t *testing.T) {
	m, err := router.NewInboundMetrics(nil)
	require.NoError(t, err)
	var order []string
	trace := func(name string, mw inbound.PageMiddleware) inbound.PageMiddleware {
		return func(next inbound.PageHandler) inbound.PageHandler {
			h := mw(next)
			return func(ctx context.Context, b *inbound.Batch) error {
				order = append(order, name)
				return h(ctx, b)
			}
		}
	}
	mws := router.InboundMiddleware(m)
	require.Len(t, mws, 4)
	names := []string{"recoverer", "poison", "correlation", "metrics"}
	for i := range mws {
		mws[i] = trace(names[i], mws[i])
	}
	h := inbound.Chain(func(context.Context, *inbound.Batch) error { return nil }, mws...)
	require.NoError(t, h(t.Context(), &inbound.Batch{ObjectType: "order", Page: &inbound.Page{}}))
	assert.Equal(t, names, order)
}
