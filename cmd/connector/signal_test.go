package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sethvargo/go-envconfig"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dscokafka/connector/pkg/kafka/kafkatest"
)

// TestSignalCancelsCommand builds the binary, starts a command that waits on
// the network, and sends SIGTERM: main's context ends, the command returns,
// and the process exits with the command's failure status.
func TestSignalCancelsCommand(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := filepath.Join(t.TempDir(), "connector")
	build := exec.Command("go", "build", "-o", bin, ".")
	out, err := build.CombinedOutput()
	require.NoError(t, err, "go build: %s", out)

	arrived := make(chan struct{}, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		<-r.Context().Done() // never answers; the client gives up
	}))
	t.Cleanup(srv.Close)

	cmd := exec.Command(bin, "probe", "-timeout", "10m", srv.URL)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	<-arrived
	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))

	err = cmd.Wait()
	var exit *exec.ExitError
	require.True(t, errors.As(err, &exit), "exited with a status: %v", err)
	assert.Equal(t, 1, exit.ExitCode())
	assert.Contains(t, stderr.String(), "terminated signal received", "the cause names the signal")
}

// TestStopWhileStarting: SIGTERM or SIGINT while the connector starts (here, before it
// could register its schemas) is a stop asked for: exit status 0, not a failure.
func TestStopWhileStarting(t *testing.T) {
	s := newStack(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var stdout, stderr bytes.Buffer
	code := dispatch(ctx, []string{"run"}, &env{stdout: &stdout, stderr: &stderr, lookup: envconfig.MapLookuper(s.vars)})
	assert.Equal(t, exitOK, code, stderr.String())
	assert.Contains(t, stderr.String(), "stopped while starting")
}

// TestOpsServesWhileStarting: while the connector starts (here, waiting for Kafka to
// answer before it makes its topics), /healthz answers 200, so that a liveness probe
// does not kill a connector that waits, and /readyz answers 503 naming the routers as
// not running yet; a stop then is a clean exit that frees the address.
func TestOpsServesWhileStarting(t *testing.T) {
	s := newStack(t)
	r := startRun(t, s.with("KAFKA_BROKERS", kafkatest.DeadAddr(t), "CONNECTOR_OPS_ADDR", "127.0.0.1:0",
		"CONNECTOR_LOG_FORMAT", "text"))
	url := regexp.MustCompile(`msg="ops server listening; starting" ops=(\S+)`)
	var m []string
	r.waitFor(t, "an ops server while waiting for Kafka", func(stderr string) bool {
		m = url.FindStringSubmatch(stderr)
		return m != nil && strings.Contains(stderr, "Kafka does not answer")
	})
	client := &http.Client{Timeout: 5 * time.Second}
	get := func(path string) (int, string) {
		resp, err := client.Get(m[1] + path)
		require.NoError(t, err)
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp.StatusCode, string(body)
	}
	status, _ := get("healthz")
	assert.Equal(t, http.StatusOK, status, "liveness while starting")
	status, body := get("readyz")
	assert.Equal(t, http.StatusServiceUnavailable, status, "readiness while starting")
	assert.Contains(t, body, "the connector is starting")
	assert.Equal(t, exitOK, r.stop(t), r.stderr.String())
	_, err := client.Get(m[1] + "healthz")
	assert.Error(t, err, "the ops server stopped with the start")
}

// TestRunWaitsForDsco: `connector run` started while Dsco cannot be reached keeps trying to
// set up its streams, saying so, instead of exiting; a stop then is a clean exit.
func TestRunWaitsForDsco(t *testing.T) {
	s := newStack(t)
	r := startRun(t, s.with("DSCO_BASE_URL", "http://"+kafkatest.DeadAddr(t)+"/api/v3", // Dsco is unreachable
		"CONNECTOR_DIRECTIONS", "inbound", "DSCO_STREAMS", "order",
		"CONNECTOR_RETRY_MAX_ATTEMPTS", "2", "CONNECTOR_RETRY_INITIAL_INTERVAL", "20ms", "CONNECTOR_RETRY_MAX_INTERVAL", "100ms",
		"CONNECTOR_LOG_FORMAT", "text", "CONNECTOR_LOG_LEVEL", "debug")) // the attempts after the first are logged at debug level
	r.waitFor(t, "the connector asking Dsco again", func(stderr string) bool {
		return strings.Count(stderr, "setting up the Dsco streams failed; trying again") >= 2
	})
	assert.Equal(t, exitOK, r.stop(t), r.stderr.String())
}

// backgroundRun is `connector run` running in the background (startRun).
type backgroundRun struct {
	stderr  *syncBuffer
	written <-chan struct{}
	cancel  context.CancelFunc
	code    chan int // its exit status, once it returned
	exited  bool
}

// startRun starts `connector run` with the environment vars; the test's end stops it
// and waits for it, if the test did not (stop).
func startRun(t *testing.T, vars map[string]string) *backgroundRun {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &backgroundRun{stderr: &syncBuffer{}, cancel: cancel, code: make(chan int, 1)}
	r.written = r.stderr.changed()
	go func() {
		r.code <- dispatch(ctx, []string{"run"}, &env{stdout: io.Discard, stderr: r.stderr, lookup: envconfig.MapLookuper(vars)})
	}()
	t.Cleanup(func() {
		if !r.exited {
			cancel()
			select {
			case <-r.code:
			case <-time.After(waitLimit):
				t.Error("run did not stop at the test's end")
			}
		}
	})
	return r
}

// waitFor waits until ok holds for run's stderr, failing the test should run exit
// first or waitLimit pass.
func (r *backgroundRun) waitFor(t *testing.T, what string, ok func(stderr string) bool) {
	t.Helper()
	deadline := time.After(waitLimit)
	for !ok(r.stderr.String()) {
		select {
		case <-r.written:
		case c := <-r.code:
			r.exited = true
			t.Fatalf("run exited (%d) before %s:\n%s", c, what, r.stderr.String())
		case <-deadline:
			t.Fatalf("no %s within %v:\n%s", what, waitLimit, r.stderr.String())
		}
	}
}

// stop ends run's context, as SIGTERM or SIGINT does, and returns its exit status.
func (r *backgroundRun) stop(t *testing.T) int {
	t.Helper()
	r.cancel()
	select {
	case c := <-r.code:
		r.exited = true
		return c
	case <-time.After(waitLimit):
		t.Fatal("run did not stop")
		return 0
	}
}
