package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/sethvargo/go-envconfig"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/sr"
	"github.com/twmb/franz-go/pkg/sr/srfake"

	"github.com/dscokafka/connector/cmd/connector/internal/config"
	"github.com/dscokafka/connector/pkg/kafka/kafkatest"
	"github.com/dscokafka/connector/pkg/schemas"
)

func TestSchemasPrint(t *testing.T) {
	s := newStack(t)
	r := runMain(t, s.with("DSCO_STREAMS", "order,catalog", "CONNECTOR_TOPIC_PREFIX", "acme.",
		"SCHEMA_REGISTRY_SUBJECT_STRATEGY", "topic-record"), "schemas", "print")
	require.Equal(t, 0, r.code, r.stderr)
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	require.Len(t, lines, 1+2+7+1, r.stdout) // header, 2 events, 7 supplier commands, the result
	assert.Equal(t, []string{"KIND", "NAME", "TOPIC", "SUBJECT", "RECORD"}, strings.Fields(lines[0]))
	assert.Equal(t, []string{"event", "order", "acme.order.v1", "acme.order.v1-io.dscokafka.v1.OrderEvent",
		"io.dscokafka.v1.OrderEvent"}, strings.Fields(lines[1]))
	assert.Equal(t, []string{"command", "ship", "acme.cmd.ship.v1", "acme.cmd.ship.v1-io.dscokafka.v1.ShipCommand",
		"io.dscokafka.v1.ShipCommand"}, strings.Fields(lines[3]))
	assert.Equal(t, "result", strings.Fields(lines[len(lines)-1])[0])

	r = runMain(t, s.with("CONNECTOR_DIRECTIONS", "outbound", "DSCO_ROLE", "retailer"), "schemas", "print", "-schemas")
	require.Equal(t, 0, r.code, r.stderr)
	var out []struct {
		Subject string         `json:"subject"`
		Topic   string         `json:"topic"`
		Record  string         `json:"record"`
		Schema  map[string]any `json:"schema"`
	}
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &out))
	require.Len(t, out, 5) // 4 retailer commands and the result
	assert.Equal(t, "dsco.cmd.retailer-order.v1-value", out[0].Subject)
	assert.Equal(t, "RetailerOrderCommand", out[0].Schema["name"])
}

func TestSchemasRegisterAndCheck(t *testing.T) {
	s := newStack(t)
	vars := s.with("DSCO_STREAMS", "order")

	r := runMain(t, vars, "schemas", "check")
	require.Equal(t, 0, r.code, r.stdout+r.stderr)
	assert.Contains(t, r.stdout, "ok    dsco.order.v1-value: compatible\n", "a subject with no version passes")

	r = runMain(t, vars, "schemas", "register")
	require.Equal(t, 0, r.code, r.stdout+r.stderr)
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	require.Len(t, lines, 1+7+1, r.stdout)
	assert.Regexp(t, `^ok    dsco\.order\.v1-value: schema id \d+$`, lines[0])
	assert.Regexp(t, `^ok    dsco\.cmd\.results\.v1-value: schema id \d+$`, lines[len(lines)-1])
	assert.True(t, s.registry.SubjectExists("dsco.cmd.ship.v1-value"))

	r = runMain(t, vars, "schemas", "check")
	require.Equal(t, 0, r.code, r.stdout+r.stderr)
	assert.Len(t, strings.Split(strings.TrimSpace(r.stdout), "\n"), 9)
}

func TestSchemasCheckRefusesIncompatible(t *testing.T) {
	s := newStack(t)
	// A registered ShipCommand without the commandId our schema requires:
	// ours cannot read data written with it (BACKWARD).
	s.registry.SeedSchema("dsco.cmd.ship.v1-value", 1, 900, sr.Schema{Schema: `{"type":"record",
		"name":"ShipCommand","namespace":"io.dscokafka.v1","fields":[{"name":"orderId","type":"string"}]}`})
	vars := s.with("DSCO_STREAMS", "order")

	for _, cmd := range []string{"check", "register"} {
		t.Run(cmd, func(t *testing.T) {
			r := runMain(t, vars, "schemas", cmd)
			assert.Equal(t, 1, r.code, r.stdout+r.stderr)
			assert.Contains(t, r.stdout, `FAIL  schemas: schema for subject "dsco.cmd.ship.v1-value" is incompatible with the registered version 1`)
			assert.Contains(t, r.stdout, "ok    dsco.order.v1-value")
		})
	}
	r := runMain(t, vars, "check")
	assert.Equal(t, 1, r.code)
	assert.Contains(t, r.stdout, `FAIL  registry  schemas: schema for subject "dsco.cmd.ship.v1-value" is incompatible`)
}

