package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sethvargo/go-envconfig"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sr/srfake"

	"github.com/dscokafka/connector/cmd/connector/internal/config"
	"github.com/dscokafka/connector/pkg/dsco/dscotest"
	"github.com/dscokafka/connector/pkg/kafka/kafkatest"
)

// result is what a command run printed and returned.
type result struct {
	code           int
	stdout, stderr string
}

// runMain runs the connector's dispatcher with args and the environment vars.
func runMain(t *testing.T, vars map[string]string, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	code := dispatch(ctx, args, &env{stdout: &out, stderr: &errb, lookup: envconfig.MapLookuper(vars)})
	return result{code: code, stdout: out.String(), stderr: errb.String()}
}

// stack is an in-process Kafka (kfake), Schema Registry (srfake) and Dsco
// sandbox, with the environment that points the connector at them.
type stack struct {
	vars     map[string]string
	registry *srfake.Registry
	dsco     *dscotest.Server
}

func newStack(t *testing.T) *stack {
	t.Helper()
	brokers := kafkatest.Brokers(t)
	reg := srfake.New()
	t.Cleanup(reg.Close)
	sb, err := dscotest.NewServer(dscotest.Config{})
	require.NoError(t, err)
	t.Cleanup(sb.Close)
	return &stack{
		registry: reg,
		dsco:     sb,
		vars: map[string]string{
			"DSCO_BASE_URL":       sb.URL,
			"DSCO_CLIENT_ID":      dscotest.SupplierClientID,
			"DSCO_CLIENT_SECRET":  dscotest.SupplierClientSecret,
			"DSCO_ROLE":           "supplier",
			"KAFKA_BROKERS":       strings.Join(brokers, ","),
			"SCHEMA_REGISTRY_URL": reg.URL(),
			"CONNECTOR_OPS_ADDR":  "127.0.0.1:0",
		},
	}
}

// with returns the stack's environment changed by kv pairs.
func (s *stack) with(kv ...string) map[string]string {
	out := maps.Clone(s.vars)
	for i := 0; i < len(kv); i += 2 {
		out[kv[i]] = kv[i+1]
	}
	return out
}

