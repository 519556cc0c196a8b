package dscotest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"
)

// Server serves a Sandbox on a loopback port, like httptest.Server.
type Server struct {
	*Sandbox
	// URL is the API base URL, e.g. http://127.0.0.1:41234/api/v3.
	URL string

	srv  *http.Server
	done chan struct{}
	once sync.Once
}

// NewServer builds a Sandbox from cfg and serves it on 127.0.0.1 at a
// free port.
func NewServer(cfg Config) (*Server, error) {
	return Listen(cfg, "127.0.0.1:0")
}

// Listen is NewServer on the given address.
func Listen(cfg Config, addr string) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("dscotest: listening on %s: %w", addr, err)
	}
	s, err := Serve(cfg, ln)
	if err != nil {
		_ = ln.Close()
	}
	return s, err
}

// Serve is NewServer on a listener the caller made (one that holds its
// address while the sandbox is down, for a test that stops and starts it
// again there); Close closes ln.
func Serve(cfg Config, ln net.Listener) (*Server, error) {
	sb, err := New(cfg)
	if err != nil {
		return nil, err
	}
	s := &Server{
		Sandbox: sb,
		URL:     "http://" + ln.Addr().String() + BasePath,
		srv:     &http.Server{Handler: sb, ReadHeaderTimeout: 10 * time.Second},
		done:    make(chan struct{}),
	}
	go func() {
		defer close(s.done)
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			sb.log.Error("dscotest: serving", "err", err)
		}
	}()
	return s, nil
}

// Close stops the listener, waits up to five seconds for requests in
// flight, then stops the generator and file callbacks and waits for them.
// It is idempotent.
func (s *Server) Close() {
	s.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.srv.Shutdown(ctx); err != nil {
			_ = s.srv.Close()
		}
		<-s.done
		s.Sandbox.Close()
	})
}
