package kafka_test

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
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

// publishKeyed publishes one message per key in keys, in that order, with payload and
// "seq" metadata "<key>-<n>" (n counts the key's messages), and returns them.
func publishKeyed(t *testing.T, pub *kafka.Publisher, topic string, keys ...string) []*message.Message {
	t.Helper()
	seen := map[string]int{}
	msgs := make([]*message.Message, len(keys))
	for i, k := range keys {
		id := fmt.Sprintf("%s-%d", k, seen[k])
		seen[k]++
		msgs[i] = message.NewMessage(watermill.NewUUID(), []byte(id))
		msgs[i].Metadata.Set("seq", id)
		if k != "" {
			msgs[i].Metadata.Set(kafka.DefaultPartitionKeyMetadata, k)
		}
	}
	require.NoError(t, pub.Publish(topic, msgs...))
	return msgs
}

// receiveSet receives n messages and returns them by their "seq".
func receiveSet(t *testing.T, ch <-chan *message.Message, n int) map[string]*message.Message {
	t.Helper()
	got := map[string]*message.Message{}
	for range n {
		msg := receive(t, ch)
		got[msg.Metadata.Get("seq")] = msg
	}
	require.Len(t, got, n, "distinct messages")
	return got
}

func keysOf(m map[string]*message.Message) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// TestPerKeyDeliversAtMostOnePerKey walks one partition, keys a, b and none, through acks
// and a nack. At every step exactly the messages whose earlier same-key messages were all
// acked are out; the commit covers only the acked prefix of the partition.
func TestPerKeyDeliversAtMostOnePerKey(t *testing.T) {
	forEachAPI(t, testPerKeyDeliversAtMostOnePerKey)
}

func testPerKeyDeliversAtMostOnePerKey(t *testing.T, subscribe subscribeFunc) {
	brokers := kafkatest.Brokers(t)
	topic, group := kafkatest.Name("perkey"), kafkatest.Name("g")
	kafkatest.CreateTopic(t, brokers, topic, 1)
	pub := startPublisher(t, brokers)
	// offsets:            0    1    2    3    4   5   6
	publishKeyed(t, pub, topic, "a", "b", "a", "b", "", "", "a")
	sub := startSubscriber(t, brokers, group, perKey)
	ch := subscribe(t, sub, topic)

	first := receiveSet(t, ch, 3)
	require.ElementsMatch(t, []string{"a-0", "b-0", "-0"}, keysOf(first), "one message per key: a-1, b-1, -1 wait")

	require.True(t, first["b-0"].Ack())
	b1 := receive(t, ch)
	require.Equal(t, "b-1", b1.Metadata.Get("seq"), "b's next follows its ack; a's still waits")

	require.True(t, first["a-0"].Nack())
	a0 := receive(t, ch)
	require.Equal(t, "a-0", a0.Metadata.Get("seq"), "a nacked message comes again before the rest of its key")
	assert.Equal(t, first["a-0"].UUID, a0.UUID)

	// Acks out of offset order: b-1 (offset 3), the keyless -0 (offset 4).
	require.True(t, b1.Ack())
	require.True(t, first["-0"].Ack())
	keyless1 := receive(t, ch)
	require.Equal(t, "-1", keyless1.Metadata.Get("seq"), "keyless messages follow each other")
	require.True(t, keyless1.Ack())
	// Acked: 1, 3, 4, 5; offset 0 (a-0) is not: nothing is committable.
	require.True(t, a0.Ack())
	a1 := receive(t, ch)
	require.Equal(t, "a-1", a1.Metadata.Get("seq"))
	require.Eventually(t, func() bool {
		return kafkatest.CommittedOffsets(t, brokers, group, topic)[0] == 2
	}, waitLimit, 20*time.Millisecond, "offsets 0 and 1 acked, 2 (a-1) is not")
	require.True(t, a1.Ack())
	a2 := receive(t, ch)
	require.Equal(t, "a-2", a2.Metadata.Get("seq"))
	require.True(t, a2.Ack())
	closeSubscriber(t, sub, ch)
	assert.Equal(t, map[int32]int64{0: 7}, kafkatest.CommittedOffsets(t, brokers, group, topic))
}

