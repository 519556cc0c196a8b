package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/dscokafka/connector/pkg/kafka"
)

// topicSpec is a topic the connector needs before it consumes: partitions
// -1 means the broker's default; configs such as cleanup.policy=compact.
type topicSpec struct {
	name       string
	partitions int
	configs    map[string]string
}

// ensureTopics creates the topics that do not exist (an existing topic is
// left as it is) and waits, within timeout, until every partition of each
// answers an offsets request at its leader: a topic just created on a real
// cluster has no leader for a moment, and the readers that start next (the
// applied-ids store, the GetItemInventory marks) would fail on it. A cluster
// that refuses to create topics (no permission, auto-creation off) is not an
// error here when the topics exist already.
//
// It asks Kafka about the topics by name, on a transport of its own whose
// metadata cache holds those topics alone, with the connection settings of
// transport (kafka.TopicsTransport): in a cache of every topic, Kafka leaves
// out a topic the credentials may not describe, which would look missing
// until the time limit. Kafka refusing the connector (kafka.Refused: a topic
// it may not describe, TOPIC_AUTHORIZATION_FAILED naming the topic, or its
// SASL credentials) ends the wait at once with that answer, since waiting
// cannot mend it.
//
// Kafka not answering at all (kafkaSilent) is logged at once, so that the
// wait is not silent, and the error at the time limit names the settings to
// look at.
func ensureTopics(ctx context.Context, logger *slog.Logger, brokers []string, transport *kafkago.Transport, specs []topicSpec, timeout time.Duration) error {
	if len(specs) == 0 {
		return nil
	}
	names := make([]string, len(specs))
	for i, s := range specs {
		names[i] = s.name
	}
	own := kafka.TopicsTransport(transport, names...)
	defer own.CloseIdleConnections()
	cl := &kafkago.Client{Addr: kafkago.TCP(brokers...), Transport: own, Timeout: 10 * time.Second}
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req := &kafkago.CreateTopicsRequest{}
	for _, s := range specs {
		tc := kafkago.TopicConfig{Topic: s.name, NumPartitions: s.partitions, ReplicationFactor: -1}
		for k, v := range s.configs {
			tc.ConfigEntries = append(tc.ConfigEntries, kafkago.ConfigEntry{ConfigName: k, ConfigValue: v})
		}
		req.Topics = append(req.Topics, tc)
	}
	var createErr error
	resp, err := cl.CreateTopics(ctx, req)
	if err != nil {
		createErr = kafka.ClientError(err)
	} else {
		for topic, err := range resp.Errors {
			if err != nil && !errors.Is(err, kafkago.TopicAlreadyExists) {
				createErr = errors.Join(createErr, fmt.Errorf("%s: %w", topic, err))
			}
		}
	}
	logged := false
	for {
		err := topicsLed(ctx, cl, names)
		if err == nil {
			return nil
		}
		if kafka.Refused(err) {
			return fmt.Errorf("kafka refuses the connector its topics (its credentials or ACLs must change): %w", err)
		}
		silent := kafkaSilent(err)
		if silent && !logged {
			logged = true
			logger.Warn("Kafka does not answer; waiting for it", "brokers", strings.Join(brokers, ","),
				"for", timeout, "error", err.Error())
		}
		select {
		case <-ctx.Done():
			if silent && parent.Err() == nil {
				return fmt.Errorf("kafka did not answer at %s within %v: %w", strings.Join(brokers, ","), timeout, withKafkaAdvice(err))
			}
			if createErr != nil {
				err = fmt.Errorf("%w (creating them: %w)", err, createErr)
			}
			if parent.Err() != nil { // stopped, not timed out
				return fmt.Errorf("kafka topics not ready when stopped: %w", err)
			}
			return fmt.Errorf("kafka topics not ready within %v: %w", timeout, err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// kafkaSilent reports whether err is Kafka not answering at all (no
// connection, a connection closed or timed out under the request) rather
// than an answer of Kafka's.
func kafkaSilent(err error) bool {
	var kerr kafkago.Error
	return kafka.Transient(err) && !errors.As(err, &kerr)
}

// withKafkaAdvice returns err with the settings to look at appended, in
// parentheses, when it is Kafka not answering (kafkaSilent); other errors,
// nil among them, as they are.
func withKafkaAdvice(err error) error {
	if !kafkaSilent(err) {
		return err
	}
	return fmt.Errorf("%w (check KAFKA_BROKERS, the network, and that KAFKA_TLS_ENABLED and KAFKA_SASL_MECHANISM match the brokers' listener)", err)
}

// topicsLed returns nil when every partition of topics answers an offsets
// request; otherwise the first failure, naming its topic (or partition).
func topicsLed(ctx context.Context, cl *kafkago.Client, topics []string) error {
	md, err := cl.Metadata(ctx, &kafkago.MetadataRequest{Topics: topics})
	if err != nil {
		return fmt.Errorf("reading the topics' metadata: %w", kafka.ClientError(err))
	}
	req := &kafkago.ListOffsetsRequest{Topics: map[string][]kafkago.OffsetRequest{}}
	for _, t := range md.Topics {
		if t.Error != nil {
			return fmt.Errorf("%s: %w", t.Name, t.Error)
		}
		if len(t.Partitions) == 0 {
			return fmt.Errorf("%s: no partitions yet", t.Name)
		}
		for _, p := range t.Partitions {
			if p.Error != nil {
				return fmt.Errorf("%s/%d: %w", t.Name, p.ID, p.Error)
			}
			req.Topics[t.Name] = append(req.Topics[t.Name], kafkago.LastOffsetOf(p.ID))
		}
	}
	offs, err := cl.ListOffsets(ctx, req)
	if err != nil {
		return fmt.Errorf("listing the topics' offsets: %w", kafka.ClientError(err))
	}
	for topic, parts := range offs.Topics {
		for _, p := range parts {
			if p.Error != nil {
				return fmt.Errorf("%s/%d: %w", topic, p.Partition, p.Error)
			}
		}
	}
	return nil
}
