package inbound_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr/srfake"

	"github.com/dscokafka/connector/pkg/dsco"
	"github.com/dscokafka/connector/pkg/dsco/dscotest"
	"github.com/dscokafka/connector/pkg/inbound"
	"github.com/dscokafka/connector/pkg/kafka/kafkatest"
	"github.com/dscokafka/connector/pkg/schemas"
)

// waitLimit bounds every wait for something the pipeline does.
const waitLimit = 60 * time.Second

// fastRetry is a Dsco retry policy for tests: quick, but patient enough to
// ride out the sandbox's faults.
var fastRetry = dsco.RetryPolicy{MaxAttempts: 20, BaseDelay: 5 * time.Millisecond, MaxDelay: 100 * time.Millisecond, MaxElapsed: 30 * time.Second}

// newSandbox starts a Dsco sandbox on loopback, stopped when the test ends.
func newSandbox(t testing.TB, cfg dscotest.Config) *dscotest.Server {
	t.Helper()
	srv, err := dscotest.NewServer(cfg)
	require.NoError(t, err)
	t.Cleanup(srv.Close)
	return srv
}

// newTransport returns an HTTP transport with connections of its own, closed
// when the test ends: what a test's transport to the sandbox wraps.
func newTransport(t testing.TB) *http.Transport {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	t.Cleanup(tr.CloseIdleConnections)
	return tr
}

// newClient returns a supplier client of base with its own connections,
// closed when the test ends; opts override its options.
func newClient(t testing.TB, base string, opts ...dsco.Option) *dsco.Client {
	t.Helper()
	tr := newTransport(t)
	c, err := dsco.NewClient(base, append([]dsco.Option{dsco.WithClientCredentials(dscotest.SupplierClientID, dscotest.SupplierClientSecret),
		dsco.WithHTTPClient(&http.Client{Transport: tr, Timeout: 30 * time.Second}), dsco.WithRetry(fastRetry)}, opts...)...)
	require.NoError(t, err)
	return c
}

// newRegistry starts srfake on loopback, stopped when the test ends.
func newRegistry(t testing.TB) string {
	t.Helper()
	reg := srfake.New()
	t.Cleanup(reg.Close)
	return reg.URL()
}

// newSerde returns a registered Serde for every event record.
func newSerde(t testing.TB, registryURL string) *schemas.Serde {
	t.Helper()
	s, err := schemas.NewSerde(schemas.Config{RegistryURL: registryURL, Records: schemas.Events})
	require.NoError(t, err)
	require.NoError(t, s.Register(t.Context()))
	return s
}

// createTopics creates the event topics of objectTypes and the poison topic.
func createTopics(t testing.TB, brokers []string, objectTypes ...string) {
	t.Helper()
	for _, o := range objectTypes {
		kafkatest.CreateTopic(t, brokers, "dsco."+o+".v1", 4)
	}
	kafkatest.CreateTopic(t, brokers, "dsco.poison.v1", 1)
}

// newStack starts what a pipeline test runs against: a sandbox, Kafka (kfake, or
// KAFKA_BROKERS) with the topics of objectTypes and the poison topic, a registry, a
// client of the sandbox and a registered serde.
func newStack(t testing.TB, cfg dscotest.Config, objectTypes ...string) (*dscotest.Server, *dsco.Client, []string, *schemas.Serde) {
	t.Helper()
	sb := newSandbox(t, cfg)
	brokers := kafkatest.Brokers(t)
	createTopics(t, brokers, objectTypes...)
	return sb, newClient(t, sb.URL), brokers, newSerde(t, newRegistry(t))
}

