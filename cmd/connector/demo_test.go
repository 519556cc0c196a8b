package main

import (
	"context"
	"encoding/json"
	"net/http"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/sethvargo/go-envconfig"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dscokafka/connector/pkg/ops"
)

// TestDemo is issue 11's first Done-when, in process: `connector demo` runs
// the whole loop, and once its status page shows events in and accepted
// commands it is stopped; it exits 0 and its summary shows events in,
// commands out and accepted results above zero and nothing poisoned.
func TestDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the whole demo")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr syncBuffer
	code := make(chan int, 1)
	go func() {
		code <- dispatch(ctx, []string{"demo", "-orders-per-second", "20"},
			&env{stdout: &stdout, stderr: &stderr, lookup: envconfig.MapLookuper(nil)})
	}()

	statusURL := regexp.MustCompile(`Status page +(http://127\.0\.0\.1:\d+/)`)
	var base string
	require.Eventually(t, func() bool {
		if m := statusURL.FindStringSubmatch(stdout.String()); m != nil {
			base = m[1]
		}
		return base != ""
	}, waitLimit, 50*time.Millisecond, "the demo prints its status page URL")
	require.Eventually(t, func() bool {
		resp, err := http.Get(base + "status.json")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		var st ops.Status
		return json.NewDecoder(resp.Body).Decode(&st) == nil && st.Totals.EventsIn > 0 && st.Totals.Accepted > 0
	}, waitLimit, 200*time.Millisecond, "events in and accepted commands on the status page")
	cancel()
	select {
	case c := <-code:
		require.Equal(t, exitOK, c, "stderr: %s", stderr.String())
	case <-time.After(waitLimit):
		t.Fatal("the demo did not stop")
	}

	out := stdout.String()
	t.Log(out)
	number := func(label string) int {
		t.Helper()
		m := regexp.MustCompile(`(?m)^  ` + regexp.QuoteMeta(label) + `: +(\d+)`).FindStringSubmatch(out)
		require.NotNil(t, m, "summary line %q", label)
		n, err := strconv.Atoi(m[1])
		require.NoError(t, err)
		return n
	}
	assert.Positive(t, number("events in"))
	assert.Positive(t, number("commands out"))
	assert.Positive(t, number("accepted"))
	assert.Zero(t, number("poisoned"))
	assert.Zero(t, number("rejected"))
	assert.Zero(t, number("failed"))
	m := regexp.MustCompile(`(?m)^  results: +(\d+) accepted, (\d+) rejected, (\d+) failed`).FindStringSubmatch(out)
	require.NotNil(t, m, "results line")
	assert.NotEqual(t, "0", m[1], "accepted result records")
	assert.Equal(t, "0", m[2])
	assert.Equal(t, "0", m[3])
}

func TestDemoFlags(t *testing.T) {
	for _, args := range [][]string{{"demo", "-duration", "-1s"}, {"demo", "-orders-per-second", "0"}, {"demo", "extra"}} {
		t.Run(args[1], func(t *testing.T) {
			r := runMain(t, nil, args...)
			assert.Equal(t, exitUsage, r.code, r.stderr)
		})
	}
}
