package kafka_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dscokafka/connector/pkg/kafka"
	"github.com/dscokafka/connector/pkg/kafka/kafkatest"
)

func TestNackRedeliversWithoutSkipping(t *testing.T) {
	forEachAPI(t, testNackRedeliversWithoutSkipping)
}

func testNackRedeliversWithoutSkipping(t *testing.T, subscribe subscribeFunc) {
	brokers := kafkatest.Brokers(t)
	topic, group := kafkatest.Name("nack"), kafkatest.Name("g")
	kafkatest.CreateTopic(t, brokers, topic, 1)
	pub := startPublisher(t, brokers)
	sent := publishN(t, pub, topic, 3, "")
	sub := startSubscriber(t, brokers, group)
	ch := subscribe(t, sub, topic)

	first := receive(t, ch)
	require.Equal(t, sent[0].UUID, first.UUID)
	previous := first
	for range 3 {
		require.True(t, previous.Nack())
		<-previous.Context().Done() // canceled once nacked
		again := receive(t, ch)
		assert.NotSame(t, previous, again, "a redelivery is a fresh message")
		assert.Equal(t, sent[0].UUID, again.UUID)
		assert.Equal(t, sent[0].Payload, again.Payload)
		assert.Equal(t, "0", again.Metadata.Get("seq"))
		previous = again
	}
	require.True(t, previous.Ack())
	for i := 1; i < 3; i++ {
		msg := receive(t, ch)
		assert.Equal(t, sent[i].UUID, msg.UUID, "message %d follows in order", i)
		require.True(t, msg.Ack())
	}
	closeSubscriber(t, sub, ch)
	assert.Equal(t, map[int32]int64{0: 3}, kafkatest.CommittedOffsets(t, brokers, group, topic))
}

// TestCommitNeverPassesUnackedMessage holds one message unacked and checks through the
// admin API that the committed offset stops right before it, and that the next member of
// the group starts with it.
func TestCommitNeverPassesUnackedMessage(t *testing.T) {
	forEachAPI(t, testCommitNeverPassesUnackedMessage)
}

func testCommitNeverPassesUnackedMessage(t *testing.T, subscribe subscribeFunc) {
	brokers := kafkatest.Brokers(t)
	topic, group := kafkatest.Name("commit"), kafkatest.Name("g")
	kafkatest.CreateTopic(t, brokers, topic, 1)
	pub := startPublisher(t, brokers)
	sent := publishN(t, pub, topic, 5, "")

	sub := startSubscriber(t, brokers, group, func(c *kafka.SubscriberConfig) { c.DrainTimeout = 100 * time.Millisecond })
	ch := subscribe(t, sub, topic)
	for i := range 2 {
		msg := receive(t, ch)
		require.Equal(t, sent[i].UUID, msg.UUID)
		require.True(t, msg.Ack())
	}
	held := receive(t, ch)
	require.Equal(t, sent[2].UUID, held.UUID)

	// Acks are committed on the interval while the message is held.
	require.Eventually(t, func() bool {
		return kafkatest.CommittedOffsets(t, brokers, group, topic)[0] == 2
	}, waitLimit, 50*time.Millisecond)

	closeSubscriber(t, sub, ch)
	<-held.Context().Done()
	held.Ack() // too late: the subscription is over, so this must not commit anything
	assert.Equal(t, map[int32]int64{0: 2}, kafkatest.CommittedOffsets(t, brokers, group, topic),
		"an unacked message is not committed on close")

	next := startSubscriber(t, brokers, group)
	nextCh := subscribe(t, next, topic)
	for i := 2; i < 5; i++ {
		msg := receive(t, nextCh)
		require.Equal(t, sent[i].UUID, msg.UUID)
		require.True(t, msg.Ack())
	}
	closeSubscriber(t, next, nextCh)
	assert.Equal(t, map[int32]int64{0: 5}, kafkatest.CommittedOffsets(t, brokers, group, topic))
}

