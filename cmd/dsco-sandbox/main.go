package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/dscokafka/connector/pkg/dsco/dscotest"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := exitStatus(run(ctx, os.Args[1:], os.Stdout, os.Stderr), os.Stderr)
	stop()
	os.Exit(code)
}

// errFlags is a command line refused: the flag package refused a flag and
// has printed the error and the usage, or run refused an argument and has
// printed why.
var errFlags = errors.New("bad command line")

// exitStatus reports err, run's result, on stderr and returns the process's
// exit status: 0 when it is nil or -h asked for the usage, 2 for a command
// line refused (a flag, or an argument: the sandbox takes none), as the
// connector, 1 for any other failure.
func exitStatus(err error, stderr io.Writer) int {
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errFlags):
		return 2
	}
	fmt.Fprintln(stderr, "dsco-sandbox:", err)
	return 1
}

// run parses args, serves until ctx is done, then shuts down gracefully.
// The first line written to stdout is the API base URL.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("dsco-sandbox", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		addr          = fs.String("addr", "127.0.0.1:8089", "TCP address to listen on")
		clientID      = fs.String("client-id", dscotest.SupplierClientID, "supplier account client id")
		clientSecret  = fs.String("client-secret", dscotest.SupplierClientSecret, "supplier account client secret")
		retailerID    = fs.String("retailer-client-id", dscotest.RetailerClientID, "retailer account client id")
		retailerSec   = fs.String("retailer-client-secret", dscotest.RetailerClientSecret, "retailer account client secret")
		ordersPerSec  = fs.Float64("orders-per-second", 0, "rate of generated retailer orders (0 = no generator)")
		burst         = fs.Int("burst", 1, "generated orders created at once")
		initialOrders = fs.Int("initial-orders", 0, "retailer orders created at start")
		backlog       = fs.Int("backlog-orders", 0, "generated orders created at start as a compact backlog (millions are fine), after --initial-orders")
		orderItems    = fs.Int("order-items", 0, "line items of every generated order (0 = 1 to 5 at random)")
		extraAttrs    = fs.Int("extra-attributes", 0, "attributes unknown to the contract added to every generated order and line item")
		queue         = fs.Bool("queue", false, "answer batch writes as queued (accepted) and apply them later")
		queueStatus   = fs.String("queue-status", dscotest.BatchAccepted, "status of a queued batch: accepted or processing")
		queueDelay    = fs.Duration("queue-delay", 0, "apply a queued batch this long after it came (0 = only on POST /_sandbox/queue/apply)")
		queueOps      = fs.String("queue-ops", "", "comma-separated operationIds to queue (empty = every batch write)")
		tokenTTL      = fs.Duration("token-ttl", time.Hour, "access token lifetime")
		fileTTL       = fs.Duration("file-ttl", time.Hour, "lifetime of GetItemInventory files")
		retention     = fs.Duration("retention", 90*24*time.Hour, "how long stream events are kept")
		seed          = fs.Int64("seed", 1, "seed of faults and generated data")
		latency       = fs.Duration("latency", 0, "fault: delay of every call")
		rate500       = fs.Float64("rate-500", 0, "fault: probability of a 500")
		rate503       = fs.Float64("rate-503", 0, "fault: probability of a 503")
		rate429       = fs.Float64("rate-429", 0, "fault: probability of a 429")
		rate502       = fs.Float64("rate-502", 0, "fault: probability of a 502 (nothing applied)")
		rate504       = fs.Float64("rate-504", 0, "fault: probability of a 504 (nothing applied)")
		rate500Appl   = fs.Float64("rate-500-applied", 0, "fault: probability of handling the call, then answering 500")
		rate502Appl   = fs.Float64("rate-502-applied", 0, "fault: probability of handling the call, then answering 502")
		rate504Appl   = fs.Float64("rate-504-applied", 0, "fault: probability of handling the call, then answering 504")
		retryAfter    = fs.Duration("retry-after", time.Second, "fault: Retry-After sent with 429")
		dropRate      = fs.Float64("drop-rate", 0, "fault: probability of closing the connection without a response")
		faultOp       = fs.String("fault-op", dscotest.AllOperations, "operationId the fault flags apply to (* = all)")
		verbose       = fs.Bool("v", false, "log debug messages")
	)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%w: %w", errFlags, err)
	}
	if fs.NArg() > 0 {
		// Every setting is a flag; an argument is a mistake such as a
		// boolean flag given a value apart (-queue false), after which the
		// flag package stops reading, so the flags after it would be ignored.
		fmt.Fprintf(stderr, "dsco-sandbox: unexpected arguments %q: the sandbox takes flags only (a boolean flag's value goes after =, as -queue=false; \"dsco-sandbox -h\" lists the flags)\n", fs.Args())
		return errFlags
	}
	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))

	cfg := dscotest.Config{
		SupplierClientID: *clientID, SupplierClientSecret: *clientSecret,
		RetailerClientID: *retailerID, RetailerClientSecret: *retailerSec,
		TokenTTL: *tokenTTL, FileTTL: *fileTTL, Retention: *retention, Seed: *seed, Logger: logger,
		Queue: dscotest.QueueConfig{Enabled: *queue, Status: *queueStatus, Delay: *queueDelay},
	}
	if *queueOps != "" {
		cfg.Queue.Operations = strings.Split(*queueOps, ",")
	}
	shape := dscotest.OrderShape{Items: *orderItems, ExtraAttributes: *extraAttrs}
	fault := dscotest.Fault{Latency: *latency, Rate500: *rate500, Rate502: *rate502, Rate503: *rate503, Rate504: *rate504,
		Rate429: *rate429, Rate500Applied: *rate500Appl, Rate502Applied: *rate502Appl, Rate504Applied: *rate504Appl,
		RetryAfter: *retryAfter, DropRate: *dropRate}
	if fault != (dscotest.Fault{RetryAfter: *retryAfter}) {
		cfg.Faults = map[string]dscotest.Fault{*faultOp: fault}
	}
	srv, err := dscotest.Listen(cfg, *addr)
	if err != nil {
		return err
	}
	defer srv.Close()

	if *initialOrders > 0 {
		if _, err := srv.SeedOrders(*initialOrders); err != nil {
			return err
		}
	}
	if *backlog > 0 || shape != (dscotest.OrderShape{}) {
		start := time.Now()
		if err := srv.SeedOrderBacklog(*backlog, shape); err != nil {
			return err
		}
		logger.Info("backlog seeded", "orders", *backlog, "took", time.Since(start).Round(time.Millisecond))
	}
	fmt.Fprintln(stdout, srv.URL)
	logger.Info("dsco sandbox serving", "url", srv.URL, "supplier", *clientID, "retailer", *retailerID,
		"initialOrders", *initialOrders, "ordersPerSecond", *ordersPerSec, "faults", len(cfg.Faults))

	var wg sync.WaitGroup
	genErr := make(chan error, 1)
	if *ordersPerSec > 0 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			genErr <- srv.RunGenerator(ctx, dscotest.GeneratorConfig{OrdersPerSecond: *ordersPerSec, Burst: *burst, Shape: shape})
		}()
	}
	select {
	case <-ctx.Done():
	case err = <-genErr:
	}
	logger.Info("dsco sandbox stopping")
	srv.Close()
	wg.Wait()
	return err
}
