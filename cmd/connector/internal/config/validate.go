package config

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/dscokafka/connector/pkg/schemas"
)

// Validate reports every problem of a Config built by hand (Load already
// validates) as an *Error, or nil.
func (c *Config) Validate() error {
	var p problems
	c.validate(&p)
	return p.err()
}

// validate adds every problem of c to p. Variables that already have a
// problem (a value that did not decode) are not checked again.
func (c *Config) validate(p *problems) {
	c.Dsco.validate(p)
	c.Kafka.validate(p)
	c.Registry.validate(p)
	c.Connector.validate(p)

	atLeast(p, "CONNECTOR_CHECKPOINT_EVENTS", c.Checkpoint.Events, 1)
	positive(p, "CONNECTOR_CHECKPOINT_INTERVAL", c.Checkpoint.Interval)

	atLeast(p, "CONNECTOR_BATCH_MAX_ITEMS", c.Batch.MaxItems, 1)
	atLeast(p, "CONNECTOR_BATCH_MAX_BYTES", c.Batch.MaxBytes, 1024)
	if c.Batch.MaxWait < 0 {
		p.add("CONNECTOR_BATCH_MAX_WAIT", "want a duration of 0 or more, got %s", c.Batch.MaxWait)
	}

	atLeast(p, "CONNECTOR_RETRY_MAX_ATTEMPTS", c.Retry.MaxAttempts, 1)
	positive(p, "CONNECTOR_RETRY_INITIAL_INTERVAL", c.Retry.InitialInterval)
	positive(p, "CONNECTOR_RETRY_MAX_INTERVAL", c.Retry.MaxInterval)
	if c.Retry.MaxInterval > 0 && c.Retry.MaxInterval < c.Retry.InitialInterval &&
		!p.has("CONNECTOR_RETRY_INITIAL_INTERVAL") {
		p.add("CONNECTOR_RETRY_MAX_INTERVAL", "want at least CONNECTOR_RETRY_INITIAL_INTERVAL (%s), got %s",
			c.Retry.InitialInterval, c.Retry.MaxInterval)
	}
	positive(p, "CONNECTOR_RETRY_MAX_ELAPSED", c.Retry.MaxElapsed)

	atLeast(p, "CONNECTOR_APPLIED_IDS_MAX", c.AppliedIDs.MaxEntries, 1000)
	if c.AppliedIDs.Retention < time.Minute {
		p.add("CONNECTOR_APPLIED_IDS_RETENTION", "want a duration of at least 1m such as 24h or 168h, got %s", c.AppliedIDs.Retention)
	}

	if c.Log.Format == "" && !p.has("CONNECTOR_LOG_FORMAT") {
		p.add("CONNECTOR_LOG_FORMAT", "want json or text")
	}
}

func (d *Dsco) validate(p *problems) {
	if d.BaseURL == "" {
		p.add("DSCO_BASE_URL", "required; want an absolute https:// URL such as https://api.dsco.io/api/v3")
	} else {
		checkDscoURL(p, "DSCO_BASE_URL", d.BaseURL, d.InsecureHTTP)
	}
	if d.TokenURL != "" {
		checkDscoURL(p, "DSCO_TOKEN_URL", d.TokenURL, d.InsecureHTTP)
	}
	if d.StaticToken.IsSet() {
		if d.ClientID != "" || d.ClientSecret.IsSet() {
			p.add("DSCO_STATIC_TOKEN", "set either DSCO_STATIC_TOKEN or DSCO_CLIENT_ID and DSCO_CLIENT_SECRET, not both")
		}
	} else {
		if d.ClientID == "" {
			p.add("DSCO_CLIENT_ID", "required (with DSCO_CLIENT_SECRET) unless DSCO_STATIC_TOKEN is set")
		}
		if !d.ClientSecret.IsSet() {
			p.add("DSCO_CLIENT_SECRET", "required (with DSCO_CLIENT_ID) unless DSCO_STATIC_TOKEN is set")
		}
	}
	if d.Role == "" {
		p.add("DSCO_ROLE", "required; want supplier or retailer")
	}
	if len(d.Streams) == 0 && !p.has("DSCO_STREAMS") {
		p.add("DSCO_STREAMS", "want a comma-separated list of %s, each at most once", joinTypes(AllStreams))
	}
	positive(p, "DSCO_POLL_INTERVAL", d.PollInterval)
	if d.ItemInventoryInterval < 0 {
		p.add("DSCO_ITEM_INVENTORY_INTERVAL", "want a duration of 0 (no poller) or more such as 10s or 1m, got %s", d.ItemInventoryInterval)
	}
}

