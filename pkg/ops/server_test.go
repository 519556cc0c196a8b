package ops_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dscokafka/connector/pkg/ops"
)

// start runs a server on a free loopback port until the test ends.
func start(t *testing.T, cfg ops.Config) *ops.Server {
	t.Helper()
	cfg.Addr = "127.0.0.1:0"
	s, err := ops.NewServer(cfg, nil)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
	})
	return s
}

func get(t *testing.T, url string) (int, string, http.Header) {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(body), resp.Header
}

func TestHealthzAndMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "connector_test_events_total", Help: "test"})
	reg.MustRegister(c)
	c.Add(42)
	s := start(t, ops.Config{Gatherer: reg})

	code, body, _ := get(t, s.URL()+"healthz")
	assert.Equal(t, http.StatusOK, code)
	assert.Equal(t, "ok\n", body)

	code, body, _ = get(t, s.URL()+"metrics")
	assert.Equal(t, http.StatusOK, code)
	assert.Contains(t, body, "connector_test_events_total 42")

	code, _, _ = get(t, s.URL()+"nothing-here")
	assert.Equal(t, http.StatusNotFound, code)
}

func TestStatusJSON(t *testing.T) {
	started := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	want := testStatus(started, time.Date(2026, 1, 2, 4, 0, 0, 0, time.UTC))
	s := start(t, ops.Config{
		Status: func() ops.Status { return want },
		Checks: []ops.Check{{Name: "kafka", Func: func(context.Context) error { return nil }}},
	})
	code, body, h := get(t, s.URL()+"status.json")
	require.Equal(t, http.StatusOK, code)
	assert.Equal(t, "application/json", h.Get("Content-Type"))

	var st ops.Status
	require.NoError(t, json.Unmarshal([]byte(body), &st))
	assert.Equal(t, started, st.Started)
	assert.WithinDuration(t, time.Now(), st.Time, time.Minute, "the server sets Time")
	assert.Equal(t, want.Streams, st.Streams)
	assert.Equal(t, want.Commands, st.Commands)
	assert.Equal(t, int64(12345), st.Totals.EventsIn)
	require.Len(t, st.Checks, 1)
	assert.Equal(t, "kafka", st.Checks[0].Name)
	assert.True(t, st.Checks[0].OK)
	// An unknown lag is null, not 0.
	assert.Contains(t, body, `"lag":null`)
}

func TestStatusWithoutProvider(t *testing.T) {
	s := start(t, ops.Config{})
	_, body, _ := get(t, s.URL()+"status.json")
	var raw map[string]any
	require.NoError(t, json.Unmarshal([]byte(body), &raw))
	assert.Equal(t, []any{}, raw["streams"], "empty lists, not null, for the page")
	assert.Equal(t, []any{}, raw["commands"])
	assert.NotEmpty(t, raw["started"])
}

func TestPageIsSelfContained(t *testing.T) {
	s := start(t, ops.Config{})
	code, body, h := get(t, s.URL())
	require.Equal(t, http.StatusOK, code)
	assert.Equal(t, "text/html; charset=utf-8", h.Get("Content-Type"))
	assert.Contains(t, h.Get("Content-Security-Policy"), "default-src 'none'")
	assert.Contains(t, body, "status.json")
	for _, ext := range []string{"http://", "https://", "//cdn", "src=\"", "<link rel=\"stylesheet\""} {
		assert.NotContains(t, body, ext, "the page loads nothing from elsewhere")
	}
}

func TestReadyz(t *testing.T) {
	var kafkaDown, dscoDown atomic.Bool
	check := func(down *atomic.Bool, msg string) func(context.Context) error {
		return func(context.Context) error {
			if down.Load() {
				return errors.New(msg)
			}
			return nil
		}
	}
	s := start(t, ops.Config{
		CheckCacheTTL: time.Nanosecond, // every request evaluates
		Checks: []ops.Check{
			{Name: "kafka", Func: check(&kafkaDown, "dial tcp: connection refused")},
			{Name: "dsco", Func: check(&dscoDown, "503 Service Unavailable")},
		},
	})

	code, body, _ := get(t, s.URL()+"readyz")
	assert.Equal(t, http.StatusOK, code)
	assert.Equal(t, "ready\nok   kafka\nok   dsco\n", body)

	kafkaDown.Store(true)
	dscoDown.Store(true)
	code, body, _ = get(t, s.URL()+"readyz")
	assert.Equal(t, http.StatusServiceUnavailable, code)
	assert.Equal(t, "not ready: kafka, dsco\nFAIL kafka: dial tcp: connection refused\nFAIL dsco: 503 Service Unavailable\n", body)

	kafkaDown.Store(false)
	code, body, _ = get(t, s.URL()+"readyz")
	assert.Equal(t, http.StatusServiceUnavailable, code)
	assert.True(t, strings.HasPrefix(body, "not ready: dsco\n"), body)

	dscoDown.Store(false)
	code, _, _ = get(t, s.URL()+"readyz")
	assert.Equal(t, http.StatusOK, code)
}

