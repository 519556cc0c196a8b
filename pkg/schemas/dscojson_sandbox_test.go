package schemas_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dscokafka/connector/pkg/dsco/dscotest"
)

// sandbox is a dscotest server on loopback with a supplier token, closed
// when the test ends.
type sandbox struct {
	srv   *dscotest.Server
	token string
}

func newSandbox(t testing.TB) *sandbox {
	t.Helper()
	srv, err := dscotest.NewServer(dscotest.Config{Seed: 7})
	require.NoError(t, err)
	t.Cleanup(srv.Close)
	require.True(t, strings.HasPrefix(srv.URL, "http://127.0.0.1:"), srv.URL)
	resp, err := http.PostForm(srv.URL+"/oauth2/token", url.Values{
		"grant_type": {"client_credentials"}, "client_id": {dscotest.SupplierClientID}, "client_secret": {dscotest.SupplierClientSecret},
	})
	require.NoError(t, err)
	defer resp.Body.Close()
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&tok))
	return &sandbox{srv: srv, token: tok.AccessToken}
}

func (sb *sandbox) call(t testing.TB, method, path, body string) []byte {
	t.Helper()
	req, err := http.NewRequest(method, sb.srv.URL+path, strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+sb.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Less(t, resp.StatusCode, 300, "%s %s: %s", method, path, b)
	return b
}

// pages creates a stream of objectType and returns every page of it, read
// with the given limit.
func (sb *sandbox) pages(t testing.TB, objectType string, limit int) [][]byte {
	t.Helper()
	var stream struct {
		StreamID string `json:"streamId"`
	}
	require.NoError(t, json.Unmarshal(sb.call(t, http.MethodPost, "/streams", `{"objectType":"`+objectType+`"}`), &stream))
	var out [][]byte
	pos := ""
	for {
		body := sb.call(t, http.MethodGet, "/streams/"+stream.StreamID+"/events?limit="+itoa(limit)+"&position="+url.QueryEscape(pos), "")
		var page struct {
			Events   []json.RawMessage `json:"events"`
			Position string            `json:"position"`
			HasMore  bool              `json:"hasMore"`
		}
		require.NoError(t, json.Unmarshal(body, &page))
		if len(page.Events) > 0 {
			out = append(out, body)
		}
		if !page.HasMore {
			return out
		}
		pos = page.Position
	}
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }
