package kafka_test

import (
	"bytes"
	"context"
	"runtime/pprof"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	kafkago "github.com/segmentio/kafka-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/dscokafka/connector/pkg/kafka"
	"github.com/dscokafka/connector/pkg/kafka/kafkatest"
)

func TestMain(m *testing.M) {
	kafkatest.VerifyTestMain(m)
}

// labelledGoroutines returns the stacks of the goroutines carrying the pprof label
// leakcheck=value (goroutines inherit the labels of the goroutine that starts them).
func labelledGoroutines(t *testing.T, value string) string {
	t.Helper()
	var buf bytes.Buffer
	require.NoError(t, pprof.Lookup("goroutine").WriteTo(&buf, 1))
	var out bytes.Buffer
	for rec := range bytes.SplitSeq(buf.Bytes(), []byte("\n\n")) {
		if bytes.Contains(rec, []byte(`"leakcheck":"`+value+`"`)) {
			out.Write(rec)
			out.WriteString("\n\n")
		}
	}
	return out.String()
}

// requireNoGoroutinesLeft waits until no goroutine carries the label
// leakcheck=value, and fails the test with their stacks if some still do
// after waitLimit.
func requireNoGoroutinesLeft(t *testing.T, value string) {
	t.Helper()
	var left string
	assert.Eventually(t, func() bool {
		left = labelledGoroutines(t, value)
		return left == ""
	}, waitLimit, 10*time.Millisecond, "goroutines left after Close")
	require.Empty(t, left)
}

// TestCloseLeavesNoGoroutines starts everything a Subscriber runs (topic creation, a
// subscription, a delivered message) from goroutines labelled for this test, and checks
// that none of them, nor any they started, outlives Close.
func TestCloseLeavesNoGoroutines(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	topic := kafkatest.Name("leak")
	pub := startPublisher(t, brokers)
	cfg := testSubscriberConfig(brokers, kafkatest.Name("g"))
	cfg.InitializePartitions = 1
	sub, err := kafka.NewSubscriber(cfg, nil)
	require.NoError(t, err)
	label := kafkatest.Name("sub")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pprof.Do(ctx, pprof.Labels("leakcheck", label), func(ctx context.Context) {
		require.NoError(t, sub.SubscribeInitialize(topic))
	})
	sent := publishN(t, pub, topic, 1, "") // the publisher's goroutines are not the subscriber's
	pprof.Do(ctx, pprof.Labels("leakcheck", label), func(ctx context.Context) {
		ch, err := sub.Subscribe(ctx, topic)
		require.NoError(t, err)
		msg := receive(t, ch)
		require.Equal(t, sent[0].UUID, msg.UUID)
		require.True(t, msg.Ack())
		closeSubscriber(t, sub, ch)
	})
	requireNoGoroutinesLeft(t, label)
}

// TestCloseLeavesNoGoroutinesWhenDoneNeverComes: a Consume handler under OrderPerKey that
// never calls done (allowed: its record is delivered again) leaves nothing running after
// Close either.
func TestCloseLeavesNoGoroutinesWhenDoneNeverComes(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	topic := kafkatest.Name("leak")
	kafkatest.CreateTopic(t, brokers, topic, 1)
	publishN(t, startPublisher(t, brokers), topic, 1, "k")
	cfg := testSubscriberConfig(brokers, kafkatest.Name("g"))
	cfg.Ordering = kafka.OrderPerKey
	cfg.MaxInFlightPerPartition = 2
	cfg.DrainTimeout = 200 * time.Millisecond
	sub, err := kafka.NewSubscriber(cfg, nil)
	require.NoError(t, err)
	label := kafkatest.Name("sub")
	got := make(chan struct{}, 1)
	consumed := make(chan error, 1)
	pprof.Do(context.Background(), pprof.Labels("leakcheck", label), func(ctx context.Context) {
		go func() {
			consumed <- sub.Consume(ctx, topic, func(context.Context, kafkago.Message, func(error)) {
				select { // done is never called
				case got <- struct{}{}:
				default:
				}
			})
		}()
	})
	select {
	case <-got:
	case <-time.After(waitLimit):
		t.Fatal("no record delivered")
	}
	require.NoError(t, sub.Close())
	require.NoError(t, <-consumed)
	requireNoGoroutinesLeft(t, label)
}

