package main

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
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

// TestRunWaitsForDsco: `connector run` started while Dsco cannot be reached keeps trying to
// set up its streams, saying so, instead of exiting; a stop then is a clean exit.
func TestRunWaitsForDsco(t *testing.T) {
	s := newStack(t)
	vars := s.with("DSCO_BASE_URL", "http://"+kafkatest.DeadAddr(t)+"/api/v3", // Dsco is unreachable
		"CONNECTOR_DIRECTIONS", "inbound", "DSCO_STREAMS", "order",
		"CONNECTOR_RETRY_MAX_ATTEMPTS", "2", "CONNECTOR_RETRY_INITIAL_INTERVAL", "20ms", "CONNECTOR_RETRY_MAX_INTERVAL", "100ms",
		"CONNECTOR_LOG_FORMAT", "text", "CONNECTOR_LOG_LEVEL", "debug") // the attempts after the first are logged at debug level
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout bytes.Buffer
	stderr := &syncBuffer{}
	code := make(chan int, 1)
	go func() {
		code <- dispatch(ctx, []string{"run"}, &env{stdout: &stdout, stderr: stderr, lookup: envconfig.MapLookuper(vars)})
	}()
	deadline := time.After(waitLimit)
	for strings.Count(stderr.String(), "setting up the Dsco streams failed; trying again") < 2 {
		select {
		case c := <-code:
			t.Fatalf("run exited (%d) while Dsco was unreachable:\n%s", c, stderr.String())
		case <-deadline:
			t.Fatalf("the connector did not ask Dsco again:\n%s", stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	cancel()
	select {
	case c := <-code:
		assert.Equal(t, exitOK, c, stderr.String())
	case <-time.After(waitLimit):
		t.Fatal("run did not stop")
	}
}