func TestReadyzCachesResults(t *testing.T) {
	var calls atomic.Int64
	s := start(t, ops.Config{
		CheckCacheTTL: time.Hour,
		Checks: []ops.Check{{Name: "c", Func: func(context.Context) error {
			calls.Add(1)
			return nil
		}}},
	})
	for range 5 {
		code, _, _ := get(t, s.URL()+"readyz")
		require.Equal(t, http.StatusOK, code)
	}
	get(t, s.URL()+"status.json")
	assert.Equal(t, int64(1), calls.Load(), "one evaluation serves every request within the TTL")
}

func TestReadyzCheckThatHangs(t *testing.T) {
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	s := start(t, ops.Config{
		CheckTimeout: 200 * time.Millisecond,
		Checks: []ops.Check{
			{Name: "stuck", Func: func(context.Context) error { <-release; return nil }}, // ignores its context
			{Name: "slow", Func: func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }},
			{Name: "panics", Func: func(context.Context) error { panic("boom") }},
			{Name: "fine", Func: func(context.Context) error { return nil }},
		},
	})
	code, body, _ := get(t, s.URL()+"readyz")
	assert.Equal(t, http.StatusServiceUnavailable, code)
	assert.Equal(t, "not ready: stuck, slow, panics\n"+
		"FAIL stuck: no answer within 200ms\n"+
		"FAIL slow: context deadline exceeded\n"+
		"FAIL panics: check panicked: boom\n"+
		"ok   fine\n", body)
}

func TestConfigValidate(t *testing.T) {
	nop := func(context.Context) error { return nil }
	tests := []struct {
		name string
		cfg  ops.Config
		want string
	}{
		{"no addr", ops.Config{}, "ops: Addr is required"},
		{"unnamed check", ops.Config{Addr: ":0", Checks: []ops.Check{{Func: nop}}}, "ops: check 0 has no name"},
		{"no func", ops.Config{Addr: ":0", Checks: []ops.Check{{Name: "a"}}}, `ops: check "a" has no Func`},
		{"twice", ops.Config{Addr: ":0", Checks: []ops.Check{{Name: "a", Func: nop}, {Name: "a", Func: nop}}},
			`ops: check name "a" used twice`},
		{"negative", ops.Config{Addr: ":0", CheckTimeout: -1},
			"ops: CheckTimeout, CheckCacheTTL and ShutdownTimeout must not be negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ops.NewServer(tt.cfg, nil)
			require.EqualError(t, err, tt.want)
		})
	}
}

func TestNewServerPortInUse(t *testing.T) {
	s := start(t, ops.Config{})
	_, err := ops.NewServer(ops.Config{Addr: s.Addr().String()}, nil)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "ops: listening on "+s.Addr().String())
}

func TestCloseIsIdempotent(t *testing.T) {
	s, err := ops.NewServer(ops.Config{Addr: "127.0.0.1:0"}, nil)
	require.NoError(t, err)
	require.NoError(t, s.Close(), "Close before Run releases the port")
	require.NoError(t, s.Close())
	require.NoError(t, s.Run(context.Background()), "Run after Close returns at once")
}

func TestURL(t *testing.T) {
	s, err := ops.NewServer(ops.Config{Addr: ":0"}, nil)
	require.NoError(t, err)
	defer s.Close()
	assert.Regexp(t, `^http://localhost:\d+/$`, s.URL())
}

// testStatus is a status as the pipelines would report it.
func testStatus(started, now time.Time) ops.Status {
	lag := func(n int64) *int64 { return &n }
	return ops.Status{
		Started: started,
		Version: "v1.2.3",
		Role:    "supplier",
		Totals:  ops.Totals{EventsIn: 12345, CommandsOut: 678, Accepted: 670, Rejected: 5, Failed: 1, Poisoned: 3},
		Streams: []ops.StreamPartition{
			{ObjectType: "order", StreamID: "stream-order-1", Partition: 0, Topic: "dsco.order.v1",
				Position: "pos-0-000123", LastEventTime: now.Add(-4 * time.Second), Lag: lag(7), Events: 1234567},
			{ObjectType: "order", StreamID: "stream-order-1", Partition: 1, Topic: "dsco.order.v1",
				Position: "pos-1-000456", LastEventTime: now.Add(-3 * time.Minute), Lag: nil,
				LagUnknown: "Dsco streams do not report lag", Events: 89},
		},
		Commands: []ops.CommandTopic{
			{Command: "ship", Topic: "dsco.cmd.ship.v1", Lag: 42, Accepted: 600, Rejected: 4, Failed: 1, Poisoned: 2},
			{Command: "invoice", Topic: "dsco.cmd.invoice.v1", Lag: 0, Accepted: 70, Rejected: 1, Poisoned: 1},
		},
	}
}
