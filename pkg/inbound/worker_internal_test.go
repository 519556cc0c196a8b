package inbound

import "testing"

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
