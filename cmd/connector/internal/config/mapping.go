package config

import (
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/dscokafka/connector/pkg/dsco"
	"github.com/dscokafka/connector/pkg/kafka"
	"github.com/dscokafka/connector/pkg/schemas"
)

// ItemInventory is the record name of the GetItemInventory poller's records.
const ItemInventory = "iteminventory"

// UserAgent is sent to Dsco with every request.
const UserAgent = "dsco-kafka-connector"

// topicName is d's topic under prefix: the default topic with its "dsco."
// replaced by prefix.
func topicName(prefix string, d *schemas.Descriptor) string {
	return prefix + strings.TrimPrefix(d.Topic, "dsco.")
}

// Topic returns the topic of a record under CONNECTOR_TOPIC_PREFIX:
// dsco.order.v1 becomes <prefix>order.v1.
func (c *Config) Topic(d *schemas.Descriptor) string { return topicName(c.Connector.TopicPrefix, d) }

// Topics returns the topic of every record of the contract, keyed as
// schemas.Config.Topics wants (schemas.TopicKey).
func (c *Config) Topics() map[string]string {
	out := map[string]string{}
	for _, d := range schemas.All() {
		out[schemas.TopicKey(d)] = c.Topic(d)
	}
	return out
}

// Records returns the records this configuration reads or writes: with
// inbound, the events of DSCO_STREAMS and, with DSCO_ITEM_INVENTORY_INTERVAL
// above zero, the GetItemInventory records; with outbound, the commands of
// DSCO_ROLE (retailer commands are those named retailer-*) and the command
// result.
func (c *Config) Records() []*schemas.Descriptor {
	var out []*schemas.Descriptor
	if c.Connector.Directions.Has(Inbound) {
		for _, d := range schemas.Events {
			for _, s := range c.Dsco.Streams {
				if d.Name == string(s) {
					out = append(out, d)
				}
			}
		}
		if c.Dsco.ItemInventoryInterval > 0 {
			d, _ := schemas.Event(ItemInventory)
			out = append(out, d)
		}
	}
	if c.Connector.Directions.Has(Outbound) {
		for _, d := range schemas.Commands {
			if strings.HasPrefix(d.Name, "retailer-") == (c.Dsco.Role == RoleRetailer) {
				out = append(out, d)
			}
		}
		out = append(out, schemas.Result)
	}
	return out
}

// SerdeConfig returns the pkg/schemas configuration: the registry and its
// credentials, the subject strategy, the topics under the prefix and the
// records of Records.
func (c *Config) SerdeConfig() schemas.Config {
	return schemas.Config{
		RegistryURL:      c.Registry.URL,
		RegistryUsername: c.Registry.Username,
		RegistryPassword: c.Registry.Password.Value(),
		SubjectStrategy:  c.Registry.SubjectStrategy.SubjectStrategy,
		Topics:           c.Topics(),
		Records:          c.Records(),
		LookupOnly:       c.Registry.LookupOnly,
	}
}

// Connection returns the pkg/kafka connection configuration, loading the TLS
// files.
func (k *Kafka) Connection() (kafka.ConnectionConfig, error) {
	cc := kafka.ConnectionConfig{
		Brokers:     k.Brokers,
		ClientID:    k.ClientID,
		DialTimeout: k.DialTimeout,
		SASL: kafka.SASLConfig{
			Mechanism: kafka.SASLMechanism(k.SASLMechanism),
			Username:  k.SASLUsername,
			Password:  k.SASLPassword.Value(),
		},
	}
	if k.TLSEnabled {
		tc, err := k.TLSConfig()
		if err != nil {
			return kafka.ConnectionConfig{}, err
		}
		cc.TLS = tc
	}
	return cc, nil
}

// TLSConfig returns the TLS configuration of the KAFKA_TLS_* variables.
func (k *Kafka) TLSConfig() (*tls.Config, error) {
	tc := &tls.Config{
		MinVersion:         tls.VersionTLS12,
		ServerName:         k.TLSServerName,
		InsecureSkipVerify: k.TLSInsecureSkipVerify, //nolint:gosec // opted into by KAFKA_TLS_INSECURE_SKIP_VERIFY, for tests
	}
	if k.TLSCAFile != "" {
		pool, err := loadCAs(k.TLSCAFile)
		if err != nil {
			return nil, fmt.Errorf("KAFKA_TLS_CA_FILE: %w", err)
		}
		tc.RootCAs = pool
	}
	if k.TLSCertFile != "" {
		cert, err := tls.LoadX509KeyPair(k.TLSCertFile, k.TLSKeyFile)
		if err != nil {
			return nil, fmt.Errorf("KAFKA_TLS_CERT_FILE and KAFKA_TLS_KEY_FILE: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

// RetryPolicy returns the retry limits as a pkg/dsco retry policy.
func (r *Retry) RetryPolicy() dsco.RetryPolicy {
	return dsco.RetryPolicy{
		MaxAttempts: r.MaxAttempts,
		BaseDelay:   r.InitialInterval,
		MaxDelay:    r.MaxInterval,
		MaxElapsed:  r.MaxElapsed,
	}
}

// ClientOptions returns the pkg/dsco options of this configuration:
// credentials (client credentials or the static token), the token URL, plain
// http when allowed, the retry policy, the user agent and logger. More
// options (an HTTP client, rate limits) may be appended.
func (c *Config) ClientOptions(logger *slog.Logger) []dsco.Option {
	opts := []dsco.Option{
		dsco.WithRetry(c.Retry.RetryPolicy()),
		dsco.WithUserAgent(UserAgent),
	}
	if c.Dsco.StaticToken.IsSet() {
		opts = append(opts, dsco.WithStaticToken(c.Dsco.StaticToken.Value()))
	} else {
		opts = append(opts, dsco.WithClientCredentials(c.Dsco.ClientID, c.Dsco.ClientSecret.Value()))
	}
	if c.Dsco.TokenURL != "" {
		opts = append(opts, dsco.WithTokenURL(c.Dsco.TokenURL))
	}
	if c.Dsco.InsecureHTTP {
		opts = append(opts, dsco.WithInsecureHTTP())
	}
	if logger != nil {
		opts = append(opts, dsco.WithLogger(logger))
	}
	return opts
}

// NewLogger returns a logger writing to w in CONNECTOR_LOG_FORMAT at
// CONNECTOR_LOG_LEVEL.
func (l Log) NewLogger(w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: l.Level.Level}
	if l.Format == LogText {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}
