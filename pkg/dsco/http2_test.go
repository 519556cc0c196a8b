package dsco

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/net/http2"
)

// TestWriteNotResentOverHTTP2: a write whose HTTP/2 stream the peer resets with
// PROTOCOL_ERROR once it has the whole request reached Dsco once: net/http must not send
// it again by itself (its HTTP/2 transport retries such a reset when it can rewind the
// body), and the client reports its outcome unknown.
func TestWriteNotResentOverHTTP2(t *testing.T) {
	// httptest's certificate and a client that trusts it, over HTTP/2.
	hs := httptest.NewUnstartedServer(http.NotFoundHandler())
	hs.EnableHTTP2 = true
	hs.StartTLS()
	defer hs.Close()
	tlsConf := hs.Client().Transport.(*http.Transport).TLSClientConfig.Clone()
	tr := &http.Transport{TLSClientConfig: tlsConf, ForceAttemptHTTP2: true}
	defer tr.CloseIdleConnections()

	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: hs.TLS.Certificates, NextProtos: []string{"h2"}})
	require.NoError(t, err)
	defer ln.Close()
	var received atomic.Int64 // whole requests
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go resetEveryStream(conn, &received)
		}
	}()

	c, err := NewClient("https://"+ln.Addr().String(), WithStaticToken("t"), WithHTTPClient(&http.Client{Transport: tr}))
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = c.SupplierCreateShipment(ctx, ShipmentBatchRequest{Shipments: []ShipmentItem{{OrderID: "o1", LineItemID: "l1", TrackingNumber: "1Z", Carrier: "UPS"}}})
	require.ErrorIs(t, err, ErrOutcomeUnknown)
	assert.Equal(t, int64(1), received.Load(), "the write reached the server once")
}

// resetEveryStream is an HTTP/2 server that answers every request, once received whole,
// with RST_STREAM PROTOCOL_ERROR.
func resetEveryStream(conn net.Conn, received *atomic.Int64) {
	defer conn.Close()
	if err := conn.(*tls.Conn).Handshake(); err != nil {
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
				if fr.WriteRSTStream(f.StreamID, http2.ErrCodeProtocol) != nil {
					return
				}
			}
		}
	}
}
