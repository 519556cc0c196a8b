package outbound

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	kafkago "github.com/segmentio/kafka-go"
	"github.com/sony/gobreaker/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dscokafka/connector/pkg/dsco"
)

// TestTakeSkipsGivenUpRecords: a queued command whose record's context ended (the
// Subscriber gave the record up after a revocation) is not taken into a batch but
// settled with the context's error; the others are taken in order.
func TestTakeSkipsGivenUpRecords(t *testing.T) {
	p := &Pipeline{cfg: Config{MaxBatchItems: 10, MaxBatchBytes: 1 << 20}}
	b := newBatcher(p, kinds[0])
	live := context.Background()
	gone, cancel := context.WithCancel(context.Background())
	cancel()
	settled := map[string]error{}
	cmd := func(id string, ctx context.Context) *command {
		return &command{id: id, ctx: ctx, size: 10, finish: func(err error) { settled[id] = err }}
	}
	for _, c := range []*command{cmd("a", live), cmd("b", gone), cmd("c", live)} {
		require.True(t, b.enqueue(c))
	}
	batch, size, full := b.take(nil, 0)
	var ids []string
	for _, c := range batch {
		ids = append(ids, c.id)
	}
	assert.Equal(t, []string{"a", "c"}, ids)
	assert.Equal(t, 20, size)
	assert.False(t, full)
	assert.Equal(t, map[string]error{"b": context.Canceled}, settled, "only the given-up command is settled, with its context's error")
	assert.Empty(t, b.queue)
}

// nopWriter accepts every write.
type nopWriter struct{}

func (nopWriter) WriteRecords(...kafkago.Message) error { return nil }

// batcherPipeline is a Pipeline with what a batcher needs to run undecodable commands
// (whose batches make no Dsco call).
func batcherPipeline(t *testing.T, maxWait time.Duration) *Pipeline {
	t.Helper()
	m, err := newMetrics(nil)
	require.NoError(t, err)
	return &Pipeline{
		cfg: Config{MaxBatchItems: 100, MaxBatchBytes: 1 << 20, MaxBatchWait: maxWait, MaxConcurrentBatches: 4,
			Writer: nopWriter{}, PoisonTopic: "poison", Now: time.Now},
		logger: watermill.NopLogger{}, metrics: m,
		store:    newStore(StoreConfig{Writer: nopWriter{}, Now: time.Now, MaxEntries: 10, Retention: time.Hour}, nil),
		draining: make(chan struct{}), aborted: make(chan struct{}),
	}
}

// undecodable returns a command decided without a call whose settle sends its error to
// settled.
func undecodable(settled chan<- error) *command {
	return &command{kind: kinds[0], undecodable: true, ctx: context.Background(), size: 10,
		rec: kafkago.Message{Topic: "t"}, out: Outcome{Status: StatusRejected, Reason: "x"},
		finish: func(err error) { settled <- err }}
}

// TestBatchGoesWhenTheLastDecodeEnds: a batch waits while a command of its kind is being
// decoded; once that decode ends without queueing a command (it failed), the batch goes
// at once, not MaxBatchWait (an hour) later.
func TestBatchGoesWhenTheLastDecodeEnds(t *testing.T) {
	b := newBatcher(batcherPipeline(t, time.Hour), kinds[0])
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan struct{})
	go func() { defer close(ran); b.run(ctx, ctx) }()
	defer func() { cancel(); <-ran }()

	b.pending.Add(1) // a decode under way
	settled := make(chan error, 1)
	require.True(t, b.enqueue(undecodable(settled)))
	// run took the command and its wake-up: it waits for the decode.
	require.Eventually(t, func() bool {
		b.mu.Lock()
		defer b.mu.Unlock()
		return len(b.queue) == 0 && len(b.wake) == 0
	}, time.Minute, time.Millisecond)
	b.decoded() // the decode failed: nothing queued
	select {
	case err := <-settled:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("the batch waited for MaxBatchWait")
	}
}

