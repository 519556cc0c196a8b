package inbound_test

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/dscokafka/connector/pkg/dsco"
	"github.com/dscokafka/connector/pkg/dsco/dscotest"
	"github.com/dscokafka/connector/pkg/inbound"
	"github.com/dscokafka/connector/pkg/kafka/kafkatest"
)

// hugeTimestamp is a transport to Dsco that gives the first event of a
// partition's first page (read from the committed position) a timestamp of
// size bytes: a value whose quote makes the reason the event cannot be
// mapped as large.
type hugeTimestamp struct {
	base http.RoundTripper
	size int
}

func (h *hugeTimestamp) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := h.base.RoundTrip(req)
	if err != nil || !strings.HasSuffix(req.URL.Path, "/events") || req.URL.Query().Get("position") != "" || resp.StatusCode != http.StatusOK {
		return resp, err
	}
	body, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil {
		return nil, err
	}
	const field = `"timestamp":"`
	if i := bytes.Index(body, []byte(field)); i >= 0 {
		start := i + len(field)
		end := start + bytes.IndexByte(body[start:], '"')
		body = bytes.Join([][]byte{body[:start], bytes.Repeat([]byte("9"), h.size), body[end:]}, nil)
	}
	resp.Body, resp.ContentLength = io.NopCloser(bytes.NewReader(body)), int64(len(body))
	resp.Header.Del("Content-Length")
	return resp, nil
}

// TestPipelinePoisonsAnEventWhoseReasonIsLarge: an event whose poison
// reason alone is larger than Kafka.BatchBytes (it quotes a value of the
// event as large) goes to the poison topic with the reason cut to fit,
// and the partition goes on. The poison record could not fit however little
// of the raw bytes it held: the producer refused the page, and the
// partition asked again for ever.
func TestPipelinePoisonsAnEventWhoseReasonIsLarge(t *testing.T) {
	const limit = 64 << 10
	sb := newSandbox(t, dscotest.Config{Seed: 43})
	brokers := kafkatest.Brokers(t)
	createTopics(t, brokers, "order")
	serde := newSerde(t, newRegistry(t))
	base := newTransport(t)
	client := newClient(t, sb.URL, dsco.WithHTTPClient(&http.Client{Transport: &hugeTimestamp{base: base, size: 2 * limit}, Timeout: 30 * time.Second}))
	_, err := sb.SeedOrders(10)
	require.NoError(t, err)
	cfg := testConfig(client, serde, brokers, inbound.StreamConfig{ObjectType: "order"})
	cfg.Kafka.BatchBytes = limit
	r := startPipeline(t, cfg)
	recs := newConsumer(t, brokers, "dsco.order.v1", "dsco.poison.v1").until(t, func(rs []*kgo.Record) bool { return len(rs) >= 10 })
	require.NoError(t, r.stop(t))

	var poisoned []*kgo.Record
	for _, rec := range recs {
		if rec.Topic == "dsco.poison.v1" {
			poisoned = append(poisoned, rec)
		}
	}
	require.Len(t, poisoned, 1)
	rec := poisoned[0]
	reason := header(rec, inbound.HeaderPoisonReason)
	assert.Contains(t, reason, "timestamp", "the reason names the field")
	assert.Less(t, len(reason), limit, "the reason cut to fit")
	assert.Equal(t, "true", header(rec, inbound.HeaderTruncated))
	assert.NotEmpty(t, header(rec, inbound.HeaderEventID))
}

// TestPollerPoisonsAnItemWhoseReasonIsLarge: in both modes, an item whose
// poison reason alone is larger than Kafka.BatchBytes goes to the poison
// topic with the reason cut to fit, and the other items are delivered. The
// producer refused the poll's records, which were asked again for ever.
func TestPollerPoisonsAnItemWhoseReasonIsLarge(t *testing.T) {
	const limit = 64 << 10
	for _, mode := range []dsco.ResultType{dsco.ResultObjects, dsco.ResultFile} {
		t.Run(string(mode), func(t *testing.T) {
			rewrite := func(item []byte) []byte {
				const field = `"lastUpdate":"`
				i := bytes.Index(item, []byte(field))
				if !bytes.Contains(item, []byte(`"sku":"SKU-00004"`)) || i < 0 {
					return item
				}
				start := i + len(field)
				end := start + bytes.IndexByte(item[start:], '"')
				return bytes.Join([][]byte{item[:start], bytes.Repeat([]byte("9"), 2*limit), item[end:]}, nil)
			}
			_, published, poisoned := pollWithRewrite(t, rewrite, nil, func(c *inbound.PollerConfig) {
				c.ResultType, c.Kafka.BatchBytes = mode, limit
			})
			assert.Len(t, published, 49+1, "every other item, and the later change")
			require.Len(t, poisoned, 1)
			reason := header(poisoned[0], inbound.HeaderPoisonReason)
			assert.Contains(t, reason, "lastUpdate", "the reason names the field")
			assert.Less(t, len(reason), limit, "the reason cut to fit")
			assert.Equal(t, "true", header(poisoned[0], inbound.HeaderTruncated))
		})
	}
}