// checkDscoURL checks an absolute http(s) URL, http only to loopback hosts
// unless insecure is set.
func checkDscoURL(p *problems, name, raw string, insecure bool) {
	u, ok := checkURL(p, name, raw)
	if !ok || u.Scheme == "https" || insecure || isLoopback(u.Hostname()) {
		return
	}
	p.add(name, "plain http is allowed only to loopback hosts: use https, or set DSCO_INSECURE_HTTP=true for a test stack (got %s)",
		quote(u.Redacted()))
}

// checkURL checks that raw is an absolute http or https URL. A value that
// does not parse is not shown: it may hold credentials.
func checkURL(p *problems, name, raw string) (*url.URL, bool) {
	if strings.TrimSpace(raw) != raw {
		// Often a line end of a .env file written on Windows (\r): url.Parse refuses
		// it, and accepts trailing spaces, which would end up in every request's path.
		p.add(name, "want an absolute http:// or https:// URL; the value has spaces or a line end (\\r) around it")
		return nil, false
	}
	u, err := url.Parse(raw)
	if err != nil {
		p.add(name, "want an absolute http:// or https:// URL; the value does not parse as a URL")
		return nil, false
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		p.add(name, "want an absolute http:// or https:// URL, got %s", quote(u.Redacted()))
		return nil, false
	}
	return u, true
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func (k *Kafka) validate(p *problems) {
	// A blank value (spaces, a .env file's line end) is one empty entry once
	// go-envconfig trims it: no broker at all, not a comma too many.
	if len(k.Brokers) == 0 || slices.Equal(k.Brokers, []string{""}) {
		if !p.has("KAFKA_BROKERS") {
			p.add("KAFKA_BROKERS", "required; want a comma-separated list of host:port")
		}
	} else {
		for _, b := range k.Brokers {
			if b == "" {
				// go-envconfig splits at every comma: "a:9092," has an empty second broker.
				p.add("KAFKA_BROKERS", "want a comma-separated list of host:port, got an empty entry in %s (a comma too many)",
					quote(strings.Join(k.Brokers, ",")))
				break
			}
			if !isHostPort(b, false) {
				p.add("KAFKA_BROKERS", "want a comma-separated list of host:port, got %s", quote(b))
				break
			}
		}
	}
	if strings.TrimSpace(k.ClientID) == "" {
		p.add("KAFKA_CLIENT_ID", "want a non-empty client id")
	}
	if strings.TrimSpace(k.ConsumerGroup) == "" {
		p.add("KAFKA_CONSUMER_GROUP", "want a non-empty consumer group id")
	}
	positive(p, "KAFKA_DIAL_TIMEOUT", k.DialTimeout)
	atLeast(p, "KAFKA_MAX_DECOMPRESSED_BYTES", k.MaxDecompressedBytes, 1<<20)

	if !k.TLSEnabled {
		for name, set := range map[string]bool{
			"KAFKA_TLS_CA_FILE":              k.TLSCAFile != "",
			"KAFKA_TLS_CERT_FILE":            k.TLSCertFile != "",
			"KAFKA_TLS_KEY_FILE":             k.TLSKeyFile != "",
			"KAFKA_TLS_SERVER_NAME":          k.TLSServerName != "",
			"KAFKA_TLS_INSECURE_SKIP_VERIFY": k.TLSInsecureSkipVerify,
		} {
			if set {
				p.add(name, "only used with TLS: set KAFKA_TLS_ENABLED=true too, or unset it")
			}
		}
	} else {
		k.checkTLS(p)
	}

	switch {
	case k.SASLMechanism == "" && !p.has("KAFKA_SASL_MECHANISM"):
		if k.SASLUsername != "" {
			p.add("KAFKA_SASL_USERNAME", "only used with SASL: set KAFKA_SASL_MECHANISM too, or unset it")
		}
		if k.SASLPassword.IsSet() {
			p.add("KAFKA_SASL_PASSWORD", "only used with SASL: set KAFKA_SASL_MECHANISM too, or unset it")
		}
	case k.SASLMechanism != "":
		if k.SASLUsername == "" {
			p.add("KAFKA_SASL_USERNAME", "required with KAFKA_SASL_MECHANISM=%s", k.SASLMechanism)
		}
		if !k.SASLPassword.IsSet() {
			p.add("KAFKA_SASL_PASSWORD", "required with KAFKA_SASL_MECHANISM=%s", k.SASLMechanism)
		}
	}
}

// checkTLS loads the TLS files, reporting what is wrong with each.
func (k *Kafka) checkTLS(p *problems) {
	if k.TLSCAFile != "" {
		if _, err := loadCAs(k.TLSCAFile); err != nil {
			p.add("KAFKA_TLS_CA_FILE", "want a readable PEM file of CA certificates: %v", err)
		}
	}
	switch {
	case k.TLSCertFile != "" && k.TLSKeyFile == "":
		p.add("KAFKA_TLS_KEY_FILE", "required with KAFKA_TLS_CERT_FILE")
	case k.TLSCertFile == "" && k.TLSKeyFile != "":
		p.add("KAFKA_TLS_CERT_FILE", "required with KAFKA_TLS_KEY_FILE")
	case k.TLSCertFile != "":
		if _, err := tls.LoadX509KeyPair(k.TLSCertFile, k.TLSKeyFile); err != nil {
			p.add("KAFKA_TLS_CERT_FILE", "want a PEM certificate matching KAFKA_TLS_KEY_FILE: %v", err)
		}
	}
}

// loadCAs reads a PEM file of CA certificates.
func loadCAs(file string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("no PEM certificate in %s", file)
	}
	return pool, nil
}