func TestDispatch(t *testing.T) {
	tests := []struct {
		name       string
		args       []string
		code       int
		stdout     string
		stderrHas  []string
		stderrOnce string // appears exactly once
	}{
		{name: "no command runs run: its configuration is checked", args: nil, code: 2,
			stderrHas: []string{"connector: invalid configuration", "DSCO_BASE_URL: required", "KAFKA_BROKERS: required",
				"\nconnector: \"connector run -h\" lists every variable, its default and what it means\n"}},
		{name: "run help lists the variables", args: []string{"run", "-h"}, code: 0,
			stderrHas: []string{"Usage: connector run (no flags", "\n  DSCO_BASE_URL (required)\n    \tBase URL of the Dsco API v3.\n",
				"\n  CONNECTOR_OPS_ADDR (default \":8080\")\n", "\n  DSCO_TOKEN_URL\n"}},
		{name: "usage points to the variables", args: []string{"help"}, code: 0, stdout: `"connector run -h" lists them`},
		{name: "unknown command", args: []string{"frobnicate"}, code: 2,
			stderrHas: []string{`connector: unknown command "frobnicate"`, "Usage: connector"}},
		{name: "flags only go to the default command", args: []string{"-x"}, code: 2,
			stderrHas: []string{"flag provided but not defined: -x\nUsage: connector run"}, stderrOnce: "flag provided but not defined"},
		{name: "flags before the command", args: []string{"--duration", "5s", "demo"}, code: 2,
			stderrHas: []string{`connector: flags ["--duration" "5s"] come before the command demo: give them after it ("connector demo -h" lists them)` + "\n"}},
		{name: "flags before a command with subcommands", args: []string{"-limit", "3", "poison", "list"}, code: 2,
			stderrHas: []string{`connector: flags ["-limit" "3"] come before the command poison: give them after it ("connector poison -h" lists them)` + "\n"}},
		{name: "usage lists the commands", args: []string{"help"}, code: 0,
			stdout: "  run       run both directions"},
		{name: "help", args: []string{"help"}, code: 0, stdout: "Usage: connector <command> [flags]"},
		{name: "-h", args: []string{"-h"}, code: 0, stdout: "Usage: connector <command> [flags]"},
		{name: "--version is the version command", args: []string{"--version"}, code: 0, stdout: "module    github.com/dscokafka/connector"},
		{name: "-version is the version command", args: []string{"-version"}, code: 0, stdout: "module    github.com/dscokafka/connector"},
		{name: "bad flag", args: []string{"version", "-nope"}, code: 2,
			stderrHas: []string{"flag provided but not defined: -nope\nUsage: connector version"}, stderrOnce: "flag provided but not defined"},
		{name: "bad flag value", args: []string{"check", "-timeout", "soon"}, code: 2,
			stderrHas: []string{`invalid value "soon" for flag -timeout`}, stderrOnce: "invalid value"},
		{name: "extra argument", args: []string{"version", "now"}, code: 2,
			stderrHas: []string{`connector: version: unexpected arguments ["now"]`}},
		{name: "command help", args: []string{"check", "-h"}, code: 0, stderrHas: []string{"Usage: connector check", "-timeout"}},
		{name: "time limit of 0", args: []string{"check", "-timeout", "0"}, code: 2,
			stderrHas: []string{"connector: check: -timeout 0s must be above zero"}},
		{name: "negative time limit", args: []string{"probe", "-timeout", "-1s", "http://127.0.0.1:1/healthz"}, code: 2,
			stderrHas: []string{"connector: probe: -timeout -1s must be above zero"}},
		{name: "poison list time limit", args: []string{"poison", "list", "-timeout", "0"}, code: 2,
			stderrHas: []string{"connector: poison list: -timeout 0s must be above zero"}},
		{name: "demo listen address", args: []string{"demo", "-ops-addr", "8080"}, code: 2,
			stderrHas: []string{`connector: demo: -ops-addr "8080": want a host:port`}},
		{name: "demo listen address with a path", args: []string{"demo", "-ops-addr", "127.0.0.1:8080/"}, code: 2,
			stderrHas: []string{`connector: demo: -ops-addr "127.0.0.1:8080/": want a host:port`}},
		{name: "demo listen port out of range", args: []string{"demo", "-ops-addr", "127.0.0.1:99999"}, code: 2,
			stderrHas: []string{`connector: demo: -ops-addr "127.0.0.1:99999": want a host:port`}},
		{name: "poison flag before subcommand", args: []string{"poison", "-limit", "3"}, code: 2,
			stderrHas: []string{"connector: poison: want a subcommand before flags: list|replay"}},
		{name: "poison without subcommand", args: []string{"poison"}, code: 2,
			stderrHas: []string{"connector: poison: want a subcommand: list|replay"}},
		{name: "schemas without subcommand", args: []string{"schemas"}, code: 2,
			stderrHas: []string{"connector: schemas: want a subcommand: print|register|check"}},
		{name: "schemas unknown subcommand", args: []string{"schemas", "drop"}, code: 2,
			stderrHas: []string{`connector: schemas: unknown subcommand "drop" (want print|register|check)`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runMain(t, nil, tt.args...)
			assert.Equal(t, tt.code, r.code, "stderr: %s", r.stderr)
			assert.Contains(t, r.stdout, tt.stdout)
			for _, s := range tt.stderrHas {
				assert.Contains(t, r.stderr, s)
			}
			if tt.stderrOnce != "" {
				assert.Equal(t, 1, strings.Count(r.stderr, tt.stderrOnce), "%q once in:\n%s", tt.stderrOnce, r.stderr)
			}
		})
	}
}

