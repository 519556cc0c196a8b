package kafka_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"reflect"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl/plain"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dscokafka/connector/pkg/kafka"
)

func TestPublisherConfigValidation(t *testing.T) {
	brokers := []string{"127.0.0.1:9092"}
	cases := []struct {
		name    string
		cfg     kafka.PublisherConfig
		wantErr string
	}{
		{name: "defaults", cfg: kafka.PublisherConfig{Connection: kafka.ConnectionConfig{Brokers: brokers}}},
		{name: "no brokers", cfg: kafka.PublisherConfig{}, wantErr: "broker"},
		{name: "unknown compression", cfg: kafka.PublisherConfig{
			Connection: kafka.ConnectionConfig{Brokers: brokers}, Compression: "brotli"}, wantErr: "compression"},
		{name: "unknown SASL mechanism", cfg: kafka.PublisherConfig{
			Connection: kafka.ConnectionConfig{Brokers: brokers, SASL: kafka.SASLConfig{Mechanism: "GSSAPI", Username: "u"}}}, wantErr: "SASL"},
		{name: "SASL without user", cfg: kafka.PublisherConfig{
			Connection: kafka.ConnectionConfig{Brokers: brokers, SASL: kafka.SASLConfig{Mechanism: kafka.SASLPlain}}}, wantErr: "username"},
		{name: "invalid acks", cfg: kafka.PublisherConfig{
			Connection: kafka.ConnectionConfig{Brokers: brokers}, Acks: 7}, wantErr: "Acks"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pub, err := kafka.NewPublisher(tc.cfg, nil)
			if tc.wantErr == "" {
				require.NoError(t, err)
				require.NoError(t, pub.Close())
				require.NoError(t, pub.Close(), "Close is idempotent")
				require.ErrorIs(t, pub.Publish("t"), kafka.ErrPublisherClosed)
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.wantErr)
		})
	}
}

