package inbound_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/dscokafka/connector/pkg/dsco"
	"github.com/dscokafka/connector/pkg/dsco/dscotest"
	"github.com/dscokafka/connector/pkg/inbound"
	"github.com/dscokafka/connector/pkg/kafka/kafkatest"
	"github.com/dscokafka/connector/pkg/schemas"
)

// runPoller runs a poller until the returned stop is called (or the test
// ends).
func runPoller(t *testing.T, cfg inbound.PollerConfig) (p *inbound.Poller, stop func()) {
	t.Helper()
	p, err := inbound.NewPoller(cfg, nil)
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- p.Run(context.Background()) }()
	stop = func() {
		t.Helper()
		require.NoError(t, p.Close())
		select {
		case err := <-done:
			require.NoError(t, err)
		case <-time.After(waitLimit):
			t.Fatal("the poller's Run did not return after Close")
		}
	}
	t.Cleanup(func() { _ = p.Close() })
	return p, stop
}

// setInventory changes the quantity of skus n times each.
func setInventory(t *testing.T, c *dsco.Client, skus []string, qty int) {
	t.Helper()
	items := make([]dsco.InventoryItem, len(skus))
	for i, s := range skus {
		items[i] = dsco.InventoryItem{SKU: s, Quantity: qty + i, WarehouseID: "WH1"}
	}
	resp, err := c.SupplierUpdateInventory(t.Context(), dsco.InventoryBatchRequest{Items: items})
	require.NoError(t, err)
	require.Empty(t, resp.Errors)
}

func skus(from, to int) []string {
	var out []string
	for i := from; i <= to; i++ {
		out = append(out, fmt.Sprintf("SKU-%05d", i))
	}
	return out
}

// itemRecords decodes item inventory records and counts them by event id.
func itemRecords(t *testing.T, serde *schemas.Serde, recs []*kgo.Record) map[string]*schemas.ItemInventoryEvent {
	t.Helper()
	out := map[string]*schemas.ItemInventoryEvent{}
	for _, rec := range recs {
		require.Equal(t, "dsco.iteminventory.v1", rec.Topic)
		var ev schemas.ItemInventoryEvent
		require.NoError(t, serde.Decode(t.Context(), rec.Value, &ev))
		require.Equal(t, ev.ItemInventory.SKU, string(rec.Key))
		require.Equal(t, ev.EventID, header(rec, inbound.HeaderEventID))
		require.NotContains(t, out, ev.EventID, "each change once")
		out[ev.EventID] = &ev
	}
	return out
}

// objectsPoller sets up an objects-mode poller test: a sandbox with 50
// catalog items (50 inventory changes), Kafka, a registry, a consumer of the
// item inventory and poison topics, and the poller's configuration (pages
// of 7) reporting to m. The client reaches the sandbox at the URL via
// returns (nil: the sandbox's own).
func objectsPoller(t *testing.T, seed int64, m inbound.Metrics, via ...func(*dscotest.Sandbox) string) (*dsco.Client, *schemas.Serde, *consumer, inbound.PollerConfig) {
	t.Helper()
	sb := newSandbox(t, dscotest.Config{Seed: seed})
	url := sb.URL
	if len(via) > 0 {
		url = via[0](sb.Sandbox)
	}
	client := newClient(t, url)
	brokers := kafkatest.Brokers(t)
	serde := newSerde(t, newRegistry(t))
	kafkatest.CreateTopic(t, brokers, "dsco.iteminventory.v1", 4)
	_, err := sb.SeedOrders(0) // 50 catalog items with inventory: 50 changes
	require.NoError(t, err)
	cons := newConsumer(t, brokers, "dsco.iteminventory.v1", "dsco.poison.v1")
	return client, serde, cons, inbound.PollerConfig{Client: client, Serde: serde, Kafka: inbound.KafkaConfig{Brokers: brokers},
		Limit: 7, PollInterval: 20 * time.Millisecond, RetryBackoff: 10 * time.Millisecond, Metrics: m}
}

// TestPollerObjects: every inventory change once, in pages; after a
// restart the poller resumes from the mark it stored in Kafka and delivers
// only the changes made meanwhile. Also with a mark topic made beforehand
// with several partitions (the mark's key not in the first).
func TestPollerObjects(t *testing.T) {
	for _, tc := range []struct {
		name       string
		partitions int // of the mark topic made beforehand; 0: the poller makes it
	}{
		{"mark topic made by the poller", 0},
		{"mark topic made with several partitions", markTopicPartitions(inbound.ItemInventoryObjectType)},
	} {
		t.Run(tc.name, func(t *testing.T) { testPollerObjects(t, tc.partitions) })
	}
}

// markTopicPartitions is a partition count under which the writer does not
// put key in partition 0.
func markTopicPartitions(key string) int {
	n := 2
	for ; ; n++ {
		parts := make([]int, n)
		for i := range parts {
			parts[i] = i
		}
		if (&kafkago.Murmur2Balancer{}).Balance(kafkago.Message{Key: []byte(key)}, parts...) != 0 {
			return n
		}
	}
}