// TestRunHelpListsEveryVariable: `connector run -h` is the configuration's reference
// where the README is not at hand (a container): every variable, with what it means.
func TestRunHelpListsEveryVariable(t *testing.T) {
	r := runMain(t, nil, "run", "-h")
	require.Equal(t, exitOK, r.code)
	for _, f := range config.Fields() {
		assert.Contains(t, r.stderr, "\n  "+f.Var, "%s is listed", f.Var)
		assert.Contains(t, r.stderr, "\t"+f.Desc+"\n", "%s's meaning is listed", f.Var)
	}
}

// TestCommandUsage: each command's -h starts with one synopsis line, with no
// space at its end, that says [flags] exactly when flags follow, so that a flag
// added to a command cannot be left out of it (poison list's -timeout was).
func TestCommandUsage(t *testing.T) {
	for _, args := range [][]string{{"run"}, {"demo"}, {"check"}, {"poison", "list"}, {"poison", "replay"},
		{"schemas", "print"}, {"schemas", "register"}, {"schemas", "check"}, {"probe"}, {"version"}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			r := runMain(t, nil, append(args, "-h")...)
			require.Equal(t, exitOK, r.code, r.stderr)
			first, rest, _ := strings.Cut(r.stderr, "\n")
			assert.True(t, strings.HasPrefix(first, "Usage: connector "+strings.Join(args, " ")), first)
			assert.Equal(t, strings.TrimSpace(first), first, "no space at the end")
			assert.Equal(t, strings.Contains(rest, "\n  -") || strings.HasPrefix(rest, "  -"), strings.Contains(first, " [flags]"),
				"[flags] in %q exactly when flags are listed:\n%s", first, rest)
		})
	}
}

// TestSubcommandHelp: the -h (or help) of a command with subcommands lists each with
// what it does, one line each as the top-level usage lists the commands, and says where
// their flags are.
func TestSubcommandHelp(t *testing.T) {
	for _, tc := range []struct {
		command string
		lines   []string
	}{
		{"poison", []string{
			"  list      print the poisoned records with their reasons, the newest -limit of those selected",
			"  replay    requeue the selected records to their source topics, where the connector consumes them again"}},
		{"schemas", []string{
			"  print     list the configuration's records with their topics and subjects (-schemas: their schema texts)",
			"  register  register each schema under its subject, after checking it against the latest version there",
			"  check     check each schema against the latest version under its subject, registering nothing"}},
	} {
		want := "Usage: connector " + tc.command + " <subcommand> [flags]\n\nSubcommands:\n" + strings.Join(tc.lines, "\n") +
			"\n\nRun \"connector " + tc.command + " <subcommand> -h\" for a subcommand's flags.\n"
		for _, arg := range []string{"-h", "help"} {
			t.Run(tc.command+" "+arg, func(t *testing.T) {
				r := runMain(t, nil, tc.command, arg)
				assert.Equal(t, exitOK, r.code, r.stderr)
				assert.Equal(t, want, r.stderr)
			})
		}
	}
}

func TestVersion(t *testing.T) {
	r := runMain(t, nil, "version")
	require.Equal(t, 0, r.code, r.stderr)
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	require.GreaterOrEqual(t, len(lines), 3, r.stdout)
	assert.True(t, strings.HasPrefix(lines[0], "connector "), r.stdout)
	// A test binary's main module is this module.
	assert.Contains(t, r.stdout, "module    github.com/dscokafka/connector")
	assert.Contains(t, r.stdout, "go        go1.")
}

// TestStampedRevision: a build without VCS information of its own (the Docker image's)
// reports the revision stamped at link time.
func TestStampedRevision(t *testing.T) {
	if embeddedBuildInfo().Revision != "" {
		t.Skip("this test binary carries VCS information")
	}
	defer func(old string) { stampedRevision = old }(stampedRevision)
	stampedRevision = "0123456789abcdef0123"
	b := readBuildInfo()
	assert.Equal(t, "0123456789abcdef0123", b.Revision)
	assert.Equal(t, "0123456789ab", b.String())
}

