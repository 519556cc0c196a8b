package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	kafkago "github.com/segmentio/kafka-go"

	"github.com/dscokafka/connector/cmd/connector/internal/config"
	"github.com/dscokafka/connector/pkg/dsco"
	"github.com/dscokafka/connector/pkg/inbound"
	"github.com/dscokafka/connector/pkg/kafka"
	"github.com/dscokafka/connector/pkg/ops"
	"github.com/dscokafka/connector/pkg/outbound"
	"github.com/dscokafka/connector/pkg/router"
	"github.com/dscokafka/connector/pkg/schemas"
)

// connector is one running connector process: the Dsco client, the serde,
// the Kafka publisher, the inbound and outbound routers of the configured
// directions, the status tracker and the ops server. Build it with
// newConnector, then call run once.
type connector struct {
	cfg *config.Config
	log *slog.Logger
	// clients are closed once everything else stopped.
	clients
	pub     *kafka.Publisher
	in      *router.Inbound  // nil without the inbound direction
	out     *router.Outbound // nil without the outbound direction
	reg     *prometheus.Registry
	status  *statusTracker
	ops     *ops.Server
	started time.Time

	// running is set as run starts, once every part is built; inRunning and
	// outRunning are true while the routers run (the "routers" readiness
	// check).
	running, inRunning, outRunning atomic.Bool

	// opsFailed has the ops server's error, should it stop serving on its
	// own; stopOps stops it and opsStopped is closed once it has (newConnector
	// starts it, so that /healthz answers while the connector starts).
	opsFailed  chan error
	opsStopped chan struct{}
	stopOps    context.CancelFunc
}

// connectorOptions are what the demo changes about a connector.
type connectorOptions struct {
	// httpClient carries the Dsco calls (nil: the client's default).
	httpClient *http.Client
	// statusInterval is how often the status is refreshed (default 2s).
	statusInterval time.Duration
	// opsAddrName is the setting that gave CONNECTOR_OPS_ADDR, for the
	// message of an address the ops server cannot listen on (default
	// CONNECTOR_OPS_ADDR).
	opsAddrName string
}

// poisonTopic returns the poison topic under the configured prefix.
func poisonTopic(cfg *config.Config) string { return cfg.Connector.TopicPrefix + "poison.v1" }

// appliedTopic returns the applied-ids store topic under the configured prefix.
func appliedTopic(cfg *config.Config) string { return cfg.Connector.TopicPrefix + "cmd.applied.v1" }

// leaseTopic and leaseGroup name the inbound lease (CONNECTOR_INBOUND_LEASE).
func leaseTopic(cfg *config.Config) string { return cfg.Connector.TopicPrefix + "inbound.lease.v1" }
func leaseGroup(cfg *config.Config) string { return cfg.Kafka.ConsumerGroup + ".inbound-lease" }

