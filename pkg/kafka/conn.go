package kafka

import (
	"crypto/tls"
	"errors"
	"fmt"
	"slices"
	"time"

	kafkago "github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl"
	"github.com/segmentio/kafka-go/sasl/plain"
	"github.com/segmentio/kafka-go/sasl/scram"
)

// SASLMechanism names a SASL mechanism supported by [ConnectionConfig].
type SASLMechanism string

// Supported SASL mechanisms. The empty value means no SASL.
const (
	SASLNone        SASLMechanism = ""
	SASLPlain       SASLMechanism = "PLAIN"
	SASLScramSHA256 SASLMechanism = "SCRAM-SHA-256"
	SASLScramSHA512 SASLMechanism = "SCRAM-SHA-512"
)

// SASLConfig holds SASL credentials. Its String and GoString methods never print the
// password, so a SASLConfig (or a config holding one) may be logged.
type SASLConfig struct {
	Mechanism SASLMechanism
	Username  string
	Password  string
}

// String describes the configuration without the password.
func (c SASLConfig) String() string {
	if c.Mechanism == SASLNone {
		return "SASL(none)"
	}
	return fmt.Sprintf("SASL(%s user=%q password=<redacted>)", c.Mechanism, c.Username)
}

// GoString is String: %#v must not print the password either.
func (c SASLConfig) GoString() string { return c.String() }

func (c SASLConfig) validate() error {
	switch c.Mechanism {
	case SASLNone:
		return nil
	case SASLPlain, SASLScramSHA256, SASLScramSHA512:
		if c.Username == "" {
			return fmt.Errorf("SASL %s: username is required", c.Mechanism)
		}
		return nil
	default:
		return fmt.Errorf("unsupported SASL mechanism %q (want %s, %s or %s)",
			c.Mechanism, SASLPlain, SASLScramSHA256, SASLScramSHA512)
	}
}

func (c SASLConfig) mechanism() (sasl.Mechanism, error) {
	switch c.Mechanism {
	case SASLNone:
		return nil, nil
	case SASLPlain:
		return plain.Mechanism{Username: c.Username, Password: c.Password}, nil
	case SASLScramSHA256, SASLScramSHA512:
		algo := scram.SHA256
		if c.Mechanism == SASLScramSHA512 {
			algo = scram.SHA512
		}
		m, err := scram.Mechanism(algo, c.Username, c.Password)
		if err != nil {
			// The scram package's errors concern the username's normalisation, never the
			// password, but do not wrap them to be sure nothing secret leaks.
			return nil, fmt.Errorf("SASL %s: invalid credentials for user %q", c.Mechanism, c.Username)
		}
		return m, nil
	}
	return nil, fmt.Errorf("unsupported SASL mechanism %q", c.Mechanism)
}

// ConnectionConfig says how to reach the Kafka cluster. Publisher and Subscriber share it.
type ConnectionConfig struct {
	// Brokers are the bootstrap brokers, "host:port". Required.
	Brokers []string
	// ClientID is sent to the brokers with every request. Default "dsco-kafka-connector".
	ClientID string
	// TLS enables TLS when non-nil.
	TLS *tls.Config
	// SASL enables SASL authentication when SASL.Mechanism is set.
	SASL SASLConfig
	// DialTimeout bounds connecting to a broker. Default 10s.
	DialTimeout time.Duration
}

func (c *ConnectionConfig) setDefaults() {
	if c.ClientID == "" {
		c.ClientID = "dsco-kafka-connector"
	}
	if c.DialTimeout == 0 {
		c.DialTimeout = 10 * time.Second
	}
}

// Validate reports whether the configuration is usable.
func (c ConnectionConfig) Validate() error {
	if len(c.Brokers) == 0 {
		return errors.New("kafka: at least one broker is required")
	}
	for _, b := range c.Brokers {
		if b == "" {
			return errors.New("kafka: empty broker address")
		}
	}
	if c.DialTimeout < 0 {
		return errors.New("kafka: DialTimeout must not be negative")
	}
	if err := c.SASL.validate(); err != nil {
		return fmt.Errorf("kafka: %w", err)
	}
	return nil
}

// KafkaGo returns a kafka-go Dialer and Transport with c's connection settings (client id,
// dial timeout, TLS, SASL; the defaults where unset), for code that talks to Kafka through
// kafka-go itself: the connector's topic set-up, the poison tools.
func (c ConnectionConfig) KafkaGo() (*kafkago.Dialer, *kafkago.Transport, error) {
	c.setDefaults()
	mech, err := c.SASL.mechanism()
	if err != nil {
		return nil, nil, fmt.Errorf("kafka: %w", err)
	}
	return &kafkago.Dialer{ClientID: c.ClientID, Timeout: c.DialTimeout, DualStack: true, TLS: c.TLS, SASLMechanism: mech},
		&kafkago.Transport{ClientID: c.ClientID, DialTimeout: c.DialTimeout, TLS: c.TLS, SASL: mech}, nil
}

// dialer is the kafka-go Dialer used by consumer groups and partition readers; its
// connections are made by socks.
func (c ConnectionConfig) dialer(socks *sockets) (*kafkago.Dialer, error) {
	d, _, err := c.KafkaGo()
	if err != nil {
		return nil, err
	}
	d.DialFunc = socks.dial
	return d, nil
}

// transport is the kafka-go Transport used by writers and admin requests; its
// connections are made by socks.
func (c ConnectionConfig) transport(socks *sockets) (*kafkago.Transport, error) {
	_, t, err := c.KafkaGo()
	if err != nil {
		return nil, err
	}
	t.Dial = socks.dial
	return t, nil
}

// TopicsTransport returns a new kafka-go Transport whose metadata cache holds topics
// alone (MetadataTopics), with the connection settings of base: its dial function, dial
// and idle timeouts, metadata TTL, client id, TLS, SASL mechanism, resolver and context.
// A nil base means kafka-go's defaults.
//
// A kafka-go Transport answers every metadata request from that cache, which it fills
// with every topic unless MetadataTopics names some, and Kafka leaves out of an answer
// listing every topic a topic the credentials may not describe: asked about through a
// transport whose cache lists every topic (the one shared by the writers, say), such a
// topic looks missing (UNKNOWN_TOPIC_OR_PARTITION), where Kafka, asked about it by name,
// answers TOPIC_AUTHORIZATION_FAILED. Ask about the topics of one's own through a
// TopicsTransport of them, and close it (CloseIdleConnections) when done.
func TopicsTransport(base *kafkago.Transport, topics ...string) *kafkago.Transport {
	t := &kafkago.Transport{}
	if base != nil {
		t = &kafkago.Transport{Dial: base.Dial, DialTimeout: base.DialTimeout, IdleTimeout: base.IdleTimeout,
			MetadataTTL: base.MetadataTTL, ClientID: base.ClientID, TLS: base.TLS, SASL: base.SASL,
			Resolver: base.Resolver, Context: base.Context}
	}
	t.MetadataTopics = slices.Clone(topics)
	return t
}
