package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/sr"
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
