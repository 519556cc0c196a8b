package config

import (
	"net/url"
	"time"
)

// Config is the connector's whole configuration. Each leaf field's env tag
// names its environment variable (with go-envconfig's required and default
// options), its desc tag says what it means (the README table shows it), and
// its want tag, where the type alone does not say it, what a valid value looks
// like (error messages show it).
//
// Build one with Load; a Config built by hand should be checked with Validate.
type Config struct {
	Dsco       Dsco
	Kafka      Kafka
	Registry   Registry
	Connector  Connector
	Checkpoint Checkpoint
	Batch      Batch
	Retry      Retry
	AppliedIDs AppliedIDs
	Log        Log
}

// Dsco says how to reach the Dsco API and what to read from it.
type Dsco struct {
	BaseURL               string        `env:"DSCO_BASE_URL, required" want:"an absolute https:// URL such as https://api.dsco.io/api/v3" desc:"Base URL of the Dsco API v3."`
	TokenURL              string        `env:"DSCO_TOKEN_URL" want:"an absolute https:// URL" desc:"OAuth2 token endpoint; empty means DSCO_BASE_URL + /oauth2/token."`
	ClientID              string        `env:"DSCO_CLIENT_ID" want:"the OAuth2 client id of the Dsco account" desc:"OAuth2 client id (client-credentials grant). Required with DSCO_CLIENT_SECRET unless DSCO_STATIC_TOKEN is set."`
	ClientSecret          Secret        `env:"DSCO_CLIENT_SECRET" want:"the OAuth2 client secret of the Dsco account" desc:"OAuth2 client secret. Never logged or printed."`
	StaticToken           Secret        `env:"DSCO_STATIC_TOKEN" want:"a bearer token" desc:"A fixed bearer token instead of client credentials. Never logged or printed."`
	Role                  Role          `env:"DSCO_ROLE, required" want:"supplier or retailer" desc:"The Dsco account's role, supplier or retailer: decides which command topics are consumed."`
	Streams               Streams       `env:"DSCO_STREAMS, default=order,orderitemchange,return,invoice,inventory,catalog" desc:"Comma-separated Dsco object types whose event streams are read."`
	PollInterval          time.Duration `env:"DSCO_POLL_INTERVAL, default=1s" desc:"Wait between stream reads when a stream has no more events."`
	ItemInventoryInterval time.Duration `env:"DSCO_ITEM_INVENTORY_INTERVAL, default=0s" desc:"With inbound: poll GetItemInventory this often into the iteminventory topic (every item whose inventory changed since the last poll); 0 turns the poller off."`
	InsecureHTTP          bool          `env:"DSCO_INSECURE_HTTP, default=false" desc:"Allow plain http:// to hosts other than loopback (the compose stack's sandbox); never for the real Dsco."`
}

