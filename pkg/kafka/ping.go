package kafka

import (
	"context"
	"fmt"
	"strings"

	kafkago "github.com/segmentio/kafka-go"
)

// ClusterInfo is what Ping learnt about the cluster.
type ClusterInfo struct {
	ClusterID string
	Brokers   int // brokers in the cluster's metadata
	Topics    int // topics the cluster reports
}

// Ping asks the bootstrap brokers for the cluster's metadata with cfg's TLS
// and SASL settings, over connections of its own that are closed on return:
// it tells whether the cluster is reachable with this configuration, for
// start-up and readiness checks. ctx bounds the whole call.
func Ping(ctx context.Context, cfg ConnectionConfig) (ClusterInfo, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return ClusterInfo{}, err
	}
	socks := newSockets(cfg.DialTimeout)
	defer socks.closeAll()
	tr, err := cfg.transport(socks)
	if err != nil {
		return ClusterInfo{}, err
	}
	defer tr.CloseIdleConnections()
	cl := &kafkago.Client{Addr: kafkago.TCP(cfg.Brokers...), Transport: tr, Timeout: cfg.DialTimeout}
	md, err := cl.Metadata(ctx, &kafkago.MetadataRequest{})
	if err != nil {
		return ClusterInfo{}, fmt.Errorf("kafka: reading metadata from %s: %w", brokerNames(cfg.Brokers), ClientError(err))
	}
	return ClusterInfo{ClusterID: md.ClusterID, Brokers: len(md.Brokers), Topics: len(md.Topics)}, nil
}

// brokerNames returns "broker a" or "brokers a,b": the bootstrap brokers a
// request went to, in an error.
func brokerNames(brokers []string) string {
	if len(brokers) == 1 {
		return "broker " + brokers[0]
	}
	return "brokers " + strings.Join(brokers, ",")
}
