package dsco

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

// TestCloseLeavesNothingRunning: once Close returned and the calls in flight ended, nothing
// of the client runs, its connections closed although the server keeps its side open: no
// net/http goroutine of its transport, no token request. Calls after Close, and the
// retries of a call in flight, fail with ErrClosed and send nothing; a call in flight gets
// its answer. A client given an *http.Client leaves that client's connections open.
func TestCloseLeavesNothingRunning(t *testing.T) {
	for _, tc := range []struct {
		name string
		// run makes calls through a client of e's servers, which it closes.
		run func(t *testing.T, e closeEnv)
	}{
		{name: "idle connection", run: func(t *testing.T, e closeEnv) {
			f := e.f
			c := newTestClient(t, f.url())
			_, err := c.ListStreams(t.Context())
			require.NoError(t, err)
			c.Close()
			_, err = c.ListStreams(t.Context())
			require.ErrorIs(t, err, ErrClosed)
			assert.False(t, IsRetryable(err))
			assert.Equal(t, int64(1), f.count("GET /streams"), "nothing sent after Close")
			c.Close() // idempotent
		}},
		{name: "call in flight", run: func(t *testing.T, e closeEnv) {
			closeInFlight(t, e, newTestClient(t, e.f.url()))
		}},
		{name: "HTTP/2 call in flight", run: func(t *testing.T, e closeEnv) {
			// The transport closes no HTTP/2 connection that becomes idle after
			// CloseIdleConnections by itself: the call closes it as it ends.
			c := newTestClient(t, e.h2.URL+"/api/v3")
			c.own.TLSClientConfig = e.h2.Client().Transport.(*http.Transport).TLSClientConfig.Clone()
			closeInFlight(t, e, c)
		}},
		{name: "retry after Close", run: func(t *testing.T, e closeEnv) {
			f := e.f
			f.handle("GET /streams", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 503, `{}`) })
			sleeping, wake := make(chan struct{}), make(chan struct{})
			c := newTestClient(t, f.url(), func(o *options) error {
				o.sleep = func(context.Context, time.Duration) error {
					close(sleeping)
					<-wake
					return nil
				}
				return nil
			})
			called := make(chan error, 1)
			go func() {
				_, err := c.ListStreams(t.Context())
				called <- err
			}()
			<-sleeping
			c.Close()
			close(wake)
			err := <-called
			require.ErrorIs(t, err, ErrClosed)
			apiErr, ok := errors.AsType[*APIError](err)
			require.True(t, ok, "the last failure is kept: %v", err)
			assert.Equal(t, 503, apiErr.StatusCode)
			assert.Equal(t, int64(1), f.count("GET /streams"), "no retry sent after Close")
		}},
		{name: "token request in flight", run: func(t *testing.T, e closeEnv) {
			f := e.f
			c := newTestClient(t, f.url(), WithTokenURL(e.slow.url))
			called := make(chan error, 1)
			go func() {
				_, err := c.ListStreams(t.Context())
				called <- err
			}()
			<-e.slow.asked
			c.Close() // ends the token request and waits for it
			err := <-called
			require.ErrorIs(t, err, ErrClosed)
			require.ErrorIs(t, err, ErrToken)
		}},
		{name: "given HTTP client", run: func(t *testing.T, e closeEnv) {
			f := e.f
			tr := &http.Transport{}
			hc := &http.Client{Transport: tr}
			c := newTestClient(t, f.url(), WithHTTPClient(hc))
			_, err := c.ListStreams(t.Context())
			require.NoError(t, err)
			c.Close()
			_, err = c.ListStreams(t.Context())
			require.ErrorIs(t, err, ErrClosed)
			// The given client's connection is still open: its owner's to close.
			var reused bool
			ctx := httptrace.WithClientTrace(t.Context(), &httptrace.ClientTrace{GotConn: func(i httptrace.GotConnInfo) { reused = i.Reused }})
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, f.srv.URL+"/elsewhere", nil)
			require.NoError(t, err)
			resp, err := hc.Do(req)
			require.NoError(t, err)
			require.NoError(t, resp.Body.Close())
			assert.True(t, reused, "the given client's connection was closed")
			tr.CloseIdleConnections()
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeDsco(t)
			f.handle("GET /streams", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, streamListBody) })
			asked := make(chan struct{}, 1)
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				select {
				case asked <- struct{}{}:
				default:
				}
				// Held until the client gives it up: the server notices the connection
				// closed once the request's body was read.
				_, _ = io.Copy(io.Discard, r.Body)
				<-r.Context().Done()
			}))
			t.Cleanup(srv.Close)
			h2 := httptest.NewUnstartedServer(http.HandlerFunc(f.serve))
			h2.EnableHTTP2 = true
			h2.StartTLS()
			t.Cleanup(h2.Close)
			before := goleak.IgnoreCurrent()
			tc.run(t, closeEnv{f: f, h2: h2, slow: slowToken{url: srv.URL, asked: asked}})
			goleak.VerifyNone(t, before)
		})
	}
}

// closeInFlight closes c while its call to e's API is under way, and checks that the call
// gets its answer.
func closeInFlight(t *testing.T, e closeEnv, c *Client) {
	t.Helper()
	arrived, answer := make(chan struct{}), make(chan struct{})
	e.f.handle("GET /streams", func(w http.ResponseWriter, r *http.Request) {
		close(arrived)
		<-answer
		writeJSON(w, 200, streamListBody)
	})
	called := make(chan error, 1)
	go func() {
		_, err := c.ListStreams(t.Context())
		called <- err
	}()
	<-arrived
	c.Close()
	close(answer)
	require.NoError(t, <-called, "a request under way gets its answer")
}

// slowToken is a token endpoint that holds every request until the client gives it up;
// asked has a value once a request came.
type slowToken struct {
	url   string
	asked <-chan struct{}
}

// closeEnv is what TestCloseLeavesNothingRunning's cases call: f, h2 (f's API over HTTP/2)
// and a slow token endpoint.
type closeEnv struct {
	f    *fakeDsco
	h2   *httptest.Server
	slow slowToken
}
