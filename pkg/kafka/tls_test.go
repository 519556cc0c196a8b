package kafka_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/dscokafka/connector/pkg/kafka"
	"github.com/dscokafka/connector/pkg/kafka/kafkatest"
)

// selfSignedTLS returns a server configuration with a fresh certificate for 127.0.0.1 and a
// client configuration that trusts only that certificate.
func selfSignedTLS(t *testing.T) (server, client *tls.Config) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "kfake"},
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	server = &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}, MinVersion: tls.VersionTLS12}
	client = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	return server, client
}

func TestTLS(t *testing.T) {
	if kafkatest.Real() {
		t.Skip("TLS is tested against kfake, started here with a test certificate")
	}
	serverTLS, clientTLS := selfSignedTLS(t)
	brokers := kafkatest.NewCluster(t, kfake.TLS(serverTLS)).ListenAddrs()
	cases := []struct {
		name    string
		tls     *tls.Config
		wantErr bool
	}{
		{name: "trusted certificate", tls: clientTLS},
		{name: "untrusted certificate", tls: &tls.Config{MinVersion: tls.VersionTLS12}, wantErr: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			conn := kafka.ConnectionConfig{Brokers: brokers, TLS: tc.tls}
			topic := kafkatest.Name("tls")
			pub := startPublisher(t, nil, func(c *kafka.PublisherConfig) {
				c.Connection = conn
				c.MaxAttempts = 1
				c.AllowAutoTopicCreation = true
			})
			sent := message.NewMessage(watermill.NewUUID(), []byte("over TLS"))
			err := pub.Publish(topic, sent)
			if tc.wantErr {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			sub := startSubscriber(t, nil, kafkatest.Name("g"), func(c *kafka.SubscriberConfig) { c.Connection = conn })
			got := receive(t, subscribe(t, sub, topic))
			assert.Equal(t, sent.UUID, got.UUID)
			require.True(t, got.Ack())
		})
	}
}
