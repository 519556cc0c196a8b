package inbound

import (
	"log/slog"
	"strings"
	"testing"
)

func TestNextLimit(t *testing.T) {
	for _, tc := range []struct {
		name                               string
		cur, most, pageBytes, body, events int
		want                               int
	}{
		{"no events: the limit read with", 100, 1000, 2 << 20, 30, 0, 100},
		{"small events: the most", 100, 1000, 2 << 20, 1_500_000, 1000, 1000},
		{"large events: what fits", 1000, 1000, 2 << 20, 5_400_000, 1000, 388},
		{"an event larger than PageBytes: one", 388, 1000, 1 << 20, 3 << 20, 1, 1},
		{"a body smaller than its events (impossible): the most", 100, 1000, 1 << 20, 3, 10, 1000},
		{"never more than the most", 10, 10, 2 << 20, 100, 100, 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := nextLimit(tc.cur, tc.most, tc.pageBytes, tc.body, tc.events); got != tc.want {
				t.Errorf("nextLimit(%d, %d, %d, %d, %d) = %d, want %d", tc.cur, tc.most, tc.pageBytes, tc.body, tc.events, got, tc.want)
			}
		})
	}
}

// TestLogWorksAllocatesNothing: the loops call logWorks after every page and poll that
// worked; while nothing failed it logs nothing and allocates nothing, whatever the
// attributes of the line it would log (a string, an integer past those an interface
// value holds without allocating).
func TestLogWorksAllocatesNothing(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	fails := newStreak()
	stream, partition := strings.Repeat("s", 8), 300
	allocs := testing.AllocsPerRun(100, func() {
		logWorks(t.Context(), log, &fails, "inbound: reading pages works again", slog.String("stream", stream), slog.Int("partition", partition))
	})
	if allocs != 0 {
		t.Errorf("logWorks with no failure logged: %v allocations a call, want 0", allocs)
	}
}
