package outbound

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestTakeSkipsGivenUpRecords: a queued command whose record's context ended (the
// Subscriber gave the record up after a revocation) is not taken into a batch but
// settled with the context's error; the others are taken in order.
func TestTakeSkipsGivenUpRecords(t *testing.T) {
	p := &Pipeline{cfg: Config{MaxBatchItems: 10, MaxBatchBytes: 1 << 20}}
	b := newBatcher(p, kinds[0])
	live := context.Background()
	gone, cancel := context.WithCancel(context.Background())
	cancel()
	settled := map[string]error{}
	cmd := func(id string, ctx context.Context) *command {
		return &command{id: id, ctx: ctx, size: 10, finish: func(err error) { settled[id] = err }}
	}
	for _, c := range []*command{cmd("a", live), cmd("b", gone), cmd("c", live)} {
		require.True(t, b.enqueue(c))
	}
	batch, size, full := b.take(nil, 0)
	var ids []string
	for _, c := range batch {
		ids = append(ids, c.id)
	}
	assert.Equal(t, []string{"a", "c"}, ids)
	assert.Equal(t, 20, size)
	assert.False(t, full)
	assert.Equal(t, map[string]error{"b": context.Canceled}, settled, "only the given-up command is settled, with its context's error")
	assert.Empty(t, b.queue)
}