func (r *Registry) validate(p *problems) {
	if r.URL == "" {
		p.add("SCHEMA_REGISTRY_URL", "required; want an absolute http:// or https:// URL such as http://schema-registry:8081")
	} else {
		checkURL(p, "SCHEMA_REGISTRY_URL", r.URL)
	}
	if r.Username != "" && !r.Password.IsSet() {
		p.add("SCHEMA_REGISTRY_PASSWORD", "required with SCHEMA_REGISTRY_USERNAME")
	}
	if r.Username == "" && r.Password.IsSet() {
		p.add("SCHEMA_REGISTRY_USERNAME", "required with SCHEMA_REGISTRY_PASSWORD")
	}
}

// topicChars are the characters Kafka allows in a topic name.
var topicChars = regexp.MustCompile(`^[A-Za-z0-9._-]*$`)

// maxTopicLen is Kafka's longest topic name.
const maxTopicLen = 249

func (c *Connector) validate(p *problems) {
	if len(c.Directions) == 0 && !p.has("CONNECTOR_DIRECTIONS") {
		p.add("CONNECTOR_DIRECTIONS", "want inbound, outbound or inbound,outbound")
	}
	if !topicChars.MatchString(c.TopicPrefix) {
		p.add("CONNECTOR_TOPIC_PREFIX", "want letters, digits, '.', '_' and '-' only, got %s", quote(c.TopicPrefix))
	} else {
		longest := 0
		for _, d := range schemas.All() {
			longest = max(longest, len(topicName(c.TopicPrefix, d)))
		}
		if longest > maxTopicLen {
			p.add("CONNECTOR_TOPIC_PREFIX", "want a prefix that keeps topic names within %d characters; it makes one %d long",
				maxTopicLen, longest)
		}
	}
	if !IsListenAddr(c.OpsAddr) {
		p.add("CONNECTOR_OPS_ADDR", "want a host:port to listen on such as :8080 or 127.0.0.1:8080, got %s", quote(c.OpsAddr))
	}
	positive(p, "CONNECTOR_SHUTDOWN_TIMEOUT", c.ShutdownTimeout)
}

// isHostPort reports whether s is host:port with a port number; the host
// may be empty only when emptyHost is set (a listen address).
// IsListenAddr reports whether s is an address to listen on as
// CONNECTOR_OPS_ADDR wants it: host:port, the host optional, the port a
// number up to 65535 (0 picks a free port).
func IsListenAddr(s string) bool { return isHostPort(s, true) }

func isHostPort(s string, emptyHost bool) bool {
	host, port, err := net.SplitHostPort(s)
	if err != nil || (host == "" && !emptyHost) {
		return false
	}
	n, err := strconv.ParseUint(port, 10, 16)
	return err == nil && (n > 0 || emptyHost)
}

func atLeast(p *problems, name string, v, least int) {
	if v < least {
		p.add(name, "want a whole number of at least %d, got %d", least, v)
	}
}

func positive(p *problems, name string, d time.Duration) {
	if d <= 0 {
		p.add(name, "want a duration above zero such as 500ms, 30s or 2m, got %s", d)
	}
}
