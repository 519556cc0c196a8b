package kafka

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestOffsetTracker(t *testing.T) {
	type step struct {
		deliver []int64
		passed  []int64 // offsets the partition was read up to, after deliver
		ack     []int64
		want    int64 // commit offset after the step
		wantOK  bool  // whether it moved past the last commit (none is marked here)
	}
	cases := []struct {
		name  string
		start int64
		steps []step
	}{
		{
			name:  "gap in acks holds the commit back",
			start: 0,
			steps: []step{
				{deliver: []int64{0, 1, 2, 3}, ack: []int64{0, 1, 3}, want: 2, wantOK: true},
				{ack: []int64{2}, want: 4, wantOK: true},
			},
		},
		{
			name:  "nothing acked commits nothing",
			start: 7,
			steps: []step{{deliver: []int64{7, 8}, want: 7, wantOK: false}},
		},
		{
			name:  "acks in reverse order",
			start: 10,
			steps: []step{
				{deliver: []int64{10, 11, 12}, ack: []int64{12, 11}, want: 10, wantOK: false},
				{ack: []int64{10}, want: 13, wantOK: true},
			},
		},
		{
			name:  "offset gaps from compaction follow delivery order",
			start: 0,
			steps: []step{{deliver: []int64{0, 5, 9}, ack: []int64{0, 5}, want: 6, wantOK: true}},
		},
		{
			name:  "acks of undelivered offsets are ignored",
			start: 0,
			steps: []step{{deliver: []int64{0}, ack: []int64{1, 2}, want: 0, wantOK: false}},
		},
		{
			name:  "redelivery after nack is not a new delivery",
			start: 0,
			steps: []step{
				{deliver: []int64{0, 0, 0}, want: 0, wantOK: false},
				{ack: []int64{0}, want: 1, wantOK: true},
			},
		},
		{
			name:  "offsets without a record at the end commit once every delivery is acked",
			start: 0,
			steps: []step{
				{deliver: []int64{0, 1}, passed: []int64{3}, ack: []int64{1}, want: 0, wantOK: false},
				{ack: []int64{0}, want: 3, wantOK: true},
			},
		},
		{
			name:  "offsets without a record after acked deliveries commit at once",
			start: 5,
			steps: []step{
				{passed: []int64{6}, want: 6, wantOK: true},
				{deliver: []int64{6}, ack: []int64{6}, passed: []int64{9}, want: 9, wantOK: true},
				{passed: []int64{8}, want: 9, wantOK: true},
			},
		},
		{
			name:  "new group starting at the earliest offset",
			start: -2,
			steps: []step{{deliver: []int64{0}, ack: []int64{0}, want: 1, wantOK: true}},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tr := newOffsetTracker(tc.start)
			for i, s := range tc.steps {
				for _, o := range s.deliver {
					tr.delivered(o)
				}
				for _, o := range s.passed {
					tr.passed(o)
				}
				for _, o := range s.ack {
					tr.ack(o)
				}
				got, ok := tr.toCommit()
				assert.Equal(t, s.want, got.offset, "step %d", i)
				assert.Equal(t, s.wantOK, ok, "step %d", i)
			}
		})
	}
}

func TestOffsetTrackerMarkCommitted(t *testing.T) {
	tr := newOffsetTracker(0)
	tr.delivered(0)
	tr.ack(0)
	off, ok := tr.toCommit()
	assert.True(t, ok)
	tr.markCommitted(off)
	_, ok = tr.toCommit()
	assert.False(t, ok, "an offset already committed is not committed again")
}

func TestOffsetTrackerReset(t *testing.T) {
	tr := newOffsetTracker(1000) // committed past the end of the partition
	tr.reset(3)
	off, ok := tr.toCommit()
	assert.Equal(t, int64(3), off.offset)
	assert.True(t, ok, "the reset position is committed although it is below the old commit")
	tr.markCommitted(off)
	tr.delivered(3)
	tr.ack(3)
	off, ok = tr.toCommit()
	assert.Equal(t, int64(4), off.offset)
	assert.True(t, ok, "deliveries after the reset are tracked from it")

	tr = newOffsetTracker(0)
	tr.passed(1000) // read up to 1000, then the log was cut
	tr.reset(3)
	tr.delivered(3)
	tr.ack(3)
	off, _ = tr.toCommit()
	assert.Equal(t, int64(4), off.offset, "how far the partition was read before a reset does not count")
}

// TestOffsetTrackerResetDuringCommit: a commit read before a reset and acknowledged after
// it does not count: the reset position, below it, is still committed.
func TestOffsetTrackerResetDuringCommit(t *testing.T) {
	tr := newOffsetTracker(100)
	for o := int64(100); o < 110; o++ {
		tr.delivered(o)
		tr.ack(o)
	}
	stale, ok := tr.toCommit() // the commit ticker reads 110
	require.True(t, ok)
	tr.reset(5)             // the partition's log was cut: consumption resets to 5
	tr.markCommitted(stale) // the commit of 110 succeeds
	got, ok := tr.toCommit()
	assert.True(t, ok, "the reset position is still to be committed")
	assert.Equal(t, int64(5), got.offset)
}
