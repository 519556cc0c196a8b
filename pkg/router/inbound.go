package router

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/dscokafka/connector/pkg/inbound"
	"github.com/dscokafka/connector/pkg/kafka"
)

// InboundConfig configures the inbound side.
type InboundConfig struct {
	// Pipeline configures the stream pipeline. Its Middleware and Metrics
	// are set by NewInbound.
	Pipeline inbound.Config
	// Poller configures the GetItemInventory poller; nil runs none. Its
	// Metrics are set by NewInbound.
	Poller *inbound.PollerConfig
	// Registerer receives the metrics (default prometheus.DefaultRegisterer).
	Registerer prometheus.Registerer
	// CloseTimeout bounds Close (default 30s).
	CloseTimeout time.Duration
	// Lease, when set, runs the pipeline and the poller only while this process holds
	// the inbound lease (kafka.RunLeased): of the processes sharing Lease.Group, one
	// reads Dsco at a time and the others stand by, ready to take over. Without it,
	// every process that runs the inbound side reads every stream partition. Run stops
	// the pipeline and the poller when the lease is lost or Run's ctx ends, and holds the
	// lease until they stopped: on shutdown however long that takes; when the lease is
	// lost, or a process joins or leaves Lease.Group while they stop on shutdown, at most
	// Lease.RebalanceTimeout from the group's rebalance, so the pipeline's
	// ShutdownTimeout (its last page and final commit) plus Lease.HeartbeatInterval must
	// be shorter (see kafka.RunLeased). Lease.Refusal is not used: the Inbound keeps its
	// own (Refused).
	Lease *kafka.LeaseConfig
}

func (c *InboundConfig) setDefaults() {
	if c.Registerer == nil {
		c.Registerer = prometheus.DefaultRegisterer
	}
	if c.CloseTimeout == 0 {
		c.CloseTimeout = 30 * time.Second
	}
}

// Validate reports whether the configuration is usable; the pipeline and
// the poller are validated by their constructors.
func (c *InboundConfig) Validate() error {
	if c.CloseTimeout < 0 {
		return errors.New("router: CloseTimeout must not be negative")
	}
	return nil
}

// InboundMiddleware is the inbound page middleware in its order, outermost
// first: Recoverer (a page whose handling panics is handled again one event
// at a time; only the events that panic are poisoned), Poison (events that
// cannot be mapped go to the poison topic), CorrelationID (the correlation
// id header), then the metrics of m.
func InboundMiddleware(m *InboundMetrics) []inbound.PageMiddleware {
	return []inbound.PageMiddleware{inbound.Recoverer, inbound.Poison, inbound.CorrelationID, m.Middleware}
}

// Inbound is the inbound side of the connector: the stream pipeline and,
// when configured, the GetItemInventory poller, with their metrics. Run
// blocks; Close is idempotent.
type Inbound struct {
	cfg      InboundConfig
	pipeline *inbound.Pipeline
	poller   *inbound.Poller
	metrics  *InboundMetrics

	closeOnce sync.Once
	closeErr  error
	closed    context.Context // ended by Close: a Run standing by for the lease ends
	endClosed context.CancelFunc

	leaseLog     watermill.LoggerAdapter
	held         atomic.Bool
	leaseRefusal kafka.GroupRefusal
}

// NewInbound builds the inbound side and registers its metrics. It
// connects to nothing: Run does.
func NewInbound(cfg InboundConfig, logger *slog.Logger) (*Inbound, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	m, err := NewInboundMetrics(cfg.Registerer)
	if err != nil {
		return nil, err
	}
	cfg.Pipeline.Middleware = InboundMiddleware(m)
	cfg.Pipeline.Metrics = m
	p, err := inbound.NewPipeline(cfg.Pipeline, logger)
	if err != nil {
		return nil, err
	}
	in := &Inbound{cfg: cfg, pipeline: p, metrics: m, leaseLog: watermill.NewSlogLogger(logger)}
	in.closed, in.endClosed = context.WithCancel(context.Background())
	if cfg.Poller != nil {
		pc := *cfg.Poller
		pc.Metrics = m
		if in.poller, err = inbound.NewPoller(pc, logger); err != nil {
			_ = p.Close() // releases the pipeline's Kafka writer
			return nil, err
		}
	}
	return in, nil
}

