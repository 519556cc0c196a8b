package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRun(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want int // status of GET /supplier/order-out
	}{
		{"generator", []string{"--initial-orders", "3", "--orders-per-second", "500", "--burst", "5"}, http.StatusOK},
		{"faults", []string{"--rate-503", "1", "--fault-op", "supplierListOrders"}, http.StatusServiceUnavailable},
		{"backlog", []string{"--backlog-orders", "2000", "--order-items", "5", "--extra-attributes", "3"}, http.StatusOK},
		{"faults after applying", []string{"--rate-504-applied", "1", "--fault-op", "supplierListOrders"}, http.StatusGatewayTimeout},
		{"queue", []string{"--initial-orders", "3", "--queue", "--queue-status", "processing", "--queue-delay", "1s", "--queue-ops", "supplierCreateShipment,supplierCancelOrderItem"}, http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			pr, pw := io.Pipe()
			done := make(chan error, 1)
			go func() {
				done <- run(ctx, append([]string{"--addr", "127.0.0.1:0"}, tt.args...), pw, io.Discard)
				pw.Close()
			}()
			t.Cleanup(func() {
				cancel()
				<-done
			})
			base, err := bufio.NewReader(pr).ReadString('\n')
			require.NoError(t, err)
			go func() { _, _ = io.Copy(io.Discard, pr) }()
			base = strings.TrimSpace(base)
			require.True(t, strings.HasPrefix(base, "http://127.0.0.1:"), base)

			form := url.Values{"grant_type": {"client_credentials"}, "client_id": {"sandbox-supplier"}, "client_secret": {"sandbox-supplier-secret"}}
			resp, err := http.PostForm(base+"/oauth2/token", form)
			require.NoError(t, err)
			var tok struct {
				AccessToken string `json:"access_token"`
			}
			require.NoError(t, json.NewDecoder(resp.Body).Decode(&tok))
			resp.Body.Close()

			req, err := http.NewRequest(http.MethodGet, base+"/supplier/order-out", nil)
			require.NoError(t, err)
			req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
			resp, err = http.DefaultClient.Do(req)
			require.NoError(t, err)
			defer resp.Body.Close()
			assert.Equal(t, tt.want, resp.StatusCode)
			if tt.want == http.StatusOK {
				var l struct {
					TotalCount int `json:"totalCount"`
				}
				require.NoError(t, json.NewDecoder(resp.Body).Decode(&l))
				assert.GreaterOrEqual(t, l.TotalCount, 3)
			}
			cancel()
			require.NoError(t, <-done)
			done <- nil // for the cleanup
		})
	}
}

func TestRunBadFlags(t *testing.T) {
	tests := []struct {
		name string
		args []string
	}{
		{"unknown flag", []string{"--nope"}},
		{"bad rate", []string{"--addr", "127.0.0.1:0", "--rate-500", "3"}},
		{"bad queue status", []string{"--addr", "127.0.0.1:0", "--queue", "--queue-status", "done"}},
		{"bad queue operation", []string{"--addr", "127.0.0.1:0", "--queue", "--queue-ops", "listStreams"}},
		{"bad order shape", []string{"--addr", "127.0.0.1:0", "--order-items", "-2"}},
		{"bad address", []string{"--addr", "256.0.0.1:99999"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := run(context.Background(), tt.args, io.Discard, io.Discard)
			assert.Error(t, err)
		})
	}
}

// TestExitStatus: -h is no failure; a command line the flags refuse exits 2 and is
// reported once (by the flag package, with the usage); other failures exit 1 with the
// error. run gets a context already done, so a command line it accepted
// returns at once instead of serving.
func TestExitStatus(t *testing.T) {
	tests := []struct {
		name      string
		args      []string
		code      int
		stderrHas string
		once      string // appears exactly once in stderr
	}{
		{name: "help", args: []string{"-h"}, code: 0, stderrHas: "Usage of dsco-sandbox:"},
		{name: "unknown flag", args: []string{"--nope"}, code: 2, stderrHas: "Usage of dsco-sandbox:",
			once: "flag provided but not defined: -nope"},
		{name: "bad flag value", args: []string{"--burst", "many"}, code: 2, once: `invalid value "many" for flag -burst`},
		{name: "bad rate", args: []string{"--addr", "127.0.0.1:0", "--rate-500", "3"}, code: 1, stderrHas: "dsco-sandbox: "},
		{name: "unknown fault operation", args: []string{"--addr", "127.0.0.1:0", "--rate-503", "1", "--fault-op", "nope"}, code: 1,
			stderrHas: `dsco-sandbox: dscotest: fault operation "nope" is no operation of the sandbox`},
		{name: "argument", args: []string{"--addr", "127.0.0.1:0", "5"}, code: 2,
			once: `dsco-sandbox: unexpected arguments ["5"]: the sandbox takes flags only`},
		{name: "boolean flag's value apart", args: []string{"--addr", "127.0.0.1:0", "--queue", "false", "--rate-500", "1"}, code: 2,
			once: `unexpected arguments ["false" "--rate-500" "1"]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stderr strings.Builder
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			code := exitStatus(run(ctx, tt.args, io.Discard, &stderr), &stderr)
			assert.Equal(t, tt.code, code, stderr.String())
			assert.Contains(t, stderr.String(), tt.stderrHas)
			if tt.once != "" {
				assert.Equal(t, 1, strings.Count(stderr.String(), tt.once), stderr.String())
			}
		})
	}
}
