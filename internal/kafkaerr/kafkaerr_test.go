package kafkaerr_test

import (
	"errors"
	"fmt"
	"testing"

	kafkago "github.com/segmentio/kafka-go"
	"github.com/stretchr/testify/assert"

	"github.com/dscokafka/connector/internal/kafkaerr"
)

// TestCreateRefused: only Kafka's refusals of the right to create topics, however
// wrapped, let a caller go on to read a topic made beforehand; any other failure to create
// one does not.
func TestCreateRefused(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"topic authorization", kafkago.TopicAuthorizationFailed, true},
		{"cluster authorization", kafkago.ClusterAuthorizationFailed, true},
		{"wrapped", fmt.Errorf("creating topic t: %w", kafkago.TopicAuthorizationFailed), true},
		{"nil", nil, false},
		{"group authorization", kafkago.GroupAuthorizationFailed, false},
		{"policy violation", kafkago.PolicyViolation, false},
		{"broker not available", kafkago.BrokerNotAvailable, false},
		{"other", errors.New("connection refused"), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, kafkaerr.CreateRefused(tc.err))
		})
	}
}
