package inbound_test

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/dscokafka/connector/pkg/dsco"
	"github.com/dscokafka/connector/pkg/dsco/dscotest"
	"github.com/dscokafka/connector/pkg/inbound"
)

// breakEvent is a transport to Dsco that makes every page of stream events holding
// marker invalid JSON: a trailing comma after the marker, inside its event; with
// hidePosition, such a page names no position either (its members are renamed); with
// aloneOnce, only the first page read alone (limit 1) holding marker is broken: a body
// damaged once on its way.
type breakEvent struct {
	base         http.RoundTripper
	marker       []byte
	hidePosition bool
	aloneOnce    bool
	broke        atomic.Bool
}

func (b *breakEvent) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := b.base.RoundTrip(req)
	if err != nil || !strings.HasSuffix(req.URL.Path, "/events") || resp.StatusCode != http.StatusOK {
		return resp, err
	}
	body, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil {
		return nil, err
	}
	if b.aloneOnce && (req.URL.Query().Get("limit") != "1" || !bytes.Contains(body, b.marker) || !b.broke.CompareAndSwap(false, true)) {
		resp.Body = io.NopCloser(bytes.NewReader(body))
		return resp, nil
	}
	if b.hidePosition && bytes.Contains(body, b.marker) {
		body = bytes.ReplaceAll(body, []byte(`"position"`), []byte(`"place"`))
	}
	body = bytes.Replace(body, b.marker, append(bytes.Clone(b.marker), ",}"...), 1)
	resp.Body, resp.ContentLength = io.NopCloser(bytes.NewReader(body)), int64(len(body))
	resp.Header.Del("Content-Length")
	return resp, nil
}

// TestPipelinePoisonsAPageThatDoesNotDecode: an event whose JSON is broken makes every
// page holding it invalid JSON, which cannot be split into its events. The partition
// reads fewer events until the page holds the broken one alone, so that every event
// before it and after it is published, and after reading it alone a few times poisons
// that page whole (its body, the reason, the stream, partition and position) and goes on
// from the position the page names; the stream's position is committed past it. The
// page was read again for ever: the partition stopped at it.
func TestPipelinePoisonsAPageThatDoesNotDecode(t *testing.T) {
	sb, _, brokers, serde := newStack(t, dscotest.Config{Seed: 44}, "order")
	ids, err := sb.SeedOrders(10)
	require.NoError(t, err)
	base := newTransport(t)
	broken := ids[5]
	client := newClient(t, sb.URL, dsco.WithHTTPClient(&http.Client{Transport: &breakEvent{base: base, marker: []byte(`"orderId":"` + broken + `"`)}}))
	cfg := testConfig(client, serde, brokers, inbound.StreamConfig{ObjectType: "order"})
	r := startPipeline(t, cfg)
	recs := newConsumer(t, brokers, "dsco.order.v1", "dsco.poison.v1").until(t, func(rs []*kgo.Record) bool {
		topics := map[string]bool{}
		for _, rec := range rs {
			topics[rec.Topic] = true
		}
		return len(rs) >= 10 && topics["dsco.poison.v1"]
	})
	require.Eventually(t, func() bool {
		list, err := client.ListStreams(t.Context())
		return err == nil && len(list.Streams) == 1 && sandboxSeq(list.Streams[0].Partitions[0].Position) == 10
	}, waitLimit, 20*time.Millisecond, "the stream's position committed past the broken event")
	require.NoError(t, r.stop(t))

	published := map[string]bool{}
	var poisoned []*kgo.Record
	for _, rec := range recs {
		if rec.Topic == "dsco.poison.v1" {
			poisoned = append(poisoned, rec)
			continue
		}
		published[string(rec.Key)] = true
	}
	require.Len(t, poisoned, 1)
	for _, id := range ids {
		assert.Equal(t, id != broken, published[id], "order %s published", id)
	}
	p := poisoned[0]
	assert.Contains(t, string(p.Value), `"orderId":"`+broken+`",}`, "the page's body, as Dsco answered it")
	assert.Contains(t, header(p, inbound.HeaderPoisonReason), "does not decode")
	assert.Equal(t, uint64(6), sandboxSeq(header(p, inbound.HeaderPosition)), "the position after the broken event")
	assert.Equal(t, "0", header(p, inbound.HeaderPartition))
	assert.NotEmpty(t, header(p, inbound.HeaderStream))
}

