package outbound_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	hambaregistry "github.com/hamba/avro/v2/registry"
	kafkago "github.com/segmentio/kafka-go"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sr/srfake"

	"github.com/dscokafka/connector/pkg/dsco"
	"github.com/dscokafka/connector/pkg/dsco/dscotest"
	"github.com/dscokafka/connector/pkg/kafka"
	"github.com/dscokafka/connector/pkg/kafka/kafkatest"
	"github.com/dscokafka/connector/pkg/outbound"
	"github.com/dscokafka/connector/pkg/router"
	"github.com/dscokafka/connector/pkg/schemas"
)

// waitLimit bounds every wait of these tests.
const waitLimit = 60 * time.Second

// env is one in-process world: kfake, srfake, the Dsco sandbox, a registered serde, a
// publisher, and unique topic names.
type env struct {
	t        testing.TB
	brokers  []string
	registry string
	sandbox  *dscotest.Server // nil in a crash test's child
	dscoURL  string
	serde    *schemas.Serde
	pub      *kafka.Publisher
	topics   map[string]string // "command:<name>" and "result:results" -> topic
	results  string
	poison   string
	applied  string
	// logger, when set, is the outbound router's logger (run); else OUTBOUND_TEST_LOG
	// decides.
	logger watermill.LoggerAdapter

	mu    sync.Mutex
	got   map[string]*schemas.CommandResult // results read by follow
	count int
}

func newEnv(t testing.TB, sbCfg dscotest.Config) *env {
	t.Helper()
	e := newQuietEnv(t, sbCfg)
	e.follow()
	return e
}

// newQuietEnv is newEnv without following the results topic (benchmarks count through
// the pipeline's metrics, so that the test's own reading costs no CPU).
func newQuietEnv(t testing.TB, sbCfg dscotest.Config) *env {
	t.Helper()
	return newQuietEnvOn(t, kafkatest.Brokers(t), sbCfg)
}

// newClusterEnv is newEnv on a kfake cluster of its own, returned, for tests that answer
// its requests with kfake's controls.
func newClusterEnv(t testing.TB, sbCfg dscotest.Config) (*env, *kfake.Cluster) {
	t.Helper()
	cl := kafkatest.NewCluster(t)
	e := newQuietEnvOn(t, cl.ListenAddrs(), sbCfg)
	e.follow()
	return e, cl
}

// newQuietEnvOn is newQuietEnv on brokers.
func newQuietEnvOn(t testing.TB, brokers []string, sbCfg dscotest.Config) *env {
	t.Helper()
	reg := srfake.New()
	t.Cleanup(reg.Close)
	sb, err := dscotest.NewServer(sbCfg)
	require.NoError(t, err)
	t.Cleanup(sb.Close)
	e := newEnvOn(t, brokers, reg.URL(), sb, kafkatest.Name("t"))
	kafkatest.CreateTopic(t, brokers, e.results, 4)
	return e
}

// newEnvOn builds an env on existing services; prefix names its topics (a child process
// of the crash test uses its parent's).
func newEnvOn(t testing.TB, brokers []string, registryURL string, sb *dscotest.Server, prefix string) *env {
	t.Helper()
	e := &env{t: t, brokers: brokers, registry: registryURL, sandbox: sb, topics: map[string]string{}}
	if sb != nil {
		e.dscoURL = sb.URL
	}
	for _, d := range schemas.Commands {
		e.topics[schemas.TopicKey(d)] = prefix + ".cmd." + d.Name
	}
	e.results = prefix + ".results"
	e.topics[schemas.TopicKey(schemas.Result)] = e.results
	e.poison = prefix + ".poison"
	e.applied = prefix + ".applied"
	serde, err := schemas.NewSerde(schemas.Config{RegistryURL: registryURL, Topics: e.topics})
	require.NoError(t, err)
	require.NoError(t, serde.Register(context.Background()))
	e.serde = serde
	pub, err := kafka.NewPublisher(kafka.PublisherConfig{Connection: kafka.ConnectionConfig{Brokers: brokers}, AllowAutoTopicCreation: true}, nil)
	require.NoError(t, err)
	t.Cleanup(func() { _ = pub.Close() })
	e.pub = pub
	return e
}

