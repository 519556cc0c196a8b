package config

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"log/slog"
	"maps"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sethvargo/go-envconfig"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dscokafka/connector/pkg/dsco"
	"github.com/dscokafka/connector/pkg/kafka"
	"github.com/dscokafka/connector/pkg/schemas"
)

// minimal is the smallest valid environment.
func minimal() map[string]string {
	return map[string]string{
		"DSCO_BASE_URL":       "https://api.dsco.io/api/v3",
		"DSCO_CLIENT_ID":      "id",
		"DSCO_CLIENT_SECRET":  "s3cr3t-client",
		"DSCO_ROLE":           "supplier",
		"KAFKA_BROKERS":       "kafka-1:9092, kafka-2:9092",
		"SCHEMA_REGISTRY_URL": "http://registry:8081",
	}
}

// with returns minimal() changed by kv pairs; a value of "<unset>" removes
// the variable.
func with(kv ...string) map[string]string {
	env := minimal()
	for i := 0; i < len(kv); i += 2 {
		if kv[i+1] == "<unset>" {
			delete(env, kv[i])
			continue
		}
		env[kv[i]] = kv[i+1]
	}
	return env
}

func load(t *testing.T, env map[string]string) (*Config, error) {
	t.Helper()
	return Load(context.Background(), envconfig.MapLookuper(env))
}

func TestLoadDefaults(t *testing.T) {
	cfg, err := load(t, minimal())
	require.NoError(t, err)

	assert.Equal(t, "https://api.dsco.io/api/v3", cfg.Dsco.BaseURL)
	assert.Equal(t, "s3cr3t-client", cfg.Dsco.ClientSecret.Value())
	assert.Equal(t, RoleSupplier, cfg.Dsco.Role)
	assert.Equal(t, Streams(AllStreams), cfg.Dsco.Streams)
	assert.Equal(t, time.Second, cfg.Dsco.PollInterval)
	assert.Zero(t, cfg.Dsco.ItemInventoryInterval, "no poller by default")
	assert.Equal(t, []string{"kafka-1:9092", "kafka-2:9092"}, cfg.Kafka.Brokers)
	assert.Equal(t, "dsco-kafka-connector", cfg.Kafka.ClientID)
	assert.Equal(t, "dsco-connector", cfg.Kafka.ConsumerGroup)
	assert.Equal(t, 10*time.Second, cfg.Kafka.DialTimeout)
	assert.True(t, cfg.Kafka.ReadCommitted, "command topics read committed by default")
	assert.Equal(t, kafka.DefaultMaxDecompressedBytes, cfg.Kafka.MaxDecompressedBytes, "the Subscriber's own default")
	assert.Equal(t, schemas.TopicNameStrategy, cfg.Registry.SubjectStrategy.SubjectStrategy)
	assert.Equal(t, Directions{Inbound, Outbound}, cfg.Connector.Directions)
	assert.True(t, cfg.Connector.InboundLease, "the inbound side under its lease by default")
	assert.Equal(t, "dsco.", cfg.Connector.TopicPrefix)
	assert.Equal(t, ":8080", cfg.Connector.OpsAddr)
	assert.Equal(t, 30*time.Second, cfg.Connector.ShutdownTimeout)
	assert.Equal(t, Checkpoint{Events: 1000, Interval: time.Second}, cfg.Checkpoint)
	assert.Equal(t, Batch{MaxItems: 100, MaxBytes: 1 << 20, MaxWait: 200 * time.Millisecond}, cfg.Batch)
	assert.Equal(t, Retry{MaxAttempts: 5, InitialInterval: 200 * time.Millisecond, MaxInterval: 10 * time.Second,
		MaxElapsed: time.Minute}, cfg.Retry)
	assert.Equal(t, AppliedIDs{MaxEntries: 500_000, Retention: 7 * 24 * time.Hour}, cfg.AppliedIDs, "the store's own defaults")
	assert.Equal(t, slog.LevelInfo, cfg.Log.Level.Level)
	assert.Equal(t, LogJSON, cfg.Log.Format)
}