func TestBuildInfoString(t *testing.T) {
	tests := []struct {
		b    buildInfo
		want string
	}{
		{buildInfo{Version: "v1.4.0"}, "v1.4.0"},
		{buildInfo{Version: "(devel)"}, "(devel)"},
		{buildInfo{Version: "(devel)", Revision: "0123456789abcdef0123"}, "0123456789ab"},
		{buildInfo{Version: "(devel)", Revision: "0123456789abcdef0123", Modified: true}, "0123456789ab+dirty"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) { assert.Equal(t, tt.want, tt.b.String()) })
	}
}

func TestCheck(t *testing.T) {
	s := newStack(t)
	r := runMain(t, s.vars, "check")
	require.Equal(t, 0, r.code, "stdout:\n%s\nstderr:\n%s", r.stdout, r.stderr)
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	require.Len(t, lines, 4, r.stdout)
	assert.Equal(t, "ok    config    role supplier, inbound+outbound, streams order,orderitemchange,return,invoice,inventory,catalog, topics dsco.*", lines[0])
	assert.Regexp(t, `^ok    kafka     cluster ".*": \d+ brokers?, \d+ topics? \([^)]+\)$`, lines[1])
	assert.Equal(t, "ok    registry  14 schemas compatible with their subjects ("+s.registry.URL()+")", lines[2])
	assert.Equal(t, "ok    dsco      token ok, 0 streams ("+s.dsco.URL+")", lines[3])
}

// TestCheckRedactsDscoURL: a password in DSCO_BASE_URL does not appear in check's
// report, as the registry's does not.
func TestCheckRedactsDscoURL(t *testing.T) {
	s := newStack(t)
	const secret = "sekrit-4713"
	r := runMain(t, s.with("DSCO_BASE_URL", strings.Replace(s.dsco.URL, "http://", "http://alice:"+secret+"@", 1)), "check")
	assert.Equal(t, 0, r.code, r.stdout+r.stderr)
	assert.Contains(t, r.stdout, "(http://alice:xxxxx@127.0.0.1:")
	assert.NotContains(t, r.stdout+r.stderr, secret)
}

func TestCheckFailures(t *testing.T) {
	s := newStack(t)
	const secret, regSecret = "wrong-secret-4711", "registry-secret-4712"
	vars := s.with("DSCO_CLIENT_SECRET", secret, "KAFKA_BROKERS", "127.0.0.1:1", "KAFKA_DIAL_TIMEOUT", "1s",
		"SCHEMA_REGISTRY_URL", "http://svc:"+regSecret+"@127.0.0.1:1")
	r := runMain(t, vars, "check", "-timeout", "5s")
	assert.Equal(t, 1, r.code)
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	require.GreaterOrEqual(t, len(lines), 4, r.stdout)
	assert.True(t, strings.HasPrefix(lines[0], "ok    config"), r.stdout)
	assert.Contains(t, r.stdout, "FAIL  kafka     kafka: reading metadata from broker 127.0.0.1:1: ")
	assert.Contains(t, r.stdout, `FAIL  registry  schema registry http://svc:xxxxx@127.0.0.1:1: could not perform request: Get "http://svc:***@127.0.0.1:1/subjects"`)
	assert.Len(t, lines, 4, "one line per check:\n%s", r.stdout)
	assert.Contains(t, r.stdout, "FAIL  dsco      getting an access token: ")
	assert.Contains(t, r.stdout, "(Dsco refused the credentials: check DSCO_CLIENT_ID and DSCO_CLIENT_SECRET)\n")
	assert.Equal(t, "connector: check: 3 of 4 checks failed\n", r.stderr)
	assert.NotContains(t, r.stdout+r.stderr, secret)
	assert.NotContains(t, r.stdout+r.stderr, regSecret)
}

