package kafka

import (
	"math"
	"slices"
	"sync"
)

// offsetTracker follows one partition within one generation. It records the offsets
// delivered and the offsets acked, and yields the commit offset: one past the last offset of
// the longest run of acked deliveries that starts at the generation's first delivery, or,
// once every delivery was acked, the offset the partition was read up to (see passed), so
// that offsets without a record (transaction markers, records compacted away) at the end
// of the partition are committed too. An acked offset after an unacked one is never
// committable, whatever order the acks arrive in. It is safe for concurrent use.
type offsetTracker struct {
	mu        sync.Mutex
	pending   []int64 // delivered offsets after the committable run, in delivery order
	acked     []bool  // whether pending[i] was acked
	next      int64   // commit offset: everything delivered before it is acked
	read      int64   // every record before it was delivered (see passed)
	committed int64   // the last commit offset sent successfully
	resets    uint64  // how many times reset was called: a commit read before one is stale
}

// commitPoint is a commit offset as toCommit read it, with the tracker's resets then.
type commitPoint struct {
	offset int64
	resets uint64
}

// newOffsetTracker returns a tracker whose partition starts at start (the offset the
// generation resumes from, as committed before; negative when there is none).
func newOffsetTracker(start int64) *offsetTracker {
	return &offsetTracker{next: start, read: start, committed: start}
}

// delivered records that the message at offset was handed out. Offsets must be delivered in
// increasing order; redelivering the same offset is a no-op.
func (t *offsetTracker) delivered(offset int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if n := len(t.pending); n > 0 && t.pending[n-1] >= offset {
		return
	}
	if len(t.pending) == 0 && offset < t.next {
		return
	}
	t.pending = append(t.pending, offset)
	t.acked = append(t.acked, false)
}

// ack records that the message at offset was acked and advances the commit offset over
// the acked run. Acks for offsets never delivered are ignored.
func (t *offsetTracker) ack(offset int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	// pending is in increasing order (see delivered).
	j, found := slices.BinarySearch(t.pending, offset)
	if !found {
		return
	}
	t.acked[j] = true
	i := 0
	for i < len(t.pending) && t.acked[i] {
		t.next = t.pending[i] + 1
		i++
	}
	t.pending, t.acked = t.pending[i:], t.acked[i:]
	if len(t.pending) == 0 {
		t.next = max(t.next, t.read)
	}
}

// passed records that the partition was read up to offset: every record before it was
// delivered already, and the offsets between the last delivered record and offset hold
// none (any more: records deleted before they were read count too). Once every delivery
// was acked, offset is committable.
func (t *offsetTracker) passed(offset int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.read = max(t.read, offset)
	if len(t.pending) == 0 {
		t.next = max(t.next, t.read)
	}
}

// toCommit returns the commit offset if it moved past the last successful commit.
func (t *offsetTracker) toCommit() (commitPoint, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return commitPoint{t.next, t.resets}, t.next > t.committed
}

// reset restarts the tracker at offset, a position the partition was moved to (see
// subscription.resetOffset) with nothing in flight, and makes offset committable even if
// it is below what was committed before.
func (t *offsetTracker) reset(offset int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.pending, t.acked = t.pending[:0], t.acked[:0]
	t.next, t.read = offset, offset
	t.committed = math.MinInt64
	t.resets++
}

// markCommitted records a successful commit of c. A commit read before a reset does not
// count: the reset position still has to be committed, even if it is below c.
func (t *offsetTracker) markCommitted(c commitPoint) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if c.resets == t.resets && c.offset > t.committed {
		t.committed = c.offset
	}
}
