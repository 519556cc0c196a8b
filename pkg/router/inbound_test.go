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
	"github.com/dscokafka/connector/pkg/kafka"
	"github.com/dscokafka/connector/pkg/kafka/kafkatest"
	"github.com/dscokafka/connector/pkg/router"
	"github.com/dscokafka/connector/pkg/schemas"
)

// inboundStack starts what an inbound test runs against: a sandbox seeded with orders, a
// client of it, Kafka with topics of 2 partitions, and a serde registered with a registry.
func inboundStack(t *testing.T, seed int64, orders int, topics ...string) (*dscotest.Server, *dsco.Client, []string, *schemas.Serde) {
	t.Helper()
	srv, err := dscotest.NewServer(dscotest.Config{Seed: seed})
	require.NoError(t, err)
	t.Cleanup(srv.Close)
	_, err = srv.SeedOrders(orders)
	require.NoError(t, err)
	tr := http.DefaultTransport.(*http.Transport).Clone()
	t.Cleanup(tr.CloseIdleConnections)
	client, err := dsco.NewClient(srv.URL, dsco.WithClientCredentials(dscotest.SupplierClientID, dscotest.SupplierClientSecret),
		dsco.WithHTTPClient(&http.Client{Transport: tr}))
	require.NoError(t, err)
	brokers := kafkatest.Brokers(t)
	for _, topic := range topics {
		kafkatest.CreateTopic(t, brokers, topic, 2)
	}
	reg := srfake.New()
	t.Cleanup(reg.Close)
	serde, err := schemas.NewSerde(schemas.Config{RegistryURL: reg.URL(), Records: schemas.Events})
	require.NoError(t, err)
	require.NoError(t, serde.Register(t.Context()))
	return srv, client, brokers, serde
}

// TestInbound runs the inbound side (stream pipeline and poller) against
// the sandbox and Kafka and checks what its metrics count: every event read
// and published, the commits covering them, the poller's items, no errors.
func TestInbound(t *testing.T) {
	_, client, brokers, serde := inboundStack(t, 21, 250, "dsco.order.v1", "dsco.iteminventory.v1", "dsco.poison.v1")

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

	counter := func(name string, labels ...string) float64 { return gathered(t, promReg, name, labels...) }
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

// gathered is the sum of the counters or gauges called name in reg whose labels include
// labels (name, value pairs).
func gathered(t *testing.T, reg *prometheus.Registry, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
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
			sum += m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	return sum
}

// TestInboundLease: two processes run the inbound side with the same lease: one reads
// the stream and the other stands by, so every event is published once, not once per
// process; when the holder stops, the other takes over from the position it committed
// and publishes what came later, once.
func TestInboundLease(t *testing.T) {
	srv, client, brokers, serde := inboundStack(t, 23, 200, "dsco.order.v1", "dsco.poison.v1")
	lease := &kafka.LeaseConfig{Connection: kafka.ConnectionConfig{Brokers: brokers}, Group: kafkatest.Name("lease"), Topic: kafkatest.Name("lease"),
		SessionTimeout: 6 * time.Second, HeartbeatInterval: 200 * time.Millisecond, RebalanceTimeout: 10 * time.Second, JoinGroupBackoff: 200 * time.Millisecond}

	type process struct {
		in   *router.Inbound
		reg  *prometheus.Registry
		done chan error
	}
	start := func() *process {
		p := &process{reg: prometheus.NewRegistry(), done: make(chan error, 1)}
		var err error
		p.in, err = router.NewInbound(router.InboundConfig{
			Pipeline: inbound.Config{Client: client, Serde: serde, Kafka: inbound.KafkaConfig{Brokers: brokers},
				Streams:   []inbound.StreamConfig{{ObjectType: "order", PartitionCount: 2}},
				PageLimit: 50, PollInterval: 20 * time.Millisecond, CheckpointInterval: 20 * time.Millisecond},
			Registerer: p.reg,
			Lease:      lease,
		}, nil)
		require.NoError(t, err)
		go func() { p.done <- p.in.Run(context.Background()) }()
		t.Cleanup(func() { _ = p.in.Close() })
		return p
	}
	procs := []*process{start(), start()}
	published := func() float64 {
		return gathered(t, procs[0].reg, "dsco_inbound_events_published_total") + gathered(t, procs[1].reg, "dsco_inbound_events_published_total")
	}
	holder := func() int {
		for i, p := range procs {
			if p.in.Holding() {
				return i
			}
		}
		return -1
	}
	require.Eventually(t, func() bool { return published() >= 200 && holder() >= 0 }, time.Minute, 10*time.Millisecond, "the backlog published")
	h := holder()
	assert.False(t, procs[1-h].in.Holding(), "one process reads, the other stands by")
	assert.Equal(t, 1.0, gathered(t, procs[h].reg, "dsco_inbound_lease_held"))
	assert.Zero(t, gathered(t, procs[1-h].reg, "dsco_inbound_lease_held"))

	require.NoError(t, procs[h].in.Close())
	require.NoError(t, <-procs[h].done)
	_, err := srv.SeedOrders(100)
	require.NoError(t, err)
	require.Eventually(t, func() bool { return published() >= 300 }, time.Minute, 10*time.Millisecond, "the other process takes over")
	assert.True(t, procs[1-h].in.Holding())
	assert.Equal(t, 300.0, published(), "every event once: read by one process at a time, from the position the last one committed")
	assert.Zero(t, gathered(t, procs[0].reg, "dsco_inbound_events_poisoned_total")+gathered(t, procs[1].reg, "dsco_inbound_events_poisoned_total"))

	// A process standing by ends its Run when closed, without waiting for the lease.
	third := start()
	adm := kafkatest.Admin(t, brokers)
	var standby *process
	require.Eventually(t, func() bool {
		groups, err := adm.DescribeGroups(t.Context(), lease.Group)
		if err != nil || groups[lease.Group].State != "Stable" || len(groups[lease.Group].Members) != 2 {
			return false
		}
		switch a, b := procs[1-h], third; {
		case a.in.Holding() && !b.in.Holding():
			standby = b
		case b.in.Holding() && !a.in.Holding():
			standby = a
		}
		return standby != nil
	}, time.Minute, 10*time.Millisecond, "one of two processes holds the lease, the other stands by")
	require.NoError(t, standby.in.Close())
	select {
	case err := <-standby.done:
		require.NoError(t, err)
	case <-time.After(time.Minute):
		t.Fatal("Run of a process standing by did not return after Close")
	}
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