func testPollerObjects(t *testing.T, markPartitions int) {
	newest := &newestMetrics{}
	client, serde, cons, cfg := objectsPoller(t, 13, newest)
	if markPartitions > 0 {
		cfg.MarkTopic = kafkatest.Name("marks")
		kafkatest.CreateTopic(t, cfg.Kafka.Brokers, cfg.MarkTopic, int32(markPartitions))
	}
	_, stop := runPoller(t, cfg)
	recs := cons.until(t, func(rs []*kgo.Record) bool { return len(rs) >= 50 })
	setInventory(t, client, skus(1, 10), 100)
	setInventory(t, client, skus(1, 10), 200)
	recs = append(recs, cons.until(t, func(rs []*kgo.Record) bool { return len(rs) >= 20 })...)
	stop()

	setInventory(t, client, skus(20, 24), 300) // while it is stopped
	_, stop = runPoller(t, cfg)
	recs = append(recs, cons.until(t, func(rs []*kgo.Record) bool { return len(rs) >= 5 })...)
	recs = append(recs, drain(t, cons)...)
	stop()

	got := itemRecords(t, serde, recs)
	require.Len(t, got, 75, "50 + 20 + 5 changes, each once")
	last := map[string]int32{}
	for _, ev := range got {
		require.NotNil(t, ev.HighWaterMark)
		if ev.ItemInventory.LastUpdate != nil && *ev.ItemInventory.QuantityAvailable >= last[ev.ItemInventory.SKU] {
			last[ev.ItemInventory.SKU] = *ev.ItemInventory.QuantityAvailable
		}
		assert.Equal(t, "updated", ev.EventType)
		assert.Equal(t, "iteminventory", ev.ObjectType)
		assert.Equal(t, int64(dscotest.SupplierID), *ev.ItemInventory.DscoSupplierID)
	}
	for i, s := range skus(1, 10) {
		assert.Equal(t, int32(200+i), last[s], "the last change of %s", s)
	}
	for i, s := range skus(20, 24) {
		assert.Equal(t, int32(300+i), last[s], "the change made while stopped, of %s", s)
	}
	var newestUpdate time.Time
	for _, ev := range got {
		if ev.ItemInventory.LastUpdate.After(newestUpdate) {
			newestUpdate = *ev.ItemInventory.LastUpdate
		}
	}
	assert.True(t, newestUpdate.Equal(newest.get("iteminventory", -1)), "the newest lastUpdate, %v, reported as the newest event time: %v",
		newestUpdate, newest.get("iteminventory", -1))
}

// itemsReadMetrics sums the items the poller reports read.
type itemsReadMetrics struct {
	inbound.NopMetrics
	mu   sync.Mutex
	read int
}

func (m *itemsReadMetrics) PageRead(_ string, _, items int, _ time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.read += items
}

func (m *itemsReadMetrics) get() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.read
}

// TestPollerCountsItemsRead: the poller reports the items it read, each
// change once, in pages or in files (whose items at the previous file's
// mark come again and do not count again).
func TestPollerCountsItemsRead(t *testing.T) {
	for _, mode := range []dsco.ResultType{dsco.ResultObjects, dsco.ResultFile} {
		t.Run(string(mode), func(t *testing.T) {
			m := &itemsReadMetrics{}
			_, _, cons, cfg := objectsPoller(t, 13, m)
			cfg.ResultType = mode
			_, stop := runPoller(t, cfg)
			cons.until(t, func(rs []*kgo.Record) bool { return len(rs) >= 50 })
			require.Eventually(t, func() bool { return m.get() >= 50 }, waitLimit, 10*time.Millisecond, "the 50 changes read")
			stop()
			assert.Equal(t, 50, m.get(), "items read")
		})
	}
}

// filePoller is a sandbox with 50 items, a consumer of the item and poison
// topics, and the configuration of a poller in file mode.
func filePoller(t *testing.T, sbcfg dscotest.Config) (*dscotest.Server, *dsco.Client, *schemas.Serde, *consumer, inbound.PollerConfig) {
	t.Helper()
	sb := newSandbox(t, sbcfg)
	client := newClient(t, sb.URL)
	brokers := kafkatest.Brokers(t)
	serde := newSerde(t, newRegistry(t))
	kafkatest.CreateTopic(t, brokers, "dsco.iteminventory.v1", 4)
	_, err := sb.SeedOrders(0)
	require.NoError(t, err)
	cons := newConsumer(t, brokers, "dsco.iteminventory.v1", "dsco.poison.v1")
	cfg := inbound.PollerConfig{Client: client, Serde: serde, Kafka: inbound.KafkaConfig{Brokers: brokers},
		ResultType: dsco.ResultFile, PollInterval: 20 * time.Millisecond, RetryBackoff: 10 * time.Millisecond,
		MarkKey: "file"}
	return sb, client, serde, cons, cfg
}

