package kafka_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	kafkago "github.com/segmentio/kafka-go"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/dscokafka/connector/pkg/kafka"
	"github.com/dscokafka/connector/pkg/kafka/kafkatest"
)

// waitLimit bounds how long a test waits for something that must happen; it is a hang
// guard, not a speed assertion.
const waitLimit = 30 * time.Second

func startPublisher(t *testing.T, brokers []string, mutate ...func(*kafka.PublisherConfig)) *kafka.Publisher {
	t.Helper()
	cfg := kafka.PublisherConfig{Connection: kafka.ConnectionConfig{Brokers: brokers}}
	for _, m := range mutate {
		m(&cfg)
	}
	pub, err := kafka.NewPublisher(cfg, nil)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, pub.Close()) })
	return pub
}

func startSubscriber(t *testing.T, brokers []string, group string, mutate ...func(*kafka.SubscriberConfig)) *kafka.Subscriber {
	t.Helper()
	cfg := testSubscriberConfig(brokers, group)
	for _, m := range mutate {
		m(&cfg)
	}
	sub, err := kafka.NewSubscriber(cfg, nil)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, sub.Close()) })
	return sub
}

func subscribe(t *testing.T, sub *kafka.Subscriber, topic string) <-chan *message.Message {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	ch, err := sub.Subscribe(ctx, topic)
	require.NoError(t, err)
	return ch
}

// subscribeFunc subscribes to a topic and returns the channel its messages arrive on.
type subscribeFunc func(t *testing.T, sub *kafka.Subscriber, topic string) <-chan *message.Message

// forEachAPI runs test through both consuming APIs of the Subscriber: Subscribe, and
// Consume adapted to a channel of messages (consume).
func forEachAPI(t *testing.T, test func(t *testing.T, subscribe subscribeFunc)) {
	t.Run("Subscribe", func(t *testing.T) { test(t, subscribe) })
	t.Run("Consume", func(t *testing.T) { test(t, consume) })
}

var errNacked = errors.New("nacked")

// consume is subscribe through Consume: its handler hands each record, as the
// DefaultMarshaler's message with a context of the handler's, to the returned channel, and
// calls done once the message was acked (nil) or nacked (an error). The channel is closed
// once Consume returned.
func consume(t *testing.T, sub *kafka.Subscriber, topic string) <-chan *message.Message {
	t.Helper()
	ch := make(chan *message.Message)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	t.Cleanup(func() {
		cancel()
		<-done
	})
	go func() {
		defer close(done)
		var handing sync.WaitGroup // the goroutines handing messages to ch
		defer close(ch)
		defer handing.Wait()
		err := sub.Consume(ctx, topic, func(hctx context.Context, rec kafkago.Message, done func(error)) {
			msg, err := kafka.DefaultMarshaler{}.Unmarshal(rec)
			if err != nil {
				done(err)
				return
			}
			mctx, cancel := context.WithCancel(hctx) // canceled once acked or nacked, as Subscribe's
			msg.SetContext(mctx)
			handing.Add(1)
			go func() {
				defer handing.Done()
				defer cancel()
				select {
				case ch <- msg:
				case <-hctx.Done():
					done(hctx.Err())
					return
				}
				select {
				case <-msg.Acked():
					cancel()
					done(nil)
				case <-msg.Nacked():
					cancel()
					done(errNacked)
				case <-hctx.Done():
					done(hctx.Err())
				}
			}()
		})
		if err != nil {
			t.Errorf("Consume: %v", err)
		}
	}()
	return ch
}

// receive returns the next message of ch and fails the test if none arrives.
func receive(t *testing.T, ch <-chan *message.Message) *message.Message {
	t.Helper()
	select {
	case msg, ok := <-ch:
		require.True(t, ok, "message channel closed")
		return msg
	case <-time.After(waitLimit):
		t.Fatal("no message received")
		return nil
	}
}

// publishN publishes n messages with payloads "0".."n-1" and a "seq" metadata entry, all
// with the given partition key (none when key is empty), and returns them.
func publishN(t *testing.T, pub *kafka.Publisher, topic string, n int, key string) []*message.Message {
	t.Helper()
	msgs := make([]*message.Message, n)
	for i := range msgs {
		msgs[i] = message.NewMessage(watermill.NewUUID(), fmt.Appendf(nil, "%d", i))
		msgs[i].Metadata.Set("seq", fmt.Sprint(i))
		if key != "" {
			msgs[i].Metadata.Set(kafka.DefaultPartitionKeyMetadata, key)
		}
	}
	require.NoError(t, pub.Publish(topic, msgs...))
	return msgs
}

func closeSubscriber(t *testing.T, sub *kafka.Subscriber, ch <-chan *message.Message) {
	t.Helper()
	require.NoError(t, sub.Close())
	// Close has returned, so every delivering goroutine has ended: the (unbuffered)
	// channel must be closed, with nothing left in it.
	select {
	case msg, ok := <-ch:
		require.False(t, ok, "message %v delivered after Close returned", msg)
	case <-time.After(waitLimit):
		t.Fatal("message channel not closed by Close")
	}
}