func TestLoadEveryVariable(t *testing.T) {
	dir := t.TempDir()
	ca, cert, key := writeTLSFiles(t, dir)
	env := map[string]string{
		"DSCO_BASE_URL":                    "http://dsco-sandbox:8089/api/v3",
		"DSCO_TOKEN_URL":                   "http://dsco-sandbox:8089/api/v3/oauth2/token",
		"DSCO_STATIC_TOKEN":                "tok-123",
		"DSCO_ROLE":                        "Retailer",
		"DSCO_STREAMS":                     "order, catalog",
		"DSCO_POLL_INTERVAL":               "250ms",
		"DSCO_ITEM_INVENTORY_INTERVAL":     "1m",
		"DSCO_INSECURE_HTTP":               "true",
		"KAFKA_BROKERS":                    "kafka:29092",
		"KAFKA_CLIENT_ID":                  "cid",
		"KAFKA_CONSUMER_GROUP":             "grp",
		"KAFKA_DIAL_TIMEOUT":               "3s",
		"KAFKA_READ_COMMITTED":             "false",
		"KAFKA_MAX_DECOMPRESSED_BYTES":     "268435456",
		"KAFKA_TLS_ENABLED":                "true",
		"KAFKA_TLS_CA_FILE":                ca,
		"KAFKA_TLS_CERT_FILE":              cert,
		"KAFKA_TLS_KEY_FILE":               key,
		"KAFKA_TLS_SERVER_NAME":            "kafka.example",
		"KAFKA_TLS_INSECURE_SKIP_VERIFY":   "false",
		"KAFKA_SASL_MECHANISM":             "scram-sha-512",
		"KAFKA_SASL_USERNAME":              "user",
		"KAFKA_SASL_PASSWORD":              "sasl-pw",
		"SCHEMA_REGISTRY_URL":              "https://registry.example",
		"SCHEMA_REGISTRY_USERNAME":         "ru",
		"SCHEMA_REGISTRY_PASSWORD":         "reg-pw",
		"SCHEMA_REGISTRY_SUBJECT_STRATEGY": "topic-record",
		"SCHEMA_REGISTRY_LOOKUP_ONLY":      "true",
		"CONNECTOR_DIRECTIONS":             "outbound",
		"CONNECTOR_INBOUND_LEASE":          "false",
		"CONNECTOR_TOPIC_PREFIX":           "acme.dsco.",
		"CONNECTOR_OPS_ADDR":               "127.0.0.1:9000",
		"CONNECTOR_SHUTDOWN_TIMEOUT":       "5s",
		"CONNECTOR_CHECKPOINT_EVENTS":      "10",
		"CONNECTOR_CHECKPOINT_INTERVAL":    "50ms",
		"CONNECTOR_BATCH_MAX_ITEMS":        "20",
		"CONNECTOR_BATCH_MAX_BYTES":        "4096",
		"CONNECTOR_BATCH_MAX_WAIT":         "0s",
		"CONNECTOR_RETRY_MAX_ATTEMPTS":     "3",
		"CONNECTOR_RETRY_INITIAL_INTERVAL": "10ms",
		"CONNECTOR_RETRY_MAX_INTERVAL":     "1s",
		"CONNECTOR_RETRY_MAX_ELAPSED":      "30s",
		"CONNECTOR_APPLIED_IDS_MAX":        "2000000",
		"CONNECTOR_APPLIED_IDS_RETENTION":  "72h",
		"CONNECTOR_LOG_LEVEL":              "DEBUG",
		"CONNECTOR_LOG_FORMAT":             "text",
	}
	for _, f := range Fields() {
		if f.Var == "DSCO_CLIENT_ID" || f.Var == "DSCO_CLIENT_SECRET" {
			continue // the alternative to DSCO_STATIC_TOKEN: TestLoadDefaults sets them
		}
		require.Contains(t, env, f.Var, "this test sets every variable")
	}
	cfg, err := load(t, env)
	require.NoError(t, err)

	assert.Equal(t, "tok-123", cfg.Dsco.StaticToken.Value())
	assert.Equal(t, RoleRetailer, cfg.Dsco.Role)
	assert.Equal(t, Streams{dsco.ObjectOrder, dsco.ObjectCatalog}, cfg.Dsco.Streams)
	assert.True(t, cfg.Dsco.InsecureHTTP)
	assert.Equal(t, time.Minute, cfg.Dsco.ItemInventoryInterval)
	assert.Equal(t, Directions{Outbound}, cfg.Connector.Directions)
	assert.False(t, cfg.Connector.InboundLease)
	assert.False(t, cfg.Kafka.ReadCommitted)
	assert.Equal(t, 256<<20, cfg.Kafka.MaxDecompressedBytes)
	assert.Equal(t, AppliedIDs{MaxEntries: 2_000_000, Retention: 72 * time.Hour}, cfg.AppliedIDs)
	assert.Equal(t, slog.LevelDebug, cfg.Log.Level.Level)
	assert.Equal(t, LogText, cfg.Log.Format)

	conn, err := cfg.Kafka.Connection()
	require.NoError(t, err)
	require.NoError(t, conn.Validate())
	assert.Equal(t, kafka.SASLScramSHA512, conn.SASL.Mechanism)
	assert.Equal(t, "sasl-pw", conn.SASL.Password)
	require.NotNil(t, conn.TLS)
	assert.Equal(t, "kafka.example", conn.TLS.ServerName)
	assert.Len(t, conn.TLS.Certificates, 1)
	assert.NotNil(t, conn.TLS.RootCAs)

	sc := cfg.SerdeConfig()
	require.NoError(t, sc.Validate())
	assert.Equal(t, "reg-pw", sc.RegistryPassword)
	assert.Equal(t, schemas.TopicRecordNameStrategy, sc.SubjectStrategy)
	assert.True(t, sc.LookupOnly)
	// Outbound only, as a retailer: the retailer commands and the result.
	var names []string
	for _, d := range sc.Records {
		names = append(names, d.Name)
		assert.Equal(t, "acme.dsco."+strings.TrimPrefix(d.Topic, "dsco."), sc.Topics[schemas.TopicKey(d)])
	}
	assert.Equal(t, []string{"retailer-order", "retailer-return", "retailer-cancel",
		"retailer-catalog-attribution", "results"}, names)

	assert.Equal(t, dsco.RetryPolicy{MaxAttempts: 3, BaseDelay: 10 * time.Millisecond, MaxDelay: time.Second,
		MaxElapsed: 30 * time.Second}, cfg.Retry.RetryPolicy())
	_, err = dsco.NewClient(cfg.Dsco.BaseURL, cfg.ClientOptions(nil)...)
	require.NoError(t, err, "the options make a valid client")
}