// TestDeadConsumerMessageGoesToNextMember: the member holding an unacked message goes
// away; the other member of the group gets the message.
func TestDeadConsumerMessageGoesToNextMember(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	topic, group := kafkatest.Name("dead"), kafkatest.Name("g")
	kafkatest.CreateTopic(t, brokers, topic, 1)
	pub := startPublisher(t, brokers)

	short := func(c *kafka.SubscriberConfig) { c.DrainTimeout = 100 * time.Millisecond }
	subA, subB := startSubscriber(t, brokers, group, short), startSubscriber(t, brokers, group, short)
	chA, chB := subscribe(t, subA, topic), subscribe(t, subB, topic)
	sent := publishN(t, pub, topic, 1, "")

	var got *message.Message
	var dying *kafka.Subscriber
	var dyingCh, survivorCh <-chan *message.Message
	select {
	case got = <-chA:
		dying, dyingCh, survivorCh = subA, chA, chB
	case got = <-chB:
		dying, dyingCh, survivorCh = subB, chB, chA
	case <-time.After(waitLimit):
		t.Fatal("no member received the message")
	}
	require.Equal(t, sent[0].UUID, got.UUID)
	closeSubscriber(t, dying, dyingCh)

	again := receive(t, survivorCh)
	assert.Equal(t, sent[0].UUID, again.UUID)
	assert.Equal(t, sent[0].Payload, again.Payload)
	require.True(t, again.Ack())
}

func TestCloseDuringHandling(t *testing.T) { forEachAPI(t, testCloseDuringHandling) }

func testCloseDuringHandling(t *testing.T, subscribe subscribeFunc) {
	brokers := kafkatest.Brokers(t)
	topic, group := kafkatest.Name("close"), kafkatest.Name("g")
	kafkatest.CreateTopic(t, brokers, topic, 1)
	pub := startPublisher(t, brokers)
	sent := publishN(t, pub, topic, 2, "")
	sub := startSubscriber(t, brokers, group, func(c *kafka.SubscriberConfig) {
		c.DrainTimeout, c.RebalanceTimeout = waitLimit, 2*waitLimit // a hang guard: Close waits for the ack below
	})
	ch := subscribe(t, sub, topic)

	msg := receive(t, ch)
	require.Equal(t, sent[0].UUID, msg.UUID)

	closed := make(chan error, 1)
	go func() { closed <- sub.Close() }()
	// Close waits for the handler: the ack below happens while Close is draining, and is
	// committed before Close returns.
	select {
	case err := <-closed:
		t.Fatalf("Close returned (%v) before the in-flight message was acked", err)
	case <-time.After(200 * time.Millisecond):
	}
	require.True(t, msg.Ack())
	select {
	case err := <-closed:
		require.NoError(t, err)
	case <-time.After(waitLimit):
		t.Fatal("Close did not return")
	}
	for range ch {
		t.Fatal("no message may be delivered after Close started")
	}
	require.NoError(t, sub.Close(), "Close is idempotent")
	_, err := sub.Subscribe(context.Background(), topic)
	require.ErrorIs(t, err, kafka.ErrSubscriberClosed)
	assert.Equal(t, map[int32]int64{0: 1}, kafkatest.CommittedOffsets(t, brokers, group, topic))
}

// TestRebalanceLosesNothingAndCommitsNoUnacked: member A holds one message unacked while
// member B joins; A must give it up without committing it, its partition's new owner gets it
// again, and in the end every message was acked and committed.
func TestRebalanceLosesNothingAndCommitsNoUnacked(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	topic, group := kafkatest.Name("rebalance"), kafkatest.Name("g")
	const partitions, perPartition = 4, 25
	kafkatest.CreateTopic(t, brokers, topic, partitions)
	pub := startPublisher(t, brokers)
	var sent []*message.Message
	for _, key := range []string{"a", "b", "c", "d", "e", "f", "g", "h"} {
		sent = append(sent, publishN(t, pub, topic, perPartition/2, key)...)
	}

	short := func(c *kafka.SubscriberConfig) { c.DrainTimeout = 200 * time.Millisecond }
	subA := startSubscriber(t, brokers, group, short)
	chA := subscribe(t, subA, topic)
	held := receive(t, chA)
	heldPartition, ok := kafka.MessagePartitionFromCtx(held.Context())
	require.True(t, ok)
	heldOffset, ok := kafka.MessagePartitionOffsetFromCtx(held.Context())
	require.True(t, ok)

	subB := startSubscriber(t, brokers, group, short)
	chB := subscribe(t, subB, topic)

	var mu sync.Mutex
	acked := map[string]int{}
	heldAgain := make(chan struct{})
	var once sync.Once
	consume := func(ch <-chan *message.Message) {
		for msg := range ch {
			if msg.UUID == held.UUID {
				once.Do(func() {
					// The held message is delivered again only after A gave it up; by then
					// its offset must not be committed.
					committed := kafkatest.CommittedOffsets(t, brokers, group, topic)
					assert.LessOrEqual(t, committed[heldPartition], heldOffset, "unacked message committed")
					close(heldAgain)
				})
			}
			mu.Lock()
			acked[msg.UUID]++
			mu.Unlock()
			msg.Ack()
		}
	}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); consume(chA) }()
	go func() { defer wg.Done(); consume(chB) }()

	select {
	case <-heldAgain:
	case <-time.After(waitLimit):
		t.Fatal("the message held during the rebalance was not delivered again")
	}
	<-held.Context().Done() // A abandoned it
	require.Eventually(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(acked) == len(sent)
	}, waitLimit, 20*time.Millisecond, "every message is acked")
	require.NoError(t, subA.Close())
	require.NoError(t, subB.Close())
	wg.Wait()

	for _, m := range sent {
		assert.Contains(t, acked, m.UUID)
	}
	committed := kafkatest.CommittedOffsets(t, brokers, group, topic)
	var total int64
	for _, off := range committed {
		total += off
	}
	assert.Equal(t, int64(len(sent)), total, "every acked message is committed: %v", committed)
}