// newConnector builds every part of the connector and registers the schemas
// (or, with SCHEMA_REGISTRY_LOOKUP_ONLY, looks them up), refusing to start
// when the registry's versions are incompatible. The ops server listens and
// serves before anything else is done: /healthz answers while the connector
// starts (the registry, the wait for Kafka's topics), and /readyz is 503
// "routers" until run runs them. Nothing else runs before run.
func newConnector(ctx context.Context, cfg *config.Config, logger *slog.Logger, opts connectorOptions) (_ *connector, err error) {
	if opts.statusInterval == 0 {
		opts.statusInterval = 2 * time.Second
	}
	if opts.opsAddrName == "" {
		opts.opsAddrName = "CONNECTOR_OPS_ADDR"
	}
	c := &connector{cfg: cfg, log: logger, started: time.Now()}
	defer func() {
		if err != nil {
			c.closeParts()
		}
	}()
	conn, err := cfg.Kafka.Connection()
	if err != nil {
		return nil, err
	}
	dialer, transport, err := kafkaGoClients(conn)
	if err != nil {
		return nil, err
	}
	c.transport = transport
	copts := cfg.ClientOptions(logger)
	if opts.httpClient != nil {
		copts = append(copts, dsco.WithHTTPClient(opts.httpClient))
	}
	if c.client, err = dsco.NewClient(cfg.Dsco.BaseURL, copts...); err != nil {
		return nil, fmt.Errorf("dsco client: %w", err)
	}
	// The outbound pipeline retries its batches itself, within CONNECTOR_RETRY_* and
	// behind its circuit breaker: its client tries each call once, or every attempt of
	// the pipeline would be retried again by the client.
	once := cfg.Retry.RetryPolicy()
	once.MaxAttempts = 1
	if c.outClient, err = dsco.NewClient(cfg.Dsco.BaseURL, slices.Concat(copts, []dsco.Option{dsco.WithRetry(once)})...); err != nil {
		return nil, fmt.Errorf("dsco client: %w", err)
	}

	// The ops server listens and serves first, so that an address it cannot
	// have is reported before the registry and Kafka are asked anything, and
	// a liveness probe has its answer during the wait for Kafka's topics.
	c.reg = prometheus.NewRegistry()
	c.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	c.status = newStatusTracker(c, conn.Brokers, transport, opts.statusInterval)
	c.regTransport = http.DefaultTransport.(*http.Transport).Clone()
	checks, err := readinessChecks(cfg, c.client, c.regTransport)
	if err != nil {
		return nil, err
	}
	checks = append(checks, ops.Check{Name: "routers", Func: c.routersRunning})
	if c.ops, err = ops.NewServer(ops.Config{Addr: cfg.Connector.OpsAddr, Gatherer: c.reg, Checks: checks,
		Status: c.status.Status, ShutdownTimeout: cfg.Connector.ShutdownTimeout}, logger); err != nil {
		return nil, fmt.Errorf("%w (%s: want a host:port this process can listen on)", err, opts.opsAddrName)
	}
	opsCtx, stopOps := context.WithCancel(context.Background())
	c.opsFailed, c.opsStopped, c.stopOps = make(chan error, 1), make(chan struct{}), stopOps
	go func() {
		defer close(c.opsStopped)
		if err := c.ops.Run(opsCtx); err != nil {
			c.opsFailed <- err
		}
	}()
	logger.Info("ops server listening; starting", "ops", c.ops.URL())

	if c.serde, err = schemas.NewSerde(cfg.SerdeConfig()); err != nil {
		return nil, err
	}
	if err := registerSchemas(ctx, logger, cfg, c.serde, startWait); err != nil {
		return nil, err
	}

	wlog := watermill.NewSlogLogger(logger)
	if c.pub, err = kafka.NewPublisher(kafka.PublisherConfig{Connection: conn, AllowAutoTopicCreation: true}, wlog); err != nil {
		return nil, err
	}
	kcfg := inbound.KafkaConfig{Brokers: conn.Brokers, Transport: transport, AllowAutoTopicCreation: true}

	if cfg.Connector.Directions.Has(config.Inbound) {
		streams := make([]inbound.StreamConfig, len(cfg.Dsco.Streams))
		for i, s := range cfg.Dsco.Streams {
			streams[i] = inbound.StreamConfig{ObjectType: string(s)}
		}
		pcfg := inbound.Config{
			Client: c.client, Serde: c.serde, Streams: streams, Kafka: kcfg,
			TopicPrefix: cfg.Connector.TopicPrefix, TopicSuffix: ".v1", PoisonTopic: poisonTopic(cfg),
			PollInterval: cfg.Dsco.PollInterval, CheckpointEvents: cfg.Checkpoint.Events,
			CheckpointInterval: cfg.Checkpoint.Interval, ShutdownTimeout: cfg.Connector.ShutdownTimeout,
		}
		for _, s := range cfg.Dsco.Streams {
			d, ok := schemas.Event(string(s))
			if !ok || cfg.Topic(d) != pcfg.Topic(string(s)) {
				return nil, fmt.Errorf("stream %s: its topic is not the contract's %s", s, cfg.Topic(d))
			}
		}
		icfg := router.InboundConfig{Pipeline: pcfg, Registerer: c.reg, CloseTimeout: cfg.Connector.ShutdownTimeout}
		if cfg.Connector.InboundLease {
			// When the lease is lost (a process joined or left its group), the group
			// waits RebalanceTimeout for the holder to stop (its last page and final
			// commit, within the shutdown timeout) before another takes over.
			icfg.Lease = &kafka.LeaseConfig{Connection: conn, Group: leaseGroup(cfg), Topic: leaseTopic(cfg),
				RebalanceTimeout: cfg.Connector.ShutdownTimeout + 15*time.Second}
		}
		if cfg.Dsco.ItemInventoryInterval > 0 {
			d, _ := schemas.Event(config.ItemInventory)
			icfg.Poller = &inbound.PollerConfig{Client: c.client, Serde: c.serde, Kafka: kcfg,
				Topic: cfg.Topic(d), PoisonTopic: poisonTopic(cfg), MarkTopic: cfg.Connector.TopicPrefix + "iteminventory.marks.v1",
				PollInterval: cfg.Dsco.ItemInventoryInterval, CloseTimeout: cfg.Connector.ShutdownTimeout}
		}
		if c.in, err = router.NewInbound(icfg, logger); err != nil {
			return nil, err
		}
	}
	if cfg.Connector.Directions.Has(config.Outbound) {
		maxWait := cfg.Batch.MaxWait
		if maxWait == 0 {
			maxWait = time.Nanosecond // 0 means the pipeline's default; the variable's 0 means at once
		}
		if c.out, err = router.NewOutbound(router.OutboundConfig{
			Subscriber: kafka.SubscriberConfig{Connection: conn, ConsumerGroup: cfg.Kafka.ConsumerGroup, ReadCommitted: cfg.Kafka.ReadCommitted,
				MaxDecompressedBytes: cfg.Kafka.MaxDecompressedBytes},
			Pipeline: outbound.Config{
				Role: outbound.Role(cfg.Dsco.Role), Client: c.outClient, Serde: c.serde, Writer: c.pub,
				PoisonTopic: poisonTopic(cfg),
				Store: outbound.StoreConfig{Topic: appliedTopic(cfg),
					Reader:     outbound.TopicReader{Brokers: conn.Brokers, Dialer: dialer},
					MaxEntries: cfg.AppliedIDs.MaxEntries, Retention: cfg.AppliedIDs.Retention},
				MaxBatchItems: cfg.Batch.MaxItems, MaxBatchBytes: cfg.Batch.MaxBytes, MaxBatchWait: maxWait,
				Retry: outbound.RetryConfig{MaxAttempts: cfg.Retry.MaxAttempts, MaxElapsed: cfg.Retry.MaxElapsed,
					BaseDelay: cfg.Retry.InitialInterval, MaxDelay: cfg.Retry.MaxInterval},
				Registerer: c.reg,
				// The Dsco calls in flight get two thirds of the shutdown; the rest is for
				// the router to commit their offsets and leave the groups.
				CloseTimeout: cfg.Connector.ShutdownTimeout * 2 / 3,
			},
			CloseTimeout: cfg.Connector.ShutdownTimeout,
		}, wlog); err != nil {
			return nil, err
		}
	}

	if err := ensureTopics(ctx, logger, conn.Brokers, transport, c.topicSpecs(), startWait); err != nil {
		return nil, err
	}
	return c, nil
}