// testConfig is a pipeline configuration with quick timings.
func testConfig(client *dsco.Client, serde *schemas.Serde, brokers []string, streams ...inbound.StreamConfig) inbound.Config {
	return inbound.Config{
		Client:             client,
		Serde:              serde,
		Streams:            streams,
		Kafka:              inbound.KafkaConfig{Brokers: brokers},
		PageLimit:          100,
		PollInterval:       20 * time.Millisecond,
		CheckpointEvents:   200,
		CheckpointInterval: 50 * time.Millisecond,
		RetryBackoff:       10 * time.Millisecond,
		RetryBackoffMax:    200 * time.Millisecond,
	}
}

// running is a Pipeline whose Run is in a goroutine.
type running struct {
	p    *inbound.Pipeline
	done chan error
}

// startPipeline runs a pipeline until stop or the end of the test.
func startPipeline(t testing.TB, cfg inbound.Config) *running {
	t.Helper()
	return startPipelineLogged(t, cfg, nil)
}

// startPipelineLogged is startPipeline with a logger.
func startPipelineLogged(t testing.TB, cfg inbound.Config, logger *slog.Logger) *running {
	t.Helper()
	p, err := inbound.NewPipeline(cfg, logger)
	require.NoError(t, err)
	r := &running{p: p, done: make(chan error, 1)}
	go func() { r.done <- p.Run(context.Background()) }()
	t.Cleanup(func() { _ = p.Close() })
	return r
}

// jsonAnswer is an answer of status with the JSON body, to req: what a test transport
// answers in Dsco's place.
func jsonAnswer(req *http.Request, status int, body string) *http.Response {
	return &http.Response{StatusCode: status, Header: http.Header{"Content-Type": {"application/json"}},
		Body: io.NopCloser(strings.NewReader(body)), ContentLength: int64(len(body)), Request: req}
}

// logSignal is a slog.Handler that signals on logged once a record with
// the message msg is logged, at any level: a test waits for a point the code
// under test reached. It keeps every record (find).
type logSignal struct {
	msg    string
	logged chan struct{}
	mu     sync.Mutex
	lines  []logLine
}

// logLine is a record a logSignal kept: its level, message and attributes
// (those of groups without a key inlined, as handlers do).
type logLine struct {
	level slog.Level
	msg   string
	attrs map[string]any
}

func newLogSignal(msg string) *logSignal {
	return &logSignal{msg: msg, logged: make(chan struct{}, 1)}
}

func (h *logSignal) Enabled(context.Context, slog.Level) bool { return true }
func (h *logSignal) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *logSignal) WithGroup(string) slog.Handler            { return h }

func (h *logSignal) Handle(_ context.Context, r slog.Record) error {
	line := logLine{level: r.Level, msg: r.Message, attrs: map[string]any{}}
	var add func(a slog.Attr) bool
	add = func(a slog.Attr) bool {
		if v := a.Value.Resolve(); v.Kind() == slog.KindGroup && a.Key == "" {
			for _, ga := range v.Group() {
				add(ga)
			}
		} else {
			line.attrs[a.Key] = v.Any()
		}
		return true
	}
	r.Attrs(add)
	h.mu.Lock()
	h.lines = append(h.lines, line)
	h.mu.Unlock()
	if r.Message == h.msg {
		select {
		case h.logged <- struct{}{}:
		default:
		}
	}
	return nil
}

// find returns the records kept so far with message msg at level.
func (h *logSignal) find(level slog.Level, msg string) []logLine {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []logLine
	for _, l := range h.lines {
		if l.level == level && l.msg == msg {
			out = append(out, l)
		}
	}
	return out
}

// from returns the records kept so far at level or above.
func (h *logSignal) from(level slog.Level) []logLine {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []logLine
	for _, l := range h.lines {
		if l.level >= level {
			out = append(out, l)
		}
	}
	return out
}

// stop closes the pipeline and returns Run's error.
func (r *running) stop(t testing.TB) error {
	t.Helper()
	require.NoError(t, r.p.Close())
	select {
	case err := <-r.done:
		return err
	case <-time.After(waitLimit):
		t.Fatal("Run did not return after Close")
		return nil
	}
}

