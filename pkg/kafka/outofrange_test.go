package kafka_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/dscokafka/connector/pkg/kafka"
	"github.com/dscokafka/connector/pkg/kafka/kafkatest"
)

// commitOffset commits offset for partition 0 of topic on behalf of group (which has no
// members), as a tool resetting the group would.
func commitOffset(t *testing.T, brokers []string, group, topic string, offset int64) {
	t.Helper()
	var os kadm.Offsets
	os.Add(kadm.Offset{Topic: topic, Partition: 0, At: offset, LeaderEpoch: -1})
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	require.NoError(t, kafkatest.Admin(t, brokers).CommitAllOffsets(ctx, group, os))
	require.Equal(t, map[int32]int64{0: offset}, kafkatest.CommittedOffsets(t, brokers, group, topic))
}

// TestCommittedOffsetBeyondEndIsReset: a group whose committed offset lies past the end of
// the partition (the topic was recreated, or the log truncated) restarts where StartOffset
// says, instead of waiting forever for offsets that will never exist, and commits the
// position it reset to.
func TestCommittedOffsetBeyondEndIsReset(t *testing.T) {
	cases := []struct {
		name  string
		start kafka.StartOffset
		// wantFirst is the index of the first message delivered after the reset, among the
		// three published before it and the three after it.
		wantFirst int
	}{
		{"earliest", kafka.StartEarliest, 0},
		{"latest", kafka.StartLatest, 3},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			brokers := kafkatest.Brokers(t)
			topic, group := kafkatest.Name("oor"), kafkatest.Name("g")
			kafkatest.CreateTopic(t, brokers, topic, 1)
			pub := startPublisher(t, brokers)
			sent := publishN(t, pub, topic, 3, "")
			commitOffset(t, brokers, group, topic, 1000)

			sub := startSubscriber(t, brokers, group, func(c *kafka.SubscriberConfig) { c.StartOffset = tc.start })
			ch := subscribe(t, sub, topic)
			if tc.start == kafka.StartLatest {
				// The reset position is committed even before anything is consumed, so
				// it survives a restart.
				require.Eventually(t, func() bool {
					return kafkatest.CommittedOffsets(t, brokers, group, topic)[0] == 3
				}, waitLimit, 50*time.Millisecond)
			}
			sent = append(sent, publishN(t, pub, topic, 3, "")...)
			for i := tc.wantFirst; i < len(sent); i++ {
				msg := receive(t, ch)
				require.Equal(t, sent[i].UUID, msg.UUID, "message %d", i)
				require.True(t, msg.Ack())
			}
			closeSubscriber(t, sub, ch)
			require.Equal(t, map[int32]int64{0: 6}, kafkatest.CommittedOffsets(t, brokers, group, topic))
		})
	}
}

// TestStartCommittedBeforeDelivery: with StartLatest, the position a member resolves (the
// group has no committed offset, or one past the end of the log) is committed before any
// message is delivered, although the group's first commits fail: a member that died
// holding a message delivered before would leave the next member to resolve "latest"
// anew, past the message.
func TestStartCommittedBeforeDelivery(t *testing.T) {
	if kafkatest.Real() {
		t.Skip("fails commits with kfake's controls")
	}
	const failures = 3
	for _, tc := range []struct {
		name      string
		committed int64 // -1: none
	}{
		{"no committed offset", -1},
		{"committed offset past the end", 1000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cluster := kafkatest.NewCluster(t)
			brokers := cluster.ListenAddrs()
			topic, group := kafkatest.Name("start"), kafkatest.Name("g")
			kafkatest.CreateTopic(t, brokers, topic, 1)
			pub := startPublisher(t, brokers)
			publishN(t, pub, topic, 3, "")
			if tc.committed >= 0 {
				commitOffset(t, brokers, group, topic, tc.committed)
			}
			var failed atomic.Int32
			var landed atomic.Bool
			cluster.ControlKey(int16(kmsg.OffsetCommit), func(req kmsg.Request) (kmsg.Response, error, bool) {
				cluster.KeepControl()
				creq := req.(*kmsg.OffsetCommitRequest)
				if creq.Group != group {
					return nil, nil, false
				}
				if failed.Load() >= failures {
					landed.Store(true)
					return nil, nil, false
				}
				failed.Add(1)
				resp := creq.ResponseKind().(*kmsg.OffsetCommitResponse)
				for _, rt := range creq.Topics {
					st := kmsg.NewOffsetCommitResponseTopic()
					st.Topic = rt.Topic
					for _, rp := range rt.Partitions {
						sp := kmsg.NewOffsetCommitResponseTopicPartition()
						sp.Partition = rp.Partition
						sp.ErrorCode = kerr.CoordinatorLoadInProgress.Code
						st.Partitions = append(st.Partitions, sp)
					}
					resp.Topics = append(resp.Topics, st)
				}
				return resp, nil, true
			})

			sub := startSubscriber(t, brokers, group, func(c *kafka.SubscriberConfig) {
				c.StartOffset = kafka.StartLatest
				c.JoinGroupBackoff = 50 * time.Millisecond
				c.CommitInterval = time.Hour // only commitStart commits the start
			})
			ch := subscribe(t, sub, topic)
			msg := receiveProbe(t, pub, topic, ch)
			require.True(t, landed.Load(), "the resolved start is committed before the first delivery")
			require.EqualValues(t, failures, failed.Load())
			require.True(t, msg.Ack())
			closeSubscriber(t, sub, ch)
		})
	}
}

// TestCommitFollowsDeletedRecords: a group whose committed offset lies before the start of
// the log (retention deleted records it had not consumed) reads on from the start, and
// its commit follows there even when no record is left to consume: it stayed at the
// deleted offset, and lag monitoring saw the partition's whole length as lag for good.
func TestCommitFollowsDeletedRecords(t *testing.T) {
	forEachAPI(t, func(t *testing.T, subscribe subscribeFunc) {
		brokers := kafkatest.Brokers(t)
		topic, group := kafkatest.Name("deleted"), kafkatest.Name("g")
		kafkatest.CreateTopic(t, brokers, topic, 1)
		pub := startPublisher(t, brokers)
		publishN(t, pub, topic, 5, "")
		commitOffset(t, brokers, group, topic, 1)
		var offs kadm.Offsets
		offs.Add(kadm.Offset{Topic: topic, Partition: 0, At: 5}) // every record
		ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
		defer cancel()
		res, err := kafkatest.Admin(t, brokers).DeleteRecords(ctx, offs)
		require.NoError(t, err)
		require.NoError(t, res.Error())

		sub := startSubscriber(t, brokers, group)
		subscribe(t, sub, topic)
		require.Eventually(t, func() bool {
			return kafkatest.CommittedOffsets(t, brokers, group, topic)[0] == 5
		}, waitLimit, 50*time.Millisecond, "the commit moves to the start of the log")
	})
}
