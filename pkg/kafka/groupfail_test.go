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

	"github.com/dscokafka/connector/pkg/kafka"
	"github.com/dscokafka/connector/pkg/kafka/kafkatest"
)

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
					answered = kafkatest.FailFindCoordinator(cl, id, tc.code, func(n int32) bool { return n < failures })
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
					answered = kafkatest.FailFindCoordinator(cl, cfg.Group, tc.code, func(n int32) bool { return n < failures })
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
					assert.Contains(t, loud[0].msg, "check the ACLs, which must give this client's principal Read on the group")
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

// TestGroupRefusalHeldUntilJoined: while Kafka refuses this client a consumer group (a
// Subscriber's, or the lease's), the Subscriber's Refused (the lease's Refusal) names
// the group and Kafka's answer, for a readiness check to report; once a join works it is
// nil again. Other failures to join (a coordinator not available yet) pass by
// themselves and are no refusal.
func TestGroupRefusalHeldUntilJoined(t *testing.T) {
	if kafkatest.Real() {
		t.Skip("answers FindCoordinator with kfake's controls")
	}
	for _, tc := range []struct {
		name    string
		code    *kerr.Error
		level   watermill.LogLevel // of the line the failure is logged with
		refused bool
	}{
		{"group authorization failed", kerr.GroupAuthorizationFailed, watermill.ErrorLogLevel, true},
		{"coordinator not available", kerr.CoordinatorNotAvailable, watermill.InfoLogLevel, false},
	} {
		for _, group := range []string{"Consumer group", "Lease group"} {
			t.Run(tc.name+", "+group, func(t *testing.T) {
				cl := kafkatest.NewCluster(t)
				logs := newLogRecorder()
				var refusing atomic.Bool
				refusing.Store(true)
				var id string
				var refused func() error
				if group == "Consumer group" {
					id = kafkatest.Name("g")
					kafkatest.FailFindCoordinator(cl, id, tc.code, func(int32) bool { return refusing.Load() })
					sub, err := kafka.NewSubscriber(testSubscriberConfig(cl.ListenAddrs(), id), logs)
					require.NoError(t, err)
					t.Cleanup(func() { require.NoError(t, sub.Close()) })
					require.NoError(t, sub.Refused(), "no refusal before a join")
					subscribe(t, sub, kafkatest.Name("groupfail"))
					refused = sub.Refused
				} else {
					cfg := leaseConfig(t)
					cfg.Connection.Brokers = cl.ListenAddrs()
					cfg.Refusal = new(kafka.GroupRefusal)
					id = cfg.Group
					kafkatest.FailFindCoordinator(cl, id, tc.code, func(int32) bool { return refusing.Load() })
					ctx, cancel := context.WithCancel(t.Context())
					done := make(chan error, 1)
					go func() {
						done <- kafka.RunLeased(ctx, cfg, logs, nil, func(ctx context.Context) error {
							<-ctx.Done()
							return nil
						})
					}()
					t.Cleanup(func() {
						cancel()
						require.NoError(t, <-done)
					})
					refused = cfg.Refusal.Err
				}

				logs.await(t, tc.level, group+" error, retrying")
				if tc.refused {
					err := refused()
					require.Error(t, err, "refused while Kafka refuses the group")
					assert.ErrorIs(t, err, kafkago.GroupAuthorizationFailed)
					assert.Equal(t, `consumer group "`+id+`" refused: Group Authorization Failed `+
						`(check the ACLs, which must give this client's principal Read on the group, and the SASL credentials)`, err.Error())
				} else {
					assert.NoError(t, refused(), "a coordinator not available is no refusal")
				}
				refusing.Store(false)
				logs.await(t, watermill.InfoLogLevel, group+" works again")
				assert.NoError(t, refused(), "no refusal once the group is joined")
			})
		}
	}
}