// Kafka says how to reach the Kafka cluster.
type Kafka struct {
	Brokers               []string      `env:"KAFKA_BROKERS, required" want:"a comma-separated list of host:port" desc:"Comma-separated bootstrap brokers, host:port."`
	ClientID              string        `env:"KAFKA_CLIENT_ID, default=dsco-kafka-connector" want:"a non-empty client id" desc:"Client id sent to the brokers."`
	ConsumerGroup         string        `env:"KAFKA_CONSUMER_GROUP, default=dsco-connector" want:"a non-empty consumer group id" desc:"Consumer group of the command topics."`
	DialTimeout           time.Duration `env:"KAFKA_DIAL_TIMEOUT, default=10s" desc:"Time limit for connecting to a broker."`
	ReadCommitted         bool          `env:"KAFKA_READ_COMMITTED, default=true" desc:"Consume the command topics with isolation read_committed: a command written in a Kafka transaction that was aborted is never sent to Dsco, and one in a transaction still open waits until it commits. false: read_uncommitted, every record."`
	MaxDecompressedBytes  int           `env:"KAFKA_MAX_DECOMPRESSED_BYTES, default=134217728" desc:"Most bytes one compressed record batch of the command topics may decompress to (128 MiB by default, at least 1 MiB). A batch that would take more is not read: it goes to the poison topic whole, with the reason, and the partition goes on. Raise it only for batches of very compressible commands; it bounds the memory a hostile batch can take."`
	TLSEnabled            bool          `env:"KAFKA_TLS_ENABLED, default=false" desc:"Connect to the brokers with TLS."`
	TLSCAFile             string        `env:"KAFKA_TLS_CA_FILE" want:"a PEM file of CA certificates" desc:"PEM file of the CAs that sign the brokers' certificates; empty means the system's."`
	TLSCertFile           string        `env:"KAFKA_TLS_CERT_FILE" want:"a PEM certificate file" desc:"PEM client certificate for mutual TLS (with KAFKA_TLS_KEY_FILE)."`
	TLSKeyFile            string        `env:"KAFKA_TLS_KEY_FILE" want:"a PEM private key file" desc:"PEM private key of KAFKA_TLS_CERT_FILE."`
	TLSServerName         string        `env:"KAFKA_TLS_SERVER_NAME" want:"a host name" desc:"Host name to verify the brokers' certificates against; empty means each broker's host."`
	TLSInsecureSkipVerify bool          `env:"KAFKA_TLS_INSECURE_SKIP_VERIFY, default=false" desc:"Do not verify the brokers' certificates (tests only)."`
	SASLMechanism         SASLMechanism `env:"KAFKA_SASL_MECHANISM" desc:"SASL mechanism: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512; empty means no SASL."`
	SASLUsername          string        `env:"KAFKA_SASL_USERNAME" want:"a SASL user name" desc:"SASL user name (required with KAFKA_SASL_MECHANISM)."`
	SASLPassword          Secret        `env:"KAFKA_SASL_PASSWORD" want:"a SASL password" desc:"SASL password (required with KAFKA_SASL_MECHANISM). Never logged or printed."`
}

// Registry says how to reach the Schema Registry and name its subjects.
type Registry struct {
	URL             string          `env:"SCHEMA_REGISTRY_URL, required" want:"an absolute http:// or https:// URL such as http://schema-registry:8081" desc:"Base URL of the Confluent-compatible Schema Registry."`
	Username        string          `env:"SCHEMA_REGISTRY_USERNAME" want:"a user name" desc:"HTTP basic auth user (with SCHEMA_REGISTRY_PASSWORD)."`
	Password        Secret          `env:"SCHEMA_REGISTRY_PASSWORD" want:"a password" desc:"HTTP basic auth password. Never logged or printed."`
	SubjectStrategy SubjectStrategy `env:"SCHEMA_REGISTRY_SUBJECT_STRATEGY, default=topic" desc:"Subject naming: topic (<topic>-value), record (<record name>) or topic-record (<topic>-<record name>)."`
	LookupOnly      bool            `env:"SCHEMA_REGISTRY_LOOKUP_ONLY, default=false" desc:"Only look schemas up, never register them (registries the connector may not write to); connector check then requires them registered, and connector schemas register registers them all the same."`
}

// RedactedURL is URL for messages: a password in it (user:password@host) shows as xxxxx.
func (r Registry) RedactedURL() string { return redactURL(r.URL) }

// RedactedBaseURL is BaseURL for messages: a password in it shows as xxxxx.
func (d Dsco) RedactedBaseURL() string { return redactURL(d.BaseURL) }

// redactURL is raw with the password of its user info, if any, replaced by
// "xxxxx": the form of a URL that logs and messages print.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(an unparsable URL)"
	}
	return u.Redacted()
}