func TestRecordsFollowStreamsAndRole(t *testing.T) {
	cfg, err := load(t, with("DSCO_STREAMS", "inventory,order"))
	require.NoError(t, err)
	var names []string
	for _, d := range cfg.Records() {
		names = append(names, d.Kind.String()+":"+d.Name)
	}
	assert.Equal(t, []string{"event:order", "event:inventory",
		"command:ship", "command:cancel", "command:invoice", "command:acknowledge", "command:inventory",
		"command:catalog", "command:return", "result:results"}, names)
}

// TestLoadProblems checks the message of every variable's failures: each
// case names the one problem its environment has.
func TestLoadProblems(t *testing.T) {
	dir := t.TempDir()
	ca, cert, key := writeTLSFiles(t, dir)
	notPEM := filepath.Join(dir, "not.pem")
	require.NoError(t, os.WriteFile(notPEM, []byte("hello"), 0o600))
	missing := filepath.Join(dir, "missing.pem")

	tests := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"base url missing", with("DSCO_BASE_URL", "<unset>"),
			"DSCO_BASE_URL: required; want an absolute https:// URL such as https://api.dsco.io/api/v3"},
		{"base url empty", with("DSCO_BASE_URL", ""),
			"DSCO_BASE_URL: required; want an absolute https:// URL such as https://api.dsco.io/api/v3"},
		{"base url relative", with("DSCO_BASE_URL", "api.dsco.io/api/v3"),
			`DSCO_BASE_URL: want an absolute http:// or https:// URL, got "api.dsco.io/api/v3"`},
		{"base url not a url", with("DSCO_BASE_URL", "http://a b:x"),
			"DSCO_BASE_URL: want an absolute http:// or https:// URL; the value does not parse as a URL"},
		{"base url with a line end", with("DSCO_BASE_URL", "https://api.dsco.io/api/v3\r"),
			`DSCO_BASE_URL: want an absolute http:// or https:// URL; the value has spaces or a line end (\r) around it`},
		{"registry url with a space after it", with("SCHEMA_REGISTRY_URL", "http://registry:8081 "),
			`SCHEMA_REGISTRY_URL: want an absolute http:// or https:// URL; the value has spaces or a line end (\r) around it`},
		{"base url plain http", with("DSCO_BASE_URL", "http://dsco.example/api/v3"),
			`DSCO_BASE_URL: plain http is allowed only to loopback hosts: use https, or set DSCO_INSECURE_HTTP=true for a test stack (got "http://dsco.example/api/v3")`},
		{"token url", with("DSCO_TOKEN_URL", "ftp://x/token"),
			`DSCO_TOKEN_URL: want an absolute http:// or https:// URL, got "ftp://x/token"`},
		{"client id missing", with("DSCO_CLIENT_ID", "<unset>"),
			"DSCO_CLIENT_ID: required (with DSCO_CLIENT_SECRET) unless DSCO_STATIC_TOKEN is set"},
		{"client secret missing", with("DSCO_CLIENT_SECRET", "<unset>"),
			"DSCO_CLIENT_SECRET: required (with DSCO_CLIENT_ID) unless DSCO_STATIC_TOKEN is set"},
		{"static token and credentials", with("DSCO_STATIC_TOKEN", "tok"),
			"DSCO_STATIC_TOKEN: set either DSCO_STATIC_TOKEN or DSCO_CLIENT_ID and DSCO_CLIENT_SECRET, not both"},
		{"role missing", with("DSCO_ROLE", "<unset>"), "DSCO_ROLE: required; want supplier or retailer"},
		{"role unknown", with("DSCO_ROLE", "vendor"), `DSCO_ROLE: want supplier or retailer, got "vendor"`},
		{"streams unknown", with("DSCO_STREAMS", "order, Orders"),
			`DSCO_STREAMS: want a comma-separated list of order, orderitemchange, return, invoice, inventory, catalog, each at most once, got "order, Orders": "Orders" is not one of them`},
		{"streams twice", with("DSCO_STREAMS", "order,invoice,Order"),
			`DSCO_STREAMS: want a comma-separated list of order, orderitemchange, return, invoice, inventory, catalog, each at most once, got "order,invoice,Order": "order" is there twice`},
		{"streams empty entry", with("DSCO_STREAMS", "order,,invoice"),
			`DSCO_STREAMS: want a comma-separated list of order, orderitemchange, return, invoice, inventory, catalog, each at most once, got "order,,invoice": an empty entry (a comma too many)`},
		{"poll interval", with("DSCO_POLL_INTERVAL", "1"),
			`DSCO_POLL_INTERVAL: want a duration such as 500ms, 30s or 2m, got "1"`},
		{"poll interval zero", with("DSCO_POLL_INTERVAL", "0s"),
			"DSCO_POLL_INTERVAL: want a duration above zero such as 500ms, 30s or 2m, got 0s"},
		{"item inventory interval", with("DSCO_ITEM_INVENTORY_INTERVAL", "-1s"),
			"DSCO_ITEM_INVENTORY_INTERVAL: want a duration of 0 (no poller) or more such as 10s or 1m, got -1s"},
		{"item inventory interval not a duration", with("DSCO_ITEM_INVENTORY_INTERVAL", "often"),
			`DSCO_ITEM_INVENTORY_INTERVAL: want a duration such as 500ms, 30s or 2m, got "often"`},
		{"insecure http", with("DSCO_INSECURE_HTTP", "yes please"),
			`DSCO_INSECURE_HTTP: want true or false, got "yes please"`},
		{"brokers missing", with("KAFKA_BROKERS", "<unset>"),
			"KAFKA_BROKERS: required; want a comma-separated list of host:port"},
		{"brokers empty", with("KAFKA_BROKERS", ""),
			"KAFKA_BROKERS: required; want a comma-separated list of host:port"},
		{"brokers blank", with("KAFKA_BROKERS", " "),
			"KAFKA_BROKERS: required; want a comma-separated list of host:port"},
		{"brokers a line end", with("KAFKA_BROKERS", "\r"),
			"KAFKA_BROKERS: required; want a comma-separated list of host:port"},
		{"broker without port", with("KAFKA_BROKERS", "kafka:9092,kafka2"),
			`KAFKA_BROKERS: want a comma-separated list of host:port, got "kafka2"`},
		{"broker list ending in a comma", with("KAFKA_BROKERS", "kafka:9092, "),
			`KAFKA_BROKERS: want a comma-separated list of host:port, got an empty entry in "kafka:9092," (a comma too many)`},
		{"broker list with two commas in a row", with("KAFKA_BROKERS", "kafka:9092,,kafka2:9092"),
			`KAFKA_BROKERS: want a comma-separated list of host:port, got an empty entry in "kafka:9092,,kafka2:9092" (a comma too many)`},
		{"client id empty", with("KAFKA_CLIENT_ID", ""), "KAFKA_CLIENT_ID: want a non-empty client id"},
		{"group empty", with("KAFKA_CONSUMER_GROUP", " "), "KAFKA_CONSUMER_GROUP: want a non-empty consumer group id"},
		{"dial timeout", with("KAFKA_DIAL_TIMEOUT", "soon"),
			`KAFKA_DIAL_TIMEOUT: want a duration such as 500ms, 30s or 2m, got "soon"`},
		{"tls enabled", with("KAFKA_TLS_ENABLED", "2"), `KAFKA_TLS_ENABLED: want true or false, got "2"`},
		{"read committed", with("KAFKA_READ_COMMITTED", "always"), `KAFKA_READ_COMMITTED: want true or false, got "always"`},
		{"inbound lease", with("CONNECTOR_INBOUND_LEASE", "on"), `CONNECTOR_INBOUND_LEASE: want true or false, got "on"`},
		{"ca file without tls", with("KAFKA_TLS_CA_FILE", ca),
			"KAFKA_TLS_CA_FILE: only used with TLS: set KAFKA_TLS_ENABLED=true too, or unset it"},
		{"ca file missing", with("KAFKA_TLS_ENABLED", "true", "KAFKA_TLS_CA_FILE", missing),
			"KAFKA_TLS_CA_FILE: want a readable PEM file of CA certificates: open " + missing + ": no such file or directory"},
		{"ca file not pem", with("KAFKA_TLS_ENABLED", "true", "KAFKA_TLS_CA_FILE", notPEM),
			"KAFKA_TLS_CA_FILE: want a readable PEM file of CA certificates: no PEM certificate in " + notPEM},
		{"cert without key", with("KAFKA_TLS_ENABLED", "true", "KAFKA_TLS_CERT_FILE", cert),
			"KAFKA_TLS_KEY_FILE: required with KAFKA_TLS_CERT_FILE"},
		{"key without cert", with("KAFKA_TLS_ENABLED", "true", "KAFKA_TLS_KEY_FILE", key),
			"KAFKA_TLS_CERT_FILE: required with KAFKA_TLS_KEY_FILE"},
		{"cert not pem", with("KAFKA_TLS_ENABLED", "true", "KAFKA_TLS_CERT_FILE", notPEM, "KAFKA_TLS_KEY_FILE", key),
			"KAFKA_TLS_CERT_FILE: want a PEM certificate matching KAFKA_TLS_KEY_FILE: tls: failed to find any PEM data in certificate input"},
		{"server name without tls", with("KAFKA_TLS_SERVER_NAME", "k"),
			"KAFKA_TLS_SERVER_NAME: only used with TLS: set KAFKA_TLS_ENABLED=true too, or unset it"},
		{"skip verify without tls", with("KAFKA_TLS_INSECURE_SKIP_VERIFY", "true"),
			"KAFKA_TLS_INSECURE_SKIP_VERIFY: only used with TLS: set KAFKA_TLS_ENABLED=true too, or unset it"},
		{"skip verify not bool", with("KAFKA_TLS_INSECURE_SKIP_VERIFY", "nope"),
			`KAFKA_TLS_INSECURE_SKIP_VERIFY: want true or false, got "nope"`},
		{"sasl mechanism", with("KAFKA_SASL_MECHANISM", "GSSAPI"),
			`KAFKA_SASL_MECHANISM: want PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or empty for no SASL, got "GSSAPI"`},
		{"sasl username missing", with("KAFKA_SASL_MECHANISM", "PLAIN", "KAFKA_SASL_PASSWORD", "pw"),
			"KAFKA_SASL_USERNAME: required with KAFKA_SASL_MECHANISM=PLAIN"},
		{"sasl username without sasl", with("KAFKA_SASL_USERNAME", "u"),
			"KAFKA_SASL_USERNAME: only used with SASL: set KAFKA_SASL_MECHANISM too, or unset it"},
		{"sasl password missing", with("KAFKA_SASL_MECHANISM", "SCRAM-SHA-256", "KAFKA_SASL_USERNAME", "u"),
			"KAFKA_SASL_PASSWORD: required with KAFKA_SASL_MECHANISM=SCRAM-SHA-256"},
		{"sasl password without sasl", with("KAFKA_SASL_PASSWORD", "pw"),
			"KAFKA_SASL_PASSWORD: only used with SASL: set KAFKA_SASL_MECHANISM too, or unset it"},
		{"registry missing", with("SCHEMA_REGISTRY_URL", "<unset>"),
			"SCHEMA_REGISTRY_URL: required; want an absolute http:// or https:// URL such as http://schema-registry:8081"},
		{"registry not a url", with("SCHEMA_REGISTRY_URL", "registry:8081"),
			`SCHEMA_REGISTRY_URL: want an absolute http:// or https:// URL, got "registry:8081"`},
		{"registry user without password", with("SCHEMA_REGISTRY_USERNAME", "u"),
			"SCHEMA_REGISTRY_PASSWORD: required with SCHEMA_REGISTRY_USERNAME"},
		{"registry password without user", with("SCHEMA_REGISTRY_PASSWORD", "pw"),
			"SCHEMA_REGISTRY_USERNAME: required with SCHEMA_REGISTRY_PASSWORD"},
		{"subject strategy", with("SCHEMA_REGISTRY_SUBJECT_STRATEGY", "TopicNameStrategy"),
			`SCHEMA_REGISTRY_SUBJECT_STRATEGY: want topic, record or topic-record, got "TopicNameStrategy"`},
		{"lookup only", with("SCHEMA_REGISTRY_LOOKUP_ONLY", "maybe"),
			`SCHEMA_REGISTRY_LOOKUP_ONLY: want true or false, got "maybe"`},
		{"directions", with("CONNECTOR_DIRECTIONS", "both"),
			`CONNECTOR_DIRECTIONS: want inbound, outbound or inbound,outbound, got "both"`},
		{"topic prefix chars", with("CONNECTOR_TOPIC_PREFIX", "dsco/"),
			`CONNECTOR_TOPIC_PREFIX: want letters, digits, '.', '_' and '-' only, got "dsco/"`},
		{"topic prefix length", with("CONNECTOR_TOPIC_PREFIX", strings.Repeat("p", 230)),
			"CONNECTOR_TOPIC_PREFIX: want a prefix that keeps topic names within 249 characters; it makes one 265 long"},
		{"ops addr", with("CONNECTOR_OPS_ADDR", "8080"),
			`CONNECTOR_OPS_ADDR: want a host:port to listen on such as :8080 or 127.0.0.1:8080, got "8080"`},
		{"shutdown timeout", with("CONNECTOR_SHUTDOWN_TIMEOUT", "-1s"),
			"CONNECTOR_SHUTDOWN_TIMEOUT: want a duration above zero such as 500ms, 30s or 2m, got -1s"},
		{"checkpoint events", with("CONNECTOR_CHECKPOINT_EVENTS", "0"),
			"CONNECTOR_CHECKPOINT_EVENTS: want a whole number of at least 1, got 0"},
		{"checkpoint events not a number", with("CONNECTOR_CHECKPOINT_EVENTS", "1k"),
			`CONNECTOR_CHECKPOINT_EVENTS: want a whole number, got "1k"`},
		{"checkpoint interval", with("CONNECTOR_CHECKPOINT_INTERVAL", "0"),
			"CONNECTOR_CHECKPOINT_INTERVAL: want a duration above zero such as 500ms, 30s or 2m, got 0s"},
		{"batch items", with("CONNECTOR_BATCH_MAX_ITEMS", "-3"),
			"CONNECTOR_BATCH_MAX_ITEMS: want a whole number of at least 1, got -3"},
		{"decompressed bytes", with("KAFKA_MAX_DECOMPRESSED_BYTES", "65536"),
			"KAFKA_MAX_DECOMPRESSED_BYTES: want a whole number of at least 1048576, got 65536"},
		{"batch bytes", with("CONNECTOR_BATCH_MAX_BYTES", "100"),
			"CONNECTOR_BATCH_MAX_BYTES: want a whole number of at least 1024, got 100"},
		{"batch wait", with("CONNECTOR_BATCH_MAX_WAIT", "-1ms"),
			"CONNECTOR_BATCH_MAX_WAIT: want a duration of 0 or more, got -1ms"},
		{"retry attempts", with("CONNECTOR_RETRY_MAX_ATTEMPTS", "0"),
			"CONNECTOR_RETRY_MAX_ATTEMPTS: want a whole number of at least 1, got 0"},
		{"retry initial", with("CONNECTOR_RETRY_INITIAL_INTERVAL", "fast"),
			`CONNECTOR_RETRY_INITIAL_INTERVAL: want a duration such as 500ms, 30s or 2m, got "fast"`},
		{"retry max below initial", with("CONNECTOR_RETRY_INITIAL_INTERVAL", "2s", "CONNECTOR_RETRY_MAX_INTERVAL", "1s"),
			"CONNECTOR_RETRY_MAX_INTERVAL: want at least CONNECTOR_RETRY_INITIAL_INTERVAL (2s), got 1s"},
		{"retry elapsed", with("CONNECTOR_RETRY_MAX_ELAPSED", "0s"),
			"CONNECTOR_RETRY_MAX_ELAPSED: want a duration above zero such as 500ms, 30s or 2m, got 0s"},
		{"applied ids max", with("CONNECTOR_APPLIED_IDS_MAX", "10"),
			"CONNECTOR_APPLIED_IDS_MAX: want a whole number of at least 1000, got 10"},
		{"applied ids retention", with("CONNECTOR_APPLIED_IDS_RETENTION", "30s"),
			"CONNECTOR_APPLIED_IDS_RETENTION: want a duration of at least 1m such as 24h or 168h, got 30s"},
		{"log level", with("CONNECTOR_LOG_LEVEL", "verbose"),
			`CONNECTOR_LOG_LEVEL: want debug, info, warn or error, got "verbose"`},
		{"log format", with("CONNECTOR_LOG_FORMAT", "xml"), `CONNECTOR_LOG_FORMAT: want json or text, got "xml"`},
	}
	covered := map[string]bool{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := load(t, tt.env)
			require.Error(t, err)
			cerr, ok := err.(*Error)
			require.True(t, ok, "error is *Error: %v", err)
			require.Len(t, cerr.Problems, 1, "exactly one problem: %v", err)
			assert.Equal(t, tt.want, cerr.Problems[0].String())
			assert.Contains(t, err.Error(), tt.want)
		})
		covered[strings.SplitN(tt.want, ":", 2)[0]] = true
	}
	t.Run("every variable has a checked message", func(t *testing.T) {
		for _, f := range Fields() {
			assert.True(t, covered[f.Var], "no case checks a message of %s", f.Var)
		}
	})
}

