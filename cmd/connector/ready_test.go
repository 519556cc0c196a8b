package main

import (
	"context"
	"io"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/sr/srfake"

	"github.com/dscokafka/connector/cmd/connector/internal/config"
	"github.com/dscokafka/connector/pkg/dsco"
	"github.com/dscokafka/connector/pkg/dsco/dscotest"
	"github.com/dscokafka/connector/pkg/kafka/kafkatest"
	"github.com/dscokafka/connector/pkg/ops"

	"github.com/sethvargo/go-envconfig"
)

// restartable is a service a test stops and starts again on the same address.
type restartable struct {
	mu    sync.Mutex
	start func() (stop func())
	stop  func()
}

func newRestartable(t *testing.T, start func() (stop func())) *restartable {
	r := &restartable{start: start, stop: start()}
	t.Cleanup(r.Stop)
	return r
}

func (r *restartable) Stop() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stop != nil {
		r.stop()
		r.stop = nil
	}
}

func (r *restartable) Start() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stop == nil {
		r.stop = r.start()
	}
}

// TestReadinessFollowsServices stops and restarts the in-process Kafka and
// Dsco under a running ops server: /readyz turns unready naming the service,
// and ready again once it is back.
func TestReadinessFollowsServices(t *testing.T) {
	// Kafka: kfake on a port the test holds throughout, so that a restart
	// listens there again (while it is stopped, connections are reset).
	kafkaPort := kafkatest.NewPort(t)
	kafkaSvc := newRestartable(t, func() func() {
		c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.ListenFn(kafkaPort.ListenFn))
		require.NoError(t, err)
		return c.Close
	})

	// Dsco: the sandbox, likewise (a fresh one: the client's token is unknown
	// to it, so the client also has to get a new token on its own).
	dscoPort := kafkatest.NewPort(t)
	dscoSvc := newRestartable(t, func() func() {
		ln, err := dscoPort.Listen()
		require.NoError(t, err)
		sb, err := dscotest.Serve(dscotest.Config{}, ln)
		require.NoError(t, err)
		return sb.Close
	})

	reg := srfake.New()
	t.Cleanup(reg.Close)

	cfg, err := config.Load(context.Background(), envconfig.MapLookuper(map[string]string{
		"DSCO_BASE_URL":                "http://" + dscoPort.Addr() + dscotest.BasePath,
		"DSCO_CLIENT_ID":               dscotest.SupplierClientID,
		"DSCO_CLIENT_SECRET":           dscotest.SupplierClientSecret,
		"DSCO_ROLE":                    "supplier",
		"KAFKA_BROKERS":                kafkaPort.Addr(),
		"KAFKA_DIAL_TIMEOUT":           "1s",
		"SCHEMA_REGISTRY_URL":          reg.URL(),
		"CONNECTOR_RETRY_MAX_ATTEMPTS": "1",
	}))
	require.NoError(t, err)
	require.Equal(t, "http://"+dscoPort.Addr()+dscotest.BasePath, cfg.Dsco.BaseURL)
	checks := testReadinessChecks(t, cfg)

	srv, err := ops.NewServer(ops.Config{Addr: "127.0.0.1:0", Checks: checks, CheckCacheTTL: time.Nanosecond,
		CheckTimeout: 5 * time.Second}, nil)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
	})

	readyz := func() (int, string) {
		t.Helper()
		resp, err := http.Get(srv.URL() + "readyz")
		require.NoError(t, err)
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp.StatusCode, string(body)
	}
	steps := []struct {
		name   string
		do     func()
		code   int
		prefix string
	}{
		{"all up", func() {}, http.StatusOK, "ready\n"},
		{"kafka stopped", kafkaSvc.Stop, http.StatusServiceUnavailable, "not ready: kafka\n"},
		{"kafka back", kafkaSvc.Start, http.StatusOK, "ready\n"},
		{"dsco stopped", dscoSvc.Stop, http.StatusServiceUnavailable, "not ready: dsco\n"},
		{"dsco back", dscoSvc.Start, http.StatusOK, "ready\n"},
		{"both stopped", func() { kafkaSvc.Stop(); dscoSvc.Stop() }, http.StatusServiceUnavailable, "not ready: kafka, dsco\n"},
		{"both back", func() { kafkaSvc.Start(); dscoSvc.Start() }, http.StatusOK, "ready\n"},
	}
	for _, st := range steps {
		st.do()
		code, body := readyz()
		assert.Equal(t, st.code, code, "%s: %s", st.name, body)
		assert.True(t, strings.HasPrefix(body, st.prefix), "%s: %s", st.name, body)
	}
}

