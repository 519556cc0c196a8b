package outbound

import (
	"context"
	"testing"

	"github.com/ThreeDotsLabs/watermill"
	kafkago "github.com/segmentio/kafka-go"
	"github.com/stretchr/testify/require"
)

// TestPanickingHandlerLeavesNoPending: a handler call whose prepare panics is recovered (the
// record is nacked) and leaves its batcher's pending count as it was: at 1 for good,
// every later batch that is not full would wait MaxBatchWait (pending > 0).
func TestPanickingHandlerLeavesNoPending(t *testing.T) {
	k := kinds[0]
	p := &Pipeline{
		logger:  watermill.NopLogger{},
		kinds:   map[string]*kind{k.name: k},
		ready:   make(chan struct{}),
		closing: make(chan struct{}), draining: make(chan struct{}),
		aborted: make(chan struct{}), stopped: make(chan struct{}),
		batchers: map[*kind]*batcher{},
	}
	// cfg.Serde is nil: Decode panics (a nil-pointer dereference), as the Handler doc says
	// decoding may.
	p.batchers[k] = newBatcher(p, k)
	close(p.ready)
	h, err := p.Handler(k.name)
	require.NoError(t, err)
	var got error
	calls := 0
	h(context.Background(), kafkago.Message{Topic: "t", Value: []byte{0}}, func(err error) { calls++; got = err })
	require.Equal(t, 1, calls)
	require.Error(t, got)
	require.Zero(t, p.batchers[k].pending.Load(), "pending leaked by the recovered panic")
}