// startWait bounds, at start, the wait for a Schema Registry that does not
// answer, and the creation of the topics and the wait for their leaders: a
// connector started with (or just before) the services it needs waits for
// them, rather than exit and be restarted, but not for ever.
const startWait = 30 * time.Second

// registerSchemas registers the schemas (or, with SCHEMA_REGISTRY_LOOKUP_ONLY,
// looks them up), refusing to start when the registry's versions are
// incompatible. A registry that does not answer (registrySilent: a refused,
// cut or timed out connection) or answers a 5xx that may pass (registryFailing:
// starting, or behind a proxy that cannot reach it) is asked again every
// second for up to wait, logged
// at once so that the wait is not silent; any other answer ends it. The
// error names what failed and what to change.
func registerSchemas(ctx context.Context, logger *slog.Logger, cfg *config.Config, serde *schemas.Serde, wait time.Duration) error {
	deadline := time.Now().Add(wait)
	logged := false
	err := serde.Register(ctx)
	for err != nil && (registrySilent(err) || registryFailing(registryStatus(err))) && ctx.Err() == nil {
		if !time.Now().Before(deadline) {
			if registrySilent(err) {
				err = fmt.Errorf("the registry did not answer within %v: %w", wait, err)
			} else {
				err = fmt.Errorf("the registry kept failing for %v: %w", wait, err)
			}
			break
		}
		if !logged {
			logged = true
			logger.Warn("Schema Registry does not answer; waiting for it", "registry", cfg.Registry.RedactedURL(),
				"for", wait, "error", err.Error())
		}
		select {
		case <-ctx.Done():
		case <-time.After(min(time.Second, time.Until(deadline))):
			err = serde.Register(ctx)
		}
	}
	if err == nil {
		return nil
	}
	what, hint := "registering", "see `connector schemas check`"
	if cfg.Registry.LookupOnly {
		what, hint = "looking up", lookupOnlyHint
	}
	if advice := registryAdvice(err); advice != "" {
		hint = advice
	}
	if !cfg.Registry.LookupOnly && registryStatus(err) == http.StatusForbidden {
		hint += "; credentials that may read but not register need SCHEMA_REGISTRY_LOOKUP_ONLY=true, " +
			"with the schemas registered beforehand (`connector schemas register`, with credentials that may)"
	}
	return fmt.Errorf("%s the schemas at %s failed, so the connector does not start (%s): %w",
		what, cfg.Registry.RedactedURL(), hint, err)
}

