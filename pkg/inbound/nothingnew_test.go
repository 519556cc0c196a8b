package inbound_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dscokafka/connector/pkg/dsco"
	"github.com/dscokafka/connector/pkg/dsco/dscotest"
	"github.com/dscokafka/connector/pkg/inbound"
)

// nothingNew is a Dsco transport that answers every read of stream events
// after a position, and every GetItemInventory request, with hasMore and
// nothing new: no events at the position asked for (or, with omitPosition,
// no position at all, which the spec allows), no items at the mark "M". It
// counts those answers. The first read of events (no position) gets the
// stream's events, with hasMore.
type nothingNew struct {
	base         http.RoundTripper
	omitPosition bool
	answers      atomic.Int32
}

func (n *nothingNew) RoundTrip(req *http.Request) (*http.Response, error) {
	var body string
	switch {
	case strings.HasSuffix(req.URL.Path, "/events") && req.URL.Query().Get("position") == "":
		// The first read: the stream's events, and hasMore.
		resp, err := n.base.RoundTrip(req)
		if err != nil || resp.StatusCode != http.StatusOK {
			return resp, err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			return nil, err
		}
		return jsonAnswer(req, http.StatusOK, strings.Replace(string(b), `"hasMore":false`, `"hasMore":true`, 1)), nil
	case strings.HasSuffix(req.URL.Path, "/events") && n.omitPosition:
		body = `{"events":[],"hasMore":true}`
	case strings.HasSuffix(req.URL.Path, "/events"):
		body = `{"events":[],"position":` + strconv.Quote(req.URL.Query().Get("position")) + `,"hasMore":true}`
	case strings.HasSuffix(req.URL.Path, "/inventory") && req.Method == http.MethodGet:
		body = `{"items":[],"highWaterMark":"M","hasMore":true}`
	default:
		return n.base.RoundTrip(req)
	}
	n.answers.Add(1)
	return jsonAnswer(req, http.StatusOK, body), nil
}

// TestAnswersWithNothingNewWaitThePollInterval: an answer that says hasMore
// but carries nothing and leaves the position (or the item inventory mark)
// where it was, or gives no position, would come back the same if asked
// again at once: the stream worker and the poller wait their poll interval
// before asking again, as after an answer without hasMore, instead of asking
// in a loop that only the client's rate limit slows. A page without events
// and without a position (the spec requires neither) is not an error.
func TestAnswersWithNothingNewWaitThePollInterval(t *testing.T) {
	stream := func(t *testing.T, tr *nothingNew) *errorKinds {
		sb, plain, brokers, serde := newStack(t, dscotest.Config{Seed: 41}, "order")
		_, err := sb.SeedOrders(5)
		require.NoError(t, err)
		s, err := inbound.EnsureStream(t.Context(), plain, inbound.StreamConfig{ObjectType: "order"})
		require.NoError(t, err)
		cfg := testConfig(newClient(t, sb.URL, dsco.WithHTTPClient(&http.Client{Transport: tr})), serde, brokers,
			inbound.StreamConfig{ObjectType: "order"})
		cfg.PollInterval = time.Hour
		m := &errorKinds{}
		cfg.Metrics = m
		p, err := inbound.NewPipeline(cfg, nil)
		require.NoError(t, err)
		done := make(chan error, 1)
		go func() { done <- p.RunPartitions(t.Context(), []inbound.Assignment{{Stream: s, Partition: 0}}) }()
		t.Cleanup(func() {
			require.NoError(t, p.Close())
			require.NoError(t, <-done)
		})
		return m
	}
	for _, tc := range []struct {
		name         string
		omitPosition bool
		run          func(t *testing.T, tr *nothingNew)
	}{
		{"stream partition", false, func(t *testing.T, tr *nothingNew) { stream(t, tr) }},
		{"stream partition, no position", true, func(t *testing.T, tr *nothingNew) {
			m := stream(t, tr)
			t.Cleanup(func() { assert.Zero(t, m.count(inbound.ErrKindDecode), "pages that did not decode") })
		}},
		{"item inventory poller", false, func(t *testing.T, tr *nothingNew) {
			var url string
			_, _, _, cfg := objectsPoller(t, 43, nil, func(sb *dscotest.Sandbox) string {
				srv := httptest.NewServer(sb)
				t.Cleanup(srv.Close)
				url = srv.URL + dscotest.BasePath
				return url
			})
			cfg.Client = newClient(t, url, dsco.WithHTTPClient(&http.Client{Transport: tr}))
			cfg.PollInterval = time.Hour
			_, stop := runPoller(t, cfg)
			t.Cleanup(stop)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			base := newTransport(t)
			tr := &nothingNew{base: base, omitPosition: tc.omitPosition}
			tc.run(t, tr)
			require.Eventually(t, func() bool { return tr.answers.Load() >= 1 }, waitLimit, time.Millisecond, "the first answer")
			// Asked again at once, the answers would number hundreds in this while.
			assert.Never(t, func() bool { return tr.answers.Load() > 2 }, 300*time.Millisecond, 10*time.Millisecond,
				"asked again before the poll interval")
		})
	}
}

// errorKinds counts Metrics.Error calls by kind.
type errorKinds struct {
	inbound.NopMetrics
	mu    sync.Mutex
	kinds map[string]int
}

func (m *errorKinds) Error(_, kind string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.kinds == nil {
		m.kinds = map[string]int{}
	}
	m.kinds[kind]++
}

func (m *errorKinds) count(kind string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.kinds[kind]
}
