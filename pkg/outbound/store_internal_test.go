package outbound

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestStoreBounds: the store keeps at most MaxEntries ids, forgetting the oldest first, and
// forgets ids older than Retention; a newer mark wins over an older one read later.
func TestStoreBounds(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s := newStore(StoreConfig{MaxEntries: 3000, Retention: time.Hour, Now: func() time.Time { return now }}, nil)
	at := now.UnixMilli()
	for i := range 5000 {
		s.put(s.key(fmt.Sprint(i)), MarkApplied, at)
	}
	assert.Equal(t, 3000, s.Len())
	assert.Equal(t, MarkNone, s.Get("0"), "the oldest are forgotten first")
	assert.Equal(t, MarkNone, s.Get("1999"))
	assert.Equal(t, MarkApplied, s.Get("2000"))
	assert.Equal(t, MarkApplied, s.Get("4999"))
	assert.Len(t, s.ids.ring, 3000, "the eviction queue holds MaxEntries ids")

	s.put(s.key("4999"), MarkSending, at-1)
	assert.Equal(t, MarkApplied, s.Get("4999"), "an older mark read later does not win")
	s.put(s.key("4999"), MarkReleased, at+1)
	assert.Equal(t, MarkReleased, s.Get("4999"))

	now = now.Add(2 * time.Hour)
	assert.Equal(t, MarkNone, s.Get("4999"), "older than the retention")
}

// TestIDTable checks the store's table against a map, with ids whose index homes collide
// (so that probing and backward-shift deletion run across the index's wrap-around) and a
// ring small enough to evict most of them.
func TestIDTable(t *testing.T) {
	for _, tc := range []struct {
		name     string
		max      int
		homes    uint64 // distinct values of the key's low bits: few make long probe runs
		ids, ops int
	}{
		{"spread", 100, 1 << 32, 1000, 20000},
		{"colliding homes", 100, 4, 1000, 20000},
		{"one home", 50, 1, 200, 5000},
		{"no eviction", 5000, 1 << 32, 1000, 20000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, uint64(tc.max)))
			key := func(id int) idKey {
				// The low 32 bits give the home; the high ones keep ids apart.
				return idKey{uint64(id)<<32 | (uint64(id)*0x9e3779b97f4a7c15)%tc.homes, uint64(id)}
			}
			tab := idTable{max: tc.max}
			model := map[int]storeEntry{}
			var order []int // ids in the order first marked
			for op := range tc.ops {
				id := rng.IntN(tc.ids)
				e := newStoreEntry(Mark(1+rng.IntN(4)), int64(op))
				tab.put(key(id), e)
				if _, ok := model[id]; !ok {
					order = append(order, id)
					if len(order) > tc.max {
						delete(model, order[0])
						order = order[1:]
					}
				}
				model[id] = e
				if op%97 == 0 || op == tc.ops-1 {
					require.Len(t, tab.ring, len(model))
					for id := range tc.ids {
						got, ok := tab.get(key(id))
						want, wantOK := model[id]
						require.Equal(t, wantOK, ok, "id %d after %d puts", id, op+1)
						require.Equal(t, want, got, "id %d after %d puts", id, op+1)
					}
				}
			}
			assert.LessOrEqual(t, 4*len(tab.ring), 3*len(tab.index), "the index is at most ¾ full")
			assert.LessOrEqual(t, cap(tab.ring), tc.max, "the ring never grows past max")
		})
	}
}
