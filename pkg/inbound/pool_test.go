package inbound_test

import (
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/dscokafka/connector/pkg/dsco/dscotest"
	"github.com/dscokafka/connector/pkg/inbound"
)

// inFlightMetrics counts the pages with events read and not yet published,
// over all partitions, and keeps the highest count.
type inFlightMetrics struct {
	inbound.NopMetrics
	mu            sync.Mutex
	now, peak     int
	read, written int
}

func (m *inFlightMetrics) PageRead(_ string, _, events int, _ time.Duration) {
	if events == 0 {
		return // released at once
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.now++
	m.read++
	m.peak = max(m.peak, m.now)
}

func (m *inFlightMetrics) PagePublished(string, int, int, int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.now--
	m.written++
}

// TestMaxPagesInFlight: however many partitions, no more than
// MaxPagesInFlight pages are read and not yet acknowledged at once, every
// partition still gets its turn (every event arrives), and the buffers
// reused from page to page and partition to partition carry no record of
// an earlier page.
func TestMaxPagesInFlight(t *testing.T) {
	for _, tc := range []struct {
		name          string
		maxPages      int
		maxDecoding   int
		partitions    int
		pagesInFlight int
	}{
		{"one page for four partitions", 1, 1, 4, 2},
		{"two pages for four partitions, one decoding", 2, 1, 4, 2},
		{"three pages for four partitions, two decoding", 3, 2, 4, 2},
		{"more pages than partitions need", 8, 8, 2, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sb, client, brokers, serde := newStack(t, dscotest.Config{Seed: 11}, "order")
			require.NoError(t, sb.SeedOrderBacklog(1500, dscotest.OrderShape{Items: 3, ExtraAttributes: 2}))

			m := &inFlightMetrics{}
			cfg := testConfig(client, serde, brokers, inbound.StreamConfig{ObjectType: "order", PartitionCount: tc.partitions})
			cfg.MaxPagesInFlight, cfg.MaxPagesDecoding, cfg.PagesInFlight, cfg.Metrics = tc.maxPages, tc.maxDecoding, tc.pagesInFlight, m
			r := startPipeline(t, cfg)
			recs := newConsumer(t, brokers, "dsco.order.v1").until(t, func(rs []*kgo.Record) bool { return len(rs) >= 1500 })
			require.NoError(t, r.stop(t))

			require.Len(t, recs, 1500, "every event once")
			seen := map[string]bool{}
			for _, rec := range recs {
				id := header(rec, inbound.HeaderEventID)
				assert.False(t, seen[id], "event %s twice", id)
				seen[id] = true
				assert.Equal(t, id, header(rec, inbound.HeaderCorrelationID))
			}
			m.mu.Lock()
			defer m.mu.Unlock()
			assert.LessOrEqual(t, m.peak, tc.maxPages, "pages in flight over all partitions")
			assert.LessOrEqual(t, m.peak, tc.partitions*tc.pagesInFlight, "pages in flight over all partitions")
			assert.Equal(t, m.read, m.written, "every page read was published")
		})
	}
}