func TestLoadListsEveryProblemAtOnce(t *testing.T) {
	_, err := load(t, map[string]string{
		"DSCO_ROLE":                  "vendor",
		"DSCO_POLL_INTERVAL":         "x",
		"KAFKA_SASL_MECHANISM":       "PLAIN",
		"CONNECTOR_SHUTDOWN_TIMEOUT": "0s",
		"CONNECTOR_LOG_FORMAT":       "xml",
	})
	require.Error(t, err)
	var vars []string
	for _, p := range err.(*Error).Problems {
		vars = append(vars, p.Var)
	}
	// In the order of the struct, one line each.
	assert.Equal(t, []string{"DSCO_BASE_URL", "DSCO_CLIENT_ID", "DSCO_CLIENT_SECRET", "DSCO_ROLE",
		"DSCO_POLL_INTERVAL", "KAFKA_BROKERS", "KAFKA_SASL_USERNAME", "KAFKA_SASL_PASSWORD",
		"SCHEMA_REGISTRY_URL", "CONNECTOR_SHUTDOWN_TIMEOUT", "CONNECTOR_LOG_FORMAT"}, vars)
	assert.True(t, strings.HasPrefix(err.Error(), "invalid configuration (11 problems):\n  DSCO_BASE_URL: required"))
	assert.Len(t, strings.Split(err.Error(), "\n"), 12)
}