// topic returns the topic of a command.
func (e *env) topic(command string) string { return e.topics["command:"+command] }

// client returns a Dsco client of the role on the sandbox.
func (e *env) client(role outbound.Role, opts ...dsco.Option) *dsco.Client {
	e.t.Helper()
	id, secret := dscotest.SupplierClientID, dscotest.SupplierClientSecret
	if role == outbound.RoleRetailer {
		id, secret = dscotest.RetailerClientID, dscotest.RetailerClientSecret
	}
	// The client's default transport, as dsco.NewClient makes it (64 idle connections per
	// host: with 2, concurrent calls dial a new connection each), but closed with the test.
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 64
	e.t.Cleanup(tr.CloseIdleConnections)
	c, err := dsco.NewClient(e.dscoURL, append([]dsco.Option{dsco.WithClientCredentials(id, secret), dsco.WithHTTPClient(&http.Client{Transport: tr})}, opts...)...)
	require.NoError(e.t, err)
	return c
}

// pipelineConfig is the pipeline configuration of these tests for role.
func (e *env) pipelineConfig(role outbound.Role, opts ...dsco.Option) outbound.Config {
	return outbound.Config{
		Role:         role,
		Client:       e.client(role, opts...),
		Serde:        e.serde,
		Writer:       e.pub,
		PoisonTopic:  e.poison,
		Store:        outbound.StoreConfig{Topic: e.applied, Reader: outbound.TopicReader{Brokers: e.brokers}},
		MaxBatchWait: 5 * time.Millisecond,
		Retry:        outbound.RetryConfig{BaseDelay: 10 * time.Millisecond, MaxDelay: 200 * time.Millisecond},
		Breaker:      outbound.BreakerConfig{OpenTimeout: 200 * time.Millisecond},
		CloseTimeout: 10 * time.Second,
	}
}

// subscriberConfig is the consumer of these tests: short group timings.
func (e *env) subscriberConfig(group string) kafka.SubscriberConfig {
	return kafka.SubscriberConfig{
		Connection:        kafka.ConnectionConfig{Brokers: e.brokers},
		ConsumerGroup:     group,
		SessionTimeout:    6 * time.Second,
		HeartbeatInterval: 500 * time.Millisecond,
		RebalanceTimeout:  5 * time.Second,
		JoinGroupBackoff:  200 * time.Millisecond,
		CommitInterval:    100 * time.Millisecond,
		DrainTimeout:      2 * time.Second,
	}
}

// start runs an outbound router with cfg and stops it when the test ends.
func (e *env) start(cfg router.OutboundConfig) *router.Outbound {
	e.t.Helper()
	o, _ := e.run(cfg)
	return o
}

// run runs an outbound router with cfg until stop (which cancels the context of its Run
// and returns Run's error) or the end of the test.
func (e *env) run(cfg router.OutboundConfig) (o *router.Outbound, stop func() error) {
	e.t.Helper()
	logger := e.logger
	if logger == nil && os.Getenv("OUTBOUND_TEST_LOG") != "" {
		logger = watermill.NewStdLogger(true, false)
	}
	o, err := router.NewOutbound(cfg, logger)
	require.NoError(e.t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- o.Run(ctx) }()
	var once sync.Once
	var runErr error
	stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case runErr = <-done:
			case <-time.After(waitLimit):
				runErr = errors.New("outbound Run did not return")
			}
		})
		return runErr
	}
	e.t.Cleanup(func() {
		cancel()
		_ = o.Close()
		if err := stop(); err != nil && !errors.Is(err, context.Canceled) {
			e.t.Errorf("outbound Run: %v", err)
		}
	})
	select {
	case <-o.Running():
	case err := <-done:
		e.t.Fatalf("outbound Run returned before running: %v", err)
	case <-time.After(waitLimit):
		e.t.Fatal("outbound router did not start")
	}
	return o, stop
}