// TestPerKeyInFlightLimit: with MaxInFlightPerPartition 3 and distinct keys, three messages
// of the partition are out unacked; the fourth comes only once one of them is acked.
func TestPerKeyInFlightLimit(t *testing.T) { forEachAPI(t, testPerKeyInFlightLimit) }

func testPerKeyInFlightLimit(t *testing.T, subscribe subscribeFunc) {
	brokers := kafkatest.Brokers(t)
	topic, group := kafkatest.Name("limit"), kafkatest.Name("g")
	kafkatest.CreateTopic(t, brokers, topic, 1)
	pub := startPublisher(t, brokers)
	publishKeyed(t, pub, topic, "k0", "k1", "k2", "k3", "k4")
	sub := startSubscriber(t, brokers, group, func(c *kafka.SubscriberConfig) {
		c.Ordering = kafka.OrderPerKey
		c.MaxInFlightPerPartition = 3
	})
	ch := subscribe(t, sub, topic)
	held := receiveSet(t, ch, 3)
	require.ElementsMatch(t, []string{"k0-0", "k1-0", "k2-0"}, keysOf(held))
	require.True(t, held["k1-0"].Ack())
	require.Equal(t, "k3-0", receive(t, ch).Metadata.Get("seq"), "the freed slot takes the next record")
	select {
	case msg := <-ch:
		t.Fatalf("%s delivered while 3 messages are in flight", msg.Metadata.Get("seq"))
	case <-time.After(300 * time.Millisecond):
	}
}

// TestPerKeyManyInFlightOrderAndNoLoss: 4 partitions, 50 keys, 2,000 messages, handlers
// that finish in random order and nack some messages once. Every message is acked, per key
// in publishing order; everything is committed.
func TestPerKeyManyInFlightOrderAndNoLoss(t *testing.T) {
	forEachAPI(t, testPerKeyManyInFlightOrderAndNoLoss)
}

func testPerKeyManyInFlightOrderAndNoLoss(t *testing.T, subscribe subscribeFunc) {
	brokers := kafkatest.Brokers(t)
	topic, group := kafkatest.Name("perkey-many"), kafkatest.Name("g")
	kafkatest.CreateTopic(t, brokers, topic, 4)
	pub := startPublisher(t, brokers)
	const keys, total = 50, 2000
	var order []string
	for i := range total {
		order = append(order, "key-"+strconv.Itoa(i%keys))
	}
	sent := publishKeyed(t, pub, topic, order...)
	sub := startSubscriber(t, brokers, group, perKey)
	ch := subscribe(t, sub, topic)

	var mu sync.Mutex
	acked := map[string][]int{} // key -> the sequence numbers acked, in ack order
	nacked := map[string]bool{}
	inFlight := map[string]int{}
	maxInFlight := 0
	ackedCount := 0
	done := make(chan struct{})
	var handlers sync.WaitGroup
	go func() {
		for msg := range ch {
			handlers.Add(1)
			go func() {
				defer handlers.Done()
				key := msg.Metadata.Get(kafka.DefaultPartitionKeyMetadata)
				mu.Lock()
				inFlight[key]++
				assert.Equal(t, 1, inFlight[key], "two messages of key %s in flight", key)
				maxInFlight = max(maxInFlight, len(inFlight))
				mu.Unlock()
				time.Sleep(time.Duration(rand.IntN(2000)) * time.Microsecond)
				mu.Lock()
				if inFlight[key]--; inFlight[key] == 0 {
					delete(inFlight, key)
				}
				seq := msg.Metadata.Get("seq")
				if rand.IntN(20) == 0 && !nacked[seq] {
					nacked[seq] = true
					mu.Unlock()
					msg.Nack()
					return
				}
				n, err := strconv.Atoi(seq[strings.LastIndexByte(seq, '-')+1:])
				assert.NoError(t, err)
				acked[key] = append(acked[key], n)
				ackedCount++
				if ackedCount == total {
					close(done)
				}
				mu.Unlock()
				msg.Ack()
			}()
		}
	}()
	select {
	case <-done:
	case <-time.After(3 * waitLimit):
		mu.Lock()
		defer mu.Unlock()
		t.Fatalf("acked %d of %d messages", ackedCount, total)
	}
	closeSubscriber(t, sub, ch)
	handlers.Wait()

	for k := range keys {
		key := "key-" + strconv.Itoa(k)
		want := make([]int, total/keys)
		for i := range want {
			want[i] = i
		}
		assert.Equal(t, want, acked[key], "key %s acked once each, in order", key)
	}
	assert.Greater(t, maxInFlight, 4, "more keys in flight than partitions")
	var sum int64
	for _, off := range kafkatest.CommittedOffsets(t, brokers, group, topic) {
		sum += off
	}
	assert.Equal(t, int64(len(sent)), sum, "everything committed")
}