// TestCloseWithBrokersGoneLeavesNothing: every broker goes away, stopped (connections
// refused) or stalled (connections accepted, no request answered from a Publish's produce
// request on), while a Subscriber holds a message and a Publisher is connected. Close
// must return, within about CloseTimeout although kafka-go's own timeouts (DialTimeout)
// are far longer, and leave no goroutine and no connection behind.
func TestCloseWithBrokersGoneLeavesNothing(t *testing.T) {
	if kafkatest.Real() {
		t.Skip("stops the brokers: kfake only")
	}
	for _, tc := range []struct {
		name string
		// gone makes the brokers go away; it returns a channel closed once they got the
		// produce request of a Publish (nil: the request cannot get there).
		gone func(t *testing.T, cluster *kfake.Cluster) <-chan struct{}
	}{
		{name: "stopped", gone: func(_ *testing.T, cluster *kfake.Cluster) <-chan struct{} {
			cluster.Close()
			return nil
		}},
		{name: "stalled", gone: func(t *testing.T, cluster *kfake.Cluster) <-chan struct{} {
			// The produce request's control function holds kfake's loop, which answers no
			// request until it returns: from then on the cluster answers nothing, and
			// each later request's control function returns once the test woke the first.
			// Not SleepControl on every request: sleepers woken together can leave kfake's
			// loop waiting for one of them while another holds the lock the first needs
			// to return, and its goroutines then outlive the test, whether it is closed
			// before or after they wake.
			wake := make(chan struct{})
			t.Cleanup(func() { close(wake) })
			producing := make(chan struct{})
			var once sync.Once
			cluster.Control(func(req kmsg.Request) (kmsg.Response, error, bool) {
				if req.Key() == int16(kmsg.Produce) {
					once.Do(func() { close(producing) })
				}
				select {
				case <-producing:
					<-wake
				default:
				}
				return nil, nil, false
			})
			return producing
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cluster := kafkatest.NewCluster(t)
			brokers := cluster.ListenAddrs()
			topic := kafkatest.Name("gone")
			kafkatest.CreateTopic(t, brokers, topic, 1)
			conn := kafka.ConnectionConfig{Brokers: brokers, DialTimeout: 5 * waitLimit}
			label := kafkatest.Name("gone")
			var pub *kafka.Publisher
			var sub *kafka.Subscriber
			pprof.Do(context.Background(), pprof.Labels("leakcheck", label), func(ctx context.Context) {
				var err error
				pub, err = kafka.NewPublisher(kafka.PublisherConfig{Connection: conn, CloseTimeout: 2 * time.Second}, nil)
				require.NoError(t, err)
				sent := publishN(t, pub, topic, 2, "")
				cfg := testSubscriberConfig(brokers, kafkatest.Name("g"))
				cfg.Connection = conn
				cfg.CloseTimeout = 3 * time.Second
				sub, err = kafka.NewSubscriber(cfg, nil)
				require.NoError(t, err)
				ch, err := sub.Subscribe(ctx, topic)
				require.NoError(t, err)
				msg := receive(t, ch)
				require.Equal(t, sent[0].UUID, msg.UUID)
				require.True(t, msg.Ack())
				receive(t, ch) // held: Close has to drain and give it up
			})
			producing := tc.gone(t, cluster)
			// A Publish under way when the brokers went away: Close ends it.
			published := make(chan error, 1)
			pprof.Do(context.Background(), pprof.Labels("leakcheck", label), func(context.Context) {
				go func() { published <- pub.Publish(topic, message.NewMessage(watermill.NewUUID(), nil)) }()
			})
			if producing != nil {
				select {
				case <-producing:
				case <-time.After(waitLimit):
					t.Fatal("the produce request did not reach the broker")
				}
			}
			for _, c := range []interface{ Close() error }{pub, sub} {
				closed := make(chan error, 1)
				go func() { closed <- c.Close() }()
				select {
				case err := <-closed:
					t.Logf("%T.Close: %v", c, err)
				case <-time.After(waitLimit):
					t.Fatalf("%T.Close did not return", c)
				}
			}
			select {
			case err := <-published:
				assert.Error(t, err, "nothing acknowledged the record")
			case <-time.After(waitLimit):
				t.Fatal("Publish did not return after Close")
			}
			requireNoGoroutinesLeft(t, label)
		})
	}
}
