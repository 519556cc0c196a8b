// Package kafka is the connector's Kafka transport: a Watermill [message.Publisher] and
// [message.Subscriber] built on github.com/segmentio/kafka-go.
//
// The Publisher returns from Publish only after Kafka has acknowledged every message of the
// call (acks=all by default), so a caller may move its own checkpoint as soon as Publish
// returns nil.
//
// The Subscriber consumes through a Kafka consumer group and owns its commit path: an
// offset is committed only after the message at that offset, and every message before it on
// the same partition, was acked. Each partition is consumed by its own goroutine with at most
// one message in flight (Watermill's model: the next message of a partition is delivered only
// after the previous one was acked; a nacked message is delivered again). Partitions do not
// wait for each other. Delivery is at least once: after a crash, a rebalance or an abandoned
// handler, messages acked but not yet committed are delivered again.
//
// Both share [ConnectionConfig] (brokers, TLS, SASL PLAIN and SCRAM). Package kafkatest
// provides the brokers for tests: an in-process kfake cluster, or real Kafka when the
// KAFKA_BROKERS environment variable is set.
//
// [message.Publisher]: https://pkg.go.dev/github.com/ThreeDotsLabs/watermill/message#Publisher
// [message.Subscriber]: https://pkg.go.dev/github.com/ThreeDotsLabs/watermill/message#Subscriber
package kafka