// TestPollerFile: in file mode the poller serves the callback, downloads
// the file and delivers every item; later changes come with the next file.
func TestPollerFile(t *testing.T) {
	_, client, serde, cons, cfg := filePoller(t, dscotest.Config{Seed: 14})
	p, stop := runPoller(t, cfg)
	assert.Contains(t, p.CallbackURL(), "http://127.0.0.1:")
	recs := cons.until(t, func(rs []*kgo.Record) bool { return len(rs) >= 50 })
	seen := map[string]bool{}
	for _, rec := range recs {
		seen[string(rec.Key)] = true
	}
	assert.Len(t, seen, 50, "every item of the file")

	time.Sleep(5 * time.Millisecond) // a later millisecond than the file's newest item
	before := time.Now().Truncate(time.Millisecond)
	setInventory(t, client, skus(3, 5), 900)
	untilItems(t, cons, serde, 3, func(ev *schemas.ItemInventoryEvent) bool {
		require.NotNil(t, ev.RequestID, "file records name their request")
		return *ev.ItemInventory.QuantityAvailable >= 900
	}, "the changes after the first file come with a later one")
	stop()

	// A restart resumes from the stored mark: only changes from the last
	// file's newest millisecond on come again.
	time.Sleep(5 * time.Millisecond)
	setInventory(t, client, skus(7, 8), 500)
	_, stop = runPoller(t, cfg)
	untilItems(t, cons, serde, 2, func(ev *schemas.ItemInventoryEvent) bool {
		require.False(t, ev.ItemInventory.LastUpdate.Before(before), "%s: a change older than the stored mark came again", ev.EventID)
		q := *ev.ItemInventory.QuantityAvailable
		return q >= 500 && q < 900
	}, "the changes made while stopped")
	stop()
}

// untilItems reads cons until n of the item inventory events read since the
// call match; match sees every event read (and may fail the test on one).
func untilItems(t *testing.T, cons *consumer, serde *schemas.Serde, n int, match func(*schemas.ItemInventoryEvent) bool, what string) {
	t.Helper()
	matched := 0
	require.Eventually(t, func() bool {
		for _, rec := range drain(t, cons) {
			var ev schemas.ItemInventoryEvent
			require.NoError(t, serde.Decode(t.Context(), rec.Value, &ev))
			if match(&ev) {
				matched++
			}
		}
		return matched >= n
	}, waitLimit, 10*time.Millisecond, what)
}

// TestPollerFileSlowerThanCloseTimeout: a file that takes longer to come
// than the share of CloseTimeout a poll gets to finish after a stop is
// delivered all the same while nothing stops.
func TestPollerFileSlowerThanCloseTimeout(t *testing.T) {
	sb, _, _, cons, cfg := filePoller(t, dscotest.Config{Seed: 14})
	sb.SetFault(dscotest.OpGetInventoryFile, dscotest.Fault{Latency: 700 * time.Millisecond})
	cfg.CloseTimeout = time.Second // a stop would leave 500 ms
	_, stop := runPoller(t, cfg)
	defer stop()
	recs := cons.until(t, func(rs []*kgo.Record) bool { return len(rs) >= 50 })
	seen := map[string]bool{}
	for _, rec := range recs {
		seen[string(rec.Key)] = true
	}
	assert.Len(t, seen, 50, "every item of the file")
}

// TestPollerFileExpiredIsRequestedAgain: a file that expired before its
// download (410 FILE_EXPIRED) is mended by requesting a new one; it does not
// end Run as a poll Dsco refuses for good.
func TestPollerFileExpiredIsRequestedAgain(t *testing.T) {
	sb, _, _, cons, cfg := filePoller(t, dscotest.Config{Seed: 14, FileTTL: 100 * time.Millisecond})
	// The first download comes late: the file has expired.
	sb.SetFault(dscotest.OpGetInventoryFile, dscotest.Fault{Latency: 300 * time.Millisecond})
	time.AfterFunc(350*time.Millisecond, func() { sb.SetFault(dscotest.OpGetInventoryFile, dscotest.Fault{}) })
	p, err := inbound.NewPoller(cfg, nil)
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- p.Run(context.Background()) }()
	t.Cleanup(func() { _ = p.Close() })
	cons.until(t, func(rs []*kgo.Record) bool { return len(rs) >= 50 })
	select {
	case err := <-done:
		t.Fatalf("Run ended: %v", err)
	default:
	}
	require.NoError(t, p.Close())
	require.NoError(t, <-done)
}