// send encodes and publishes command records, keyed by their business key, in order.
func (e *env) send(recs ...schemas.Record) {
	e.t.Helper()
	byTopic := map[string][]*message.Message{}
	var order []string
	for _, r := range recs {
		b, err := e.serde.Encode(r)
		require.NoError(e.t, err)
		m := message.NewMessage(strconv.Itoa(len(byTopic))+"-"+r.Key()+"-"+time.Now().String(), b)
		m.Metadata.Set(kafka.DefaultPartitionKeyMetadata, r.Key())
		topic := e.serde.Topic(schemas.DescriptorOf(r))
		if _, ok := byTopic[topic]; !ok {
			order = append(order, topic)
		}
		byTopic[topic] = append(byTopic[topic], m)
	}
	for _, topic := range order {
		require.NoError(e.t, e.pub.Publish(topic, byTopic[topic]...))
	}
}

// sendRaw publishes a raw value to topic.
func (e *env) sendRaw(topic, key string, value []byte) {
	e.t.Helper()
	m := message.NewMessage(key+"-"+time.Now().String(), value)
	m.Metadata.Set(kafka.DefaultPartitionKeyMetadata, key)
	require.NoError(e.t, e.pub.Publish(topic, m))
}

// follow reads the results topic as it grows, from the first record, until the test
// ends.
func (e *env) follow() {
	e.t.Helper()
	e.got = map[string]*schemas.CommandResult{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			// The topic may not exist yet: try again until it does.
			_ = outbound.TopicReader{Brokers: e.brokers}.Read(ctx, e.results, true, nil, func(m kafkago.Message) {
				var r schemas.CommandResult
				if err := e.serde.Decode(context.Background(), m.Value, &r); err != nil || r.CommandID != string(m.Key) {
					e.t.Errorf("result at %d/%d: %v (key %q)", m.Partition, m.Offset, err, m.Key)
					return
				}
				if err := checkResultHeaders(m, &r); err != nil {
					e.t.Errorf("result at %d/%d: %v", m.Partition, m.Offset, err)
				}
				e.mu.Lock()
				e.got[r.CommandID] = &r
				e.count++
				e.mu.Unlock()
			})
			select {
			case <-ctx.Done():
			case <-time.After(100 * time.Millisecond):
			}
		}
	}()
	e.t.Cleanup(func() {
		cancel()
		<-done
	})
}

// checkResultHeaders checks that a result record's headers say what its value says.
func checkResultHeaders(m kafkago.Message, r *schemas.CommandResult) error {
	want := map[string]string{
		kafka.UUIDHeader:                   r.CommandID + "/result",
		outbound.ResultCommandIDHeader:     r.CommandID,
		outbound.ResultCommandTypeHeader:   r.CommandType,
		outbound.ResultStatusHeader:        string(r.Status),
		outbound.ResultCorrelationIDHeader: "",
	}
	if r.CorrelationID != nil {
		want[outbound.ResultCorrelationIDHeader] = *r.CorrelationID
	}
	got := map[string]string{outbound.ResultCorrelationIDHeader: ""}
	for _, h := range m.Headers {
		got[h.Key] = string(h.Value)
	}
	if !maps.Equal(want, got) {
		return fmt.Errorf("headers %v, want %v", got, want)
	}
	return nil
}

// resultsByID returns the results read so far by command id (the last one of each) and
// how many were read in all.
func (e *env) resultsByID() (map[string]*schemas.CommandResult, int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make(map[string]*schemas.CommandResult, len(e.got))
	for k, v := range e.got {
		out[k] = v
	}
	return out, e.count
}

// waitResults waits until there is a result for each of ids and returns the results.
func (e *env) waitResults(ids ...string) map[string]*schemas.CommandResult {
	e.t.Helper()
	var got map[string]*schemas.CommandResult
	require.Eventually(e.t, func() bool {
		got, _ = e.resultsByID()
		for _, id := range ids {
			if got[id] == nil {
				return false
			}
		}
		return true
	}, waitLimit, 100*time.Millisecond, "results for %d commands", len(ids))
	return got
}