// TestNoBatchAfterTheIntakeEnded: once the intake (run's ctx) has ended, queued commands
// are refused (ErrClosed), never dispatched, whichever select case would be ready.
func TestNoBatchAfterTheIntakeEnded(t *testing.T) {
	for range 50 {
		b := newBatcher(batcherPipeline(t, time.Second), kinds[0])
		settled := make(chan error, 1)
		require.True(t, b.enqueue(undecodable(settled)))
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		b.run(ctx, context.Background())
		require.ErrorIs(t, <-settled, ErrClosed)
	}
}

// TestPauseSpendsNoRetryBudget: a call refunded behind an open breaker counts neither as
// an attempt nor, with the wait after it, toward the retry budget's time.
func TestPauseSpendsNoRetryBudget(t *testing.T) {
	t0 := time.Unix(1_000_000, 0)
	sent := t0.Add(10 * time.Minute) // the refunded call started then
	p := &Pipeline{cfg: Config{Breaker: BreakerConfig{OpenTimeout: time.Millisecond},
		Now: func() time.Time { return sent.Add(time.Minute) }}, draining: make(chan struct{})}
	c := &command{attempts: 3, firstSent: t0}
	require.True(t, pause(context.Background(), p, []*command{c}, sent))
	assert.Equal(t, 2, c.attempts)
	assert.Equal(t, t0.Add(time.Minute), c.firstSent, "the minute the call and the pause took is not counted")
}

// heldWriter holds each write until release is closed, telling started first.
type heldWriter struct{ started, release chan struct{} }

func (w heldWriter) WriteRecords(...kafkago.Message) error {
	w.started <- struct{}{}
	<-w.release
	return nil
}

