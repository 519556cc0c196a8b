package kafka_test

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	kafkago "github.com/segmentio/kafka-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/dscokafka/connector/pkg/kafka"
	"github.com/dscokafka/connector/pkg/kafka/kafkatest"
)

// refuseCommit answers req with code for every partition it commits.
func refuseCommit(req *kmsg.OffsetCommitRequest, code *kerr.Error) *kmsg.OffsetCommitResponse {
	resp := req.ResponseKind().(*kmsg.OffsetCommitResponse)
	for _, rt := range req.Topics {
		st := kmsg.NewOffsetCommitResponseTopic()
		st.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			sp := kmsg.NewOffsetCommitResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.ErrorCode = code.Code
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}

// TestRepeatedCommitFailuresLogged: a commit failing now and then is normal (a rebalance,
// the group's coordinator moving, fail the commits of a generation until the member
// rejoins), so it is logged at info level; commits that keep failing are an operator's
// problem, logged once per streak at error level with the cause and where to look: at the
// first failure when Kafka refuses them for want of rights (the group's ACLs), otherwise
// once the streak has lasted the session timeout. The commit that lands after it says so
// at info level.
func TestRepeatedCommitFailuresLogged(t *testing.T) {
	if kafkatest.Real() {
		t.Skip("fails commits with kfake's controls")
	}
	const session = 2 * time.Second
	for _, tc := range []struct {
		name    string
		code    *kerr.Error
		want    error // the error line's cause
		refused bool  // logged at the first failure
	}{
		{"group authorization failed", kerr.GroupAuthorizationFailed, kafkago.GroupAuthorizationFailed, true},
		{"coordinator error that lasts", kerr.NotCoordinator, kafkago.NotCoordinatorForGroup, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cluster := kafkatest.NewCluster(t)
			brokers := cluster.ListenAddrs()
			topic, group := kafkatest.Name("commitfail"), kafkatest.Name("g")
			kafkatest.CreateTopic(t, brokers, topic, 1)
			pub := startPublisher(t, brokers)
			sent := publishN(t, pub, topic, 3, "")
			commitOffset(t, brokers, group, topic, 0) // no start offset to resolve and commit first

			var toRefuse, refused atomic.Int64 // commits to refuse; refused so far
			cluster.ControlKey(int16(kmsg.OffsetCommit), func(req kmsg.Request) (kmsg.Response, error, bool) {
				cluster.KeepControl()
				creq := req.(*kmsg.OffsetCommitRequest)
				if creq.Group != group || toRefuse.Add(-1) < 0 {
					return nil, nil, false
				}
				refused.Add(1)
				return refuseCommit(creq, tc.code), nil, true
			})

			logs := newLogRecorder()
			cfg := testSubscriberConfig(brokers, group)
			cfg.SessionTimeout = session
			sub, err := kafka.NewSubscriber(cfg, logs)
			require.NoError(t, err)
			ch := subscribe(t, sub, topic)
			commitErrors := func() []logLine { return logs.find(watermill.ErrorLogLevel, "Committing offsets") }
			commitLands := func(offset int64) {
				t.Helper()
				require.Eventually(t, func() bool {
					return kafkatest.CommittedOffsets(t, brokers, group, topic)[0] == offset
				}, waitLimit, 20*time.Millisecond)
			}
			next := func(i int) {
				t.Helper()
				got := receive(t, ch)
				require.Equal(t, sent[i].UUID, got.UUID)
				require.True(t, got.Ack())
			}

			// A short streak: three commits refused, then one lands.
			toRefuse.Store(3)
			next(0)
			commitLands(1)
			require.EqualValues(t, 3, refused.Load())
			if tc.refused {
				require.Len(t, commitErrors(), 1, "refused for want of rights: an error line at once")
				assert.EqualValues(t, 1, commitErrors()[0].fields["failures_in_a_row"])
				require.Eventually(t, func() bool { return len(logs.find(watermill.InfoLogLevel, "Committing offsets works again")) == 1 }, waitLimit, 10*time.Millisecond)
			} else {
				assert.Empty(t, commitErrors(), "a short streak of coordinator errors is a rebalance's")
			}

			// Streaks that last, until an error line says so; then commits land again.
			for i := 1; i < len(sent); i++ {
				toRefuse.Store(1 << 40)
				next(i)
				require.Eventually(t, func() bool { return len(commitErrors()) == i+btoi(tc.refused) }, waitLimit, 10*time.Millisecond)
				line := commitErrors()[len(commitErrors())-1]
				assert.ErrorIs(t, line.err, tc.want, "the error line names the cause")
				assert.Contains(t, line.msg, "ACLs", "the error line says where to look")
				failingFor, err := time.ParseDuration(line.fields["failing_for"].(string))
				require.NoError(t, err)
				if tc.refused {
					assert.EqualValues(t, 1, line.fields["failures_in_a_row"])
				} else {
					assert.GreaterOrEqual(t, failingFor, session, "logged once the streak lasted the session timeout")
				}
				toRefuse.Store(0)
				commitLands(int64(i + 1))
				require.Eventually(t, func() bool {
					return len(logs.find(watermill.InfoLogLevel, "Committing offsets works again")) == i+btoi(tc.refused)
				}, waitLimit, 10*time.Millisecond, "the commit that lands after an error line says so")
			}
			assert.NotEmpty(t, logs.find(watermill.InfoLogLevel, "Committing offsets failed"), "the other failures are logged at info level")
			closeSubscriber(t, sub, ch)
			assert.Len(t, commitErrors(), len(sent)-1+btoi(tc.refused), "one error line per streak")
		})
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