// Pipeline returns the stream pipeline.
func (in *Inbound) Pipeline() *inbound.Pipeline { return in.pipeline }

// Poller returns the poller, nil when none is configured.
func (in *Inbound) Poller() *inbound.Poller { return in.poller }

// Run runs the pipeline and the poller until ctx ends or Close is called,
// or one of them fails; then it stops the other and returns. With a Lease,
// they run while this process holds it, as many times as it comes back.
func (in *Inbound) Run(ctx context.Context) error {
	if in.cfg.Lease == nil {
		in.metrics.leaseHeld.Set(1)
		return in.run(ctx)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(in.closed, cancel)()
	lease := *in.cfg.Lease
	lease.Refusal = &in.leaseRefusal
	return kafka.RunLeased(ctx, lease, in.leaseLog, func(held bool) {
		in.held.Store(held)
		v := 0.0
		if held {
			v = 1
		}
		in.metrics.leaseHeld.Set(v)
	}, in.run)
}

// Holding reports whether the pipeline and the poller run: always while Run
// runs without a Lease; while this process holds the lease with one.
func (in *Inbound) Holding() bool { return in.cfg.Lease == nil || in.held.Load() }

// Refused returns Kafka's refusal of the lease's group to this client (see
// kafka.GroupRefusal), nil while there is none and without a Lease. A process refused
// the group never holds the lease, though Run runs: a readiness check reports it.
func (in *Inbound) Refused() error { return in.leaseRefusal.Err() }

// run runs the pipeline and the poller once (see Run).
func (in *Inbound) run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	var perr error
	if in.poller != nil {
		wg.Go(func() {
			perr = in.poller.Run(ctx)
			cancel()
		})
	}
	err := in.pipeline.Run(ctx)
	cancel()
	wg.Wait()
	return errors.Join(err, perr)
}

// Close stops the pipeline and the poller, each within CloseTimeout. It is
// idempotent.
func (in *Inbound) Close() error {
	in.closeOnce.Do(func() {
		in.endClosed()
		done := make(chan error, 1)
		go func() {
			err := in.pipeline.Close()
			if in.poller != nil {
				err = errors.Join(err, in.poller.Close())
			}
			done <- err
		}()
		select {
		case in.closeErr = <-done:
		case <-time.After(in.cfg.CloseTimeout):
			in.closeErr = errors.New("router: closing the inbound side timed out")
		}
	})
	return in.closeErr
}

// InboundMetrics are the inbound Prometheus metrics. It implements
// inbound.Metrics and is safe for concurrent use. Names:
//
//	dsco_inbound_events_read_total{object_type}             events read from Dsco
//	dsco_inbound_events_published_total{object_type}        events Kafka acknowledged on their topic
//	dsco_inbound_events_poisoned_total{object_type}         events written to the poison topic
//	dsco_inbound_poll_duration_seconds{object_type}         time to read and decode a page (or one poll)
//	dsco_inbound_page_handle_duration_seconds{object_type}  time to map and encode a page
//	dsco_inbound_pages_in_flight{object_type,partition}     pages read and not yet acknowledged
//	dsco_inbound_last_event_timestamp_seconds{object_type,partition} Dsco timestamp of the newest event Kafka
//	                                                        acknowledged (iteminventory, partition -1: newest lastUpdate)
//	dsco_inbound_checkpoint_events_total{object_type,partition}    events covered by committed positions
//	dsco_inbound_checkpoint_timestamp_seconds{object_type,partition} when the last position was committed
//	                                                        (its age: time() - this)
//	dsco_inbound_errors_total{object_type,kind}             failures by kind (read, decode, produce, checkpoint, handler, poll, mark)
//	dsco_inbound_lease_held                                 1 while this process reads Dsco, 0 while it stands by (see InboundConfig.Lease)
//
// The stream position itself is opaque, so it is measured in events: the
// checkpoint counter against the published and poisoned counters together
// (a committed position covers the events of its pages that went to the
// poison topic too) is the uncommitted window.
type InboundMetrics struct {
	read, published, poisoned *prometheus.CounterVec
	poll, handle              *prometheus.HistogramVec
	inFlight                  *prometheus.GaugeVec
	lastEvent                 *prometheus.GaugeVec
	cpEvents                  *prometheus.CounterVec
	cpTime                    *prometheus.GaugeVec
	errors                    *prometheus.CounterVec
	leaseHeld                 prometheus.Gauge
}