// TestSendSkipsRecordsGivenUpWhileMarking: a command whose record the Subscriber gave up
// while its sending mark was being written (Kafka away; the record's next delivery looked
// in the store before the mark was there) is not sent: that delivery sends it. Sending it
// here too applied a ship twice (the second rejected by Dsco), seen on the broker-kill tier.
func TestSendSkipsRecordsGivenUpWhileMarking(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		calls.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"status":"completed"}`))
	}))
	defer srv.Close()
	client, err := dsco.NewClient(srv.URL, dsco.WithStaticToken("t"))
	require.NoError(t, err)
	m, err := newMetrics(nil)
	require.NoError(t, err)
	w := heldWriter{started: make(chan struct{}, 1), release: make(chan struct{})}
	p := &Pipeline{
		cfg:    Config{Client: client, Now: time.Now, Retry: RetryConfig{MaxAttempts: 1, MaxElapsed: time.Minute}},
		logger: watermill.NopLogger{}, metrics: m,
		store:    newStore(StoreConfig{Writer: w, Now: time.Now, MaxEntries: 10, Retention: time.Hour}, nil),
		breaker:  gobreaker.NewCircuitBreaker[*dsco.BatchResponse](gobreaker.Settings{}),
		draining: make(chan struct{}), aborted: make(chan struct{}),
	}
	recCtx, giveUp := context.WithCancel(context.Background())
	c := &command{kind: kinds[0], id: "ship-1", ctx: recCtx, size: 10,
		item: &dsco.ShipmentItem{OrderID: "PO-1", LineItemID: "PO-1-1"}, finish: func(error) {}}
	sent := make(chan struct{})
	go func() { defer close(sent); p.send(context.Background(), kinds[0], []*command{c}) }()
	<-w.started // the sending mark is being written
	giveUp()
	close(w.release)
	<-sent
	assert.Zero(t, calls.Load(), "no call for a command given up while its mark was written")
	assert.Empty(t, c.out.Status, "left without an outcome: its next delivery decides it")
}

// TestClientClosedDuringTokenRequestStopsTheCall: a call whose token request ends because
// the Dsco client was closed under it (dsco.ErrClosed beside dsco.ErrToken) is Stopped, as
// Classify has it: the commands are left without an outcome for Kafka to deliver again,
// not held as if Dsco refused the connector's credentials (Paused: "Dsco calls fail" at
// error level, which says to check them, and a pause before the closed client refuses
// the next call).
func TestClientClosedDuringTokenRequestStopsTheCall(t *testing.T) {
	held, stop := make(chan struct{}, 1), make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/oauth2/token") {
			_ = r.ParseForm() // the body read: the server sees the client go
			held <- struct{}{}
			select {
			case <-r.Context().Done(): // the client gave the request up
			case <-stop:
			}
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"status":"completed"}`))
	}))
	defer srv.Close()
	defer close(stop)
	client, err := dsco.NewClient(srv.URL, dsco.WithClientCredentials("id", "secret"))
	require.NoError(t, err)
	reg := prometheus.NewRegistry()
	m, err := newMetrics(reg)
	require.NoError(t, err)
	logs := watermill.NewCaptureLogger()
	p := &Pipeline{
		cfg: Config{Client: client, Now: time.Now, Retry: RetryConfig{MaxAttempts: 1, MaxElapsed: time.Minute},
			Breaker: BreakerConfig{OpenTimeout: time.Millisecond}},
		logger: logs, metrics: m,
		breaker:  gobreaker.NewCircuitBreaker[*dsco.BatchResponse](gobreaker.Settings{}),
		draining: make(chan struct{}), aborted: make(chan struct{}),
	}
	k := kinds[slices.IndexFunc(kinds, func(k *kind) bool { return k.name == "inventory" })]
	c := &command{kind: k, id: "inv-1", ctx: context.Background(), size: 10,
		item: &dsco.InventoryItem{SKU: "SKU-1"}, finish: func(error) {}}
	sent := make(chan struct{})
	go func() { defer close(sent); p.send(context.Background(), k, []*command{c}) }()
	<-held
	client.Close() // ends the token request under way
	<-sent
	assert.Empty(t, c.out.Status, "left without an outcome: delivered again")
	assert.Empty(t, logs.Captured()[watermill.ErrorLogLevel], "no credentials refused")
	assert.Equal(t, 1, testutil.CollectAndCount(m.callSeconds), "the calls classified one way: stopped")
	assert.Equal(t, uint64(1), histogramCount(t, m.callSeconds.WithLabelValues("inventory", "stopped")))
}

// histogramCount returns the number of observations of h.
func histogramCount(t *testing.T, h prometheus.Observer) uint64 {
	t.Helper()
	var out dto.Metric
	require.NoError(t, h.(prometheus.Metric).Write(&out))
	return out.GetHistogram().GetSampleCount()
}

// TestFlights: wait returns once no call carries any of the commands' ids (two copies
// of one command, in two calls: after both ended), at once for ids no call carries, and
// false when its context ends first.
func TestFlights(t *testing.T) {
	var f flights
	a, again, b, c := &command{id: "a"}, &command{id: "a"}, &command{id: "b"}, &command{id: "c"}
	require.True(t, f.wait(context.Background(), []*command{a, b}), "nothing in flight")
	f.begin([]*command{a, b})
	f.begin([]*command{again})
	require.True(t, f.wait(context.Background(), []*command{c}), "c is in no call")

	waited := make(chan bool, 1)
	go func() { waited <- f.wait(context.Background(), []*command{c, a}) }()
	f.endAll([]*command{a, b})
	select {
	case <-waited:
		t.Fatal("wait returned while a call still carries a")
	case <-time.After(50 * time.Millisecond):
	}
	f.endAll([]*command{again})
	require.True(t, <-waited)
	assert.Empty(t, f.ids, "every call ended")

	f.begin([]*command{b})
	f.begin([]*command{b}) // a second call carrying the same command (a batch split)
	f.endAll([]*command{b})
	assert.Empty(t, f.ids, "endAll ends every call that carried the command")

	f.begin([]*command{b})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	assert.False(t, f.wait(ctx, []*command{b}), "the context ended first")
}
