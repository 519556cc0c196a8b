package outbound

import (
	"context"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	kafkago "github.com/segmentio/kafka-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dscokafka/connector/pkg/kafka"
)

// TestUndecodableBatchStandIn: the record a PartitionReader returns in place of a record
// batch it could not decode (kafka.Undecodable) is poisoned as an undecodable command
// with the reader's reason, without being decoded (here the Serde is nil: decoding it
// would panic), and the applied-ids store says at error level that the marks it held are
// lost.
func TestUndecodableBatchStandIn(t *testing.T) {
	reason := "the record batch of t/0 at offsets 0 to 2 fails its CRC"
	standIn := kafkago.Message{Topic: "t", Value: []byte{0, 0, 0, 0, 0, 0, 0, 0},
		Headers: []kafkago.Header{{Key: kafka.UndecodableHeader, Value: []byte(reason)}}}

	p := &Pipeline{logger: watermill.NopLogger{}}
	c, err := p.prepare(context.Background(), kinds[0], standIn)
	require.NoError(t, err)
	require.True(t, c.undecodable)
	assert.Equal(t, StatusRejected, c.out.Status)
	assert.Equal(t, "undecodable "+kinds[0].name+" command: kafka: record batch could not be decoded: "+reason, c.out.Reason)

	logger := watermill.NewCaptureLogger()
	s := newStore(StoreConfig{MaxEntries: 10, Retention: time.Hour, Now: time.Now}, logger)
	follow, done := s.follower()
	follow(standIn)
	done()
	errs := logger.Captured()[watermill.ErrorLogLevel]
	require.Len(t, errs, 1)
	assert.Contains(t, errs[0].Msg, "the marks it held are lost")
	assert.ErrorContains(t, errs[0].Err, reason)
	assert.Equal(t, 0, s.Len())
}
