package kafkatest

import (
	"fmt"
	"net"
	"sync"
	"testing"
)

// Port is a port of 127.0.0.1 that a test holds from its start to its end, for a server
// (a kfake broker, a Dsco sandbox) that is down at first, or goes down and comes back, at
// one address. A port let go and taken again later may be taken meanwhile by another
// process of a loaded machine; this one never is. While no server is up, each connection
// to it is reset as soon as it is accepted, as a broker or service that is down answers
// none; Listen hands the connections to a server from then until it closes its listener.
//
// Its methods are safe for concurrent use.
type Port struct {
	ln      net.Listener
	mu      sync.Mutex
	up      *portListener // the server's listener while one is up
	serving sync.WaitGroup
}

// NewPort takes a free port of 127.0.0.1 and holds it until t ends.
func NewPort(t testing.TB) *Port {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("kafkatest: %v", err)
	}
	p := &Port{ln: ln}
	p.serving.Go(p.accept)
	t.Cleanup(func() {
		_ = ln.Close()
		p.serving.Wait()
	})
	return p
}

// Addr is the port's address, host:port.
func (p *Port) Addr() string { return p.ln.Addr().String() }

// Listen returns the listener of a server that comes up at the port (give it to
// http.Server.Serve, or Listen to kfake.ListenFn): the connections made from now on are
// its, until it closes the listener; after that they are reset again, and another server
// may come up. It is an error while a server is up.
func (p *Port) Listen() (net.Listener, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.up != nil {
		return nil, fmt.Errorf("kafkatest: a server is already up at %s", p.Addr())
	}
	p.up = &portListener{port: p, conns: make(chan net.Conn), closed: make(chan struct{})}
	return p.up, nil
}

// ListenFn is Listen for kfake.ListenFn, for a cluster of one broker: the network and
// address kfake asks for are the port's.
func (p *Port) ListenFn(network, address string) (net.Listener, error) { return p.Listen() }

// accept hands each connection to the server that is up, or resets it, until the port is
// let go.
func (p *Port) accept() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		up := p.up
		p.mu.Unlock()
		if up == nil {
			reset(c)
			continue
		}
		select {
		case up.conns <- c:
		case <-up.closed:
			reset(c)
		}
	}
}

// reset closes c with a TCP reset, as a host with nothing listening answers.
func reset(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = c.Close()
}

// portListener is the listener of a server up at a Port.
type portListener struct {
	port   *Port
	conns  chan net.Conn
	closed chan struct{}
	once   sync.Once
}

func (l *portListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

// Close takes the server down: the port resets connections again.
func (l *portListener) Close() error {
	l.once.Do(func() {
		close(l.closed)
		l.port.mu.Lock()
		if l.port.up == l {
			l.port.up = nil
		}
		l.port.mu.Unlock()
	})
	return nil
}

func (l *portListener) Addr() net.Addr { return l.port.ln.Addr() }

var _ net.Listener = (*portListener)(nil)