// TestSchemasLookupOnly: with SCHEMA_REGISTRY_LOOKUP_ONLY, `check` and `schemas check`
// fail on a schema that is not registered, as `run` refuses to start then, and
// `schemas register` registers the schemas all the same (the setting keeps only the
// running connector from registering); then every check passes.
func TestSchemasLookupOnly(t *testing.T) {
	s := newStack(t)
	vars := s.with("DSCO_STREAMS", "order")
	vars["SCHEMA_REGISTRY_LOOKUP_ONLY"] = "true"

	r := runMain(t, vars, "schemas", "check")
	assert.Equal(t, 1, r.code, r.stdout+r.stderr)
	assert.Contains(t, r.stdout, `FAIL  schemas: subject "dsco.order.v1-value" has no version equal to avro/OrderEvent.avsc (looked up only, not registered)`)
	assert.Contains(t, r.stderr, "connector: schemas check: 9 schemas not registered (SCHEMA_REGISTRY_LOOKUP_ONLY is set: `connector schemas register` registers them)\n")
	r = runMain(t, vars, "check")
	assert.Equal(t, 1, r.code, r.stdout+r.stderr)
	assert.Contains(t, r.stdout, `FAIL  registry  schemas: subject "dsco.order.v1-value" has no version equal to`)
	assert.Contains(t, r.stdout, "\n      (SCHEMA_REGISTRY_LOOKUP_ONLY is set: `connector schemas register` registers them)\n")

	r = runMain(t, vars, "schemas", "register")
	require.Equal(t, 0, r.code, r.stdout+r.stderr)
	assert.True(t, s.registry.SubjectExists("dsco.order.v1-value"))

	r = runMain(t, vars, "schemas", "check")
	require.Equal(t, 0, r.code, r.stdout+r.stderr)
	r = runMain(t, vars, "check")
	assert.Contains(t, r.stdout, "ok    registry", r.stdout+r.stderr)
}

