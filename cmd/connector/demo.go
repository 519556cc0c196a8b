package main

import (
	"context"
	"fmt"
	"io"

	"os"
	"strings"
	"sync"
	"time"

	kafkago "github.com/segmentio/kafka-go"
	"github.com/sethvargo/go-envconfig"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/sr/srfake"

	"github.com/dscokafka/connector/cmd/connector/internal/config"
	"github.com/dscokafka/connector/cmd/connector/internal/warehouse"
	"github.com/dscokafka/connector/pkg/dsco/dscotest"
	"github.com/dscokafka/connector/pkg/kafka"
	"github.com/dscokafka/connector/pkg/outbound"
	"github.com/dscokafka/connector/pkg/schemas"
)

// runDemo is `connector demo`: an in-process Kafka (kfake), Schema Registry
// (srfake) and Dsco sandbox with its order generator, the connector in both
// directions as a supplier, and the sample warehouse service, until
// --duration passes or SIGINT/SIGTERM. It prints the status page's URL, a
// live progress line on stderr when stderr is a terminal, and a summary.
func runDemo(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "demo", "")
	duration := fs.Duration("duration", 0, "stop by itself after this long (0: run until SIGINT or SIGTERM)")
	opsAddr := fs.String("ops-addr", "127.0.0.1:0", "listen address of the status page, /metrics, /healthz and /readyz")
	rate := fs.Float64("orders-per-second", 5, "orders the Dsco sandbox's generator creates per second")
	if err := parseFlags(fs, args, 0); err != nil {
		return err
	}
	if *duration < 0 {
		return &usageError{msg: fmt.Sprintf("demo: -duration %v must not be negative", *duration)}
	}
	if *rate <= 0 {
		return &usageError{msg: fmt.Sprintf("demo: -orders-per-second %v must be positive", *rate)}
	}
	// Checked as CONNECTOR_OPS_ADDR, which the flag sets: refused there, the
	// error would name that variable, which the user did not set.
	if !config.IsListenAddr(*opsAddr) {
		return &usageError{msg: fmt.Sprintf("demo: -ops-addr %q: want a host:port such as 127.0.0.1:8080 (:0 picks a free port)", *opsAddr)}
	}
	if *duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *duration)
		defer cancel()
	}
	sum, err := demo(ctx, demoConfig{opsAddr: *opsAddr, ordersPerSecond: *rate, out: e.stdout, progress: terminal(e.stderr)})
	if err != nil {
		return err
	}
	sum.print(e.stdout)
	return nil
}

// terminal returns w when it is a terminal, nil otherwise.
func terminal(w io.Writer) io.Writer {
	f, ok := w.(*os.File)
	if !ok {
		return nil
	}
	fi, err := f.Stat()
	if err != nil || fi.Mode()&os.ModeCharDevice == 0 {
		return nil
	}
	return w
}

// demoConfig configures demo.
type demoConfig struct {
	opsAddr         string
	ordersPerSecond float64
	// out receives the banner (addresses and the status page URL).
	out io.Writer
	// progress, when not nil, receives the live progress line.
	progress io.Writer
	// logOut receives the connector's warnings and errors (default out).
	logOut io.Writer
}

// demoSummary is what a demo did.
type demoSummary struct {
	took time.Duration
	// orders, shipments and invoices are counted by the Dsco sandbox.
	orders, shipments, invoices int64
	// warehouseOrders and commands are the sample warehouse's.
	warehouseOrders, commands int64
	// byType counts the events in by object type, in the order of the streams.
	byType []typeCount
	// the connector's totals.
	eventsIn, commandsOut, accepted, rejected, failed, poisoned, lag int64
	// result records read from the results topic, by outcome.
	results map[schemas.CommandOutcome]int64
}

// typeCount is a number of events of one object type.
type typeCount struct {
	objectType string
	events     int64
}

func (s demoSummary) print(w io.Writer) {
	fmt.Fprintf(w, "\nSummary after %v:\n", s.took.Round(time.Second))
	fmt.Fprintf(w, "  Dsco sandbox:    %d orders created, %d shipments, %d invoices\n", s.orders, s.shipments, s.invoices)
	fmt.Fprintf(w, "  warehouse:       %d orders handled, %d commands sent\n", s.warehouseOrders, s.commands)
	types := make([]string, len(s.byType))
	for i, tc := range s.byType {
		types[i] = fmt.Sprintf("%s %d", tc.objectType, tc.events)
	}
	fmt.Fprintf(w, "  events in:       %d (%s)\n", s.eventsIn, strings.Join(types, ", "))
	fmt.Fprintf(w, "  commands out:    %d\n", s.commandsOut)
	fmt.Fprintf(w, "  accepted:        %d\n", s.accepted)
	fmt.Fprintf(w, "  rejected:        %d\n", s.rejected)
	fmt.Fprintf(w, "  failed:          %d\n", s.failed)
	fmt.Fprintf(w, "  poisoned:        %d\n", s.poisoned)
	fmt.Fprintf(w, "  results:         %d accepted, %d rejected, %d failed\n",
		s.results[schemas.OutcomeAccepted], s.results[schemas.OutcomeRejected], s.results[schemas.OutcomeFailed])
	fmt.Fprintf(w, "  command lag:     %d\n", s.lag)
}

