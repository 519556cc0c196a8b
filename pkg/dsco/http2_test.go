package dsco

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/net/http2"
)

// TestHTTP2Resets: the first connection's server resets a write's HTTP/2 stream once it
// has the whole request; later connections answer normally. After a PROTOCOL_ERROR reset
// the server may have acted on the write: net/http must not send it again by itself (its
// HTTP/2 transport retries such a reset when it can rewind the body), and the client
// reports the outcome unknown. After a GOAWAY below the stream's ID or a REFUSED_STREAM,
// the server did not process it (RFC 9113): the client sends it again, and it is applied
// once.
func TestHTTP2Resets(t *testing.T) {
	for _, tc := range []struct {
		name  string
		reset func(fr *http2.Framer, stream uint32) error
		// wantErr is the write's error; reached counts whole requests servers got,
		// handled those the answering server processed.
		wantErr          error
		reached, handled int64
	}{
		// A GOAWAY after the reset keeps the client off this connection.
		{"PROTOCOL_ERROR after the whole request", func(fr *http2.Framer, stream uint32) error {
			return errors.Join(fr.WriteRSTStream(stream, http2.ErrCodeProtocol), fr.WriteGoAway(stream, http2.ErrCodeNo, nil))
		}, ErrOutcomeUnknown, 1, 0},
		{"REFUSED_STREAM", func(fr *http2.Framer, stream uint32) error {
			// The GOAWAY first: the client marks the connection unusable before the
			// reset wakes the request, so that its retry takes a new connection.
			return errors.Join(fr.WriteGoAway(stream, http2.ErrCodeNo, nil), fr.WriteRSTStream(stream, http2.ErrCodeRefusedStream))
		}, nil, 2, 1},
		{"GOAWAY below the stream", func(fr *http2.Framer, stream uint32) error {
			return fr.WriteGoAway(stream-1, http2.ErrCodeNo, nil)
		}, nil, 2, 1},
		{"GOAWAY with an error below the first stream", func(fr *http2.Framer, stream uint32) error {
			return fr.WriteGoAway(stream-1, http2.ErrCodeEnhanceYourCalm, nil)
		}, nil, 2, 1},
		// The server's debug data quotes the texts of the safe cases: it may have
		// processed the request all the same.
		{"GOAWAY above the stream, with misleading debug data", func(fr *http2.Framer, stream uint32) error {
			debug := "http2: Transport: cannot retry err [http2: Transport received Server's graceful shutdown GOAWAY] " +
				"http2: Transport: cannot retry err [stream error: stream ID 1; REFUSED_STREAM]"
			return errors.Join(fr.WriteGoAway(stream, http2.ErrCodeNo, []byte(debug)), errHangUp)
		}, ErrOutcomeUnknown, 1, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var reached, handled atomic.Int64
			// The answering server: httptest's, over HTTP/2.
			hs := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.Copy(io.Discard, r.Body)
				reached.Add(1)
				handled.Add(1)
				w.Header().Set("Content-Type", "application/json")
				_, _ = io.WriteString(w, `{"batchId":"b1","status":"completed"}`)
			}))
			hs.EnableHTTP2 = true
			hs.StartTLS()
			tlsConf := hs.Client().Transport.(*http.Transport).TLSClientConfig.Clone()
			tr := &http.Transport{TLSClientConfig: tlsConf, ForceAttemptHTTP2: true}
			// The client's address: its first connection is served by resetStreams, the
			// later ones are passed through to hs.
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			require.NoError(t, err)
			var (
				conns sync.WaitGroup
				mu    sync.Mutex
				open  []net.Conn
			)
			track := func(c net.Conn) {
				mu.Lock()
				defer mu.Unlock()
				open = append(open, c)
			}
			defer func() {
				tr.CloseIdleConnections()
				ln.Close()
				mu.Lock()
				for _, c := range open {
					c.Close()
				}
				mu.Unlock()
				conns.Wait()
				hs.Close()
			}()
			serverTLS := &tls.Config{Certificates: hs.TLS.Certificates, NextProtos: []string{"h2"}}
			go func() {
				for first := true; ; first = false {
					conn, err := ln.Accept()
					if err != nil {
						return
					}
					track(conn)
					if first {
						conns.Go(func() { resetStreams(tls.Server(conn, serverTLS), tc.reset, &reached) })
						continue
					}
					up, err := net.Dial("tcp", hs.Listener.Addr().String())
					if err != nil {
						conn.Close()
						continue
					}
					track(up)
					conns.Go(func() { _, _ = io.Copy(up, conn); up.Close() })
					conns.Go(func() { _, _ = io.Copy(conn, up); conn.Close() })
				}
			}()

			c, err := NewClient("https://"+ln.Addr().String(), WithStaticToken("t"), WithHTTPClient(&http.Client{Transport: tr}),
				WithRetry(RetryPolicy{MaxAttempts: 3, BaseDelay: time.Millisecond, MaxDelay: time.Millisecond, MaxElapsed: 5 * time.Second}))
			require.NoError(t, err)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_, err = c.SupplierCreateShipment(ctx, ShipmentBatchRequest{Shipments: []ShipmentItem{{OrderID: "o1", LineItemID: "l1", TrackingNumber: "1Z", Carrier: "UPS"}}})
			if tc.wantErr != nil {
				require.ErrorIs(t, err, tc.wantErr)
			} else {
				require.NoError(t, err)
			}
			assert.Equal(t, tc.reached, reached.Load(), "whole requests the servers got")
			assert.Equal(t, tc.handled, handled.Load(), "requests processed")
		})
	}
}

// errHangUp, from a reset function of resetStreams, makes it close its side of the
// connection.
var errHangUp = errors.New("hang up")

// resetStreams is an HTTP/2 server that resets every request once received whole, with
// reset, until the client closes the connection.
func resetStreams(conn *tls.Conn, reset func(*http2.Framer, uint32) error, received *atomic.Int64) {
	defer conn.Close()
	if conn.Handshake() != nil {
		return
	}
	preface := make([]byte, len(http2.ClientPreface))
	if _, err := io.ReadFull(conn, preface); err != nil {
		return
	}
	fr := http2.NewFramer(conn, conn)
	if fr.WriteSettings() != nil {
		return
	}
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			return
		}
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if !f.IsAck() && fr.WriteSettingsAck() != nil {
				return
			}
		case *http2.DataFrame:
			if f.StreamEnded() {
				received.Add(1)
				err := reset(fr, f.StreamID)
				if errors.Is(err, errHangUp) {
					// Closing the writing side alone: a close with the client's frames
					// unread could reset the connection before the client reads ours.
					err = conn.CloseWrite()
				}
				if err != nil {
					return
				}
			}
		}
	}
}