// logRecorder is a watermill logger that keeps every line logged through it or through
// the loggers its With returns, for tests of what the Subscriber logs. Safe for
// concurrent use (watermill's CaptureLoggerAdapter hands its map out unguarded).
type logRecorder struct {
	mu      *sync.Mutex
	lines   *[]logLine
	fields  watermill.LogFields
	written chan struct{} // receives after a line is kept (one pending covers several)
}

// logLine is one line a logRecorder kept.
type logLine struct {
	level  watermill.LogLevel
	msg    string
	err    error
	fields watermill.LogFields
}

func newLogRecorder() *logRecorder {
	return &logRecorder{mu: &sync.Mutex{}, lines: &[]logLine{}, written: make(chan struct{}, 1)}
}

func (l *logRecorder) log(level watermill.LogLevel, msg string, err error, fields watermill.LogFields) {
	l.mu.Lock()
	defer l.mu.Unlock()
	*l.lines = append(*l.lines, logLine{level: level, msg: msg, err: err, fields: l.fields.Copy().Add(fields)})
	select {
	case l.written <- struct{}{}:
	default:
	}
}

func (l *logRecorder) Error(msg string, err error, fields watermill.LogFields) {
	l.log(watermill.ErrorLogLevel, msg, err, fields)
}
func (l *logRecorder) Info(msg string, fields watermill.LogFields) {
	l.log(watermill.InfoLogLevel, msg, nil, fields)
}
func (l *logRecorder) Debug(msg string, fields watermill.LogFields) {
	l.log(watermill.DebugLogLevel, msg, nil, fields)
}
func (l *logRecorder) Trace(msg string, fields watermill.LogFields) {
	l.log(watermill.TraceLogLevel, msg, nil, fields)
}
func (l *logRecorder) With(fields watermill.LogFields) watermill.LoggerAdapter {
	return &logRecorder{mu: l.mu, lines: l.lines, fields: l.fields.Copy().Add(fields), written: l.written}
}

// await waits until a line at level whose message contains text was kept, for up to
// waitLimit, and returns the lines found. One test goroutine awaits at a time.
func (l *logRecorder) await(t *testing.T, level watermill.LogLevel, text string) []logLine {
	t.Helper()
	deadline := time.After(waitLimit)
	for {
		if found := l.find(level, text); len(found) > 0 {
			return found
		}
		select {
		case <-l.written:
		case <-deadline:
			t.Fatalf("no line %q at level %v within %v", text, level, waitLimit)
		}
	}
}

// find returns the lines kept so far at level whose message contains text.
func (l *logRecorder) find(level watermill.LogLevel, text string) []logLine {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []logLine
	for _, line := range *l.lines {
		if line.level == level && strings.Contains(line.msg, text) {
			out = append(out, line)
		}
	}
	return out
}

// heartbeatCount counts the Heartbeat requests a kfake cluster gets once started.
type heartbeatCount struct {
	counting atomic.Bool
	count    atomic.Int32
	spanning int32         // heartbeats an interval apart, this many, span twice the session
	span     time.Duration // twice the session: on real brokers, kept closes that long after start
	real     bool
	kept     chan struct{} // closed at the spanning-th heartbeat counted
}

// countHeartbeats counts cl's Heartbeat requests (every member's, on every broker) once
// hb.start was called, and closes hb.kept when they span twice session, interval apart:
// counted while one member alone heartbeats, that member was kept in the group past its
// session. Real brokers (cl nil) have no controls to count with: kept closes once twice
// session has passed since start.
func countHeartbeats(cl *kfake.Cluster, session, interval time.Duration) *heartbeatCount {
	hb := &heartbeatCount{spanning: int32(2*session/interval) + 1, span: 2 * session, real: cl == nil, kept: make(chan struct{})}
	if cl == nil {
		return hb
	}
	cl.ControlKey(int16(kmsg.Heartbeat), func(kmsg.Request) (kmsg.Response, error, bool) {
		cl.KeepControl()
		if hb.counting.Load() && hb.count.Add(1) == hb.spanning {
			close(hb.kept)
		}
		return nil, nil, false
	})
	return hb
}

// start starts the count (once).
func (hb *heartbeatCount) start() {
	if hb.counting.Swap(true) || !hb.real {
		return
	}
	time.AfterFunc(hb.span, func() { close(hb.kept) })
}

// memberTimings are the group timings of the tests of members kept past their session:
// short on kfake; on real brokers a session at Kafka's least by default
// (group.min.session.timeout.ms, 6 s).
func memberTimings() (session, heartbeat time.Duration) {
	if kafkatest.Real() {
		return 6 * time.Second, 500 * time.Millisecond
	}
	return time.Second, 100 * time.Millisecond
}

// keepTestCluster returns a 3-broker kfake cluster and, as the brokers to seed a member
// of group with, one that is not group's coordinator, so that heartbeats must find it;
// on real brokers, no cluster and the brokers.
func keepTestCluster(t *testing.T, group string) (*kfake.Cluster, []string) {
	t.Helper()
	if kafkatest.Real() {
		return nil, kafkatest.Brokers(t)
	}
	cl := kafkatest.NewCluster(t, kfake.NumBrokers(3))
	return cl, []string{notCoordinator(t, cl.ListenAddrs(), group)}
}
