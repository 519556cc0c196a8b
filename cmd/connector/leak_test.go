package main

import (
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/dscokafka/connector/pkg/kafka/kafkatest"
)

func TestMain(m *testing.M) {
	kafkatest.VerifyTestMain(m)
}

// TestRunLeavesNothingRunning: once `connector run` returned, nothing it started runs,
// although Kafka, the registry and Dsco still serve: its Kafka transports, the Dsco
// clients' and the serde's connections are closed, with kafka-go's and net/http's
// goroutines for them.
func TestRunLeavesNothingRunning(t *testing.T) {
	s := newStack(t)
	before := goleak.IgnoreCurrent()
	r := startRun(t, s.with("DSCO_STREAMS", "order", "CONNECTOR_LOG_FORMAT", "text"))
	url := regexp.MustCompile(`msg="ops server listening; starting" ops=(\S+)`)
	var base string
	r.waitFor(t, "the connector running", func(stderr string) bool {
		if m := url.FindStringSubmatch(stderr); m != nil {
			base = m[1]
		}
		return strings.Contains(stderr, "connector running")
	})
	tr := &http.Transport{}
	client := &http.Client{Transport: tr}
	require.Eventually(t, func() bool { // the routers run: Dsco, the registry and Kafka were used
		resp, err := client.Get(base + "readyz")
		if err != nil {
			return false
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, waitLimit, 50*time.Millisecond, "ready")
	tr.CloseIdleConnections()
	assert.Equal(t, exitOK, r.stop(t), r.stderr.String())
	goleak.VerifyNone(t, before)
}

// TestCheckLeavesNothingRunning: once `connector check` returned, nothing it opened runs,
// although Kafka, the registry and Dsco still serve: the serde's, the Dsco client's and
// the registry probe's connections are closed, with net/http's goroutines for them.
func TestCheckLeavesNothingRunning(t *testing.T) {
	s := newStack(t)
	before := goleak.IgnoreCurrent()
	r := runMain(t, s.vars, "check")
	require.Equal(t, exitOK, r.code, r.stdout+r.stderr)
	goleak.VerifyNone(t, before)
}