// TestPollerFileItemDatedInTheFuture: an item whose lastUpdate is after the
// time the file was asked for (a wrong date, Dsco's clock ahead) does not move
// the mark, also when Dsco's clock is behind ours (the mark must not pass
// Dsco's time either): the changes made later still come, and the item is not
// delivered again with them.
func TestPollerFileItemDatedInTheFuture(t *testing.T) {
	for _, tc := range []struct {
		name   string
		behind time.Duration // Dsco's clock behind ours
	}{{"same clocks", 0}, {"Dsco's clock 30s behind", 30 * time.Second}} {
		t.Run(tc.name, func(t *testing.T) {
			sb, _, serde, cons, cfg := filePoller(t, dscotest.Config{Seed: 14, Now: func() time.Time { return time.Now().Add(-tc.behind) }})
			newest := &newestMetrics{}
			cfg.Metrics = newest
			future := regexp.MustCompile(`"lastUpdate":"[^"]*"`)
			cfg.Client = newClient(t, rewritingSandbox(t, sb.Sandbox, func(item []byte) []byte {
				if bytes.Contains(item, []byte(`"sku":"SKU-00003"`)) {
					return future.ReplaceAll(item, []byte(`"lastUpdate":"2999-01-01T00:00:00.000Z"`))
				}
				return item
			}, nil))
			_, stop := runPoller(t, cfg)
			defer stop()
			cons.until(t, func(rs []*kgo.Record) bool { return len(rs) >= 50 })

			time.Sleep(5 * time.Millisecond) // a later millisecond than the file was asked in
			setInventory(t, cfg.Client, skus(5, 7), 900)
			untilItems(t, cons, serde, 3, func(ev *schemas.ItemInventoryEvent) bool {
				require.NotEqual(t, "SKU-00003", ev.ItemInventory.SKU, "the item dated in the future came again")
				return *ev.ItemInventory.QuantityAvailable >= 900
			}, "the changes made after the file with the item dated 2999")
			reported := newest.get(inbound.ItemInventoryObjectType, -1)
			assert.False(t, reported.IsZero(), "the newest-event metric was reported")
			assert.False(t, reported.After(time.Now()), "the newest-event metric, %v, is in the future", reported)
		})
	}
}

// TestPollerObjectsAnswerWithoutMark: an objects answer without a
// highWaterMark is an error (asking with an empty mark would start over, or
// be refused): nothing of it is produced, the poller asks after the same
// mark again and goes on once marks come back.
func TestPollerObjectsAnswerWithoutMark(t *testing.T) {
	var answers atomic.Int32
	client, _, cons, cfg := objectsPoller(t, 16, nil, func(sb *dscotest.Sandbox) string {
		return rewritingSandbox(t, sb, func(item []byte) []byte { return item }, func(mark string) string {
			if answers.Add(1) <= 2 {
				return "" // the first two answers carry none
			}
			return mark
		})
	})
	_, stop := runPoller(t, cfg)
	defer stop()
	seen := map[string]int{}
	var recs []*kgo.Record
	require.Eventually(t, func() bool {
		recs = append(recs, drain(t, cons)...)
		clear(seen)
		for _, rec := range recs {
			seen[string(rec.Key)]++
		}
		return len(seen) == 50
	}, waitLimit, 10*time.Millisecond, "every item, past the answers without a mark")
	assert.Len(t, recs, 50, "every item once: the answers without a mark were asked again")
	assert.Greater(t, answers.Load(), int32(2+8), "the answers without a mark and the 8 pages")

	setInventory(t, client, skus(1, 2), 900)
	var later []*kgo.Record
	require.Eventually(t, func() bool {
		later = append(later, drain(t, cons)...)
		return len(later) >= 2
	}, waitLimit, 10*time.Millisecond, "the changes made later")
	time.Sleep(100 * time.Millisecond) // more polls, which must repeat nothing
	later = append(later, drain(t, cons)...)
	assert.Len(t, later, 2)
}

// TestPollerCallbackRefusesStrangers: the callback server only accepts
// Dsco's calls, which carry the token the poller sent with its request.
func TestPollerCallbackRefusesStrangers(t *testing.T) {
	sb := newSandbox(t, dscotest.Config{Seed: 15})
	serde := newSerde(t, newRegistry(t))
	p, err := inbound.NewPoller(inbound.PollerConfig{Client: newClient(t, sb.URL), Serde: serde,
		Kafka: inbound.KafkaConfig{Brokers: []string{"127.0.0.1:1"}}, ResultType: dsco.ResultFile}, nil)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, p.Close()) })
	resp, err := httpPost(t, p.CallbackURL(), `{"requestId":"r","fileUrl":"http://127.0.0.1:1/f"}`)
	require.NoError(t, err)
	assert.Equal(t, 401, resp)
}

