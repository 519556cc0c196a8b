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

// TestRepeatedCommitFailuresLogged: a commit failing now and then is normal (the one that
// ends a generation a rebalance revoked), so it is logged at info level; commits refused
// again and again (here the group's ACLs deny them) are an operator's problem. The
// failures of a streak are logged at info level up to kafka.CommitFailuresBeforeError in
// a row; that one is logged at error level, once per streak, with the cause and where to
// look; the commit that lands after it says so at info level. A new streak logs its own
// error.
func TestRepeatedCommitFailuresLogged(t *testing.T) {
	if kafkatest.Real() {
		t.Skip("fails commits with kfake's controls")
	}
	const streak = kafka.CommitFailuresBeforeError
	cluster := kafkatest.NewCluster(t)
	brokers := cluster.ListenAddrs()
	topic, group := kafkatest.Name("commitfail"), kafkatest.Name("g")
	kafkatest.CreateTopic(t, brokers, topic, 1)
	pub := startPublisher(t, brokers)
	sent := publishN(t, pub, topic, 2, "")
	commitOffset(t, brokers, group, topic, 0) // no start offset to resolve and commit first

	var refusing atomic.Bool
	var refused atomic.Int32
	cluster.ControlKey(int16(kmsg.OffsetCommit), func(req kmsg.Request) (kmsg.Response, error, bool) {
		cluster.KeepControl()
		creq := req.(*kmsg.OffsetCommitRequest)
		if creq.Group != group || !refusing.Load() {
			return nil, nil, false
		}
		refused.Add(1)
		return refuseCommit(creq, kerr.GroupAuthorizationFailed), nil, true
	})

	logs := newLogRecorder()
	sub, err := kafka.NewSubscriber(testSubscriberConfig(brokers, group), logs)
	require.NoError(t, err)
	ch := subscribe(t, sub, topic)
	commitErrors := func() []logLine { return logs.find(watermill.ErrorLogLevel, "Committing offsets") }

	for i, msg := range sent {
		t.Logf("streak %d", i+1)
		refusing.Store(true)
		from := refused.Load()
		got := receive(t, ch)
		require.Equal(t, msg.UUID, got.UUID)
		require.True(t, got.Ack())
		// Commits are sent one after the other: once the broker refused 2*streak in a
		// row, the member has seen the answers to more than streak of them.
		require.Eventually(t, func() bool { return refused.Load() >= from+2*streak }, waitLimit, 10*time.Millisecond)
		errs := commitErrors()
		require.Len(t, errs, i+1, "one error line per streak of failed commits")
		assert.ErrorIs(t, errs[i].err, kafkago.GroupAuthorizationFailed, "the error line names the cause")
		assert.Contains(t, errs[i].msg, "ACLs", "the error line says where to look")
		assert.EqualValues(t, streak, errs[i].fields["failures_in_a_row"])

		refusing.Store(false)
		require.Eventually(t, func() bool {
			return kafkatest.CommittedOffsets(t, brokers, group, topic)[0] == int64(i+1)
		}, waitLimit, 20*time.Millisecond)
		require.Eventually(t, func() bool {
			return len(logs.find(watermill.InfoLogLevel, "Committing offsets works again")) == i+1
		}, waitLimit, 10*time.Millisecond, "the commit that lands after an error line says so")
	}
	assert.GreaterOrEqual(t, len(logs.find(watermill.InfoLogLevel, "Committing offsets failed")), 2*(streak-1),
		"the first failures of each streak are logged at info level")
	closeSubscriber(t, sub, ch)
	assert.Len(t, commitErrors(), len(sent))
}