func TestSubscriberConfigValidation(t *testing.T) {
	base := func() kafka.SubscriberConfig {
		return kafka.SubscriberConfig{Connection: kafka.ConnectionConfig{Brokers: []string{"127.0.0.1:9092"}}, ConsumerGroup: "g"}
	}
	cases := []struct {
		name    string
		mutate  func(*kafka.SubscriberConfig)
		wantErr string
	}{
		{name: "defaults", mutate: func(*kafka.SubscriberConfig) {}},
		{name: "no group", mutate: func(c *kafka.SubscriberConfig) { c.ConsumerGroup = "" }, wantErr: "ConsumerGroup"},
		{name: "no brokers", mutate: func(c *kafka.SubscriberConfig) { c.Connection.Brokers = nil }, wantErr: "broker"},
		{name: "heartbeat not below session", mutate: func(c *kafka.SubscriberConfig) {
			c.SessionTimeout, c.HeartbeatInterval = 1e9, 2e9
		}, wantErr: "HeartbeatInterval"},
		{name: "negative delay", mutate: func(c *kafka.SubscriberConfig) { c.NackResendDelay = -1 }, wantErr: "NackResendDelay"},
		{name: "invalid start offset", mutate: func(c *kafka.SubscriberConfig) { c.StartOffset = 9 }, wantErr: "StartOffset"},
		{name: "per key, many in flight", mutate: func(c *kafka.SubscriberConfig) {
			c.Ordering, c.MaxInFlightPerPartition = kafka.OrderPerKey, 100
		}},
		{name: "per key, default in flight", mutate: func(c *kafka.SubscriberConfig) { c.Ordering = kafka.OrderPerKey }},
		{name: "invalid ordering", mutate: func(c *kafka.SubscriberConfig) { c.Ordering = 7 }, wantErr: "Ordering"},
		{name: "negative decompressed bytes", mutate: func(c *kafka.SubscriberConfig) { c.MaxDecompressedBytes = -1 }, wantErr: "MaxDecompressedBytes"},
		{name: "negative in flight", mutate: func(c *kafka.SubscriberConfig) { c.MaxInFlightPerPartition = -1 }, wantErr: "MaxInFlightPerPartition"},
		{name: "in flight per partition", mutate: func(c *kafka.SubscriberConfig) { c.MaxInFlightPerPartition = 2 }, wantErr: "needs Ordering OrderPerKey"},
		// A member learns of a rebalance at its next heartbeat, drains for up to
		// DrainTimeout, then rejoins; the group evicts a member that has not rejoined
		// within RebalanceTimeout. SessionTimeout does not bound the drain: the member
		// heartbeats meanwhile.
		{name: "drain and heartbeat below rebalance", mutate: func(c *kafka.SubscriberConfig) {
			c.DrainTimeout, c.HeartbeatInterval, c.RebalanceTimeout = 6*time.Second, 3*time.Second, 10*time.Second
		}},
		{name: "long drain, longer rebalance", mutate: func(c *kafka.SubscriberConfig) {
			c.DrainTimeout, c.RebalanceTimeout = 2*time.Minute, 3*time.Minute // session 30s
		}},
		{name: "drain below rebalance, not with the heartbeat", mutate: func(c *kafka.SubscriberConfig) {
			c.DrainTimeout, c.HeartbeatInterval, c.RebalanceTimeout = 9*time.Second, 3*time.Second, 10*time.Second
		}, wantErr: "DrainTimeout 9s plus HeartbeatInterval 3s must be shorter than RebalanceTimeout 10s"},
		{name: "drain equal to rebalance", mutate: func(c *kafka.SubscriberConfig) {
			c.DrainTimeout, c.RebalanceTimeout = 10*time.Second, 10*time.Second
		}, wantErr: "DrainTimeout 10s plus HeartbeatInterval 3s must be shorter than RebalanceTimeout 10s"},
		{name: "drain above rebalance", mutate: func(c *kafka.SubscriberConfig) {
			c.DrainTimeout, c.RebalanceTimeout = 10*time.Second, 5*time.Second
		}, wantErr: "lower DrainTimeout or HeartbeatInterval, or raise RebalanceTimeout"},
		{name: "drain at the default rebalance", mutate: func(c *kafka.SubscriberConfig) {
			c.DrainTimeout = 30 * time.Second
		}, wantErr: "DrainTimeout 30s plus HeartbeatInterval 3s must be shorter than RebalanceTimeout 30s"},
		{name: "default drain above rebalance", mutate: func(c *kafka.SubscriberConfig) {
			c.RebalanceTimeout = 5 * time.Second
		}, wantErr: "DrainTimeout 5s plus HeartbeatInterval 3s must be shorter than RebalanceTimeout 5s"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := base()
			tc.mutate(&cfg)
			sub, err := kafka.NewSubscriber(cfg, nil)
			if tc.wantErr == "" {
				require.NoError(t, err)
				require.NoError(t, sub.Close())
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.wantErr)
		})
	}
}

func TestSASLConfigNeverPrintsPassword(t *testing.T) {
	cfg := kafka.ConnectionConfig{
		Brokers: []string{"127.0.0.1:9092"},
		SASL:    kafka.SASLConfig{Mechanism: kafka.SASLScramSHA512, Username: "svc", Password: "hunter2-secret"},
	}
	for _, format := range []string{"%v", "%+v", "%#v", "%s"} {
		t.Run(format, func(t *testing.T) {
			out := fmt.Sprintf(format, cfg)
			assert.NotContains(t, out, "hunter2-secret")
			assert.Contains(t, out, "svc")
		})
	}
}