// rewritingSandbox serves a sandbox whose GetItemInventory answers (pages
// and files) pass through rewrite, item by item, so that a test can give
// items what the sandbox never sends: attributes it does not know, values
// of the wrong type, lines that are not JSON. A page's highWaterMark passes
// through mark, unless it is nil. It returns the API base URL.
func rewritingSandbox(t *testing.T, sb *dscotest.Sandbox, rewrite func(item []byte) []byte, mark func(string) string) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := httptest.NewRecorder()
		sb.ServeHTTP(rec, r)
		body := rec.Body.Bytes()
		switch {
		case rec.Code != http.StatusOK:
		case r.URL.Path == dscotest.BasePath+"/inventory":
			var page struct {
				Items         []json.RawMessage `json:"items"`
				HighWaterMark string            `json:"highWaterMark"`
				HasMore       bool              `json:"hasMore"`
			}
			require.NoError(t, json.Unmarshal(body, &page))
			if page.Items == nil {
				break // a file request's answer
			}
			if mark != nil {
				page.HighWaterMark = mark(page.HighWaterMark)
			}
			items := make([][]byte, len(page.Items))
			for i, it := range page.Items {
				items[i] = rewrite(it)
			}
			// Not json.Marshal: it would compact the items.
			body = fmt.Appendf(nil, `{"items":[%s],"highWaterMark":%q,"hasMore":%t}`, bytes.Join(items, []byte(",")), page.HighWaterMark, page.HasMore)
		case strings.HasPrefix(r.URL.Path, dscotest.BasePath+"/inventory/files/"):
			var lines [][]byte
			for line := range bytes.Lines(body) {
				lines = append(lines, append(rewrite(bytes.TrimSuffix(line, []byte("\n"))), '\n'))
			}
			body = bytes.Join(lines, nil)
		}
		for k, v := range rec.Header() {
			if k != "Content-Length" {
				w.Header()[k] = v
			}
		}
		w.WriteHeader(rec.Code)
		_, _ = w.Write(body)
	}))
	t.Cleanup(srv.Close)
	return srv.URL + dscotest.BasePath
}

// TestPollerUnknownAttributesAndPoison: in both modes, attributes Dsco adds
// to an item and to its warehouses reach Kafka byte-exact in extra; an item
// that cannot be mapped (a value of the wrong type; in a file, a line that
// is not JSON) or whose record is larger than Kafka.BatchBytes goes to the
// poison topic once, with its raw bytes and the reason, and every other
// item is delivered once; later changes still come.
func TestPollerUnknownAttributesAndPoison(t *testing.T) {
	const batchBytes = 4096
	blob := strings.Repeat("x", 2*batchBytes)
	quantity := regexp.MustCompile(`"quantityAvailable":\d+`)
	cases := []struct {
		mode     dsco.ResultType
		poisoned map[string]string // sku -> part of the reason
	}{
		{dsco.ResultObjects, map[string]string{
			"SKU-00005": "field quantityAvailable",
			"SKU-00009": "exceeds the Kafka batch limit",
		}},
		{dsco.ResultFile, map[string]string{
			"SKU-00005": "field quantityAvailable",
			"SKU-00007": "unexpected end of JSON input",
			"SKU-00009": "exceeds the Kafka batch limit",
		}},
	}
	for _, tc := range cases {
		t.Run(string(tc.mode), func(t *testing.T) {
			var mu sync.Mutex
			served := map[string][]byte{} // sku -> the item as last served
			// In file mode, the lines of the first file: the first 50 items
			// served (in a still clock every change is in it, and only files
			// pass through rewrite).
			lineOf, rewritten := map[string]int{}, 0
			rewrite := func(item []byte) []byte {
				s := string(item)
				sku := regexp.MustCompile(`"sku":"(SKU-\d+)"`).FindStringSubmatch(s)
				if sku == nil {
					return item
				}
				mu.Lock()
				if rewritten++; rewritten <= 50 {
					lineOf[sku[1]] = rewritten
				}
				mu.Unlock()
				switch sku[1] {
				case "SKU-00003":
					s = strings.Replace(s, "{", `{"upc" : "0123" , "dims":{"h": 1.50,"w":[1, 2]},`, 1)
					s = strings.Replace(s, `"warehouseId":"WH1"`, `"warehouseId":"WH1","bin" : "A-1"`, 1)
				case "SKU-00005":
					s = quantity.ReplaceAllString(s, `"quantityAvailable":"plenty"`)
				case "SKU-00007":
					if tc.mode == dsco.ResultFile {
						s = s[:len(s)-1] // no closing brace (in a page, the whole page would be unreadable)
					}
				case "SKU-00009":
					s = s[:len(s)-1] + `,"blob":"` + blob + `"}` // after the sku, which the truncated poison record keeps
				}
				mu.Lock()
				served[sku[1]] = []byte(s)
				mu.Unlock()
				return []byte(s)
			}
			serde, published, poisoned := pollWithRewrite(t, rewrite, nil, func(c *inbound.PollerConfig) {
				c.ResultType, c.Kafka.BatchBytes = tc.mode, batchBytes
			})
			got := itemRecords(t, serde, published) // each once
			require.Len(t, got, 50-len(tc.poisoned)+1, "every item that maps, once, and the later change")
			bySKU := map[string]*schemas.ItemInventoryEvent{}
			firstFile := ""
			for _, ev := range got {
				require.NotContains(t, tc.poisoned, ev.ItemInventory.SKU)
				if ev.RequestID != nil && *ev.ItemInventory.QuantityAvailable != 700 {
					firstFile = *ev.RequestID
				}
				if prev := bySKU[ev.ItemInventory.SKU]; prev == nil || *ev.ItemInventory.QuantityAvailable > *prev.ItemInventory.QuantityAvailable {
					bySKU[ev.ItemInventory.SKU] = ev
				}
			}
			assert.Equal(t, int32(700), *bySKU["SKU-00001"].ItemInventory.QuantityAvailable, "the later change")
			withExtra := bySKU["SKU-00003"].ItemInventory
			require.NotNil(t, withExtra.Extra)
			assert.Equal(t, `{"upc" : "0123","dims":{"h": 1.50,"w":[1, 2]}}`, *withExtra.Extra, "the item's unknown attributes, byte-exact")
			require.Len(t, withExtra.Warehouses, 1)
			require.NotNil(t, withExtra.Warehouses[0].Extra)
			assert.Equal(t, `{"bin" : "A-1"}`, *withExtra.Warehouses[0].Extra, "the warehouse's unknown attributes, byte-exact")
			assert.Nil(t, bySKU["SKU-00004"].ItemInventory.Extra)

			require.Len(t, poisoned, len(tc.poisoned), "each item that does not map, once")
			mu.Lock()
			defer mu.Unlock()
			for _, rec := range poisoned {
				sku := regexp.MustCompile(`"sku":"(SKU-\d+)"`).FindStringSubmatch(string(rec.Value))
				require.NotNil(t, sku, "%s", rec.Value)
				require.Contains(t, tc.poisoned, sku[1])
				assert.Contains(t, header(rec, inbound.HeaderPoisonReason), tc.poisoned[sku[1]])
				assert.Equal(t, "iteminventory", header(rec, inbound.HeaderObjectType))
				if tc.mode == dsco.ResultFile {
					assert.Equal(t, fmt.Sprintf("%s:%d", firstFile, lineOf[sku[1]]), header(rec, inbound.HeaderPosition),
						"the file's request id and the item's line")
				} else {
					assert.NotEmpty(t, header(rec, inbound.HeaderPosition), "the mark of the item's page")
				}
				if sku[1] == "SKU-00009" {
					assert.Equal(t, "true", header(rec, inbound.HeaderTruncated))
					assert.True(t, bytes.HasPrefix(served[sku[1]], rec.Value), "the start of the raw bytes")
					assert.Less(t, len(rec.Value), batchBytes)
				} else {
					assert.Equal(t, string(served[sku[1]]), string(rec.Value), "the raw bytes, exactly")
					assert.Empty(t, header(rec, inbound.HeaderTruncated))
				}
			}
		})
	}
}

