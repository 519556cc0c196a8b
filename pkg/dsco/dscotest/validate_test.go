package dscotest_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dscokafka/connector/pkg/dsco/dscotest"
)

// fixedTransport answers every request with one canned response.
type fixedTransport struct {
	status      int
	contentType string
	body        string
}

func (f fixedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	h := http.Header{}
	if f.contentType != "" {
		h.Set("Content-Type", f.contentType)
	}
	return &http.Response{StatusCode: f.status, Header: h, Body: io.NopCloser(strings.NewReader(f.body)), Request: req}, nil
}

func TestValidator(t *testing.T) {
	const base = "http://127.0.0.1:1/api/v3"
	tests := []struct {
		name      string
		method    string
		path      string
		auth      bool
		body      string
		resp      fixedTransport
		wantMatch string // "" = no violation
	}{
		{"valid", http.MethodGet, "/supplier/order-out/A", true, "",
			fixedTransport{200, "application/json", `{"orderId":"A","createdAt":"2026-11-24T10:00:00Z","items":[]}`}, ""},
		{"null field", http.MethodGet, "/supplier/order-out/A", true, "",
			fixedTransport{200, "application/json", `{"orderId":"A","items":null}`}, "null"},
		{"date-time without zone", http.MethodGet, "/supplier/order-out/A", true, "",
			fixedTransport{200, "application/json", `{"orderId":"A","createdAt":"2026-11-24T10:00:00"}`}, "createdAt"},
		{"wrong content type", http.MethodGet, "/streams", true, "",
			fixedTransport{200, "text/plain", `{"streams":[]}`}, "response"},
		{"invalid request body", http.MethodPost, "/supplier/inventory-in", true, `{"items":[{"sku":"A","quantity":"many"}]}`,
			fixedTransport{200, "application/json", `{"batchId":"b","status":"completed","errors":[]}`}, "quantity"},
		{"no bearer", http.MethodGet, "/streams", false, "",
			fixedTransport{200, "application/json", `{"streams":[]}`}, "bearer"},
		{"unknown path", http.MethodGet, "/supplier/orders", true, "",
			fixedTransport{200, "application/json", `{}`}, "no operation"},
		{"extension path unchecked", http.MethodGet, "/inventory?params=%7B%7D", true, "",
			fixedTransport{200, "text/plain", `null`}, ""},
		{"faults unchecked", http.MethodGet, "/streams", true, "",
			fixedTransport{503, "text/plain", `down`}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := dscotest.NewValidator(tt.resp)
			require.NoError(t, err)
			var body io.Reader
			if tt.body != "" {
				body = strings.NewReader(tt.body)
			}
			req, err := http.NewRequest(tt.method, base+tt.path, body)
			require.NoError(t, err)
			if tt.body != "" {
				req.Header.Set("Content-Type", "application/json")
			}
			if tt.auth {
				req.Header.Set("Authorization", "Bearer t")
			}
			resp, err := v.RoundTrip(req)
			require.NoError(t, err)
			b, err := io.ReadAll(resp.Body)
			require.NoError(t, err)
			assert.Equal(t, tt.resp.body, string(b), "the body reaches the caller")
			got := v.Violations()
			if tt.wantMatch == "" {
				assert.Empty(t, got)
				return
			}
			require.NotEmpty(t, got)
			assert.Contains(t, strings.Join(got, "\n"), tt.wantMatch)
		})
	}
}

func TestFieldPath(t *testing.T) {
	tests := []struct {
		in   []string
		want string
	}{
		{[]string{"shipments", "3", "trackingNumber"}, "shipments[3].trackingNumber"},
		{[]string{"orders", "0", "items", "2", "cost"}, "orders[0].items[2].cost"},
		{[]string{"objectType"}, "objectType"},
		{nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			assert.Equal(t, tt.want, dscotest.FieldPath(tt.in))
		})
	}
}
