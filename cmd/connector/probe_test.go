package main

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestProbe(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" {
			_, _ = w.Write([]byte("ok\n"))
			return
		}
		http.Error(w, "not ready", http.StatusServiceUnavailable)
	}))
	t.Cleanup(srv.Close)

	tests := []struct {
		name   string
		args   []string
		code   int
		stderr string
	}{
		{"2xx", []string{srv.URL + "/healthz"}, 0, ""},
		{"5xx", []string{srv.URL + "/readyz"}, 1, "connector: probe: " + srv.URL + "/readyz answered 503 Service Unavailable\n"},
		{"nothing listening", []string{"http://127.0.0.1:1/"}, 1, "connector: probe: Get \"http://127.0.0.1:1/\": dial tcp 127.0.0.1:1: connect: connection refused\n"},
		{"no url", nil, 2, "connector: probe: want one URL\n"},
		{"not a url", []string{"localhost:8080"}, 2, "connector: probe: want an absolute http:// or https:// URL, got \"localhost:8080\"\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runMain(t, nil, append([]string{"probe"}, tt.args...)...)
			assert.Equal(t, tt.code, r.code)
			assert.Equal(t, tt.stderr, r.stderr)
		})
	}
}
