package inbound

import kafkago "github.com/segmentio/kafka-go"

// recordArena holds the bytes (keys, values, header values) and the header slices of the
// Kafka records built from one page or poll: a few large blocks instead of allocations
// per record. A slice handed out stays valid when the arena grows later: it keeps the old
// block. Not safe for concurrent use.
type recordArena struct {
	arena   []byte
	headers []kafkago.Header
}

// bytes copies s into the arena and returns the copy.
func (a *recordArena) bytes(s string) []byte {
	start := len(a.arena)
	a.arena = append(a.arena, s...)
	return a.arena[start:len(a.arena):len(a.arena)]
}

// hdrs reserves n headers for one record.
func (a *recordArena) hdrs(n int) []kafkago.Header {
	if cap(a.headers)-len(a.headers) < n {
		// A new block; records built earlier keep the old one.
		a.headers = make([]kafkago.Header, 0, max(256, 2*cap(a.headers)))
	}
	start := len(a.headers)
	a.headers = a.headers[:start+n]
	return a.headers[start : start+n : start+n]
}