// poisoned returns the poison topic's records as the library lists them.
func (e *env) poisoned() []outbound.PoisonRecord {
	e.t.Helper()
	recs, err := outbound.ListPoisoned(context.Background(), outbound.TopicReader{Brokers: e.brokers}, e.poison)
	if err != nil {
		e.t.Logf("listing %s: %v", e.poison, err)
		return nil
	}
	return recs
}

// order reads an order from the sandbox.
func (e *env) order(id string) *dsco.Order {
	e.t.Helper()
	o, err := e.client(outbound.RoleSupplier).SupplierGetOrder(context.Background(), id)
	require.NoError(e.t, err)
	return o
}

// seedOrders creates n orders in the sandbox and returns them as the supplier reads them.
// shippedOrder seeds an order and ships its first line (so that it can be returned).
func (e *env) shippedOrder() *dsco.Order {
	e.t.Helper()
	o := e.seedOrders(1)[0]
	_, err := e.client(outbound.RoleSupplier).SupplierCreateShipment(e.t.Context(), dsco.ShipmentBatchRequest{
		Shipments: []dsco.ShipmentItem{{OrderID: o.OrderID, LineItemID: o.Items[0].LineItemID, TrackingNumber: "1Z", Carrier: "UPS"}}})
	require.NoError(e.t, err)
	return o
}

// handler runs a supplier pipeline, its Dsco client trying each call once (and given
// opts), with retry as its retry budget, until the test ends, and returns it with its
// handler of command, to be called directly (no Subscriber).
func (e *env) handler(command string, retry outbound.RetryConfig, opts ...dsco.Option) (*outbound.Pipeline, kafka.RecordHandler) {
	e.t.Helper()
	cfg := e.pipelineConfig(outbound.RoleSupplier, append([]dsco.Option{dsco.WithRetry(dsco.RetryPolicy{MaxAttempts: 1})}, opts...)...)
	cfg.Retry = retry
	cfg.Breaker.ConsecutiveFailures = 1000
	return e.handlerOf(command, cfg)
}

// handlerOf runs a pipeline of cfg until the test ends, and returns it with its handler
// of command, to be called directly (no Subscriber).
func (e *env) handlerOf(command string, cfg outbound.Config) (*outbound.Pipeline, kafka.RecordHandler) {
	e.t.Helper()
	p, err := outbound.NewPipeline(cfg, nil)
	require.NoError(e.t, err)
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan struct{})
	go func() { defer close(ran); _ = p.Run(ctx) }()
	e.t.Cleanup(func() { cancel(); <-ran })
	<-p.Ready()
	h, err := p.Handler(command)
	require.NoError(e.t, err)
	return p, h
}

func (e *env) seedOrders(n int) []*dsco.Order {
	e.t.Helper()
	ids, err := e.sandbox.SeedOrders(n)
	require.NoError(e.t, err)
	c := e.client(outbound.RoleSupplier)
	out := make([]*dsco.Order, len(ids))
	for i, id := range ids {
		o, err := c.SupplierGetOrder(context.Background(), id)
		require.NoError(e.t, err)
		out[i] = o
	}
	return out
}

func str(s string) *string { return &s }
func i32(v int32) *int32   { return &v }

func money(s string) schemas.Decimal {
	d, err := schemas.ParseDecimal(s)
	if err != nil {
		panic(err)
	}
	return d
}

// registerForeign registers a record schema that is not the contract's and returns its id.
func registerForeign(t testing.TB, registryURL string) int {
	t.Helper()
	client, err := hambaregistry.NewClient(registryURL)
	require.NoError(t, err)
	_, id := mustRegister(t, client)
	return id
}

func mustRegister(t testing.TB, client *hambaregistry.Client) (string, int) {
	t.Helper()
	const schema = `{"type":"record","name":"Foreign","namespace":"com.example","fields":[{"name":"a","type":"string"},{"name":"b","type":"string"}]}`
	id, _, err := client.CreateSchema(context.Background(), "foreign-value", schema)
	require.NoError(t, err)
	return schema, id
}

func deref(s *string) string {
	if s == nil {
		return "<nil>"
	}
	return *s
}