// TestSecretsNeverShown sets every secret to a recognisable value and looks
// for it everywhere a configuration is shown.
func TestSecretsNeverShown(t *testing.T) {
	secrets := map[string]string{
		"DSCO_CLIENT_SECRET":       "SECRET-client-0001",
		"DSCO_STATIC_TOKEN":        "SECRET-token-0002",
		"KAFKA_SASL_PASSWORD":      "SECRET-sasl-0003",
		"SCHEMA_REGISTRY_PASSWORD": "SECRET-registry-0004",
	}
	for _, f := range Fields() {
		if f.Secret {
			assert.Contains(t, secrets, f.Var, "every Secret field is tested")
		}
	}
	env := with("KAFKA_SASL_MECHANISM", "PLAIN", "KAFKA_SASL_USERNAME", "u", "SCHEMA_REGISTRY_USERNAME", "r")
	maps.Copy(env, secrets)

	// An invalid configuration (static token and client credentials both set;
	// a bad value elsewhere): the error must not show them.
	_, err := load(t, env)
	require.Error(t, err)
	shown := []string{err.Error(), fmt.Sprintf("%v %+v %#v", err, err, err)}

	// A valid one, shown every way a program might.
	delete(env, "DSCO_STATIC_TOKEN")
	cfg, err := load(t, env)
	require.NoError(t, err)
	var logs bytes.Buffer
	for _, format := range []LogFormat{LogJSON, LogText} {
		Log{Format: format}.NewLogger(&logs).Info("config", "cfg", cfg, "dsco", cfg.Dsco, "secret", cfg.Dsco.ClientSecret)
	}
	js, err := json.Marshal(cfg)
	require.NoError(t, err)
	conn, err := cfg.Kafka.Connection()
	require.NoError(t, err)
	shown = append(shown, logs.String(), string(js), fmt.Sprintf("%v|%+v|%#v|%s|%q|%x", cfg, cfg, cfg,
		cfg.Dsco.ClientSecret, cfg.Dsco.ClientSecret, cfg.Dsco.ClientSecret), fmt.Sprintf("%v %#v", conn, conn))
	for _, s := range shown {
		for name, v := range secrets {
			assert.NotContains(t, s, v, "%s shown", name)
		}
	}
	assert.Contains(t, logs.String(), redacted)
	assert.Equal(t, "SECRET-client-0001", cfg.Dsco.ClientSecret.Value())
}