// TestReadinessNamesRefusedGroup: while Kafka refuses the connector a consumer group it
// needs (a command topic's, the inbound lease's: no Read ACL on the group), the router
// runs but consumes nothing, so /readyz answers 503 "routers" naming the group and
// Kafka's answer; once the group is joined, 200 again.
func TestReadinessNamesRefusedGroup(t *testing.T) {
	if kafkatest.Real() {
		t.Skip("answers FindCoordinator with kfake's controls")
	}
	for _, tc := range []struct {
		name, group, logged string
		vars                []string
	}{
		{"command group", "rg.inventory", "Consumer group", []string{"CONNECTOR_DIRECTIONS", "outbound"}},
		{"inbound lease group", "rg.inbound-lease", "Lease group",
			[]string{"CONNECTOR_DIRECTIONS", "inbound", "DSCO_STREAMS", "order", "CONNECTOR_INBOUND_LEASE", "true"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cl := kafkatest.NewCluster(t)
			var refusing atomic.Bool
			refusing.Store(true)
			kafkatest.FailFindCoordinator(cl, tc.group, kerr.GroupAuthorizationFailed, func(int32) bool { return refusing.Load() })
			r := startRun(t, newStack(t).with(append([]string{"KAFKA_BROKERS", strings.Join(cl.ListenAddrs(), ","),
				"KAFKA_CONSUMER_GROUP", "rg", "CONNECTOR_LOG_FORMAT", "text"}, tc.vars...)...))
			url := regexp.MustCompile(`msg="ops server listening; starting" ops=(\S+)`)
			var base string
			r.waitFor(t, "Kafka's refusal of the group logged", func(stderr string) bool {
				if m := url.FindStringSubmatch(stderr); m != nil {
					base = m[1]
				}
				return strings.Contains(stderr, tc.logged+" error, retrying: Kafka refuses this client the group")
			})
			client := &http.Client{Timeout: 5 * time.Second}
			readyz := func() (int, string) {
				resp, err := client.Get(base + "readyz")
				require.NoError(t, err)
				defer resp.Body.Close()
				body, err := io.ReadAll(resp.Body)
				require.NoError(t, err)
				return resp.StatusCode, string(body)
			}
			// The checks' results are kept for a second (ops.Config.CheckCacheTTL).
			want := `FAIL routers: consumer group "` + tc.group + `" refused: Group Authorization Failed (check the ACLs`
			var code int
			var body string
			if !assert.Eventually(t, func() bool {
				code, body = readyz()
				return code == http.StatusServiceUnavailable && strings.Contains(body, want)
			}, waitLimit, 100*time.Millisecond, "503 naming the refused group") {
				t.Fatalf("/readyz answered %d:\n%s", code, body)
			}
			assert.True(t, strings.HasPrefix(body, "not ready: routers\n"), body)

			refusing.Store(false)
			r.waitFor(t, "the group joined", func(stderr string) bool {
				return strings.Contains(stderr, tc.logged+" works again")
			})
			if !assert.Eventually(t, func() bool {
				code, body = readyz()
				return code == http.StatusOK
			}, waitLimit, 100*time.Millisecond, "ready once the group is joined") {
				t.Fatalf("/readyz answered %d:\n%s", code, body)
			}
			assert.Equal(t, exitOK, r.stop(t), r.stderr.String())
		})
	}
}

// testReadinessChecks returns readinessChecks of cfg, with a Dsco client and a registry
// transport closed when t ends.
func testReadinessChecks(t *testing.T, cfg *config.Config) []ops.Check {
	t.Helper()
	client, err := dsco.NewClient(cfg.Dsco.BaseURL, cfg.ClientOptions(nil)...)
	require.NoError(t, err)
	t.Cleanup(client.Close)
	regTransport := &http.Transport{}
	t.Cleanup(regTransport.CloseIdleConnections)
	checks, err := readinessChecks(cfg, client, regTransport)
	require.NoError(t, err)
	return checks
}