// TestDscoRefuses: Dsco refusing the credentials, or a DSCO_BASE_URL with no token
// endpoint, ends `connector run` (which cannot mend it by asking again) and fails
// `connector check`, each with Dsco's answer and the settings to change; Dsco not
// answering fails check with the settings to look at. A token request that fails names
// DSCO_TOKEN_URL when it is set, since DSCO_BASE_URL is not asked for a token then.
func TestDscoRefuses(t *testing.T) {
	s := newStack(t)
	for _, tc := range []struct {
		name   string
		vars   map[string]string
		answer string
		advice string
		waits  bool // run waits for Dsco to answer (TestRunWaitsForDsco) instead of ending
	}{
		{name: "not answering", vars: s.with("DSCO_BASE_URL", "http://"+kafkatest.DeadAddr(t)+"/api/v3"),
			answer: "connect: connection refused", waits: true,
			advice: "(Dsco did not answer: check DSCO_BASE_URL and the network)"},
		{name: "token URL not answering", vars: s.with("DSCO_TOKEN_URL", "http://"+kafkatest.DeadAddr(t)+"/oauth2/token"),
			answer: "connect: connection refused", waits: true,
			advice: "(Dsco did not answer: check DSCO_TOKEN_URL and the network)"},
		{name: "token URL with no token endpoint", vars: s.with("DSCO_TOKEN_URL", s.dsco.URL+"/token"),
			answer: "HTTP 404 Not Found",
			advice: "(Dsco has no token endpoint there: check DSCO_TOKEN_URL)"},
		{name: "wrong client secret", vars: s.with("DSCO_CLIENT_SECRET", "wrong"),
			answer: "HTTP 401 Unauthorized: invalid_client",
			advice: "(Dsco refused the credentials: check DSCO_CLIENT_ID and DSCO_CLIENT_SECRET)"},
		{name: "base URL without the API's path", vars: s.with("DSCO_BASE_URL", strings.TrimSuffix(s.dsco.URL, "/api/v3")),
			answer: "HTTP 404 Not Found",
			advice: "(Dsco has no token endpoint there: check DSCO_BASE_URL, the API's base URL such as https://api.dsco.io/api/v3, or DSCO_TOKEN_URL)"},
	} {
		t.Run(tc.name+", check", func(t *testing.T) {
			r := runMain(t, tc.vars, "check")
			assert.Equal(t, exitFailure, r.code, r.stdout+r.stderr)
			assert.Contains(t, r.stdout, "FAIL  dsco      getting an access token: ")
			assert.Contains(t, r.stdout, tc.answer+" "+tc.advice+"\n")
		})
		t.Run(tc.name+", run", func(t *testing.T) {
			if tc.waits {
				t.Skip("run waits for Dsco")
			}
			vars := maps.Clone(tc.vars)
			maps.Copy(vars, map[string]string{"CONNECTOR_DIRECTIONS": "inbound", "DSCO_STREAMS": "order",
				"CONNECTOR_INBOUND_LEASE": "false", "CONNECTOR_TOPIC_PREFIX": kafkatest.Name("refused") + "."})
			r := runMain(t, vars, "run")
			assert.Equal(t, exitFailure, r.code, r.stderr)
			lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
			last := lines[len(lines)-1]
			assert.True(t, strings.HasPrefix(last, "connector: inbound: stopped: "), last)
			assert.True(t, strings.HasSuffix(last, tc.answer+" "+tc.advice), last)
		})
	}
}