func TestSecretFormatting(t *testing.T) {
	s := NewSecret("hunter2")
	for _, got := range []string{s.String(), s.GoString(), fmt.Sprint(s), fmt.Sprintf("%s %v %+v %#v %x %d", s, s, s, s, s, s)} {
		assert.NotContains(t, got, "hunter2")
	}
	assert.Equal(t, `"<redacted>"`, fmt.Sprintf("%q", s))
	js, _ := json.Marshal(struct{ S Secret }{s})
	assert.JSONEq(t, `{"S":"<redacted>"}`, string(js))
	assert.Equal(t, "", NewSecret("").String(), "an unset secret shows as empty")
	assert.False(t, NewSecret("").IsSet())
}

func TestFieldsFromTags(t *testing.T) {
	fields := Fields()
	byVar := map[string]Field{}
	for _, f := range fields {
		require.NotContains(t, byVar, f.Var, "variable declared twice")
		byVar[f.Var] = f
		assert.NotEmpty(t, f.Desc, "%s has a desc tag", f.Var)
		assert.False(t, f.Required && f.Default != "", "%s: required with a default", f.Var)
	}
	assert.Equal(t, "order,orderitemchange,return,invoice,inventory,catalog", byVar["DSCO_STREAMS"].Default)
	assert.Equal(t, "dsco.", byVar["CONNECTOR_TOPIC_PREFIX"].Default)
	assert.Equal(t, ":8080", byVar["CONNECTOR_OPS_ADDR"].Default)
	assert.True(t, byVar["KAFKA_BROKERS"].Required)
	assert.True(t, byVar["DSCO_CLIENT_SECRET"].Secret)
	f, ok := Lookup("KAFKA_BROKERS")
	assert.True(t, ok)
	assert.Equal(t, byVar["KAFKA_BROKERS"], f)
	_, ok = Lookup("KAFKA_BROKER")
	assert.False(t, ok)
}

// writeTLSFiles writes a self-signed CA certificate (also used as the client
// certificate) and its key, returning the CA, certificate and key paths.
func writeTLSFiles(t *testing.T, dir string) (ca, cert, key string) {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &priv.PublicKey, priv)
	require.NoError(t, err)
	keyDER, err := x509.MarshalPKCS8PrivateKey(priv)
	require.NoError(t, err)
	cert = filepath.Join(dir, "cert.pem")
	key = filepath.Join(dir, "key.pem")
	require.NoError(t, os.WriteFile(cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600))
	require.NoError(t, os.WriteFile(key, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600))
	return cert, cert, key
}