// Connector holds the process-wide settings.
type Connector struct {
	Directions      Directions    `env:"CONNECTOR_DIRECTIONS, default=inbound,outbound" desc:"Flows to run: inbound (Dsco streams to Kafka), outbound (command topics to Dsco) or both, inbound,outbound."`
	InboundLease    bool          `env:"CONNECTOR_INBOUND_LEASE, default=true" desc:"Read Dsco in one process at a time: processes running inbound hold a lease in Kafka (consumer group <KAFKA_CONSUMER_GROUP>.inbound-lease, topic <prefix>inbound.lease.v1); one reads, the others stand by and take over when it stops or dies. false: every process running inbound reads every stream partition."`
	TopicPrefix     string        `env:"CONNECTOR_TOPIC_PREFIX, default=dsco." want:"letters, digits, '.', '_' and '-' only" desc:"Prefix of every topic name (dsco.order.v1, dsco.cmd.ship.v1, ...); empty for none."`
	OpsAddr         string        `env:"CONNECTOR_OPS_ADDR, default=:8080" want:"a host:port to listen on such as :8080 or 127.0.0.1:8080" desc:"Listen address of the ops HTTP server: status page, /healthz, /readyz, /metrics."`
	ShutdownTimeout time.Duration `env:"CONNECTOR_SHUTDOWN_TIMEOUT, default=30s" desc:"Time limit for the graceful shutdown after SIGTERM or SIGINT (final checkpoints and commits)."`
}

// Checkpoint bounds how often the inbound flow saves stream positions: after
// this many events or this much time, whichever comes first. Duplicates after
// a crash are bounded by this window.
type Checkpoint struct {
	Events   int           `env:"CONNECTOR_CHECKPOINT_EVENTS, default=1000" desc:"Save a stream position after at most this many events."`
	Interval time.Duration `env:"CONNECTOR_CHECKPOINT_INTERVAL, default=1s" desc:"Save a stream position at least this often while events flow."`
}

// Batch bounds the outbound batches: one Dsco call per batch.
type Batch struct {
	MaxItems int           `env:"CONNECTOR_BATCH_MAX_ITEMS, default=100" desc:"Most commands in one Dsco batch call."`
	MaxBytes int           `env:"CONNECTOR_BATCH_MAX_BYTES, default=1048576" desc:"Most bytes of request body in one Dsco batch call."`
	MaxWait  time.Duration `env:"CONNECTOR_BATCH_MAX_WAIT, default=200ms" desc:"Longest a command waits for its batch to fill while a Dsco call of its type is in flight (with none in flight, a batch goes at once); 0 sends at once."`
}

// Retry bounds the retries of transient failures (network errors, timeouts,
// 408, 429, 5xx) before a command goes to the poison topic.
type Retry struct {
	MaxAttempts     int           `env:"CONNECTOR_RETRY_MAX_ATTEMPTS, default=5" desc:"Tries of a transient failure, the first included."`
	InitialInterval time.Duration `env:"CONNECTOR_RETRY_INITIAL_INTERVAL, default=200ms" desc:"First backoff delay; delays double up to CONNECTOR_RETRY_MAX_INTERVAL, with jitter."`
	MaxInterval     time.Duration `env:"CONNECTOR_RETRY_MAX_INTERVAL, default=10s" desc:"Longest backoff delay."`
	MaxElapsed      time.Duration `env:"CONNECTOR_RETRY_MAX_ELAPSED, default=1m" desc:"Give up retrying after this long."`
}

// AppliedIDs bounds what the outbound flow's applied-ids store remembers: the
// command ids sent to Dsco and their outcomes, kept in a compacted topic so
// that a command Kafka delivers again is not sent twice. An id is forgotten
// after the retention or once MaxEntries newer ids are held, whichever comes
// first; a command delivered again after that is sent as a new one.
type AppliedIDs struct {
	MaxEntries int           `env:"CONNECTOR_APPLIED_IDS_MAX, default=500000" desc:"Most command ids the applied-ids store keeps in memory (about 40 bytes each); the oldest are forgotten first. At 100 commands a second the default covers about 80 minutes: raise it above the commands of the longest redelivery window (consumer lag after an offset reset, requeue delay)."`
	Retention  time.Duration `env:"CONNECTOR_APPLIED_IDS_RETENTION, default=168h" desc:"Age after which the applied-ids store forgets a command id."`
}

// Log says what is logged and how.
type Log struct {
	Level  LogLevel  `env:"CONNECTOR_LOG_LEVEL, default=info" desc:"Least severe level logged: debug, info, warn or error."`
	Format LogFormat `env:"CONNECTOR_LOG_FORMAT, default=json" desc:"Log format: json (one object per line) or text (key=value)."`
}
