package kafkaerr

import (
	"errors"

	kafkago "github.com/segmentio/kafka-go"
)

// CreateRefused reports whether err, from creating a topic, is Kafka refusing the
// connector the right to create topics: TOPIC_AUTHORIZATION_FAILED or
// CLUSTER_AUTHORIZATION_FAILED. Kafka checks that right before it looks whether the topic
// exists, so it answers so for a topic that exists too: the caller goes on to read the
// topic, which serves when an admin made it beforehand, and reports the refusal along
// with the topic only when that is missing.
func CreateRefused(err error) bool {
	return errors.Is(err, kafkago.TopicAuthorizationFailed) || errors.Is(err, kafkago.ClusterAuthorizationFailed)
}