// TestKafkaErrorsSayWhatFailed: when no broker listens at KAFKA_BROKERS, or the broker
// refuses the SASL credentials (answering SASL_AUTHENTICATION_FAILED, as Kafka answers a
// wrong password), what check, /readyz, the poison commands and run show says what failed
// in the connector's words, then Kafka's answer or the network's, without kafka-go's
// method names ("kafka.(*Client).Metadata: "); a broker that does not answer adds the
// settings to look at. run waits for a broker that does not answer, logging why, and
// ends at once when it is refused.
func TestKafkaErrorsSayWhatFailed(t *testing.T) {
	s := newStack(t)
	dead := kafkatest.DeadAddr(t)
	refusing := kafkatest.NewCluster(t, kfake.EnableSASL(), kfake.Superuser("PLAIN", "connector", "right"))
	refusing.ControlKey(int16(kmsg.SASLAuthenticate), func(r kmsg.Request) (kmsg.Response, error, bool) {
		refusing.KeepControl()
		resp := r.(*kmsg.SASLAuthenticateRequest).ResponseKind().(*kmsg.SASLAuthenticateResponse)
		resp.ErrorCode = kerr.SaslAuthenticationFailed.Code
		resp.ErrorMessage = kmsg.StringPtr("Authentication failed: Invalid username or password")
		return resp, nil, true
	})
	const advice = " (check KAFKA_BROKERS, the network, and that KAFKA_TLS_ENABLED and KAFKA_SASL_MECHANISM match the brokers' listener)"
	for _, tc := range []struct {
		name, broker string
		vars         []string
		cause        string // the network's or Kafka's answer, and any advice
		run          string // in run's stderr
		runEnds      bool   // run ends by itself
	}{
		{name: "not listening", broker: dead,
			cause: "dial tcp " + dead + ": connect: connection refused" + advice,
			run: `level=WARN msg="Kafka does not answer; waiting for it" brokers=` + dead +
				` for=30s error="reading the topics' metadata: dial tcp ` + dead + `: connect: connection refused"` + "\n"},
		{name: "refusing the credentials", broker: refusing.ListenAddrs()[0],
			vars:  []string{"KAFKA_SASL_MECHANISM", "PLAIN", "KAFKA_SASL_USERNAME", "connector", "KAFKA_SASL_PASSWORD", "wrong"},
			cause: "[58] SASL Authentication Failed: SASL Authentication failed: Authentication failed: Invalid username or password",
			run: "\nconnector: kafka refuses the connector its topics (its credentials or ACLs must change): reading the topics' metadata: " +
				"[58] SASL Authentication Failed: SASL Authentication failed: Authentication failed: Invalid username or password\n",
			runEnds: true},
	} {
		vars := s.with(append([]string{"KAFKA_BROKERS", tc.broker, "CONNECTOR_LOG_FORMAT", "text"}, tc.vars...)...)
		ping := "kafka: reading metadata from broker " + tc.broker + ": " + tc.cause
		poison := "connector: poison: reading dsco.poison.v1: outbound: reading the metadata of dsco.poison.v1 from the brokers: " +
			tc.broker + ": " + tc.cause + "\n"
		t.Run(tc.name+", check", func(t *testing.T) {
			r := runMain(t, vars, "check")
			assert.Equal(t, exitFailure, r.code, r.stdout+r.stderr)
			assert.Contains(t, r.stdout, "\nFAIL  kafka     "+ping+"\n")
		})
		t.Run(tc.name+", readyz", func(t *testing.T) {
			cfg, err := config.Load(context.Background(), envconfig.MapLookuper(vars))
			require.NoError(t, err)
			checks := testReadinessChecks(t, cfg)
			require.Equal(t, "kafka", checks[0].Name)
			assert.EqualError(t, checks[0].Func(context.Background()), ping)
		})
		for _, args := range [][]string{{"poison", "list"}, {"poison", "replay", "-all"}} {
			t.Run(tc.name+", "+strings.Join(args, " "), func(t *testing.T) {
				r := runMain(t, vars, args...)
				assert.Equal(t, exitFailure, r.code, r.stdout+r.stderr)
				assert.Equal(t, poison, r.stderr)
			})
		}
		t.Run(tc.name+", run", func(t *testing.T) {
			if tc.runEnds {
				r := runMain(t, vars, "run")
				assert.Equal(t, exitFailure, r.code, r.stderr)
				assert.Contains(t, r.stderr, tc.run)
				return
			}
			r := startRun(t, vars)
			r.waitFor(t, "Kafka's failure logged", func(stderr string) bool { return strings.Contains(stderr, tc.run) })
			assert.Equal(t, exitOK, r.stop(t), r.stderr.String())
		})
	}
}

