package outbound_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/dscokafka/connector/pkg/kafka"
	"github.com/dscokafka/connector/pkg/kafka/kafkatest"
	"github.com/dscokafka/connector/pkg/outbound"
)

// TestStoreTopicMadeBeforehand: where Kafka refuses the connector the right to create
// topics (TOPIC_AUTHORIZATION_FAILED or CLUSTER_AUTHORIZATION_FAILED, which Kafka answers
// for an existing topic too), the store loads an applied-ids topic made beforehand and
// follows it: the marks written before it started are there once it is loaded, and a mark
// another replica writes afterwards is seen. A missing topic ends Run with an error naming
// both the topic (outbound.ErrTopicNotFound) and the refusal, since asking again cannot
// mend it.
func TestStoreTopicMadeBeforehand(t *testing.T) {
	if kafkatest.Real() {
		t.Skip("refuses topic creation with kfake's controls")
	}
	for _, tc := range []struct {
		name    string
		made    bool        // the topic was made beforehand
		refusal *kerr.Error // Kafka's answer to creating it
	}{
		{"made beforehand, topic create refused", true, kerr.TopicAuthorizationFailed},
		{"made beforehand, cluster create refused", true, kerr.ClusterAuthorizationFailed},
		{"missing", false, kerr.TopicAuthorizationFailed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cl := kafkatest.NewClusterWithoutAutoCreate(t)
			brokers := cl.ListenAddrs()
			topic := kafkatest.Name("applied")
			pub, err := kafka.NewPublisher(kafka.PublisherConfig{Connection: kafka.ConnectionConfig{Brokers: brokers}}, nil)
			require.NoError(t, err)
			t.Cleanup(func() { _ = pub.Close() })
			if tc.made {
				kafkatest.CreateTopic(t, brokers, topic, 2)
				require.NoError(t, pub.WriteRecords(
					kafkago.Message{Topic: topic, Key: []byte("cmd-1"), Value: []byte(outbound.MarkApplied.String())},
					kafkago.Message{Topic: topic, Key: []byte("cmd-2"), Value: []byte(outbound.MarkReleased.String())}))
			}
			var refused atomic.Int32
			cl.ControlKey(int16(kmsg.CreateTopics), func(r kmsg.Request) (kmsg.Response, error, bool) {
				cl.KeepControl()
				req := r.(*kmsg.CreateTopicsRequest)
				resp := req.ResponseKind().(*kmsg.CreateTopicsResponse)
				for _, rt := range req.Topics {
					st := kmsg.NewCreateTopicsResponseTopic()
					st.Topic, st.ErrorCode = rt.Topic, tc.refusal.Code
					resp.Topics = append(resp.Topics, st)
				}
				refused.Add(1)
				return resp, nil, true
			})

			store, err := outbound.NewStore(outbound.StoreConfig{Topic: topic, Reader: outbound.TopicReader{Brokers: brokers},
				Writer: pub}, nil)
			require.NoError(t, err)
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			done := make(chan error, 1)
			go func() { done <- store.Run(ctx) }()

			if !tc.made {
				select {
				case err := <-done:
					require.ErrorIs(t, err, outbound.ErrTopicNotFound)
					assert.ErrorIs(t, err, kafkago.Error(tc.refusal.Code), "the error names the refusal")
					assert.ErrorContains(t, err, topic)
				case <-store.Loaded():
					t.Fatal("the store loaded a topic that does not exist")
				case <-time.After(waitLimit):
					t.Fatal("Run did not end")
				}
				assert.Positive(t, refused.Load(), "Kafka refused to create the topic")
				return
			}
			select {
			case <-store.Loaded():
			case err := <-done:
				t.Fatalf("Run ended: %v", err)
			case <-time.After(waitLimit):
				t.Fatal("the store did not load")
			}
			assert.Positive(t, refused.Load(), "Kafka refused to create the topic")
			assert.Equal(t, outbound.MarkApplied, store.Get("cmd-1"), "a mark written before the store started")
			assert.Equal(t, outbound.MarkReleased, store.Get("cmd-2"), "a mark written before the store started")

			// Another replica's mark, written after the store loaded.
			require.NoError(t, pub.WriteRecords(kafkago.Message{Topic: topic, Key: []byte("cmd-3"),
				Value: []byte(outbound.MarkApplied.String())}))
			require.Eventually(t, func() bool { return store.Get("cmd-3") == outbound.MarkApplied }, waitLimit,
				10*time.Millisecond, "the store follows the topic")
			cancel()
			require.ErrorIs(t, <-done, context.Canceled, "Run's error")
		})
	}
}
