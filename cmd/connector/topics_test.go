package main

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl/plain"

	"github.com/dscokafka/connector/pkg/kafka"
	"github.com/dscokafka/connector/pkg/kafka/kafkatest"
)

// TestEnsureTopics: the start-up topic check returns nil once every topic of the
// connector answers, creating the missing ones where Kafka lets it and reading the ones
// made beforehand where it does not. It asks Kafka about those topics by name: a topic
// the connector's credentials may not describe (no ACL on it) is refused to such a
// request (TOPIC_AUTHORIZATION_FAILED) but left out of an answer listing every topic, as
// if it did not exist. So the check ends at once with the refusal, naming the topic,
// whether or not the connector may create topics, since waiting cannot mend it; it must
// not report the topic missing after its time limit. A start-up stopped while the topics
// are not ready says so, not that a time limit passed that did not. Kafka not answering
// is logged at once (the wait is not silent), and at the time limit the error names the
// brokers and the settings to look at.
func TestEnsureTopics(t *testing.T) {
	if kafkatest.Real() {
		t.Skip("sets ACLs with kfake's SASL users")
	}
	const user, pass = "connector", "s3cret-Pa55"
	const admin, adminPass = "admin", "adm1n-Pa55"
	// made and hidden are made beforehand by the admin; missing is not, and is asked
	// for only where the connector may create topics.
	const made, hidden, missing = "dsco.order.v1", "dsco.poison.v1", "dsco.cmd.applied.v1"
	for _, tc := range []struct {
		name     string
		down     bool // no broker answers
		stop     bool // the start-up is stopped while it waits (else the time limit ends it)
		create   bool // the connector may create topics (Create on the cluster)
		describe bool // the connector may describe hidden
		// wantErr is in ensureTopics' error, as are want and not notWant; all empty: it
		// returns nil.
		wantErr       error
		want, notWant []string
	}{
		{name: "Kafka down, stopped", down: true, stop: true,
			want: []string{"kafka topics not ready when stopped"}, notWant: []string{"within"}},
		{name: "Kafka down, time limit", down: true,
			want: []string{"kafka did not answer at 127.0.0.1:", " within 300ms: ", "connection refused",
				"(check KAFKA_BROKERS, the network, and that KAFKA_TLS_ENABLED and KAFKA_SASL_MECHANISM match the brokers' listener)"},
			notWant: []string{"when stopped", "creating them"}},
		{name: "every topic described, create refused", describe: true},
		{name: "every topic described, create allowed", create: true, describe: true},
		{name: "topic not described, create refused", wantErr: kafkago.TopicAuthorizationFailed,
			want: []string{hidden}, notWant: []string{made, "within", "when stopped"}},
		{name: "topic not described, create allowed", create: true, wantErr: kafkago.TopicAuthorizationFailed,
			want: []string{hidden}, notWant: []string{made, missing, "within", "when stopped"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			specs := []topicSpec{{name: made, partitions: -1}, {name: hidden, partitions: -1}}
			ctx := t.Context()
			limit := time.Minute
			var conn kafka.ConnectionConfig
			if tc.down {
				conn = kafka.ConnectionConfig{Brokers: []string{kafkatest.DeadAddr(t)}}
				if tc.stop {
					var cancel context.CancelFunc
					ctx, cancel = context.WithTimeout(ctx, 300*time.Millisecond)
					defer cancel()
				} else {
					limit = 300 * time.Millisecond
				}
			} else {
				describe := func(topic string) kfake.ACL {
					return kfake.ACL{Resource: kmsg.ACLResourceTypeTopic, Name: topic, Pattern: kmsg.ACLResourcePatternTypeLiteral,
						Operation: kmsg.ACLOperationDescribe, Allow: true}
				}
				acls := []kfake.ACL{describe(made)}
				if tc.describe {
					acls = append(acls, describe(hidden))
				}
				if tc.create {
					specs = append(specs, topicSpec{name: missing, partitions: 6, configs: map[string]string{"cleanup.policy": "compact"}})
					acls = append(acls, describe(missing), kfake.ACL{Resource: kmsg.ACLResourceTypeCluster, Name: "kafka-cluster",
						Pattern: kmsg.ACLResourcePatternTypeLiteral, Operation: kmsg.ACLOperationCreate, Allow: true})
				}
				cl := kafkatest.NewClusterWithoutAutoCreate(t, kfake.EnableSASL(), kfake.EnableACLs(),
					kfake.Superuser("PLAIN", admin, adminPass), kfake.User("PLAIN", user, pass, acls...))
				brokers := cl.ListenAddrs()
				kc, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.SASL(plain.Auth{User: admin, Pass: adminPass}.AsMechanism()))
				require.NoError(t, err)
				defer kc.Close()
				_, err = kadm.NewClient(kc).CreateTopics(t.Context(), 2, -1, nil, made, hidden)
				require.NoError(t, err)
				conn = kafka.ConnectionConfig{Brokers: brokers,
					SASL: kafka.SASLConfig{Mechanism: kafka.SASLPlain, Username: user, Password: pass}}
			}
			_, transport, err := kafkaGoClients(conn)
			require.NoError(t, err)
			defer transport.CloseIdleConnections()

			var log syncBuffer
			err = ensureTopics(ctx, slog.New(slog.NewTextHandler(&log, nil)), conn.Brokers, transport, specs, limit)
			silentLines := 0
			if tc.down {
				silentLines = 1
			}
			assert.Equal(t, silentLines, strings.Count(log.String(), `msg="Kafka does not answer; waiting for it" brokers=`+conn.Brokers[0]),
				"Kafka not answering is logged once, and only then:\n%s", log.String())
			if tc.wantErr == nil && len(tc.want) == 0 {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			if tc.wantErr != nil {
				assert.ErrorIs(t, err, tc.wantErr)
				assert.NotErrorIs(t, err, kafkago.UnknownTopicOrPartition, "the topic exists")
			}
			for _, s := range tc.want {
				assert.ErrorContains(t, err, s)
			}
			for _, s := range tc.notWant {
				assert.NotContains(t, err.Error(), s)
			}
		})
	}
}
