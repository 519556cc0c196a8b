package kafka_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	kafkago "github.com/segmentio/kafka-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dscokafka/connector/pkg/kafka"
	"github.com/dscokafka/connector/pkg/kafka/kafkatest"
)

// TestOnAssignedBeforeDelivery: SubscriberConfig.OnAssigned is called for each partition
// assigned to the member before any of its records is delivered, and again in every
// generation that assigns it (here a second member joins, takes one partition, and
// leaves); a call that fails is logged as a run (one error line, then one when it works)
// and made again, the partition delivering nothing meanwhile.
func TestOnAssignedBeforeDelivery(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	topic, group := kafkatest.Name("assigned"), kafkatest.Name("g")
	kafkatest.CreateTopic(t, brokers, topic, 2)
	// The record key names its partition.
	pub := startPublisher(t, brokers, func(c *kafka.PublisherConfig) {
		c.Balancer = kafkago.BalancerFunc(func(m kafkago.Message, _ ...int) int {
			p, _ := strconv.Atoi(string(m.Key))
			return p
		})
	})

	// events is what happened, in order: "assigned <p>" when a call returned nil, and
	// "delivered <p>" as a record of partition p is received.
	var mu sync.Mutex
	var events []string
	fails := map[int]int{0: 2} // partition 0's first two calls fail
	calls := make(chan int, 64)
	event := func(e string) {
		mu.Lock()
		defer mu.Unlock()
		events = append(events, e)
	}
	logs := newLogRecorder()
	cfg := testSubscriberConfig(brokers, group)
	cfg.OnAssigned = func(ctx context.Context, got string, p int) error {
		assert.Equal(t, topic, got)
		mu.Lock()
		fail := fails[p] > 0
		fails[p]--
		mu.Unlock()
		if fail {
			return errors.New("not caught up")
		}
		event(fmt.Sprint("assigned ", p))
		calls <- p
		return nil
	}
	sub, err := kafka.NewSubscriber(cfg, logs)
	require.NoError(t, err)
	t.Cleanup(func() { _ = sub.Close() })
	ch := subscribe(t, sub, topic)
	receiveEach := func(n int) {
		t.Helper()
		for range n {
			msg := receive(t, ch)
			p, ok := kafka.MessagePartitionFromCtx(msg.Context())
			require.True(t, ok)
			event(fmt.Sprint("delivered ", p))
			require.True(t, msg.Ack())
		}
	}
	// before checks that, for each delivery after the first skip, calls for its
	// partition returned before it at least min times.
	before := func(skip, min int) {
		t.Helper()
		mu.Lock()
		defer mu.Unlock()
		seen := map[string]int{}
		for _, e := range events {
			if p, ok := strings.CutPrefix(e, "assigned "); ok {
				seen[p]++
			} else if p, ok := strings.CutPrefix(e, "delivered "); ok {
				if skip--; skip < 0 {
					assert.GreaterOrEqual(t, seen[p], min, "calls for partition %s before its delivery: %v", p, events)
				}
			}
		}
	}

	publishN(t, pub, topic, 1, "0")
	publishN(t, pub, topic, 1, "1")
	receiveEach(2)
	before(0, 1)
	assert.Len(t, logs.find(watermill.ErrorLogLevel, "OnAssigned failed"), 1, "the failures logged as one run")
	assert.Len(t, logs.find(watermill.DebugLogLevel, "OnAssigned failed"), 1)
	assert.Len(t, logs.find(watermill.InfoLogLevel, "OnAssigned works again"), 1)

	// A second member takes a partition, then leaves: two more generations.
	receiveCall(t, calls)
	receiveCall(t, calls)
	other := startSubscriber(t, brokers, group)
	otherCh := subscribe(t, other, topic)
	receiveCall(t, calls)
	closeSubscriber(t, other, otherCh) // the partition comes back
	publishN(t, pub, topic, 1, "0")
	publishN(t, pub, topic, 1, "1")
	receiveEach(2)
	before(2, 2)
}

// receiveCall waits for a value on calls.
func receiveCall(t *testing.T, calls <-chan int) {
	t.Helper()
	select {
	case <-calls:
	case <-time.After(waitLimit):
		t.Fatal("OnAssigned was not called")
	}
}
