package ops

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

//go:embed status.html
var statusPage []byte

// Config configures a Server.
type Config struct {
	// Addr is the TCP address to listen on, "host:port" (":8080" for every
	// interface, "127.0.0.1:0" for a free loopback port). Required.
	Addr string
	// Gatherer is served on /metrics; nil means prometheus.DefaultGatherer.
	Gatherer prometheus.Gatherer
	// Checks are the readiness conditions of /readyz, evaluated
	// concurrently. Names must be unique and non-empty.
	Checks []Check
	// CheckTimeout bounds each check. Default 2s.
	CheckTimeout time.Duration
	// CheckCacheTTL is how long check results are reused. Default 1s.
	CheckCacheTTL time.Duration
	// Status supplies /status.json and the status page; nil serves a Status
	// with only the start time, the server's time and the checks.
	Status StatusFunc
	// ShutdownTimeout bounds the graceful shutdown of Run and Close: requests
	// still running after it are cut off. Default 5s.
	ShutdownTimeout time.Duration
}

func (c *Config) setDefaults() {
	if c.Gatherer == nil {
		c.Gatherer = prometheus.DefaultGatherer
	}
	if c.CheckTimeout == 0 {
		c.CheckTimeout = 2 * time.Second
	}
	if c.CheckCacheTTL == 0 {
		c.CheckCacheTTL = time.Second
	}
	if c.ShutdownTimeout == 0 {
		c.ShutdownTimeout = 5 * time.Second
	}
}

// Validate reports whether the configuration is usable.
func (c Config) Validate() error {
	if c.Addr == "" {
		return errors.New("ops: Addr is required")
	}
	seen := map[string]bool{}
	for i, ch := range c.Checks {
		switch {
		case ch.Name == "":
			return fmt.Errorf("ops: check %d has no name", i)
		case ch.Func == nil:
			return fmt.Errorf("ops: check %q has no Func", ch.Name)
		case seen[ch.Name]:
			return fmt.Errorf("ops: check name %q used twice", ch.Name)
		}
		seen[ch.Name] = true
	}
	if c.CheckTimeout < 0 || c.CheckCacheTTL < 0 || c.ShutdownTimeout < 0 {
		return errors.New("ops: CheckTimeout, CheckCacheTTL and ShutdownTimeout must not be negative")
	}
	return nil
}

// Server is the ops HTTP server. NewServer listens at once, so that Addr and
// URL are known (and a port conflict is reported) before Run. Its methods are
// safe for concurrent use.
type Server struct {
	cfg     Config
	logger  *slog.Logger
	ln      net.Listener
	srv     *http.Server
	ready   *readiness
	started time.Time

	closeOnce sync.Once
	closeErr  error
}

// NewServer validates cfg and listens on cfg.Addr. A nil logger discards.
func NewServer(cfg Config, logger *slog.Logger) (*Server, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("ops: listening on %s: %w", cfg.Addr, err)
	}
	s := &Server{
		cfg:     cfg,
		logger:  logger,
		ln:      ln,
		ready:   &readiness{checks: cfg.Checks, timeout: cfg.CheckTimeout, ttl: cfg.CheckCacheTTL},
		started: time.Now(),
	}
	s.srv = &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	return s, nil
}

// Addr returns the address the server listens on.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// URL returns the status page's URL, with "localhost" for an address that
// listens on every interface.
func (s *Server) URL() string {
	host, port, err := net.SplitHostPort(s.ln.Addr().String())
	if err != nil {
		return "http://" + s.ln.Addr().String() + "/"
	}
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "localhost"
	}
	return "http://" + net.JoinHostPort(host, port) + "/"
}

// Handler returns the server's routes, for tests and for mounting elsewhere.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", s.page)
	mux.HandleFunc("GET /status.json", s.status)
	mux.HandleFunc("GET /healthz", healthz)
	mux.HandleFunc("GET /readyz", s.readyz)
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.cfg.Gatherer, promhttp.HandlerOpts{
		ErrorLog: slog.NewLogLogger(s.logger.Handler(), slog.LevelWarn),
	}))
	return mux
}

// Run serves until ctx ends or Close is called, then shuts down within
// Config.ShutdownTimeout. It returns nil after an orderly stop.
func (s *Server) Run(ctx context.Context) error {
	errc := make(chan error, 1)
	go func() { errc <- s.srv.Serve(s.ln) }()
	select {
	case err := <-errc:
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return fmt.Errorf("ops: serving: %w", err)
	case <-ctx.Done():
		if err := s.Close(); err != nil {
			return err
		}
		<-errc
		return nil
	}
}

// Close stops the server: it stops accepting, waits for running requests up
// to Config.ShutdownTimeout, then cuts off what remains. It is idempotent and
// returns the first call's result.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
		defer cancel()
		if err := s.srv.Shutdown(ctx); err != nil {
			_ = s.srv.Close()
			s.closeErr = fmt.Errorf("ops: shutting down: %w", err)
		}
		// Shutdown closes the listener only if Serve ran.
		if err := s.ln.Close(); err != nil && !errors.Is(err, net.ErrClosed) && s.closeErr == nil {
			s.closeErr = fmt.Errorf("ops: closing listener: %w", err)
		}
	})
	return s.closeErr
}

// Ready evaluates the readiness checks (or reuses results younger than
// Config.CheckCacheTTL) and returns their results in the order of
// Config.Checks; ctx bounds the wait.
func (s *Server) Ready(ctx context.Context) []CheckResult { return s.ready.get(ctx) }

func (s *Server) page(w http.ResponseWriter, _ *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	// The page needs nothing from elsewhere; say so to the browser too.
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src data:")
	_, _ = w.Write(statusPage)
}

func (s *Server) status(w http.ResponseWriter, r *http.Request) {
	var st Status
	if s.cfg.Status != nil {
		st = s.cfg.Status()
	}
	st.Time = time.Now() // before the checks, which may take a while
	if st.Started.IsZero() {
		st.Started = s.started
	}
	st.Checks = s.Ready(r.Context())
	if st.Streams == nil {
		st.Streams = []StreamPartition{}
	}
	if st.Commands == nil {
		st.Commands = []CommandTopic{}
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	if err := json.NewEncoder(w).Encode(st); err != nil {
		s.logger.Debug("ops: writing status", "error", err)
	}
}

func healthz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = io.WriteString(w, "ok\n")
}

// readyz answers 200 when every check passed, else 503 with the failing
// checks' names on the first line; then one line per check.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	results := s.Ready(r.Context())
	var failing []string
	var body strings.Builder
	for _, res := range results {
		if res.OK {
			fmt.Fprintf(&body, "ok   %s\n", res.Name)
		} else {
			failing = append(failing, res.Name)
			fmt.Fprintf(&body, "FAIL %s: %s\n", res.Name, res.Error)
		}
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if len(failing) > 0 {
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintf(w, "not ready: %s\n", strings.Join(failing, ", "))
	} else {
		_, _ = io.WriteString(w, "ready\n")
	}
	_, _ = io.WriteString(w, body.String())
}
