package kafka

import (
	"context"
	"errors"
	"net"
	"sync"
	"time"
)

// errSocketsClosed is what a dial returns once the owning Publisher or Subscriber closed.
var errSocketsClosed = errors.New("kafka: connection refused: client closed")

// sockets dials and keeps track of every network connection of one Publisher or
// Subscriber, for kafka-go's Transport and Dialer alike, so that Close can end them all.
// kafka-go does not tie all of its I/O to a context: a connection handshake, a group
// commit or a LeaveGroup waits for its own deadline (DialTimeout) even after the caller
// gave up, so with a stalled broker its goroutines and sockets would outlive Close.
// Closing the sockets makes each of them fail at once.
type sockets struct {
	dialer net.Dialer

	mu     sync.Mutex
	conns  map[*trackedConn]struct{}
	closed bool
}

func newSockets(dialTimeout time.Duration) *sockets {
	return &sockets{dialer: net.Dialer{Timeout: dialTimeout}, conns: map[*trackedConn]struct{}{}}
}

// dial is the dial function of kafka-go's Transport and Dialer (TLS is layered on top by
// them). Once closeAll ran it refuses to connect.
func (s *sockets) dial(ctx context.Context, network, address string) (net.Conn, error) {
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		return nil, errSocketsClosed
	}
	c, err := s.dialer.DialContext(ctx, network, address)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		_ = c.Close()
		return nil, errSocketsClosed
	}
	tc := &trackedConn{Conn: c, s: s}
	s.conns[tc] = struct{}{}
	return tc, nil
}

// closeAll closes every open connection and refuses new ones. It is idempotent.
func (s *sockets) closeAll() {
	s.mu.Lock()
	s.closed = true
	conns := s.conns
	s.conns = map[*trackedConn]struct{}{}
	s.mu.Unlock()
	for c := range conns {
		_ = c.Conn.Close()
	}
}

// trackedConn removes itself from its sockets when closed.
type trackedConn struct {
	net.Conn
	s *sockets
}

func (c *trackedConn) Close() error {
	c.s.mu.Lock()
	delete(c.s.conns, c)
	c.s.mu.Unlock()
	return c.Conn.Close()
}
