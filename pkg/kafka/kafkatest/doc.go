// Package kafkatest provides Kafka brokers and helpers for tests.
//
// [Brokers] returns the brokers of the real Kafka cluster named in the KAFKA_BROKERS
// environment variable (comma-separated host:port list) when it is set, and otherwise starts
// an in-process kfake cluster on 127.0.0.1 that is shut down when the test ends. Tests
// written against Brokers therefore run on both tiers unchanged. The other helpers make
// unique topic and group names, create topics and read committed group offsets through the
// admin API (franz-go's kadm), independently of the code under test.
package kafkatest
