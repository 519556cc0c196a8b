package kafka_test

import (
	"context"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	kafkago "github.com/segmentio/kafka-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/dscokafka/connector/pkg/kafka"
	"github.com/dscokafka/connector/pkg/kafka/kafkatest"
)

// handed is a record handed to a test's RecordHandler, with the member it was handed to.
type handed struct {
	member string
	offset int64
	done   func(error)
}

// TestMemberKeptWhileDraining: a member whose handler holds a record for longer than
// SessionTimeout once the member's generation ended stays in the group until its drain
// is over, and its final commit lands, whether the generation ended for a rebalance (b
// joined: the group waits for a to rejoin) or for a's Close (a leaves once it drained;
// b, joining meanwhile, waits). kafka-go's heartbeats end with the generation, before the
// drain; the Subscriber heartbeats for the member meanwhile. Without that the group
// dropped a SessionTimeout after its last heartbeat and gave b the partition while a
// still drained; a's commit was refused as stale and b got the record again. The test
// holds the record until heartbeats of the draining member span twice SessionTimeout
// (counted on kfake; on real brokers, until that long has passed).
func TestMemberKeptWhileDraining(t *testing.T) {
	for _, tc := range []struct {
		name  string
		close bool // a's Close ends its generation; otherwise b's joining does
	}{
		{"rebalance", false},
		{"close", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			topic, group := kafkatest.Name("drainkept"), kafkatest.Name("g")
			// On kfake, seeded with one broker, not the group's coordinator: the draining
			// member's heartbeats must find the coordinator, as kafka-go's do.
			cl, seeds := keepTestCluster(t, group)
			kafkatest.CreateTopic(t, seeds, topic, 1)
			publishN(t, startPublisher(t, seeds), topic, 2, "")
			cfg := testSubscriberConfig(seeds, group)
			cfg.SessionTimeout, cfg.HeartbeatInterval = memberTimings()
			cfg.RebalanceTimeout = 10 * cfg.SessionTimeout // the group waits that long for a to rejoin
			cfg.DrainTimeout = 8 * cfg.SessionTimeout

			// Heartbeats are counted from the generation's end on (b's JoinGroup, or a's
			// Close), when b has no generation (it waits to join) and sends none: they are
			// a's (kafka-go's last one, then the Subscriber's). Heartbeats an interval
			// apart, this many, span twice the session.
			hb := countHeartbeats(cl, cfg.SessionTimeout, cfg.HeartbeatInterval)

			got := make(chan handed, 16)
			bAssigned := make(chan struct{}, 1)
			logsA := newLogRecorder()
			run := func(name string, sub *kafka.Subscriber) {
				ctx, cancel := context.WithCancel(context.Background())
				done := make(chan struct{})
				go func() {
					defer close(done)
					err := sub.Consume(ctx, topic, func(_ context.Context, rec kafkago.Message, done func(error)) {
						got <- handed{member: name, offset: rec.Offset, done: done}
					})
					assert.NoError(t, err, "Consume of %s", name)
				}()
				t.Cleanup(func() {
					cancel()
					<-done
				})
			}
			a, err := kafka.NewSubscriber(cfg, logsA)
			require.NoError(t, err)
			t.Cleanup(func() { _ = a.Close() })
			run("a", a)
			startB := func() {
				bcfg := cfg
				bcfg.OnAssigned = func(context.Context, string, int) error {
					select {
					case bAssigned <- struct{}{}:
					default:
					}
					return nil
				}
				b, err := kafka.NewSubscriber(bcfg, nil)
				require.NoError(t, err)
				t.Cleanup(func() { assert.NoError(t, b.Close()) })
				run("b", b)
			}

			held := next(t, got)
			require.Equal(t, handed{member: "a", offset: 0}, handed{member: held.member, offset: held.offset}, "a alone gets the first record")
			closed := make(chan error, 1)
			switch {
			case tc.close:
				// Close ends a's generation at once.
				hb.start()
				go func() { closed <- a.Close() }()
			case cl != nil:
				// b's joining ends a's generation, at a's next heartbeat.
				cl.ControlKey(int16(kmsg.JoinGroup), func(kmsg.Request) (kmsg.Response, error, bool) {
					hb.start()
					return nil, nil, false
				})
			default:
				hb.start() // b joins at once
			}
			startB()
			select {
			case <-bAssigned:
				t.Fatalf("b was assigned the partition while a drained (%d heartbeats since a's generation ended): the group dropped a", hb.count.Load())
			case <-hb.kept:
			case <-time.After(waitLimit):
				t.Fatalf("%d heartbeats of the draining member, waiting for %d", hb.count.Load(), hb.spanning)
			}
			held.done(nil)

			after := next(t, got)
			assert.EqualValues(t, 1, after.offset, "the record after the one a acked while draining comes next (%s got it), not that one again", after.member)
			assert.Equal(t, map[int32]int64{0: 1}, kafkatest.CommittedOffsets(t, seeds, group, topic), "a's final commit landed")
			assert.Empty(t, logsA.find(watermill.InfoLogLevel, "Committing offsets failed"), "a's commits were taken")
			if tc.close {
				assert.NoError(t, <-closed, "a's Close")
			}
			after.done(nil)
		})
	}
}

// next returns the next record handed, failing the test if none comes.
func next(t *testing.T, got <-chan handed) handed {
	t.Helper()
	select {
	case h := <-got:
		return h
	case <-time.After(waitLimit):
		t.Fatal("no record handed")
		return handed{}
	}
}