// TestStartLatestSkipsOlderRecords: a new group with StartLatest never sees what was
// written before it joined. Probes are published until one arrives, so the test does not
// depend on how long joining takes.
func TestStartLatestSkipsOlderRecords(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	topic := kafkatest.Name("latest")
	kafkatest.CreateTopic(t, brokers, topic, 1)
	pub := startPublisher(t, brokers)
	old := publishN(t, pub, topic, 1, "")[0]

	sub := startSubscriber(t, brokers, kafkatest.Name("g"), func(c *kafka.SubscriberConfig) { c.StartOffset = kafka.StartLatest })
	ch := subscribe(t, sub, topic)
	first := receiveProbe(t, pub, topic, ch)
	assert.NotEqual(t, old.UUID, first.UUID)
	require.True(t, first.Ack())
}

// receiveProbe publishes probes (distinct UUIDs) to topic until one arrives on ch, and
// returns it: with StartLatest, when the member starts reading is not known.
func receiveProbe(t *testing.T, pub *kafka.Publisher, topic string, ch <-chan *message.Message) *message.Message {
	t.Helper()
	first := receiveFirst(t, pub, topic, ch)
	require.Equal(t, "1", first.Metadata.Get("probe"))
	return first
}

// receiveFirst publishes probes (distinct UUIDs, metadata "probe" set) to topic until a
// message arrives on ch, and returns the first message that arrives, probe or not.
func receiveFirst(t *testing.T, pub *kafka.Publisher, topic string, ch <-chan *message.Message) *message.Message {
	t.Helper()
	stop := make(chan struct{})
	probing := make(chan struct{})
	go func() {
		defer close(probing)
		for {
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
				probe := message.NewMessage(watermill.NewUUID(), []byte("probe"))
				probe.Metadata.Set("probe", "1")
				if err := pub.Publish(topic, probe); err != nil {
					t.Error(err)
					return
				}
			}
		}
	}()
	first := receive(t, ch)
	close(stop)
	<-probing
	return first
}

// TestStartLatestKeepsUnackedMessage: the first member of a StartLatest group closes while
// holding its first message unacked. The next member must start with that message, not
// resolve "latest" again and skip it (segmentio/kafka-go#904, #1319).
func TestStartLatestKeepsUnackedMessage(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(*kafka.SubscriberConfig)
	}{
		{name: "per partition", mutate: func(*kafka.SubscriberConfig) {}},
		{name: "per key", mutate: perKey},
	} {
		t.Run(tc.name, func(t *testing.T) {
			brokers := kafkatest.Brokers(t)
			topic, group := kafkatest.Name("latest"), kafkatest.Name("g")
			kafkatest.CreateTopic(t, brokers, topic, 1)
			pub := startPublisher(t, brokers)
			publishN(t, pub, topic, 3, "")
			latest := func(c *kafka.SubscriberConfig) {
				c.StartOffset = kafka.StartLatest
				c.DrainTimeout = 100 * time.Millisecond
				tc.mutate(c)
			}

			first := startSubscriber(t, brokers, group, latest)
			firstCh := subscribe(t, first, topic)
			held := receiveProbe(t, pub, topic, firstCh)
			closeSubscriber(t, first, firstCh)

			next := startSubscriber(t, brokers, group, latest)
			nextCh := subscribe(t, next, topic)
			after := publishN(t, pub, topic, 1, "")[0]
			got := receive(t, nextCh)
			require.Equal(t, held.UUID, got.UUID, "the next member starts with the unacked message")
			for got.UUID != after.UUID { // the later probes, then after
				require.True(t, got.Ack())
				got = receive(t, nextCh)
			}
			require.True(t, got.Ack())
			closeSubscriber(t, next, nextCh)
		})
	}
}

