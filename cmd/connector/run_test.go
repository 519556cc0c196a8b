package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"
	"github.com/sethvargo/go-envconfig"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"
	"github.com/twmb/franz-go/pkg/sr/srfake"

	"github.com/dscokafka/connector/cmd/connector/internal/config"
	"github.com/dscokafka/connector/pkg/dsco"
	"github.com/dscokafka/connector/pkg/dsco/dscotest"
	"github.com/dscokafka/connector/pkg/kafka/kafkatest"
	"github.com/dscokafka/connector/pkg/ops"
	"github.com/dscokafka/connector/pkg/outbound"
	"github.com/dscokafka/connector/pkg/schemas"
)

// waitLimit bounds every wait of these tests.
const waitLimit = 90 * time.Second

// buildBinary builds the main package pkg (relative to this directory) into
// a temporary directory and returns the binary's path.
func buildBinary(t *testing.T, pkg, name string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), name)
	out, err := exec.Command("go", "build", "-o", bin, pkg).CombinedOutput()
	require.NoError(t, err, "go build %s: %s", pkg, out)
	return bin
}

// syncBuffer is a bytes.Buffer safe for a process's output and the test.
type syncBuffer struct {
	mu      sync.Mutex
	b       bytes.Buffer
	written chan struct{} // see changed
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n, err := s.b.Write(p)
	if s.written != nil {
		select {
		case s.written <- struct{}{}:
		default: // one signal pending covers every write since
		}
	}
	return n, err
}

// changed returns a channel that receives after a write: once for every write made
// after this call, or once for several, so that a wait reads the buffer again.
func (s *syncBuffer) changed() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.written == nil {
		s.written = make(chan struct{}, 1)
	}
	return s.written
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startSandbox runs the dsco-sandbox binary with args and returns its URL.
func startSandbox(t *testing.T, args ...string) string {
	t.Helper()
	bin := buildBinary(t, "../dsco-sandbox", "dsco-sandbox")
	cmd := exec.Command(bin, append([]string{"--addr", "127.0.0.1:0"}, args...)...)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	cmd.Stderr = io.Discard
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	require.NoError(t, err, "the sandbox prints its URL first")
	go func() { _, _ = io.Copy(io.Discard, stdout) }()
	return strings.TrimSpace(line)
}

