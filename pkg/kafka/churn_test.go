package kafka_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dscokafka/connector/pkg/kafka"
	"github.com/dscokafka/connector/pkg/kafka/kafkatest"
)

// ackLedger records every offset acked by any member, before the ack is given.
type ackLedger struct {
	mu     sync.Mutex
	offs   map[int32]map[int64]bool
	uuids  map[string]bool
	nacked map[string]bool
}

func (l *ackLedger) allAckedBelow(p int32, committed int64) (int64, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for o := int64(0); o < committed; o++ {
		if !l.offs[p][o] {
			return o, false
		}
	}
	return 0, true
}

// TestGroupChurnNeverCommitsUnacked: members join and leave while messages flow and some
// messages are nacked once. Throughout, the committed offset of every partition only covers
// offsets some member acked (checked through the admin API); at the end every message was
// acked and everything is committed.
func TestGroupChurnNeverCommitsUnacked(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	topic, group := kafkatest.Name("churn"), kafkatest.Name("g")
	const partitions, total = 4, 400
	kafkatest.CreateTopic(t, brokers, topic, partitions)
	pub := startPublisher(t, brokers)
	var sent []*message.Message
	for i := range 40 {
		sent = append(sent, publishN(t, pub, topic, total/40, fmt.Sprintf("key-%d", i))...)
	}

	ledger := &ackLedger{offs: map[int32]map[int64]bool{}, uuids: map[string]bool{}, nacked: map[string]bool{}}
	handle := func(msg *message.Message) {
		p, _ := kafka.MessagePartitionFromCtx(msg.Context())
		o, _ := kafka.MessagePartitionOffsetFromCtx(msg.Context())
		ledger.mu.Lock()
		if o%10 == 3 && !ledger.nacked[msg.UUID] {
			ledger.nacked[msg.UUID] = true
			ledger.mu.Unlock()
			msg.Nack()
			return
		}
		if ledger.offs[p] == nil {
			ledger.offs[p] = map[int64]bool{}
		}
		ledger.offs[p][o] = true
		ledger.uuids[msg.UUID] = true
		ledger.mu.Unlock()
		msg.Ack()
	}
	member := func(ctx context.Context) {
		sub, err := kafka.NewSubscriber(testSubscriberConfig(brokers, group), nil)
		require.NoError(t, err)
		ch, err := sub.Subscribe(ctx, topic)
		require.NoError(t, err)
		for msg := range ch {
			time.Sleep(time.Millisecond) // a handler that takes some time, so churn overlaps work
			handle(msg)
		}
		assert.NoError(t, sub.Close())
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var members sync.WaitGroup
	members.Add(1)
	go func() { defer members.Done(); member(ctx) }()

	// Watch the committed offsets while the group churns.
	watchDone := make(chan struct{})
	var violations []string
	go func() {
		defer close(watchDone)
		for ctx.Err() == nil {
			for p, c := range kafkatest.CommittedOffsets(t, brokers, group, topic) {
				if o, ok := ledger.allAckedBelow(p, c); !ok {
					violations = append(violations, fmt.Sprintf("partition %d committed %d but offset %d was never acked", p, c, o))
				}
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()

	// Real brokers take members joining and leaving faster than the group rebalances. kfake
	// does not: it restarts its rebalance timer on every join, so under such churn a group
	// can stay in PreparingRebalance for good. There each change waits for the group to
	// settle with the expected members; the rapid churn is a claim for the real tier.
	settle := func(members int) {
		if !kafkatest.Real() {
			waitGroupMembers(t, brokers, group, members)
		}
	}
	settle(1)
	for i := range 3 {
		memberCtx, stop := context.WithCancel(ctx)
		members.Add(1)
		go func() { defer members.Done(); member(memberCtx) }()
		settle(2)
		time.Sleep(time.Duration(150+50*i) * time.Millisecond)
		stop()
		settle(1)
	}

	require.Eventually(t, func() bool {
		ledger.mu.Lock()
		defer ledger.mu.Unlock()
		return len(ledger.uuids) == total
	}, waitLimit, 20*time.Millisecond, "every message acked")
	cancel()
	members.Wait()
	<-watchDone

	assert.Empty(t, violations)
	for _, m := range sent {
		assert.True(t, ledger.uuids[m.UUID], "message %s acked", m.UUID)
	}
	committed := kafkatest.CommittedOffsets(t, brokers, group, topic)
	var sum int64
	for p, c := range committed {
		_, ok := ledger.allAckedBelow(p, c)
		assert.True(t, ok)
		sum += c
	}
	assert.Equal(t, int64(total), sum, "everything acked is committed: %v", committed)
}

// waitGroupMembers waits until group is Stable with n members.
func waitGroupMembers(t *testing.T, brokers []string, group string, n int) {
	t.Helper()
	adm := kafkatest.Admin(t, brokers)
	require.Eventually(t, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
		defer cancel()
		groups, err := adm.DescribeGroups(ctx, group)
		return err == nil && groups[group].State == "Stable" && len(groups[group].Members) == n
	}, waitLimit, 20*time.Millisecond, "group %s stable with %d members", group, n)
}