// TestHungMemberCannotCommitAfterRevoke: member A's handler hangs on a message while B
// joins. The rebalance completes without A (after the rebalance timeout), B gets the
// partition and redelivers the message. When A's handler finally acks, A's commit carries
// its old generation and must not land: the committed offset stays where B put it
// (segmentio/kafka-go#1308 is this bug in kafka-go's own Reader).
func TestHungMemberCannotCommitAfterRevoke(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	topic, group := kafkatest.Name("hung"), kafkatest.Name("g")
	kafkatest.CreateTopic(t, brokers, topic, 1)
	pub := startPublisher(t, brokers)
	sent := publishN(t, pub, topic, 3, "")

	quickRebalance := func(c *kafka.SubscriberConfig) {
		c.RebalanceTimeout, c.DrainTimeout = time.Second, 500*time.Millisecond
	}
	subA := startSubscriber(t, brokers, group, quickRebalance, kafka.AllowDrainPastRebalance, func(c *kafka.SubscriberConfig) {
		c.DrainTimeout = waitLimit // A's handler hangs longer than the rebalance may wait
	})
	chA := subscribe(t, subA, topic)
	hung := receive(t, chA)
	require.Equal(t, sent[0].UUID, hung.UUID)

	subB := startSubscriber(t, brokers, group, quickRebalance)
	chB := subscribe(t, subB, topic)
	for i := range 2 {
		msg := receive(t, chB)
		require.Equal(t, sent[i].UUID, msg.UUID, "B starts where nothing was committed: the hung message")
		require.True(t, msg.Ack())
	}
	heldByB := receive(t, chB)
	require.Equal(t, sent[2].UUID, heldByB.UUID)
	require.Eventually(t, func() bool {
		return kafkatest.CommittedOffsets(t, brokers, group, topic)[0] == 2
	}, waitLimit, 20*time.Millisecond)

	// A wakes up: its ack is seen by its draining partition goroutine, and A then commits
	// offset 1 with the generation it consumed in, which has ended.
	require.True(t, hung.Ack())
	require.NoError(t, subA.Close())
	assert.Equal(t, map[int32]int64{0: 2}, kafkatest.CommittedOffsets(t, brokers, group, topic),
		"a member's commit after its partition was revoked must not move the offset back")

	require.True(t, heldByB.Ack())
	closeSubscriber(t, subB, chB)
	assert.Equal(t, map[int32]int64{0: 3}, kafkatest.CommittedOffsets(t, brokers, group, topic))
}

// TestCloseTimeoutBoundsDrain: a handler that never acks, a DrainTimeout longer than the
// test's patience and a short CloseTimeout: Close gives up at CloseTimeout, says so, and
// abandons the message (its context is canceled; it is not committed).
func TestCloseTimeoutBoundsDrain(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	topic, group := kafkatest.Name("closetimeout"), kafkatest.Name("g")
	kafkatest.CreateTopic(t, brokers, topic, 1)
	pub := startPublisher(t, brokers)
	sent := publishN(t, pub, topic, 1, "")
	cfg := testSubscriberConfig(brokers, group)
	cfg.DrainTimeout, cfg.RebalanceTimeout = 10*waitLimit, 20*waitLimit
	cfg.CloseTimeout = time.Second
	sub, err := kafka.NewSubscriber(cfg, nil)
	require.NoError(t, err)
	ch := subscribe(t, sub, topic)
	held := receive(t, ch)
	require.Equal(t, sent[0].UUID, held.UUID)

	closed := make(chan error, 1)
	go func() { closed <- sub.Close() }()
	select {
	case err := <-closed:
		require.ErrorContains(t, err, "CloseTimeout")
	case <-time.After(waitLimit):
		t.Fatal("Close did not return at CloseTimeout")
	}
	<-held.Context().Done()
	require.ErrorContains(t, sub.Close(), "CloseTimeout", "a later Close returns the first one's result")
	assert.Equal(t, map[int32]int64{0: 0}, kafkatest.CommittedOffsets(t, brokers, group, topic),
		"the abandoned message is not committed")
}