// TestRunMovesDataBothWays is issue 11's second Done-when: `connector run`,
// a process, against a dsco-sandbox process, a Kafka broker and a registry
// given by environment: orders of the sandbox appear on the order topic, a
// ship command on the ship topic ships the line in the sandbox and yields an
// accepted result, and SIGTERM stops the process within its shutdown bound
// with the stream position checkpointed at the end of the stream.
func TestRunMovesDataBothWays(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binaries")
	}
	const orders = 3
	sandboxURL := startSandbox(t, "--initial-orders", "3")
	brokers := kafkatest.Brokers(t)
	reg := srfake.New()
	t.Cleanup(reg.Close)
	bin := buildBinary(t, ".", "connector")

	const shutdownTimeout = 20 * time.Second
	vars := map[string]string{
		"DSCO_BASE_URL":                 sandboxURL,
		"DSCO_CLIENT_ID":                dscotest.SupplierClientID,
		"DSCO_CLIENT_SECRET":            dscotest.SupplierClientSecret,
		"DSCO_ROLE":                     "supplier",
		"DSCO_POLL_INTERVAL":            "100ms",
		"DSCO_ITEM_INVENTORY_INTERVAL":  "200ms",
		"KAFKA_BROKERS":                 strings.Join(brokers, ","),
		"KAFKA_CONSUMER_GROUP":          kafkatest.Name("run"),
		"SCHEMA_REGISTRY_URL":           reg.URL(),
		"CONNECTOR_TOPIC_PREFIX":        kafkatest.Name("run") + ".", // topics of their own on a shared KAFKA_BROKERS
		"CONNECTOR_OPS_ADDR":            "127.0.0.1:0",
		"CONNECTOR_SHUTDOWN_TIMEOUT":    shutdownTimeout.String(),
		"CONNECTOR_CHECKPOINT_INTERVAL": "100ms",
		"CONNECTOR_BATCH_MAX_WAIT":      "10ms",
		"CONNECTOR_LOG_FORMAT":          "text",
	}
	// The test names topics and encodes commands as the connector does.
	cfg, err := config.Load(context.Background(), envconfig.MapLookuper(vars))
	require.NoError(t, err)
	topic := func(name string) string {
		t.Helper()
		for _, d := range schemas.All() {
			if d.Name == name {
				return cfg.Topic(d)
			}
		}
		t.Fatalf("no record %s", name)
		return ""
	}
	cmd := exec.Command(bin, "run")
	cmd.Env = os.Environ()
	for k, v := range vars {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var stderr syncBuffer
	cmd.Stderr = &stderr
	require.NoError(t, cmd.Start())
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		t.Logf("connector log:\n%s", stderr.String())
	})

	// Ready: the ops URL is in the log; /readyz answers 200 once Kafka, the
	// registry and Dsco answer and both routers run.
	opsURL := regexp.MustCompile(`ops=(http://127\.0\.0\.1:\d+)`)
	var base string
	require.Eventually(t, func() bool {
		select {
		case err := <-exited:
			require.FailNow(t, "the connector exited", "%v", err)
		default:
		}
		m := opsURL.FindStringSubmatch(stderr.String())
		if m != nil {
			base = m[1]
		}
		return base != ""
	}, waitLimit, 50*time.Millisecond, "the connector logs its ops URL")
	require.Eventually(t, func() bool {
		resp, err := http.Get(base + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, waitLimit, 100*time.Millisecond, "ready")

	// Inbound: the sandbox's orders on the order topic.
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	var mu sync.Mutex
	seen := map[string]bool{}
	follow := func(topic string, fn func(kafkago.Message)) {
		go func() {
			for ctx.Err() == nil {
				_ = outbound.TopicReader{Brokers: brokers}.Read(ctx, topic, true, nil, fn)
				time.Sleep(100 * time.Millisecond) // the topic may not exist yet
			}
		}()
	}
	follow(topic("order"), func(m kafkago.Message) {
		mu.Lock()
		seen[string(m.Key)] = true
		mu.Unlock()
	})
	require.Eventually(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(seen) == orders
	}, waitLimit, 100*time.Millisecond, "every order of the sandbox on the order topic")

	// The GetItemInventory poller: the sandbox's items on their topic.
	items := make(chan struct{}, 1)
	follow(topic("iteminventory"), func(kafkago.Message) {
		select {
		case items <- struct{}{}:
		default:
		}
	})
	select {
	case <-items:
	case <-ctx.Done():
		t.Fatal("no item on the iteminventory topic")
	}

	// Outbound: a ship command for one line of the first order.
	client, err := dsco.NewClient(sandboxURL, dsco.WithClientCredentials(dscotest.SupplierClientID, dscotest.SupplierClientSecret))
	require.NoError(t, err)
	var orderID string
	mu.Lock()
	for id := range seen {
		orderID = id
		break
	}
	mu.Unlock()
	order, err := client.SupplierGetOrder(ctx, orderID)
	require.NoError(t, err)
	require.NotEmpty(t, order.Items)
	lineID := order.Items[0].LineItemID
	require.Zero(t, order.Items[0].QuantityShipped)

	serde, err := schemas.NewSerde(cfg.SerdeConfig())
	require.NoError(t, err)
	require.NoError(t, serde.Register(ctx))
	// Written by a transactional producer, keyed by the order: first a command in a
	// transaction it aborts, then the command in one it commits. The connector reads
	// committed records only (KAFKA_READ_COMMITTED): the aborted one is never sent.
	aborted := &schemas.ShipCommand{CommandID: "run-test-ship-aborted", OrderID: orderID, LineItemID: &lineID,
		TrackingNumber: ptrTo("1ZABORTED"), Carrier: ptrTo("UPS")}
	cmdRec := &schemas.ShipCommand{CommandID: "run-test-ship-1", OrderID: orderID, LineItemID: &lineID,
		TrackingNumber: ptrTo("1ZRUNTEST"), Carrier: ptrTo("UPS")}
	producer, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.TransactionalID(kafkatest.Name("run-tx")), kgo.AllowAutoTopicCreation())
	require.NoError(t, err)
	t.Cleanup(producer.Close)
	for _, c := range []struct {
		rec *schemas.ShipCommand
		end kgo.TransactionEndTry
	}{{aborted, kgo.TryAbort}, {cmdRec, kgo.TryCommit}} {
		b, err := serde.Encode(c.rec)
		require.NoError(t, err)
		require.NoError(t, producer.BeginTransaction())
		require.NoError(t, producer.ProduceSync(ctx, &kgo.Record{Topic: serde.Topic(schemas.DescriptorOf(c.rec)), Key: []byte(orderID), Value: b}).FirstErr())
		require.NoError(t, producer.EndTransaction(ctx, c.end))
	}

	results := map[string]*schemas.CommandResult{}
	follow(serde.Topic(schemas.Result), func(m kafkago.Message) {
		var r schemas.CommandResult
		if serde.Decode(context.Background(), m.Value, &r) == nil {
			mu.Lock()
			results[r.CommandID] = &r
			mu.Unlock()
		}
	})
	require.Eventually(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return results[cmdRec.CommandID] != nil
	}, waitLimit, 100*time.Millisecond, "a result record for the ship command")
	mu.Lock()
	assert.Equal(t, schemas.OutcomeAccepted, results[cmdRec.CommandID].Outcome)
	assert.NotContains(t, results, aborted.CommandID, "the aborted command, before it in its partition, was not handled")
	mu.Unlock()
	order, err = client.SupplierGetOrder(ctx, orderID)
	require.NoError(t, err)
	assert.Positive(t, order.Items[0].QuantityShipped, "the sandbox shipped the line")

	// The shipment is an orderitemchange event: it reaches its topic too.
	changes := make(chan struct{}, 1)
	follow(topic("orderitemchange"), func(m kafkago.Message) {
		if string(m.Key) == orderID {
			select {
			case changes <- struct{}{}:
			default:
			}
		}
	})
	select {
	case <-changes:
	case <-ctx.Done():
		t.Fatal("no orderitemchange event of the shipped order")
	}

	// The status page's data: the totals, the stream partitions and the
	// command topics, from the pipelines.
	require.Eventually(t, func() bool {
		resp, err := http.Get(base + "/status.json")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		var st ops.Status
		if json.NewDecoder(resp.Body).Decode(&st) != nil {
			return false
		}
		ship := slices.IndexFunc(st.Commands, func(c ops.CommandTopic) bool { return c.Command == "ship" })
		order := slices.IndexFunc(st.Streams, func(s ops.StreamPartition) bool { return s.ObjectType == "order" && s.Topic == topic("order") })
		return st.Totals.EventsIn >= orders && st.Totals.CommandsOut >= 1 && st.Totals.Accepted >= 1 && st.Totals.Poisoned == 0 &&
			ship >= 0 && st.Commands[ship].Accepted == 1 && st.Commands[ship].Lag == 0 &&
			order >= 0 && st.Streams[order].Position != "" && st.Streams[order].Events >= orders &&
			!st.Streams[order].LastEventTime.IsZero() && st.Streams[order].Lag == nil &&
			st.Streams[order].LagUnknown == "Dsco streams do not report lag"
	}, waitLimit, 200*time.Millisecond, "status.json shows the traffic")

	// Prometheus: the pipelines' metrics and the runtime's.
	resp, err := http.Get(base + "/metrics")
	require.NoError(t, err)
	metrics, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(t, err)
	for _, name := range []string{"dsco_inbound_events_published_total", "dsco_outbound_commands_total",
		"dsco_outbound_kafka_write_seconds", "go_goroutines", "process_cpu_seconds_total"} {
		assert.True(t, strings.Contains(string(metrics), "\n"+name), "/metrics has %s", name)
	}

	// SIGTERM: a graceful shutdown within its bound, exit status 0.
	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	select {
	case err := <-exited:
		require.NoError(t, err, "exit status 0 after SIGTERM")
	case <-time.After(shutdownTimeout + 5*time.Second):
		t.Fatal("the connector did not stop within its shutdown bound")
	}
	assert.Contains(t, stderr.String(), "stopped")

	// The final checkpoint: every partition of the order stream reads
	// nothing more from its committed position.
	list, err := client.ListStreams(ctx)
	require.NoError(t, err)
	checked := 0
	for _, s := range list.Streams {
		if s.ObjectType != dsco.ObjectOrder {
			continue
		}
		for _, p := range s.Partitions {
			require.NotEmpty(t, p.Position, "partition %d has a committed position", p.Partition)
			page, err := client.GetStreamEvents(ctx, s.StreamID, dsco.ReadEventsParams{Position: p.Position, Partition: p.Partition, Limit: 10})
			require.NoError(t, err)
			assert.Empty(t, page.Events, "partition %d checkpointed at its end", p.Partition)
			checked++
		}
	}
	assert.Positive(t, checked, "the order stream exists")
}