// errorMetrics counts the failures reported to Metrics.Error, by kind.
type errorMetrics struct {
	inbound.NopMetrics
	mu    sync.Mutex
	kinds map[string]int
}

func (m *errorMetrics) Error(_, kind string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.kinds == nil {
		m.kinds = map[string]int{}
	}
	m.kinds[kind]++
}

// count returns the failures of kind reported so far.
func (m *errorMetrics) count(kind string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.kinds[kind]
}

// TestPollerFileLineTooLong: a file line longer than the Dsco client reads
// (64 MiB; here 4 KiB, WithMaxFileLine) goes to the poison topic with its
// start, dsco_truncated and a reason naming the file's request, the line
// and its length, as an item that cannot be mapped does; the file's other
// items are delivered once and the poll does not fail. Later files, which
// repeat the line (a still clock: every change has the same lastUpdate),
// deliver the later change and neither poison the line again nor fail.
// Both poison records, the long line's and that of a line further on that
// is not JSON (past the long line and several 4 KiB chunks), name the
// file's request id and their line as dsco_position.
func TestPollerFileLineTooLong(t *testing.T) {
	const limit = 4096
	blob := strings.Repeat("x", 3*limit)
	var mu sync.Mutex
	var served []byte // the long line as last served
	brokenLine, rewritten := 0, 0
	rewrite := func(item []byte) []byte {
		mu.Lock()
		defer mu.Unlock()
		// The first file holds the 50 changes: the first 50 lines rewritten.
		if rewritten++; bytes.Contains(item, []byte(`"sku":"SKU-00045"`)) {
			if rewritten <= 50 {
				brokenLine = rewritten
			}
			return item[:len(item)-1] // no closing brace
		}
		if !bytes.Contains(item, []byte(`"sku":"SKU-00004"`)) {
			return item
		}
		long := append(item[:len(item)-1:len(item)-1], `,"blob":"`+blob+`"}`...) // after the sku, which its start keeps
		served = long
		return long
	}
	m := &errorMetrics{}
	serde, published, poisoned := pollWithRewrite(t, rewrite, []dsco.Option{dsco.WithMaxFileLine(limit)}, func(c *inbound.PollerConfig) {
		c.ResultType, c.Metrics = dsco.ResultFile, m
	})
	got := itemRecords(t, serde, published) // each once
	require.Len(t, got, 48+1, "every other item of the file, once, and the later change")
	requests := map[string]bool{}
	for _, ev := range got {
		require.NotContains(t, []string{"SKU-00004", "SKU-00045"}, ev.ItemInventory.SKU)
		require.NotNil(t, ev.RequestID)
		if *ev.ItemInventory.QuantityAvailable != 700 {
			requests[*ev.RequestID] = true
		}
	}
	require.Len(t, requests, 1, "the items before the later change came with one file")
	assert.Zero(t, m.count(inbound.ErrKindPoll), "no poll failed")

	require.Len(t, poisoned, 2, "the long line and the line that is not JSON, once each")
	rec, broken := poisoned[0], poisoned[1] // the long line's, and the other
	if !strings.Contains(header(rec, inbound.HeaderPoisonReason), "inventory file of request") {
		rec, broken = broken, rec
	}
	assert.Contains(t, string(broken.Value), `"sku":"SKU-00045"`)
	for request := range requests {
		assert.Equal(t, fmt.Sprintf("%s:%d", request, brokenLine), header(broken, inbound.HeaderPosition),
			"the file's request id and the line, counted past the long line and the chunks")
	}
	mu.Lock()
	line := served
	mu.Unlock()
	reason := header(rec, inbound.HeaderPoisonReason)
	for request := range requests {
		assert.Contains(t, reason, "inventory file of request "+request, "the file it came from")
	}
	at := regexp.MustCompile(fmt.Sprintf(`line (\d+) of the file \(at byte \d+\) is %d bytes long`, len(line))).FindStringSubmatch(reason)
	require.NotNil(t, at, "where it is, and its length: %s", reason)
	for request := range requests {
		assert.Equal(t, request+":"+at[1], header(rec, inbound.HeaderPosition), "the file's request id and the line")
	}
	assert.Contains(t, reason, fmt.Sprintf("passes the %d bytes the client reads", limit))
	assert.Equal(t, "iteminventory", header(rec, inbound.HeaderObjectType))
	assert.Equal(t, "true", header(rec, inbound.HeaderTruncated))
	assert.True(t, bytes.HasPrefix(line, rec.Value), "the start of the line: %.60q", rec.Value)
	assert.Contains(t, string(rec.Value), `"sku":"SKU-00004"`)
	assert.Less(t, len(rec.Value), len(line))
}