// topicSpecs returns the topics of the configured directions: the event
// topics, the poison topic, the GetItemInventory marks (compacted, one
// partition, as the poller creates it), the command and results topics and
// the applied-ids store (compacted, six partitions, as the store creates
// it). Partition counts of -1 are the broker's default.
func (c *connector) topicSpecs() []topicSpec {
	var out []topicSpec
	seen := map[string]bool{}
	add := func(name string, partitions int, configs map[string]string) {
		if !seen[name] {
			seen[name] = true
			out = append(out, topicSpec{name: name, partitions: partitions, configs: configs})
		}
	}
	compact := map[string]string{"cleanup.policy": "compact"}
	if c.in != nil {
		for _, s := range c.cfg.Dsco.Streams {
			if d, ok := schemas.Event(string(s)); ok {
				add(c.cfg.Topic(d), -1, nil)
			}
		}
		if c.in.Poller() != nil {
			d, _ := schemas.Event(config.ItemInventory)
			add(c.cfg.Topic(d), -1, nil)
			add(c.cfg.Connector.TopicPrefix+"iteminventory.marks.v1", 1, compact)
		}
		add(poisonTopic(c.cfg), -1, nil)
		if c.cfg.Connector.InboundLease {
			add(leaseTopic(c.cfg), 1, nil)
		}
	}
	if c.out != nil {
		for _, topic := range c.out.Pipeline().Topics() {
			add(topic, -1, nil)
		}
		add(c.cfg.Topic(schemas.Result), -1, nil)
		add(poisonTopic(c.cfg), -1, nil)
		add(appliedTopic(c.cfg), 6, compact)
	}
	return out
}

// routersRunning is the "routers" readiness check: every configured
// direction's router runs, and Kafka refuses this client none of their
// consumer groups (a command topic's, the inbound lease's: see
// kafka.GroupRefusal), without which a router runs but consumes nothing.
func (c *connector) routersRunning(context.Context) error {
	if !c.running.Load() {
		return errors.New("the connector is starting")
	}
	var errs []error
	if c.in != nil && !c.inRunning.Load() {
		errs = append(errs, errors.New("the inbound router is not running"))
	}
	if c.out != nil && !c.outRunning.Load() {
		errs = append(errs, errors.New("the outbound router is not running"))
	}
	if c.in != nil {
		errs = append(errs, c.in.Refused())
	}
	if c.out != nil {
		errs = append(errs, c.out.Refused())
	}
	return errors.Join(errs...)
}

// run runs the routers, the status tracker and the ops server until ctx
// ends or a router fails, then shuts down within CONNECTOR_SHUTDOWN_TIMEOUT:
// the inbound side publishes what it read and commits its final stream
// positions, the outbound side finishes its commands and commits their
// offsets, then the publisher and the ops server close, and the Dsco, registry
// and Kafka clients close their connections. It returns nil after
// a clean shutdown asked for by ctx; a router's error, or what went wrong
// during the shutdown, otherwise.
func (c *connector) run(ctx context.Context) error {
	runCtx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c.running.Store(true)
	var wg sync.WaitGroup
	failed := make(chan error, 2)
	if c.in != nil {
		c.inRunning.Store(true)
		wg.Go(func() {
			err := c.in.Run(runCtx)
			c.inRunning.Store(false)
			if runCtx.Err() == nil {
				failed <- withDscoAdvice(c.cfg, fmt.Errorf("inbound: stopped: %w", err))
			}
		})
	}
	if c.out != nil {
		wg.Go(func() {
			select {
			case <-c.out.Running():
				c.outRunning.Store(true)
			case <-runCtx.Done():
			}
		})
		wg.Go(func() {
			err := c.out.Run(runCtx)
			c.outRunning.Store(false)
			if runCtx.Err() == nil {
				failed <- withDscoAdvice(c.cfg, fmt.Errorf("outbound: stopped: %w", err))
			}
		})
	}
	statusDone := make(chan struct{})
	go func() {
		defer close(statusDone)
		c.status.run(runCtx)
	}()
	c.log.Info("connector running", "role", c.cfg.Dsco.Role, "directions", fmt.Sprint(c.cfg.Connector.Directions),
		"ops", c.ops.URL(), "version", readBuildInfo().String())

	var runErr error
	select {
	case <-ctx.Done():
		c.log.Info("shutting down", "cause", context.Cause(ctx).Error(), "timeout", c.cfg.Connector.ShutdownTimeout)
	case runErr = <-failed:
		c.log.Error("a router stopped; shutting down", "error", runErr.Error())
	case err := <-c.opsFailed:
		runErr = fmt.Errorf("ops server: %w", err)
	}
	start := time.Now()
	shutdown := make(chan error, 1)
	go func() {
		cancel() // the inbound side checkpoints its final positions as its Run returns
		var errs []error
		var mu sync.Mutex
		var cw sync.WaitGroup
		for _, cl := range c.closers() {
			cw.Go(func() {
				if err := cl(); err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
			})
		}
		cw.Wait()
		wg.Wait()
		<-statusDone
		errs = append(errs, c.pub.Close(), c.closeOps())
		c.closeClients()
		shutdown <- errors.Join(errs...)
	}()
	select {
	case err := <-shutdown:
		if err != nil {
			// Exit status 1: a router or the Kafka writer did not close cleanly.
			runErr = errors.Join(runErr, fmt.Errorf("shutdown finished with errors: %w", err))
		}
		c.log.Info("stopped", "took", time.Since(start).Round(time.Millisecond))
	case <-time.After(c.cfg.Connector.ShutdownTimeout):
		runErr = errors.Join(runErr, fmt.Errorf("shutdown did not finish within CONNECTOR_SHUTDOWN_TIMEOUT (%v)", c.cfg.Connector.ShutdownTimeout))
	}
	return runErr
}

