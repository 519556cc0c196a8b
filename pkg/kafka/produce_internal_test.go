package kafka

import (
	"bytes"
	"fmt"
	"io"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestRecordBatchSize: RecordBatchSize and MaxValueLen agree with the batches the Producer
// encodes, at the varint length boundaries, with null keys, values and header values.
func TestRecordBatchSize(t *testing.T) {
	p := &Producer{cfg: ProducerConfig{BatchBytes: 1 << 30}}
	bytesOf := func(n int) []byte {
		if n < 0 {
			return nil
		}
		return make([]byte, n)
	}
	for _, key := range []int{-1, 0, 5, 63, 64, 300} {
		for _, value := range []int{-1, 0, 63, 64, 8191, 8192, 100_000} {
			for _, hs := range [][]kafkago.Header{nil, {{Key: "a", Value: []byte("b")}, {Key: "null"}}} {
				t.Run(fmt.Sprintf("key=%d/value=%d/headers=%d", key, value, len(hs)), func(t *testing.T) {
					r := kafkago.Message{Key: bytesOf(key), Value: bytesOf(value), Headers: hs, Time: time.Now()}
					hb := 0
					for _, h := range hs {
						hb += HeaderSize(h.Key, lenOrNull(h.Value))
					}
					batch, n, err := p.encodeBatch([]kafkago.Message{r}, []int{0})
					require.NoError(t, err)
					require.Equal(t, 1, n)
					var b bytes.Buffer
					_, err = io.Copy(&b, &batchReader{b: batch})
					require.NoError(t, err)
					size := RecordBatchSize(key, value, len(hs), hb)
					assert.Equal(t, int64(b.Len()-4), size, "the batch after its size prefix")

					if value < 0 {
						return
					}
					limit := size + int64(value%7) // sometimes room to spare
					room := MaxValueLen(limit, key, len(hs), hb)
					assert.LessOrEqual(t, RecordBatchSize(key, int(room), len(hs), hb), limit)
					assert.Greater(t, RecordBatchSize(key, int(room)+1, len(hs), hb), limit)
				})
			}
		}
	}
}