// consumer reads topics from their start.
type consumer struct {
	cl *kgo.Client
}

func newConsumer(t testing.TB, brokers []string, topics ...string) *consumer {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topics...),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(100*time.Millisecond))
	require.NoError(t, err)
	t.Cleanup(cl.Close)
	return &consumer{cl: cl}
}

// until reads records until done says enough or waitLimit passes.
func (c *consumer) until(t testing.TB, done func([]*kgo.Record) bool) []*kgo.Record {
	t.Helper()
	var out []*kgo.Record
	ctx, cancel := context.WithTimeout(t.Context(), waitLimit)
	defer cancel()
	for !done(out) {
		fs := c.cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("only %d records arrived in %v", len(out), waitLimit)
		}
		for _, err := range fs.Errors() {
			if err.Err != context.Canceled {
				t.Logf("fetch error %s/%d: %v", err.Topic, err.Partition, err.Err)
			}
		}
		out = append(out, fs.Records()...)
	}
	return out
}

func header(r *kgo.Record, key string) string {
	for _, h := range r.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}

// streamEvents reads every retained event of a stream with the plain
// client, partition by partition, from the start whatever was committed
// (the sandbox's first position is "<partition>:0000000000000000"): what the
// sandbox holds, in stream order.
func streamEvents(t testing.TB, c *dsco.Client, streamID string, partitions int) map[int][]dsco.Event {
	t.Helper()
	out := map[int][]dsco.Event{}
	for part := range partitions {
		pos := fmt.Sprintf("%d:%016d", part, 0)
		for {
			page, err := c.GetStreamEvents(t.Context(), streamID, dsco.ReadEventsParams{Position: pos, Limit: 1000, Partition: part})
			require.NoError(t, err)
			out[part] = append(out[part], page.Events...)
			pos = page.Position
			if !page.HasMore {
				break
			}
		}
	}
	return out
}

// witness creates a stream like def at this moment: the sandbox fills a new
// stream with every retained event, so it shows all events so far.
func witness(t testing.TB, c *dsco.Client, objectType string, partitions int) map[int][]dsco.Event {
	t.Helper()
	s, err := c.CreateStream(t.Context(), dsco.StreamDefinition{ObjectType: dsco.ObjectType(objectType), PartitionCount: partitions})
	require.NoError(t, err)
	return streamEvents(t, c, s.StreamID, partitions)
}

// positionWatch samples the committed positions of a stream and records any
// that moved backwards.
type positionWatch struct {
	mu        sync.Mutex
	last      map[int]uint64
	backwards []string
	samples   int
}

func watchPositions(t testing.TB, c *dsco.Client, streamID func() string) *positionWatch {
	t.Helper()
	w := &positionWatch{last: map[int]uint64{}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			time.Sleep(10 * time.Millisecond)
			id := streamID()
			if id == "" {
				continue
			}
			list, err := c.ListStreams(ctx)
			if err != nil {
				continue
			}
			for _, s := range list.Streams {
				if s.StreamID != id {
					continue
				}
				w.mu.Lock()
				w.samples++
				for _, p := range s.Partitions {
					seq := sandboxSeq(p.Position)
					if seq < w.last[p.Partition] {
						w.backwards = append(w.backwards, p.Position)
					}
					w.last[p.Partition] = max(seq, w.last[p.Partition])
				}
				w.mu.Unlock()
			}
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
	return w
}

// sandboxSeq reads the sequence of a sandbox position "<partition>:<seq>"
// (opaque to the pipeline; the test knows the sandbox).
func sandboxSeq(pos string) uint64 {
	_, s, _ := strings.Cut(pos, ":")
	n, _ := strconv.ParseUint(s, 10, 64)
	return n
}

// httpPost posts a JSON body and returns the status code.
func httpPost(t testing.TB, url, body string) (int, error) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	return resp.StatusCode, nil
}