// TestPoisonTimeout: poison list and replay that -timeout ends say so, naming the flag,
// not Kafka's deadline alone (which reads as brokers that do not answer). The broker
// takes the connections and never answers, so that only the time limit can end the read
// (with the stack's broker a read could be answered before a timer of 1ns had fired,
// on a busy machine, and then say that the poison topic does not exist).
func TestPoisonTimeout(t *testing.T) {
	s := newStack(t)
	vars := s.with("KAFKA_BROKERS", silentBroker(t))
	for _, args := range [][]string{{"poison", "list", "-timeout", "1ns"}, {"poison", "replay", "-all", "-timeout", "1ns"}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			r := runMain(t, vars, args...)
			assert.Equal(t, exitFailure, r.code, r.stdout+r.stderr)
			assert.Contains(t, r.stderr, "(not done within -timeout 1ns: raise it for a poison topic that takes longer)")
		})
	}
}

// TestRegistrySilentOrRefusing: a Schema Registry that does not answer, refuses the
// credentials, or refuses them the right to register (a registry with access control
// and credentials that may only read: 403), ends each command that needs it with the
// settings to change; run, which registers, points to SCHEMA_REGISTRY_LOOKUP_ONLY too.
// (run waits for a registry that does not answer: TestRegisterSchemasWaitsForTheRegistry.)
func TestRegistrySilentOrRefusing(t *testing.T) {
	s := newStack(t)
	guarded := srfake.New(srfake.WithAuth("Basic " + base64.StdEncoding.EncodeToString([]byte("svc:right"))))
	t.Cleanup(guarded.Close)
	readOnly := registryRefusingWrites(t)
	const (
		credentials = "(the registry refused the credentials or this request to them: check SCHEMA_REGISTRY_USERNAME and SCHEMA_REGISTRY_PASSWORD, and what the registry lets them do"
		lookupOnly  = "; credentials that may read but not register need SCHEMA_REGISTRY_LOOKUP_ONLY=true, with the schemas registered beforehand (`connector schemas register`, with credentials that may))"
	)
	every := [][]string{{"check"}, {"schemas", "register"}, {"schemas", "check"}, {"run"}}
	for _, tc := range []struct {
		name   string
		vars   map[string]string
		args   [][]string
		advice map[string]string // by command: in its output; "" for any other command
	}{
		{name: "not answering", vars: s.with("SCHEMA_REGISTRY_URL", "http://"+kafkatest.DeadAddr(t)), args: [][]string{{"check"}, {"schemas", "register"}, {"schemas", "check"}},
			advice: map[string]string{"": "(check SCHEMA_REGISTRY_URL and the network)"}},
		{name: "wrong password (403, as srfake answers it)", vars: s.with("SCHEMA_REGISTRY_URL", guarded.URL(),
			"SCHEMA_REGISTRY_USERNAME", "svc", "SCHEMA_REGISTRY_PASSWORD", "wrong"), args: every,
			advice: map[string]string{"": credentials + ")", "run": credentials + lookupOnly}},
		{name: "may only read", vars: s.with("SCHEMA_REGISTRY_URL", readOnly), args: [][]string{{"schemas", "register"}, {"run"}},
			advice: map[string]string{"": credentials + ")", "run": credentials + lookupOnly}},
	} {
		for _, args := range tc.args {
			command := strings.Join(args, " ")
			t.Run(tc.name+", "+command, func(t *testing.T) {
				r := runMain(t, tc.vars, args...)
				assert.Equal(t, exitFailure, r.code, r.stdout+r.stderr)
				advice, ok := tc.advice[command]
				if !ok {
					advice = tc.advice[""]
				}
				assert.Contains(t, r.stdout+r.stderr, advice)
				if tc.name == "not answering" {
					assert.NotContains(t, r.stdout, "not registered", "the subjects were not tried")
				}
			})
		}
	}
}