// TestPerKeyRevokedLateAcksMoveNothing: member A consumes with OrderPerKey and holds 30
// messages of one partition in flight when B joins. A's handlers outlive the rebalance, so
// the group moves on without A and gives the partition to B, which starts over from the
// last commit, acks the first 10 messages and holds the rest. Then A's handlers finally ack
// all 30, in reverse order, while A is still draining: A commits them with its ended
// generation, and the broker must refuse that, so the committed offset stays at B's 10.
// Afterwards B acks the rest and commits everything.
func TestPerKeyRevokedLateAcksMoveNothing(t *testing.T) {
	forEachAPI(t, testPerKeyRevokedLateAcksMoveNothing)
}

func testPerKeyRevokedLateAcksMoveNothing(t *testing.T, subscribe subscribeFunc) {
	brokers := kafkatest.Brokers(t)
	topic, group := kafkatest.Name("revoked"), kafkatest.Name("g")
	kafkatest.CreateTopic(t, brokers, topic, 1)
	pub := startPublisher(t, brokers)
	const total, ackedByB = 30, 10
	var keys []string
	for i := range total {
		keys = append(keys, fmt.Sprintf("k%02d", i))
	}
	sent := publishKeyed(t, pub, topic, keys...)
	offsetOf := map[string]int{}
	for i, m := range sent {
		offsetOf[m.UUID] = i
	}

	quickRebalance := func(c *kafka.SubscriberConfig) {
		c.RebalanceTimeout, c.DrainTimeout = time.Second, 500*time.Millisecond
	}
	subA := startSubscriber(t, brokers, group, perKey, quickRebalance, kafka.AllowDrainPastRebalance, func(c *kafka.SubscriberConfig) {
		c.DrainTimeout = waitLimit // A's handlers outlive the rebalance
	})
	chA := subscribe(t, subA, topic)
	heldByA := make([]*message.Message, total)
	for range total {
		msg := receive(t, chA)
		heldByA[offsetOf[msg.UUID]] = msg
	}

	subB := startSubscriber(t, brokers, group, perKey, quickRebalance)
	chB := subscribe(t, subB, topic)
	var heldByB []*message.Message
	for range total {
		msg := receive(t, chB)
		if offsetOf[msg.UUID] < ackedByB {
			require.True(t, msg.Ack())
		} else {
			heldByB = append(heldByB, msg)
		}
	}
	require.Eventually(t, func() bool {
		return kafkatest.CommittedOffsets(t, brokers, group, topic)[0] == ackedByB
	}, waitLimit, 20*time.Millisecond)

	for i := total - 1; i >= 0; i-- {
		require.True(t, heldByA[i].Ack())
	}
	require.NoError(t, subA.Close()) // A's last commit, with its ended generation, is over
	assert.Equal(t, map[int32]int64{0: ackedByB}, kafkatest.CommittedOffsets(t, brokers, group, topic),
		"acks of a revoked generation must not move the offset")

	for _, msg := range heldByB {
		msg.Ack()
	}
	// A's leaving rebalanced the group: B may get the unacked part again; ack whatever comes.
	done := make(chan struct{})
	go func() {
		defer close(done)
		for msg := range chB {
			msg.Ack()
		}
	}()
	require.Eventually(t, func() bool {
		return kafkatest.CommittedOffsets(t, brokers, group, topic)[0] == total
	}, waitLimit, 20*time.Millisecond)
	require.NoError(t, subB.Close())
	<-done
}
