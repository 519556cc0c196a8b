package kafka_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"

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
