package schemas_test

import (
	"net/http"
	"net/http/httptrace"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/dscokafka/connector/pkg/schemas"
)

// TestCloseClosesRegistryConnections: Close closes the connections to the registry of the
// HTTP client the Serde made, although the registry keeps its side open, and leaves those
// of a client it was given to their owner.
func TestCloseClosesRegistryConnections(t *testing.T) {
	ship, _ := schemas.Command("ship")
	t.Run("own client", func(t *testing.T) {
		reg := newRegistry(t)
		before := goleak.IgnoreCurrent()
		s, err := schemas.NewSerde(schemas.Config{RegistryURL: reg.URL(), Records: []*schemas.Descriptor{ship}})
		require.NoError(t, err)
		require.NoError(t, s.Register(t.Context()))
		s.Close()
		goleak.VerifyNone(t, before)
		require.NoError(t, s.Register(t.Context()), "the Serde works after Close")
		s.Close()
		goleak.VerifyNone(t, before)
	})
	t.Run("given client", func(t *testing.T) {
		reg := newRegistry(t)
		tr := &http.Transport{}
		t.Cleanup(tr.CloseIdleConnections)
		hc := &http.Client{Transport: tr}
		s, err := schemas.NewSerde(schemas.Config{RegistryURL: reg.URL(), Records: []*schemas.Descriptor{ship}, HTTPClient: hc})
		require.NoError(t, err)
		require.NoError(t, s.Register(t.Context()))
		s.Close()
		var reused bool
		ctx := httptrace.WithClientTrace(t.Context(), &httptrace.ClientTrace{GotConn: func(i httptrace.GotConnInfo) { reused = i.Reused }})
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, reg.URL()+"/subjects", nil)
		require.NoError(t, err)
		resp, err := hc.Do(req)
		require.NoError(t, err)
		require.NoError(t, resp.Body.Close())
		assert.True(t, reused, "the given client's connection was closed")
	})
}