var _ inbound.Metrics = (*InboundMetrics)(nil)

// NewInboundMetrics creates the inbound metrics and registers them with
// reg (nil: none is registered, for tests that read them directly).
func NewInboundMetrics(reg prometheus.Registerer) (*InboundMetrics, error) {
	const ns, sub = "dsco", "inbound"
	obj, part := []string{"object_type"}, []string{"object_type", "partition"}
	m := &InboundMetrics{
		read:      prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "events_read_total", Help: "Events read from Dsco."}, obj),
		published: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "events_published_total", Help: "Events Kafka acknowledged on their topic."}, obj),
		poisoned:  prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "events_poisoned_total", Help: "Events written to the poison topic."}, obj),
		poll: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: ns, Subsystem: sub, Name: "poll_duration_seconds",
			Help: "Time to read and decode a page of events (or one GetItemInventory poll).", Buckets: prometheus.ExponentialBuckets(0.001, 2, 15)}, obj),
		handle: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: ns, Subsystem: sub, Name: "page_handle_duration_seconds",
			Help: "Time to map and encode a page of events.", Buckets: prometheus.ExponentialBuckets(0.0001, 2, 15)}, obj),
		inFlight: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "pages_in_flight", Help: "Pages read and not yet acknowledged by Kafka."}, part),
		lastEvent: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "last_event_timestamp_seconds",
			Help: "Dsco timestamp (Unix time) of the newest event Kafka acknowledged, never later than the time it was reported; for iteminventory the newest lastUpdate."}, part),
		cpEvents: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "checkpoint_events_total", Help: "Events covered by committed stream positions."}, part),
		cpTime: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "checkpoint_timestamp_seconds",
			Help: "Unix time of the last committed stream position."}, part),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "errors_total", Help: "Failures by kind."}, []string{"object_type", "kind"}),
		leaseHeld: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "lease_held",
			Help: "1 while this process reads Dsco (it holds the inbound lease, or runs without one), 0 while it stands by."}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.read, m.published, m.poisoned, m.poll, m.handle, m.inFlight, m.lastEvent, m.cpEvents, m.cpTime, m.errors, m.leaseHeld} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("router: registering the inbound metrics: %w", err)
			}
		}
	}
	return m, nil
}

// Middleware measures the time the rest of the chain takes per page.
func (m *InboundMetrics) Middleware(next inbound.PageHandler) inbound.PageHandler {
	return func(ctx context.Context, b *inbound.Batch) error {
		start := time.Now()
		err := next(ctx, b)
		m.handle.WithLabelValues(b.ObjectType).Observe(time.Since(start).Seconds())
		return err
	}
}

// PageRead implements inbound.Metrics.
func (m *InboundMetrics) PageRead(objectType string, _, events int, d time.Duration) {
	m.read.WithLabelValues(objectType).Add(float64(events))
	m.poll.WithLabelValues(objectType).Observe(d.Seconds())
}

// PagePublished implements inbound.Metrics.
func (m *InboundMetrics) PagePublished(objectType string, _, published, poisoned int) {
	m.published.WithLabelValues(objectType).Add(float64(published))
	if poisoned > 0 {
		m.poisoned.WithLabelValues(objectType).Add(float64(poisoned))
	}
}

// PagesInFlight implements inbound.Metrics.
func (m *InboundMetrics) PagesInFlight(objectType string, partition, n int) {
	m.inFlight.WithLabelValues(objectType, strconv.Itoa(partition)).Set(float64(n))
}

// NewestEvent implements inbound.Metrics.
func (m *InboundMetrics) NewestEvent(objectType string, partition int, t time.Time) {
	m.lastEvent.WithLabelValues(objectType, strconv.Itoa(partition)).Set(float64(t.UnixNano()) / 1e9)
}

// Checkpointed implements inbound.Metrics.
func (m *InboundMetrics) Checkpointed(objectType string, partition, events int, at time.Time) {
	p := strconv.Itoa(partition)
	m.cpEvents.WithLabelValues(objectType, p).Add(float64(events))
	m.cpTime.WithLabelValues(objectType, p).Set(float64(at.UnixNano()) / 1e9)
}

// Error implements inbound.Metrics.
func (m *InboundMetrics) Error(objectType, kind string) {
	m.errors.WithLabelValues(objectType, kind).Inc()
}