// TestPipelineGoesOnOnceMovedPastAPageNamingNoPosition: a page that does not decode and
// names no position the partition can go on from is read again until the stream's
// position is moved past it, as its error says; the partition then goes on from there.
// It read the page after the position it held in memory for as long as it ran: the
// move was seen only after a restart. The page after the stored position is another
// page, read alone three times before it is poisoned as any other: one damaged once on
// its way was poisoned at once, its event never published, as the reads of the page
// held before were counted for it; and its poison reason names where it was read
// (it named the position held in memory, before the page moved past).
func TestPipelineGoesOnOnceMovedPastAPageNamingNoPosition(t *testing.T) {
	for _, tc := range []struct {
		name string
		// damaged: the event after the stored position moved to, ids[6], is broken on
		// the first read of it alone (once) or on every read (always: poisoned).
		damaged string
	}{
		{name: "the page after decodes"},
		{name: "the page after damaged once", damaged: "once"},
		{name: "the page after broken", damaged: "always"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const failed = "inbound: reading a page failed; trying again"
			sb, _, brokers, serde := newStack(t, dscotest.Config{Seed: 44}, "order")
			ids, err := sb.SeedOrders(10)
			require.NoError(t, err)
			base := newTransport(t)
			broken := ids[5]
			var transport http.RoundTripper = &breakEvent{base: base, marker: []byte(`"orderId":"` + broken + `"`), hidePosition: true}
			if tc.damaged != "" {
				transport = &breakEvent{base: transport, marker: []byte(`"orderId":"` + ids[6] + `"`), aloneOnce: tc.damaged == "once"}
			}
			client := newClient(t, sb.URL, dsco.WithHTTPClient(&http.Client{Transport: transport}))
			cfg := testConfig(client, serde, brokers, inbound.StreamConfig{ObjectType: "order"})
			logs := newLogSignal(failed)
			r := startPipelineLogged(t, cfg, slog.New(logs))
			var stream dsco.Stream
			require.Eventually(t, func() bool {
				list, err := client.ListStreams(t.Context())
				if err != nil || len(list.Streams) != 1 || sandboxSeq(list.Streams[0].Partitions[0].Position) != 5 {
					return false
				}
				stream = list.Streams[0]
				for _, l := range append(logs.find(slog.LevelWarn, failed), logs.find(slog.LevelDebug, failed)...) {
					if err, ok := l.attrs["error"].(error); ok && strings.Contains(err.Error(), "names no position past it") {
						return true
					}
				}
				return false
			}, waitLimit, 20*time.Millisecond, "the events before the broken one committed, and the page after them refused")

			require.NoError(t, client.UpdateStreamPosition(t.Context(), stream.StreamID, "0:0000000000000006"))
			// Every order but the broken one, published or poisoned.
			recs := newConsumer(t, brokers, "dsco.order.v1", "dsco.poison.v1").until(t, func(rs []*kgo.Record) bool {
				return len(rs) >= len(ids)-1
			})
			require.NoError(t, r.stop(t))
			published, poisoned := map[string]bool{}, 0
			for _, rec := range recs {
				if rec.Topic != "dsco.poison.v1" {
					published[string(rec.Key)] = true
					continue
				}
				reason := header(rec, inbound.HeaderPoisonReason)
				if tc.damaged != "always" || !strings.Contains(string(rec.Value), `"orderId":"`+ids[6]+`",}`) {
					t.Errorf("poisoned: %s", reason)
					continue
				}
				poisoned++
				assert.Contains(t, reason, "the page read after the stream's stored position holding at most this event does not decode, 3 times")
				assert.Equal(t, uint64(7), sandboxSeq(header(rec, inbound.HeaderPosition)), "the position after the broken event")
			}
			if tc.damaged == "always" {
				assert.Equal(t, 1, poisoned, "the broken page after the stored position poisoned")
			}
			for _, id := range ids {
				assert.Equal(t, id != broken && (id != ids[6] || tc.damaged != "always"), published[id], "order %s published", id)
			}
		})
	}
}