// panickyMetrics panics in the first NewestEvent call, which the poller makes
// while it produces a poll's items, and counts the poll errors.
type panickyMetrics struct {
	errorMetrics
	panicked atomic.Bool
}

func (m *panickyMetrics) NewestEvent(string, int, time.Time) {
	if m.panicked.CompareAndSwap(false, true) {
		panic("metrics backend exploded")
	}
}

// TestPollerSurvivesAPanic: a panic while a poll is produced does not crash
// the process: the poll counts as failed and is tried again from the same
// mark, so every change still arrives.
func TestPollerSurvivesAPanic(t *testing.T) {
	m := &panickyMetrics{}
	_, _, cons, cfg := objectsPoller(t, 17, m)
	_, stop := runPoller(t, cfg)
	// The poll that panicked had produced its items before the panic, and
	// produces them again: at least once, by event id.
	ids := func(rs []*kgo.Record) map[string]bool {
		out := map[string]bool{}
		for _, r := range rs {
			out[header(r, inbound.HeaderEventID)] = true
		}
		return out
	}
	recs := cons.until(t, func(rs []*kgo.Record) bool { return len(ids(rs)) >= 50 })
	stop()
	assert.Len(t, ids(recs), 50, "every change, at least once")
	assert.True(t, m.panicked.Load())
	assert.Equal(t, 1, m.count(inbound.ErrKindPoll), "the panicking poll counted as one failed poll")
}

// TestPollerStopsWhenDscoRefusesForGood: a poll Dsco refuses with a status
// that asking again cannot mend (410 for an expired mark) ends Run with an
// error naming it, after one request, instead of retrying for ever while
// readiness stays green.
func TestPollerStopsWhenDscoRefusesForGood(t *testing.T) {
	_, _, _, cfg := objectsPoller(t, 16, nil)
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusGone)
		_, _ = io.WriteString(w, `{"status":"failure","messages":[{"code":"POSITION_EXPIRED","description":"the high-water mark expired"}]}`)
	}))
	defer srv.Close()
	client, err := dsco.NewClient(srv.URL, dsco.WithStaticToken("t"))
	require.NoError(t, err)
	cfg.Client = client
	p, err := inbound.NewPoller(cfg, nil)
	require.NoError(t, err)
	t.Cleanup(func() { _ = p.Close() })
	ctx, cancel := context.WithTimeout(t.Context(), waitLimit)
	defer cancel()
	err = p.Run(ctx)
	require.ErrorContains(t, err, "refuses it for good")
	assert.ErrorContains(t, err, "410")
	assert.EqualValues(t, 1, calls.Load(), "asked once")
}