// registryRefusingWrites returns the URL of a Schema Registry that answers reads and
// refuses every registration with 403, as a registry with access control answers
// credentials that may only read.
func registryRefusingWrites(t *testing.T) string {
	t.Helper()
	reg := srfake.New()
	t.Cleanup(reg.Close)
	target, err := url.Parse(reg.URL())
	require.NoError(t, err)
	proxy := httputil.NewSingleHostReverseProxy(target)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/versions") {
			w.Header().Set("Content-Type", "application/vnd.schemaregistry.v1+json")
			w.WriteHeader(http.StatusForbidden)
			_, _ = io.WriteString(w, `{"error_code":40301,"message":"User is denied operation Write on Subject"}`)
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestInvalidConfigurationExits2WithEveryProblem(t *testing.T) {
	vars := map[string]string{
		"DSCO_BASE_URL":       "https://api.dsco.io/api/v3",
		"DSCO_CLIENT_ID":      "id",
		"DSCO_CLIENT_SECRET":  "super-secret-0815",
		"DSCO_ROLE":           "vendor",
		"KAFKA_BROKERS":       "kafka",
		"KAFKA_SASL_PASSWORD": "sasl-secret-0816",
		"CONNECTOR_LOG_LEVEL": "loud",
	}
	for _, args := range [][]string{{"check"}, {"schemas", "print"}, {"schemas", "register"}, {"schemas", "check"}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			r := runMain(t, vars, args...)
			assert.Equal(t, 2, r.code)
			assert.Contains(t, r.stderr, "connector: invalid configuration (5 problems):\n"+
				"  DSCO_ROLE: want supplier or retailer, got \"vendor\"\n"+
				"  KAFKA_BROKERS: want a comma-separated list of host:port, got \"kafka\"\n"+
				"  KAFKA_SASL_PASSWORD: only used with SASL: set KAFKA_SASL_MECHANISM too, or unset it\n"+
				"  SCHEMA_REGISTRY_URL: required; want an absolute http:// or https:// URL such as http://schema-registry:8081\n"+
				"  CONNECTOR_LOG_LEVEL: want debug, info, warn or error, got \"loud\"\n")
			assert.NotContains(t, r.stdout+r.stderr, "secret-08")
		})
	}
}

// TestOpsAddrTaken: an ops address the process cannot listen on ends the start at once
// with the error naming the setting to change, before the registry or Kafka is asked
// anything (here neither answers, and their errors would come first otherwise).
func TestOpsAddrTaken(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = ln.Close() })
	taken := ln.Addr().String()
	vars := map[string]string{
		"DSCO_BASE_URL":       "http://" + kafkatest.DeadAddr(t) + "/api/v3",
		"DSCO_CLIENT_ID":      "id",
		"DSCO_CLIENT_SECRET":  "secret",
		"DSCO_ROLE":           "supplier",
		"KAFKA_BROKERS":       kafkatest.DeadAddr(t),
		"SCHEMA_REGISTRY_URL": "http://" + kafkatest.DeadAddr(t),
		"CONNECTOR_OPS_ADDR":  taken,
	}
	for _, tc := range []struct {
		name    string
		args    []string
		setting string
	}{
		{name: "run", args: []string{"run"}, setting: "CONNECTOR_OPS_ADDR"},
		{name: "demo", args: []string{"demo", "-ops-addr", taken, "-duration", "1s"}, setting: "-ops-addr"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := runMain(t, vars, tc.args...)
			assert.Equal(t, exitFailure, r.code, r.stderr)
			assert.Contains(t, r.stderr, "listening on "+taken)
			assert.Contains(t, r.stderr, "("+tc.setting+": want a host:port this process can listen on)\n")
			assert.NotContains(t, r.stderr, "schemas", "the registry is not asked")
		})
	}
}

// silentBroker returns the address of a listener on 127.0.0.1 that accepts connections
// and never answers on them, until the test ends.
func silentBroker(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	})
	t.Cleanup(func() {
		_ = ln.Close()
		wg.Wait()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			_ = c.Close()
		}
	})
	return ln.Addr().String()
}