// closers returns the Close methods of the routers.
func (c *connector) closers() []func() error {
	var out []func() error
	if c.in != nil {
		out = append(out, c.in.Close)
	}
	if c.out != nil {
		out = append(out, c.out.Close)
	}
	return out
}

// closeParts closes what newConnector built when it fails half way.
func (c *connector) closeParts() {
	for _, cl := range c.closers() {
		_ = cl()
	}
	if c.pub != nil {
		_ = c.pub.Close()
	}
	if c.ops != nil {
		_ = c.closeOps()
	}
	c.closeClients()
}

// clients are what a command opens to reach Dsco, the Schema Registry and
// Kafka: each keeps its idle connections, and net/http's and kafka-go's
// goroutines for them, until closeClients closes it. A nil one is not there.
type clients struct {
	client    *dsco.Client
	outClient *dsco.Client // the outbound pipeline's: one try per call
	serde     *schemas.Serde
	// transport carries the status tracker's and the inbound side's Kafka
	// requests (the topic set-up's, the publisher's and the routers' have their
	// own).
	transport *kafkago.Transport
	// regTransport carries the registry readiness check's requests.
	regTransport *http.Transport
}

// closeClients closes the connections of the Dsco clients, the serde and the
// transports, once nothing uses them.
func (c *clients) closeClients() {
	for _, cl := range []*dsco.Client{c.client, c.outClient} {
		if cl != nil {
			cl.Close()
		}
	}
	if c.serde != nil {
		c.serde.Close()
	}
	if c.transport != nil {
		c.transport.CloseIdleConnections()
	}
	if c.regTransport != nil {
		c.regTransport.CloseIdleConnections()
	}
}

// closeOps stops the ops server and waits for its Run to return.
func (c *connector) closeOps() error {
	err := c.ops.Close()
	if c.stopOps != nil {
		c.stopOps()
		<-c.opsStopped
	}
	return err
}

// runRun is `connector run`: both directions per configuration until
// SIGTERM or SIGINT, then a bounded graceful shutdown.
func runRun(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "run", "(no flags: configured by environment variables, which -h lists)")
	if err := parseFlags(fs, args, 0); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(e.stderr, "\nThe environment variables (check, schemas and poison read them too):")
			printVariables(e.stderr)
		}
		return err
	}
	cfg, err := e.loadConfig(ctx)
	if err != nil {
		return err
	}
	logger := cfg.Log.NewLogger(e.stderr)
	c, err := newConnector(ctx, cfg, logger, connectorOptions{})
	if err != nil {
		if ctx.Err() != nil {
			// SIGTERM or SIGINT while starting: a stop asked for, not a failure.
			logger.Info("stopped while starting", "cause", context.Cause(ctx).Error(), "step", err.Error())
			return nil
		}
		return err
	}
	return c.run(ctx)
}

// kafkaGoClients returns the kafka-go dialer (topic readers) and transport
// (writers, admin requests) of a connection configuration, with its TLS and
// SASL settings; the transport's metadata is at most 2 seconds old, so that
// topics the connector has just created are seen soon.
func kafkaGoClients(conn kafka.ConnectionConfig) (*kafkago.Dialer, *kafkago.Transport, error) {
	d, t, err := conn.KafkaGo()
	if err != nil {
		return nil, nil, err
	}
	t.MetadataTTL = 2 * time.Second
	return d, t, nil
}