func ptrTo[T any](v T) *T { return &v }

// TestRunRefusesIncompatibleSchemas: `connector run` checks its schemas
// against the registry before it starts anything, and refuses to start,
// saying why, when a registered version is incompatible or, with
// SCHEMA_REGISTRY_LOOKUP_ONLY, when a schema is not registered.
func TestRunRefusesIncompatibleSchemas(t *testing.T) {
	t.Run("incompatible", func(t *testing.T) {
		s := newStack(t)
		s.registry.SeedSchema("dsco.cmd.ship.v1-value", 1, 900, sr.Schema{Schema: `{"type":"record",
		"name":"ShipCommand","namespace":"io.dscokafka.v1","fields":[{"name":"orderId","type":"string"}]}`})
		r := runMain(t, s.vars, "run")
		assert.Equal(t, exitFailure, r.code, r.stderr)
		assert.Contains(t, r.stderr, "registering the schemas at "+s.registry.URL()+" failed, so the connector does not start")
		assert.Contains(t, r.stderr, `subject "dsco.cmd.ship.v1-value" is incompatible with the registered version 1`)
	})
	t.Run("lookup only, not registered", func(t *testing.T) {
		s := newStack(t)
		r := runMain(t, s.with("SCHEMA_REGISTRY_LOOKUP_ONLY", "true"), "run")
		assert.Equal(t, exitFailure, r.code, r.stderr)
		assert.Contains(t, r.stderr, "looking up the schemas at "+s.registry.URL()+" failed, so the connector does not start")
		assert.Contains(t, r.stderr, "SCHEMA_REGISTRY_LOOKUP_ONLY is set: `connector schemas register` registers them")
		assert.Contains(t, r.stderr, `subject "dsco.order.v1-value" has no version equal to avro/OrderEvent.avsc (looked up only, not registered)`)
	})
}
