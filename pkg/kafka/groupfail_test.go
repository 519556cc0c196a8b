package kafka_test

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/ThreeDotsLabs/watermill"
	kafkago "github.com/segmentio/kafka-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/dscokafka/connector/pkg/kafka"
	"github.com/dscokafka/connector/pkg/kafka/kafkatest"
)

// failFindCoordinator answers the first times requests for group's coordinator with code,
// as Kafka answers a client that may not describe the group (its ACLs).
func failFindCoordinator(c *kfake.Cluster, group string, code *kerr.Error, times int32) *atomic.Int32 {
	var answered atomic.Int32
	c.ControlKey(int16(kmsg.FindCoordinator), func(r kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		req := r.(*kmsg.FindCoordinatorRequest)
		if req.CoordinatorKey != group && (len(req.CoordinatorKeys) == 0 || req.CoordinatorKeys[0] != group) ||
			answered.Load() >= times {
			return nil, nil, false
		}
		answered.Add(1)
		resp := req.ResponseKind().(*kmsg.FindCoordinatorResponse)
		resp.ErrorCode = code.Code
		for _, key := range req.CoordinatorKeys {
			co := kmsg.NewFindCoordinatorResponseCoordinator()
			co.Key, co.ErrorCode = key, code.Code
			resp.Coordinators = append(resp.Coordinators, co)
		}
		return resp, nil, true
	})
	return &answered
}

// TestGroupRefusedLoggedAsError: a consumer group (a Subscriber's, or the lease's) that
// Kafka refuses this client (GROUP_AUTHORIZATION_FAILED: the group's ACLs) is never joined
// and nothing is consumed, while the process otherwise looks well: the refusal is logged
// at error level at once, saying where to look. Other failures to join (a coordinator not
// available yet) stay at info level, as a rebalance's do. Both are logged as a run, and
// the join that works after it says so.
func TestGroupRefusedLoggedAsError(t *testing.T) {
	if kafkatest.Real() {
		t.Skip("answers FindCoordinator with kfake's controls")
	}
	const failures = 5
	for _, tc := range []struct {
		name    string
		code    *kerr.Error
		want    error
		refused bool // logged at error level
	}{
		{"group authorization failed", kerr.GroupAuthorizationFailed, kafkago.GroupAuthorizationFailed, true},
		{"coordinator not available", kerr.CoordinatorNotAvailable, kafkago.GroupCoordinatorNotAvailable, false},
	} {
		for _, group := range []string{"Consumer group", "Lease group"} {
			t.Run(tc.name+", "+group, func(t *testing.T) {
				cl := kafkatest.NewCluster(t)
				brokers := cl.ListenAddrs()
				logs := newLogRecorder()
				var answered *atomic.Int32
				if group == "Consumer group" {
					topic, id := kafkatest.Name("groupfail"), kafkatest.Name("g")
					answered = failFindCoordinator(cl, id, tc.code, failures)
					sub, err := kafka.NewSubscriber(testSubscriberConfig(brokers, id), logs)
					require.NoError(t, err)
					t.Cleanup(func() { require.NoError(t, sub.Close()) })
					ch := subscribe(t, sub, topic)
					sent := publishN(t, startPublisher(t, brokers), topic, 1, "")
					got := receive(t, ch)
					require.Equal(t, sent[0].UUID, got.UUID, "consumed once the group was joined")
					got.Ack()
				} else {
					cfg := leaseConfig(t)
					cfg.Connection.Brokers = brokers
					answered = failFindCoordinator(cl, cfg.Group, tc.code, failures)
					ctx, cancel := context.WithCancel(t.Context())
					require.NoError(t, kafka.RunLeased(ctx, cfg, logs, nil, func(context.Context) error {
						cancel() // the lease was taken once the group was joined
						return nil
					}))
				}
				require.EqualValues(t, failures, answered.Load(), "FindCoordinator answered %s", tc.code.Message)
				loud := logs.find(watermill.ErrorLogLevel, group+" error, retrying")
				if tc.refused {
					require.Len(t, loud, 1, "one error line for the run of refusals")
					assert.ErrorIs(t, loud[0].err, tc.want)
					assert.Contains(t, loud[0].msg, "check the ACLs (its principal needs Read on the group)")
				} else {
					assert.Empty(t, loud, "no error line for a coordinator not available yet")
					quiet := logs.find(watermill.InfoLogLevel, group+" error, retrying")
					require.NotEmpty(t, quiet)
					assert.ErrorContains(t, quiet[0].fields["err"].(error), tc.want.Error())
				}
				assert.Len(t, logs.find(watermill.InfoLogLevel, group+" works again"), 1, "the join that works after the run says so")
			})
		}
	}
}