// TestRegisterSchemasWaitsForTheRegistry: at start, a Schema Registry that does not
// answer, or answers 5xx, is waited for (the wait logged once, at once) within a time
// limit, as Kafka is: a connector started with its registry starts once it answers,
// instead of exiting. The time limit, a stop, or an answer of any other kind ends the
// wait, with the settings to look at.
func TestRegisterSchemasWaitsForTheRegistry(t *testing.T) {
	const waiting = `msg="Schema Registry does not answer; waiting for it"`
	for _, tc := range []struct {
		name string
		// fail answers a request while the registry is down: it cuts the connection
		// (no answer) or writes an answer.
		fail func(http.ResponseWriter)
		back bool // the registry answers once the wait was logged
		stop bool // the start is stopped once the wait was logged
		// want and notWant are in the error; none: registerSchemas returns nil.
		want, notWant []string
		waitLogged    bool
	}{
		{name: "no answer, then back", fail: registryCuts, back: true, waitLogged: true},
		{name: "503, then back", fail: registryAnswers(http.StatusServiceUnavailable), back: true, waitLogged: true},
		{name: "no answer, time limit", fail: registryCuts, waitLogged: true,
			want: []string{"failed, so the connector does not start (check SCHEMA_REGISTRY_URL and the network): the registry did not answer within 300ms: "}},
		{name: "502, time limit", fail: registryAnswers(http.StatusBadGateway), waitLogged: true,
			want: []string{"failed, so the connector does not start (see `connector schemas check`): the registry kept failing for 300ms: "}},
		{name: "no answer, stopped", fail: registryCuts, stop: true, waitLogged: true,
			want: []string{"(check SCHEMA_REGISTRY_URL and the network)"}, notWant: []string{"within", "kept failing"}},
		// A web server that is no registry (501: it does not do POST), or a proxy that wants
		// the network signed in to: asking again does not mend them.
		{name: "501: no wait", fail: registryAnswers(http.StatusNotImplemented),
			want: []string{"(see `connector schemas check`): schemas: reading latest version of subject"}, notWant: []string{"kept failing"}},
		{name: "511: no wait", fail: registryAnswers(http.StatusNetworkAuthenticationRequired),
			want: []string{"(see `connector schemas check`): schemas: reading latest version of subject"}, notWant: []string{"kept failing"}},
		{name: "refused: no wait", fail: registryAnswers(http.StatusUnauthorized),
			want: []string{"(the registry refused the credentials: check SCHEMA_REGISTRY_USERNAME and SCHEMA_REGISTRY_PASSWORD)"}, notWant: []string{"within"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var log syncBuffer
			logged := func() bool { return strings.Contains(log.String(), waiting) }
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			reg := srfake.New()
			t.Cleanup(reg.Close)
			target, err := url.Parse(reg.URL())
			require.NoError(t, err)
			proxy := httputil.NewSingleHostReverseProxy(target)
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if (tc.back || tc.stop) && logged() {
					if tc.stop {
						cancel()
					} else {
						proxy.ServeHTTP(w, r)
						return
					}
				}
				tc.fail(w)
			}))
			t.Cleanup(srv.Close)
			cfg, err := config.Load(t.Context(), envconfig.MapLookuper(map[string]string{"DSCO_BASE_URL": "https://api.dsco.io/api/v3",
				"DSCO_STATIC_TOKEN": "token", "DSCO_ROLE": "supplier", "KAFKA_BROKERS": "127.0.0.1:9092", "SCHEMA_REGISTRY_URL": srv.URL}))
			require.NoError(t, err)
			serde, err := schemas.NewSerde(cfg.SerdeConfig())
			require.NoError(t, err)
			limit := time.Minute
			if len(tc.want) > 0 && !tc.stop {
				limit = 300 * time.Millisecond
			}

			err = registerSchemas(ctx, slog.New(slog.NewTextHandler(&log, nil)), cfg, serde, limit)
			lines := 0
			if tc.waitLogged {
				lines = 1
			}
			assert.Equal(t, lines, strings.Count(log.String(), waiting), "the wait is logged once, and only then:\n%s", log.String())
			if len(tc.want) == 0 {
				require.NoError(t, err)
				assert.True(t, reg.SubjectExists("dsco.order.v1-value"), "registered once the registry answered")
				return
			}
			require.Error(t, err)
			assert.ErrorContains(t, err, "registering the schemas at "+srv.URL+" failed, so the connector does not start")
			for _, s := range tc.want {
				assert.ErrorContains(t, err, s)
			}
			for _, s := range tc.notWant {
				assert.NotContains(t, err.Error(), s)
			}
		})
	}
}

// registryCuts ends a request without an answer: the connection is closed.
func registryCuts(http.ResponseWriter) { panic(http.ErrAbortHandler) }

// registryAnswers answers a request with code, as the Schema Registry writes its errors.
func registryAnswers(code int) func(http.ResponseWriter) {
	return func(w http.ResponseWriter) {
		w.Header().Set("Content-Type", "application/vnd.schemaregistry.v1+json")
		w.WriteHeader(code)
		fmt.Fprintf(w, `{"error_code":%d,"message":"%s"}`, code, http.StatusText(code))
	}
}

// TestRegistryURLNotARegistry: a SCHEMA_REGISTRY_URL that points at a server that is no
// Schema Registry (here the Dsco sandbox, which answers 404) fails check, schemas check
// and run with the variable to change; schemas check passed it, every subject
// "compatible", taking the 404s for subjects with no version.
func TestRegistryURLNotARegistry(t *testing.T) {
	s := newStack(t)
	vars := s.with("SCHEMA_REGISTRY_URL", s.dsco.URL, "CONNECTOR_DIRECTIONS", "inbound", "DSCO_STREAMS", "order",
		"CONNECTOR_INBOUND_LEASE", "false", "CONNECTOR_TOPIC_PREFIX", kafkatest.Name("noregistry")+".")
	const advice = "(no Schema Registry answers there: check SCHEMA_REGISTRY_URL, the registry's base URL such as http://schema-registry:8081)"
	for _, args := range [][]string{{"check"}, {"schemas", "check"}, {"run"}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			r := runMain(t, vars, args...)
			assert.Equal(t, exitFailure, r.code, r.stdout+r.stderr)
			assert.Contains(t, r.stdout+r.stderr, advice)
			assert.NotContains(t, r.stdout, ": compatible")
		})
	}
}
