package kafka_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"testing"

	kafkago "github.com/segmentio/kafka-go"
	"github.com/stretchr/testify/assert"

	"github.com/dscokafka/connector/pkg/kafka"
)

// TestClassify: each error is a refusal of the connector (Refused), of its right to create
// topics (CreateRefused: a topic made beforehand may serve), a failure that may pass by
// itself (Transient), or none of these (a request Kafka rejects as it stands), however
// wrapped.
func TestClassify(t *testing.T) {
	dial := &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	for _, tc := range []struct {
		name                              string
		err                               error
		refused, createRefused, transient bool
	}{
		{"nil", nil, false, false, false},
		{"topic authorization", kafkago.TopicAuthorizationFailed, true, true, false},
		{"cluster authorization", kafkago.ClusterAuthorizationFailed, true, true, false},
		{"wrapped create refusal", fmt.Errorf("creating topic t: %w", kafkago.TopicAuthorizationFailed), true, true, false},
		{"missing after a refusal", fmt.Errorf("%w (%w)", kafkago.UnknownTopicOrPartition, kafkago.TopicAuthorizationFailed),
			true, true, false},
		{"group authorization", kafkago.GroupAuthorizationFailed, true, false, false},
		{"SASL", kafkago.SASLAuthenticationFailed, true, false, false},
		{"policy violation", kafkago.PolicyViolation, false, false, false},
		{"invalid config", kafkago.InvalidConfiguration, false, false, false},
		{"invalid replication factor", kafkago.InvalidReplicationFactor, false, false, false},
		{"unsupported version", kafkago.UnsupportedVersion, false, false, false},
		{"broker not available", kafkago.BrokerNotAvailable, false, false, true},
		{"not controller", kafkago.NotController, false, false, true},
		{"request timed out", fmt.Errorf("creating topic t: %w", kafkago.RequestTimedOut), false, false, true},
		{"leader not available", kafkago.LeaderNotAvailable, false, false, true},
		{"not listening", fmt.Errorf("kafka.(*Client).CreateTopics: %w", dial), false, false, true},
		{"connection reset", fmt.Errorf("reading: %w", syscall.ECONNRESET), false, false, true},
		{"connection closed", io.ErrUnexpectedEOF, false, false, true},
		{"request time limit", fmt.Errorf("kafka.(*Client).CreateTopics: %w", context.DeadlineExceeded), false, false, true},
		{"cancelled", context.Canceled, false, false, false},
		{"other", errors.New("3 partitions in the answer"), false, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.refused, kafka.Refused(tc.err), "Refused")
			assert.Equal(t, tc.createRefused, kafka.CreateRefused(tc.err), "CreateRefused")
			assert.Equal(t, tc.transient, kafka.Transient(tc.err), "Transient")
		})
	}
}

// TestClientError: the name of the kafka-go method before an error goes, and nothing
// else: the cause it wrapped is what is left, so that errors.Is and errors.As, Refused
// and Transient find the same in it; other errors stay as they are.
func TestClientError(t *testing.T) {
	dial := &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	ours := fmt.Errorf("reading: %w", dial)
	notWrapping := errors.New("kafka.(*Client).Metadata: gone")
	notInFront := fmt.Errorf("topic t: kafka.(*Client).Metadata: %w", dial)
	for _, tc := range []struct {
		name      string
		err, want error
	}{
		{"nil", nil, nil},
		{"metadata", fmt.Errorf("kafka.(*Client).Metadata: %w", dial), dial},
		{"create topics refused", fmt.Errorf("kafka.(*Client).CreateTopics: %w", kafkago.SASLAuthenticationFailed),
			kafkago.SASLAuthenticationFailed},
		{"ours", ours, ours},
		{"not wrapping", notWrapping, notWrapping},
		{"name not in front", notInFront, notInFront},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, kafka.ClientError(tc.err))
		})
	}
}
