package outbound

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
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
	assert.Len(t, s.ring, 3000, "the eviction queue holds MaxEntries ids")

	s.put(s.key("4999"), MarkSending, at-1)
	assert.Equal(t, MarkApplied, s.Get("4999"), "an older mark read later does not win")
	s.put(s.key("4999"), MarkReleased, at+1)
	assert.Equal(t, MarkReleased, s.Get("4999"))

	now = now.Add(2 * time.Hour)
	assert.Equal(t, MarkNone, s.Get("4999"), "older than the retention")
}