// deliver hands rec to h, as the Subscriber does, and waits for its done callback, which
// must get nil (the command's outcome is in Kafka).
func (e *env) deliver(h kafka.RecordHandler, rec kafkago.Message) {
	e.t.Helper()
	done := make(chan error, 1)
	h(context.Background(), rec, func(err error) { done <- err })
	select {
	case err := <-done:
		require.NoError(e.t, err)
	case <-time.After(waitLimit):
		e.t.Fatal("no outcome")
	}
}

// marks returns the marks the applied-ids topic holds for id (their names), in log order.
func (e *env) marks(id string) []string {
	e.t.Helper()
	var mu sync.Mutex
	var out []string
	err := outbound.TopicReader{Brokers: e.brokers}.Read(e.t.Context(), e.applied, false, nil, func(m kafkago.Message) {
		if string(m.Key) == id {
			mu.Lock()
			defer mu.Unlock()
			out = append(out, string(m.Value))
		}
	})
	require.NoError(e.t, err)
	return out
}

// waitPoisoned waits until the poison topic holds n records and returns them.
func (e *env) waitPoisoned(n int) []outbound.PoisonRecord {
	e.t.Helper()
	var recs []outbound.PoisonRecord
	require.Eventually(e.t, func() bool {
		recs = e.poisoned()
		return len(recs) >= n
	}, 20*time.Second, 100*time.Millisecond, "%d poison records", n)
	for _, r := range recs {
		e.t.Logf("poisoned: %s %s: %s", r.Key, r.CommandID, r.Reason)
	}
	require.Len(e.t, recs, n)
	return recs
}

// followHold holds the fetches of a topic in a kfake cluster, as a follow that has not
// read what was written since its last fetch: from holdFollow on, until ListOffsets
// requests have asked for the latest offsets of every partition of the topic once armed
// (the ends Store.CatchUp lists).
type followHold struct {
	partitions int
	mu         sync.Mutex
	listed     map[int32]bool // nil until armed
	opened     chan struct{}
	held       chan int32 // the partition of each fetch held
}

// holdFollow holds the fetches of topic, of partitions partitions, in cl (see
// followHold), armed at once when arm.
func holdFollow(cl *kfake.Cluster, topic string, partitions int, arm bool) *followHold {
	h := &followHold{partitions: partitions, opened: make(chan struct{}), held: make(chan int32, 1024)}
	if arm {
		h.arm()
	}
	cl.ControlKey(int16(kmsg.ListOffsets), func(r kmsg.Request) (kmsg.Response, error, bool) {
		h.mu.Lock()
		defer h.mu.Unlock()
		for _, rt := range r.(*kmsg.ListOffsetsRequest).Topics {
			for _, rp := range rt.Partitions {
				if rt.Topic == topic && rp.Timestamp == -1 && h.listed != nil && !h.listed[rp.Partition] {
					h.listed[rp.Partition] = true
					if len(h.listed) == h.partitions {
						close(h.opened)
					}
				}
			}
		}
		return nil, nil, false
	})
	cl.ControlKey(int16(kmsg.Fetch), func(r kmsg.Request) (kmsg.Response, error, bool) {
		for _, rt := range r.(*kmsg.FetchRequest).Topics {
			if rt.Topic != topic {
				continue
			}
			select {
			case <-h.opened:
				return nil, nil, false
			default:
			}
			for _, rp := range rt.Partitions {
				select {
				case h.held <- rp.Partition:
				default:
				}
			}
			cl.SleepControl(func() { <-h.opened })
		}
		return nil, nil, false
	})
	return h
}

// arm has the ListOffsets requests for the topic's latest offsets from now on let the
// fetches go, once they have named every partition.
func (h *followHold) arm() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.listed == nil {
		h.listed = map[int32]bool{}
	}
}

// waitHeld waits until a fetch of each of the topic's partitions is held: from then on
// the follow reads nothing written after.
func (h *followHold) waitHeld(t testing.TB, partitions int) {
	t.Helper()
	seen := map[int32]bool{}
	for len(seen) < partitions {
		select {
		case p := <-h.held:
			seen[p] = true
		case <-time.After(waitLimit):
			t.Fatalf("fetches held of %d partitions, want %d", len(seen), partitions)
		}
	}
}