// pollWithRewrite runs a poller (configured by adjust, its client by opts) on a sandbox of
// 50 catalog items with inventory whose item inventory answers pass through rewrite, and
// whose clock stands still (the 50 changes share one lastUpdate: in file mode every later
// file repeats them all), until the poller delivered 50 records, and once more after
// SKU-00001's quantity changed to 700; then polls a little longer (which must repeat
// nothing), stops it, and returns its Serde and the records on the item inventory topic
// and on the poison topic.
func pollWithRewrite(t *testing.T, rewrite func([]byte) []byte, opts []dsco.Option, adjust func(*inbound.PollerConfig)) (serde *schemas.Serde, published, poisoned []*kgo.Record) {
	t.Helper()
	clk := dscotest.NewClock(time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC))
	sb, err := dscotest.New(dscotest.Config{Seed: 16, Now: clk.Now})
	require.NoError(t, err)
	t.Cleanup(sb.Close)
	client := newClient(t, rewritingSandbox(t, sb, rewrite, nil), opts...)
	brokers := kafkatest.Brokers(t)
	serde = newSerde(t, newRegistry(t))
	kafkatest.CreateTopic(t, brokers, "dsco.iteminventory.v1", 4)
	kafkatest.CreateTopic(t, brokers, "dsco.poison.v1", 1)
	_, err = sb.SeedOrders(0) // 50 catalog items with inventory: 50 changes
	require.NoError(t, err)
	cons := newConsumer(t, brokers, "dsco.iteminventory.v1", "dsco.poison.v1")
	cfg := inbound.PollerConfig{Client: client, Serde: serde, Kafka: inbound.KafkaConfig{Brokers: brokers},
		Limit: 7, PollInterval: 20 * time.Millisecond, RetryBackoff: 10 * time.Millisecond}
	adjust(&cfg)

	_, stop := runPoller(t, cfg)
	recs := cons.until(t, func(rs []*kgo.Record) bool { return len(rs) >= 50 })
	clk.Advance(time.Second)
	setInventory(t, client, skus(1, 1), 700)
	recs = append(recs, cons.until(t, func(rs []*kgo.Record) bool { return len(rs) >= 1 })...)
	time.Sleep(100 * time.Millisecond) // more polls, which must repeat nothing
	stop()
	for _, rec := range append(recs, drain(t, cons)...) {
		if rec.Topic == "dsco.poison.v1" {
			poisoned = append(poisoned, rec)
		} else {
			published = append(published, rec)
		}
	}
	return serde, published, poisoned
}

// TestPollerReadsFewerItemsWhenAnAnswerIsTooLarge: an objects answer larger
// than the Dsco client reads is asked for again with half the limit, until
// it fits, and the poller goes on with that limit; it ended the poller (and
// the inbound side with it) as a poll Dsco refuses for good.
func TestPollerReadsFewerItemsWhenAnAnswerIsTooLarge(t *testing.T) {
	var (
		mu     sync.Mutex
		limits []int
	)
	_, _, cons, cfg := objectsPoller(t, 16, nil, func(sb *dscotest.Sandbox) string {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodGet && r.URL.Path == dscotest.BasePath+"/inventory" {
				var params struct{ Limit int }
				require.NoError(t, json.Unmarshal([]byte(r.URL.Query().Get("params")), &params))
				mu.Lock()
				limits = append(limits, params.Limit)
				mu.Unlock()
				if params.Limit > 5 { // items too large together: an answer past the client's 64 MiB
					w.Header().Set("Content-Type", "application/json")
					_, _ = io.Copy(w, io.LimitReader(zeros{}, 65<<20))
					return
				}
			}
			sb.ServeHTTP(w, r)
		}))
		t.Cleanup(srv.Close)
		return srv.URL + dscotest.BasePath
	})
	cfg.Limit = 20
	_, stop := runPoller(t, cfg)
	recs := cons.until(t, func(rs []*kgo.Record) bool { return len(rs) >= 50 })
	stop()
	assert.Len(t, recs, 50, "every change once")
	mu.Lock()
	defer mu.Unlock()
	require.Greater(t, len(limits), 3)
	assert.Equal(t, []int{20, 10, 5}, limits[:3], "the first poll, its limit halved until the answer fits")
	for _, l := range limits[3:] {
		assert.Equal(t, 5, l, "the later polls keep the limit that fits")
	}
}