// TestTopicsTransport: a TopicsTransport caches the metadata of the topics given alone,
// in a slice of its own, and keeps every other setting of its base, which it leaves as it
// is; without a base it has kafka-go's defaults. A field kafka-go adds to Transport fails
// the "every setting" case until TopicsTransport copies it.
func TestTopicsTransport(t *testing.T) {
	topics := []string{"dsco.order.v1", "dsco.poison.v1"}
	for _, tc := range []struct {
		name string
		base *kafkago.Transport
	}{
		{"no base", nil},
		{"every setting", &kafkago.Transport{Dial: (&net.Dialer{}).DialContext, DialTimeout: time.Second,
			IdleTimeout: 2 * time.Second, MetadataTTL: 3 * time.Second, MetadataTopics: []string{"every", "other"},
			ClientID: "dsco-kafka-connector", TLS: &tls.Config{ServerName: "kafka"},
			SASL: plain.Mechanism{Username: "u", Password: "p"}, Resolver: kafkago.NewBrokerResolver(nil),
			Context: context.Background()}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := kafka.TopicsTransport(tc.base, topics...)
			require.NotSame(t, tc.base, got)
			assert.Equal(t, topics, got.MetadataTopics)
			topics[0] = "changed"
			assert.Equal(t, "dsco.order.v1", got.MetadataTopics[0], "the topics are copied")
			topics[0] = "dsco.order.v1"
			base := tc.base
			if base == nil {
				base = &kafkago.Transport{}
			} else {
				assert.Equal(t, []string{"every", "other"}, base.MetadataTopics, "the base is left as it is")
			}
			gv, bv := reflect.ValueOf(got).Elem(), reflect.ValueOf(base).Elem()
			for i, f := range reflect.VisibleFields(gv.Type()) {
				if !f.IsExported() || f.Name == "MetadataTopics" {
					continue
				}
				if tc.base != nil {
					assert.False(t, bv.Field(i).IsZero(), "the test sets %s", f.Name)
				}
				if f.Type.Kind() == reflect.Func {
					assert.Equal(t, bv.Field(i).Pointer(), gv.Field(i).Pointer(), f.Name)
				} else {
					assert.Equal(t, bv.Field(i).Interface(), gv.Field(i).Interface(), f.Name)
				}
			}
		})
	}
}

// TestKafkaGo: the kafka-go Dialer and Transport of a ConnectionConfig carry its client
// id, dial timeout, TLS and SASL mechanism, with the defaults where unset; a mechanism
// that cannot be built is an error.
func TestKafkaGo(t *testing.T) {
	for _, tc := range []struct {
		name     string
		conn     kafka.ConnectionConfig
		clientID string
		timeout  time.Duration
		mech     string // the SASL mechanism's name; "" none
		wantErr  string
	}{
		{name: "defaults", conn: kafka.ConnectionConfig{Brokers: []string{"b:9092"}},
			clientID: "dsco-kafka-connector", timeout: 10 * time.Second},
		{name: "set", conn: kafka.ConnectionConfig{Brokers: []string{"b:9092"}, ClientID: "c", DialTimeout: time.Second,
			SASL: kafka.SASLConfig{Mechanism: kafka.SASLPlain, Username: "u", Password: "p"}},
			clientID: "c", timeout: time.Second, mech: "PLAIN"},
		{name: "scram", conn: kafka.ConnectionConfig{Brokers: []string{"b:9092"},
			SASL: kafka.SASLConfig{Mechanism: kafka.SASLScramSHA512, Username: "u", Password: "p"}},
			clientID: "dsco-kafka-connector", timeout: 10 * time.Second, mech: "SCRAM-SHA-512"},
		{name: "unsupported mechanism", conn: kafka.ConnectionConfig{Brokers: []string{"b:9092"},
			SASL: kafka.SASLConfig{Mechanism: "GSSAPI"}}, wantErr: `unsupported SASL mechanism "GSSAPI"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, tr, err := tc.conn.KafkaGo()
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.clientID, d.ClientID)
			assert.Equal(t, tc.clientID, tr.ClientID)
			assert.Equal(t, tc.timeout, d.Timeout)
			assert.Equal(t, tc.timeout, tr.DialTimeout)
			if tc.mech == "" {
				assert.Nil(t, d.SASLMechanism)
				assert.Nil(t, tr.SASL)
				return
			}
			assert.Equal(t, tc.mech, d.SASLMechanism.Name())
			assert.Equal(t, tc.mech, tr.SASL.Name())
		})
	}
}