// demo runs the whole loop until ctx ends and returns what it did.
func demo(ctx context.Context, dc demoConfig) (_ demoSummary, err error) {
	start := time.Now()
	if dc.logOut == nil {
		dc.logOut = dc.out
	}
	var closers []func()
	defer func() {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
	}()
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.AllowAutoTopicCreation(), kfake.DefaultNumPartitions(4),
		kfake.GroupMinSessionTimeout(100*time.Millisecond))
	if err != nil {
		return demoSummary{}, fmt.Errorf("demo: starting kfake: %w", err)
	}
	closers = append(closers, cluster.Close)
	reg := srfake.New()
	closers = append(closers, reg.Close)
	sandbox, err := dscotest.NewServer(dscotest.Config{Seed: start.UnixNano()})
	if err != nil {
		return demoSummary{}, fmt.Errorf("demo: starting the Dsco sandbox: %w", err)
	}
	closers = append(closers, sandbox.Close)
	brokers := cluster.ListenAddrs()

	vars := map[string]string{
		"DSCO_BASE_URL":                 sandbox.URL,
		"DSCO_CLIENT_ID":                dscotest.SupplierClientID,
		"DSCO_CLIENT_SECRET":            dscotest.SupplierClientSecret,
		"DSCO_ROLE":                     "supplier",
		"DSCO_STREAMS":                  "order,orderitemchange,invoice",
		"DSCO_POLL_INTERVAL":            "200ms",
		"KAFKA_BROKERS":                 strings.Join(brokers, ","),
		"SCHEMA_REGISTRY_URL":           reg.URL(),
		"CONNECTOR_OPS_ADDR":            dc.opsAddr,
		"CONNECTOR_CHECKPOINT_INTERVAL": "500ms",
		"CONNECTOR_BATCH_MAX_WAIT":      "20ms",
		"CONNECTOR_SHUTDOWN_TIMEOUT":    "15s",
		"CONNECTOR_LOG_LEVEL":           "warn",
		"CONNECTOR_LOG_FORMAT":          "text",
	}
	// A context of its own: the setup must not stop half way when ctx
	// ends; the loop below stops everything in order.
	setup := context.WithoutCancel(ctx)
	cfg, err := (&env{lookup: envconfig.MapLookuper(vars)}).loadConfig(setup)
	if err != nil {
		return demoSummary{}, err
	}
	logger := cfg.Log.NewLogger(dc.logOut)
	conn, err := newConnector(setup, cfg, logger, connectorOptions{statusInterval: 500 * time.Millisecond, opsAddrName: "-ops-addr"})
	if err != nil {
		return demoSummary{}, err
	}
	// fail closes the connector (its ops server serves already) when the
	// warehouse cannot be set up.
	fail := func(err error) (demoSummary, error) {
		conn.closeParts()
		return demoSummary{}, err
	}

	// The sample warehouse, with a serde of its own records.
	order, _ := schemas.Event("order")
	ship, _ := schemas.Command("ship")
	invoice, _ := schemas.Command("invoice")
	wserde, err := schemas.NewSerde(schemas.Config{RegistryURL: reg.URL(), Records: []*schemas.Descriptor{order, ship, invoice, schemas.Result}})
	if err != nil {
		return fail(err)
	}
	closers = append(closers, wserde.Close)
	if err := wserde.Register(setup); err != nil {
		return fail(err)
	}
	wh, err := warehouse.New(warehouse.Config{Connection: kafka.ConnectionConfig{Brokers: brokers}, Serde: wserde}, logger)
	if err != nil {
		return fail(err)
	}

	fmt.Fprintf(dc.out, "Dsco sandbox   %s\nKafka (kfake)  %s\nRegistry       %s\n", sandbox.URL, strings.Join(brokers, ","), reg.URL())
	fmt.Fprintf(dc.out, "Status page    %s\n", conn.ops.URL())
	fmt.Fprintf(dc.out, "Loop: order created in Dsco → %s → warehouse → %s, %s → Dsco → %s → %s\n\n",
		cfg.Topic(order), cfg.Topic(ship), cfg.Topic(invoice), cfg.Topic(mustEvent("orderitemchange")), cfg.Topic(schemas.Result))

	// Everything runs until ctx ends; then the generator and the warehouse
	// stop, the connector gets a moment to apply the commands already on
	// Kafka (demoDrain), and shuts down (final checkpoints and commits).
	runCtx, stopRun := context.WithCancel(context.WithoutCancel(ctx))
	defer stopRun()
	connCtx, stopConn := context.WithCancel(context.WithoutCancel(ctx))
	defer stopConn()
	var wg sync.WaitGroup
	connDone := make(chan error, 1)
	go func() { connDone <- conn.run(connCtx) }()
	wg.Go(func() {
		if err := wh.Run(runCtx); err != nil {
			logger.Warn("demo: warehouse stopped", "error", err.Error())
		}
	})
	genCtx, stopGen := context.WithCancel(context.WithoutCancel(ctx)) // no deadline: the rate limiter refuses waits past one
	defer stopGen()
	wg.Go(func() {
		if err := sandbox.RunGenerator(genCtx, dscotest.GeneratorConfig{OrdersPerSecond: dc.ordersPerSecond, Burst: 1}); err != nil && genCtx.Err() == nil {
			logger.Warn("demo: generator stopped", "error", err.Error())
		}
	})
	summary := func() demoSummary {
		st := conn.status.Status()
		ws := wh.Stats()
		ss := sandbox.Stats()
		s := demoSummary{took: time.Since(start), shipments: ss.Shipments, invoices: ss.Invoices,
			warehouseOrders: ws.Orders, commands: ws.Ships + ws.Invoices,
			eventsIn: st.Totals.EventsIn, commandsOut: st.Totals.CommandsOut, accepted: st.Totals.Accepted,
			rejected: st.Totals.Rejected, failed: st.Totals.Failed, poisoned: st.Totals.Poisoned}
		for _, n := range ss.Orders {
			s.orders += n
		}
		for _, c := range st.Commands {
			s.lag += c.Lag
		}
		for _, obj := range cfg.Dsco.Streams {
			tc := typeCount{objectType: string(obj)}
			for _, p := range st.Streams {
				if p.ObjectType == string(obj) {
					tc.events += p.Events
				}
			}
			s.byType = append(s.byType, tc)
		}
		return s
	}
	var runErr error
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	connStopped := false
loop:
	for {
		select {
		case runErr = <-connDone:
			connStopped = true
			break loop
		case <-ctx.Done():
			break loop
		case <-tick.C:
			if dc.progress != nil {
				s := summary()
				fmt.Fprintf(dc.progress, "\r%5.0fs  events in %d · commands out %d · accepted %d · poisoned %d · lag %d\033[K",
					s.took.Seconds(), s.eventsIn, s.commandsOut, s.accepted, s.poisoned, s.lag)
			}
		}
	}
	if dc.progress != nil {
		fmt.Fprintln(dc.progress)
	}
	stopGen()
	stopRun()
	wg.Wait()
	closeErr := wh.Close()
	if !connStopped {
		drain := time.Now().Add(demoDrain)
		for time.Now().Before(drain) && summary().lag > 0 {
			time.Sleep(100 * time.Millisecond)
		}
		stopConn()
		runErr = <-connDone
	}
	// The final numbers: the counters after the shutdown's last commits, the
	// consumer lag once more (Kafka still runs), and every result record.
	conn.status.refresh(setup)
	conn.closeClients() // the refresh's lag query opened the stopped connector's Kafka transport again
	s := summary()
	s.took = time.Since(start)
	rctx, cancel := context.WithTimeout(setup, 30*time.Second)
	defer cancel()
	if s.results, err = countResults(rctx, brokers, wserde, cfg.Topic(schemas.Result)); err != nil {
		return s, fmt.Errorf("demo: reading the results: %w", err)
	}
	if runErr != nil {
		return s, fmt.Errorf("demo: the connector stopped: %w", runErr)
	}
	if closeErr != nil {
		logger.Warn("demo: closing the warehouse", "error", closeErr.Error())
	}
	return s, nil
}

// demoDrain bounds the wait, once the warehouse stopped, for the connector
// to consume the commands already on Kafka before it shuts down.
const demoDrain = 5 * time.Second

func mustEvent(name string) *schemas.Descriptor {
	d, ok := schemas.Event(name)
	if !ok {
		panic("schemas: no event " + name)
	}
	return d
}

// countResults reads the results topic from its start to its end and
// returns its commands by the outcome of their last result record (a result
// written again counts once).
func countResults(ctx context.Context, brokers []string, serde *schemas.Serde, topic string) (map[schemas.CommandOutcome]int64, error) {
	var mu sync.Mutex
	byID := map[string]schemas.CommandOutcome{}
	var bad error
	err := outbound.TopicReader{Brokers: brokers}.Read(ctx, topic, false, nil, func(m kafkago.Message) {
		var res schemas.CommandResult
		err := serde.Decode(ctx, m.Value, &res)
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			bad = fmt.Errorf("record %d/%d: %w", m.Partition, m.Offset, err)
			return
		}
		byID[res.CommandID] = res.Outcome
	})
	if err != nil {
		return nil, err
	}
	if bad != nil {
		return nil, bad
	}
	out := map[schemas.CommandOutcome]int64{}
	for _, o := range byID {
		out[o]++
	}
	return out, nil
}
