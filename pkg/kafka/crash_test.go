package kafka_test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dscokafka/connector/pkg/kafka"
	"github.com/dscokafka/connector/pkg/kafka/kafkatest"
)

// The environment TestKilledMemberMessageGoesToNextMember hands to the copy of the test
// binary it starts: crashChildEnv marks that process as the child; the others say what it
// consumes and which message it holds.
const (
	crashChildEnv   = "CRASHTEST_CHILD"
	crashBrokersEnv = "CRASHTEST_BROKERS"
	crashTopicEnv   = "CRASHTEST_TOPIC"
	crashGroupEnv   = "CRASHTEST_GROUP"
	crashHoldEnv    = "CRASHTEST_HOLD"
)

// crashHoldingFormat is the stdout line the child prints once it holds its message
// unacked: the message's "seq" and UUID.
const crashHoldingFormat = "crashtest: holding %d %s"

// crashTimings are the group timings of both members: a dead member is noticed only when
// its session times out.
func crashTimings(c *kafka.SubscriberConfig) {
	c.SessionTimeout = 6 * time.Second
	c.HeartbeatInterval = time.Second
}

// TestKilledMemberMessageGoesToNextMember: a group member that dies (SIGKILL: no final
// commit, no LeaveGroup) while holding a message unacked. The group notices only by session
// timeout; the next member then gets that message first, exactly where the dead member's
// last commit left off, followed by every later message, and commits to the end.
//
// The member that dies is a copy of this test binary running TestCrashChild, so that it
// can really be killed; it reaches the brokers (kfake of this process, or KAFKA_BROKERS) by
// address.
func TestKilledMemberMessageGoesToNextMember(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	topic, group := kafkatest.Name("crash"), kafkatest.Name("g")
	const total, hold = 6, 3
	kafkatest.CreateTopic(t, brokers, topic, 1) // one partition: one order
	pub := startPublisher(t, brokers)
	sent := publishN(t, pub, topic, total, "")

	child := startCrashChild(t, "TestCrashChild", brokers, topic, group, hold)
	var heldSeq int
	var heldUUID string
	select {
	case line := <-child.holding:
		_, err := fmt.Sscanf(line, crashHoldingFormat, &heldSeq, &heldUUID)
		require.NoError(t, err, "parsing %q", line)
	case <-child.exited:
		t.Fatalf("the child exited before holding a message: %v\n%s", child.err, child.output())
	case <-time.After(waitLimit):
		t.Fatalf("the child did not report holding a message\n%s", child.output())
	}
	require.Equal(t, hold, heldSeq)
	require.Equal(t, sent[hold].UUID, heldUUID)

	// The child's interval commits cover everything it acked, and never the held message.
	require.Eventually(t, func() bool {
		return kafkatest.CommittedOffsets(t, brokers, group, topic)[0] == hold
	}, waitLimit, 50*time.Millisecond, "the child's acks are committed\n%s", child.output())

	killCrashChild(t, child)
	assert.Equal(t, map[int32]int64{0: hold}, kafkatest.CommittedOffsets(t, brokers, group, topic),
		"a killed member commits nothing more")

	next := startSubscriber(t, brokers, group, crashTimings)
	ch := subscribe(t, next, topic)
	first := receive(t, ch)
	require.Equal(t, sent[hold].UUID, first.UUID, "the next member starts with the message the dead one held")
	assert.Equal(t, sent[hold].Payload, first.Payload)
	require.True(t, first.Ack())
	for i := hold + 1; i < total; i++ {
		msg := receive(t, ch)
		require.Equal(t, sent[i].UUID, msg.UUID, "message %d follows in order", i)
		require.True(t, msg.Ack())
	}
	closeSubscriber(t, next, ch)
	assert.Equal(t, map[int32]int64{0: total}, kafkatest.CommittedOffsets(t, brokers, group, topic))
}

// killCrashChild kills child with SIGKILL and checks that this is how it ended.
func killCrashChild(t *testing.T, child *crashChild) {
	t.Helper()
	require.NoError(t, child.cmd.Process.Kill())
	select {
	case <-child.exited:
	case <-time.After(waitLimit):
		t.Fatal("the child did not exit after SIGKILL")
	}
	var exitErr *exec.ExitError
	require.ErrorAs(t, child.err, &exitErr, "the child ended by SIGKILL, not on its own\n%s", child.output())
	status, ok := exitErr.Sys().(syscall.WaitStatus)
	require.True(t, ok && status.Signaled() && status.Signal() == syscall.SIGKILL,
		"the child ended by SIGKILL: %v\n%s", child.err, child.output())
	assert.NotContains(t, child.output(), "DATA RACE")
}

// TestCrashChild is the member TestKilledMemberMessageGoesToNextMember kills: it acks the
// messages before the one it holds, prints crashHoldingFormat, and blocks until it is
// killed. Run on its own, it skips.
func TestCrashChild(t *testing.T) {
	if os.Getenv(crashChildEnv) == "" {
		t.Skip("the member TestKilledMemberMessageGoesToNextMember starts and kills")
	}
	brokers := strings.Split(os.Getenv(crashBrokersEnv), ",")
	hold, err := strconv.Atoi(os.Getenv(crashHoldEnv))
	require.NoError(t, err)
	sub := startSubscriber(t, brokers, os.Getenv(crashGroupEnv), crashTimings)
	ch := subscribe(t, sub, os.Getenv(crashTopicEnv))
	for i := range hold {
		msg := receive(t, ch)
		require.Equal(t, strconv.Itoa(i), msg.Metadata.Get("seq"))
		require.True(t, msg.Ack())
	}
	held := receive(t, ch)
	require.Equal(t, strconv.Itoa(hold), held.Metadata.Get("seq"))
	fmt.Printf(crashHoldingFormat+"\n", hold, held.UUID)
	// The parent keeps stdin open until it kills this process; EOF means the parent is gone,
	// and this process must not outlive it.
	_, _ = io.Copy(io.Discard, os.Stdin)
	t.Fatal("stdin closed: the parent test went away before killing this process")
}

// crashChild is a running TestCrashChild process.
type crashChild struct {
	cmd     *exec.Cmd
	holding chan string   // the crashHoldingFormat line, once printed
	exited  chan struct{} // closed once the process was waited for; err is then set
	err     error         // cmd.Wait's

	mu    sync.Mutex
	out   bytes.Buffer    // stdout and stderr, for failure messages
	acked map[string]bool // the UUIDs of crashAckedFormat lines
}

// crashAckedFormat is the stdout line a child prints just before it acks a message.
const crashAckedFormat = "crashtest: acked %s"

// ackedIDs returns the UUIDs the child reported acking.
func (c *crashChild) ackedIDs() map[string]bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]bool, len(c.acked))
	for id := range c.acked {
		out[id] = true
	}
	return out
}

func (c *crashChild) output() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.out.String()
}

func (c *crashChild) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.out.Write(p)
}

// startCrashChild starts this test binary running only the test named child. The child is
// killed and waited for when the test ends, on every path.
func startCrashChild(t *testing.T, child string, brokers []string, topic, group string, hold int) *crashChild {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^"+child+"$", "-test.count=1", "-test.timeout=5m")
	cmd.Env = append(os.Environ(),
		crashChildEnv+"=1",
		crashBrokersEnv+"="+strings.Join(brokers, ","),
		crashTopicEnv+"="+topic,
		crashGroupEnv+"="+group,
		crashHoldEnv+"="+strconv.Itoa(hold),
	)
	c := &crashChild{cmd: cmd, holding: make(chan string, 1), exited: make(chan struct{}), acked: map[string]bool{}}
	cmd.Stderr = c
	// Bounds Wait should a descendant keep the child's pipes open.
	cmd.WaitDelay = 10 * time.Second
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	// Held open until the child is waited for (exec closes it): see TestCrashChild.
	_, err = cmd.StdinPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	go func() {
		defer close(c.exited)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := sc.Text()
			if id, ok := strings.CutPrefix(line, "crashtest: acked "); ok {
				c.mu.Lock()
				c.acked[id] = true
				c.mu.Unlock()
				continue
			}
			_, _ = fmt.Fprintln(c, line)
			if strings.HasPrefix(line, "crashtest: holding ") {
				select {
				case c.holding <- line:
				default:
				}
			}
		}
		_, _ = io.Copy(c, stdout) // a line too long for the scanner
		// Wait closes stdout, so it is called only once everything was read.
		c.err = cmd.Wait()
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill() // fails only if the child was already waited for
		select {
		case <-c.exited:
		case <-time.After(waitLimit):
			t.Errorf("the child (pid %d) did not exit after SIGKILL", cmd.Process.Pid)
		}
	})
	return c
}

// The per-key crash: perKeyCrashKeys keys, perKeyCrashPerKey messages each, published
// round robin on one partition. The child holds message number hold of the first
// perKeyCrashHeld keys and acks everything else it gets.
const (
	perKeyCrashKeys   = 40
	perKeyCrashPerKey = 10
	perKeyCrashHeld   = 20
)

// TestKilledPerKeyMemberLosesNothing: a member consuming with OrderPerKey and many
// messages in flight dies (SIGKILL) holding 20 messages unacked, with later messages of
// other keys acked out of offset order, and more queued behind its held keys. The commit
// never passed the first held message; the next member gets every message from there, each
// key in order, and together with what the dead member acked nothing is missing.
func TestKilledPerKeyMemberLosesNothing(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	topic, group := kafkatest.Name("crash-perkey"), kafkatest.Name("g")
	const hold = 4
	kafkatest.CreateTopic(t, brokers, topic, 1)
	pub := startPublisher(t, brokers)
	var keys []string
	for range perKeyCrashPerKey {
		for k := range perKeyCrashKeys {
			keys = append(keys, fmt.Sprintf("k%02d", k))
		}
	}
	sent := publishKeyed(t, pub, topic, keys...)
	firstHeld := int64(hold * perKeyCrashKeys) // the offset of k00's message number hold

	child := startCrashChild(t, "TestCrashChildPerKey", brokers, topic, group, hold)
	select {
	case line := <-child.holding:
		t.Log(line)
	case <-child.exited:
		t.Fatalf("the child exited before holding its messages: %v\n%s", child.err, child.output())
	case <-time.After(waitLimit):
		t.Fatalf("the child did not report holding its messages\n%s", child.output())
	}
	require.Eventually(t, func() bool {
		return kafkatest.CommittedOffsets(t, brokers, group, topic)[0] == firstHeld
	}, waitLimit, 50*time.Millisecond, "the child's acks before its first held message are committed\n%s", child.output())
	killCrashChild(t, child)
	assert.Equal(t, map[int32]int64{0: firstHeld}, kafkatest.CommittedOffsets(t, brokers, group, topic),
		"nothing past the first unacked message is committed")
	ackedByChild := child.ackedIDs()
	assert.Greater(t, len(ackedByChild), int(firstHeld), "the child acked past its held messages, out of offset order")

	next := startSubscriber(t, brokers, group, crashTimings, perKey)
	ch := subscribe(t, next, topic)
	got := map[string][]int{} // key -> message numbers, in delivery order
	received := map[string]bool{}
	for range len(sent) - int(firstHeld) {
		msg := receive(t, ch)
		key := msg.Metadata.Get(kafka.DefaultPartitionKeyMetadata)
		seq := msg.Metadata.Get("seq")
		n, err := strconv.Atoi(seq[strings.LastIndexByte(seq, '-')+1:])
		require.NoError(t, err)
		got[key] = append(got[key], n)
		received[msg.UUID] = true
		require.True(t, msg.Ack())
	}
	closeSubscriber(t, next, ch)
	assert.Equal(t, map[int32]int64{0: int64(len(sent))}, kafkatest.CommittedOffsets(t, brokers, group, topic))

	for k := range perKeyCrashKeys {
		key := fmt.Sprintf("k%02d", k)
		want := make([]int, 0, perKeyCrashPerKey-hold)
		for n := hold; n < perKeyCrashPerKey; n++ {
			want = append(want, n)
		}
		assert.Equal(t, want, got[key], "key %s: the next member resumes at the first held offset, in key order", key)
	}
	for i, m := range sent {
		assert.True(t, ackedByChild[m.UUID] || received[m.UUID], "message %d (%s) lost", i, m.Metadata.Get("seq"))
	}
}

// TestCrashChildPerKey is the member TestKilledPerKeyMemberLosesNothing kills. Run on its
// own, it skips.
func TestCrashChildPerKey(t *testing.T) {
	if os.Getenv(crashChildEnv) == "" {
		t.Skip("the member TestKilledPerKeyMemberLosesNothing starts and kills")
	}
	brokers := strings.Split(os.Getenv(crashBrokersEnv), ",")
	hold, err := strconv.Atoi(os.Getenv(crashHoldEnv))
	require.NoError(t, err)
	sub := startSubscriber(t, brokers, os.Getenv(crashGroupEnv), crashTimings, perKey)
	ch := subscribe(t, sub, os.Getenv(crashTopicEnv))
	var held []*message.Message // kept reachable, unacked, until the process is killed
	go func() {
		for msg := range ch {
			var k, n int
			_, err := fmt.Sscanf(msg.Metadata.Get("seq"), "k%d-%d", &k, &n)
			if err != nil {
				fmt.Printf("crashtest: bad seq %q: %v\n", msg.Metadata.Get("seq"), err)
				continue
			}
			if k < perKeyCrashHeld && n == hold {
				held = append(held, msg)
				if len(held) == perKeyCrashHeld {
					fmt.Printf("crashtest: holding %d messages\n", len(held))
				}
				continue
			}
			fmt.Printf(crashAckedFormat+"\n", msg.UUID)
			msg.Ack()
		}
	}()
	_, _ = io.Copy(io.Discard, os.Stdin)
	t.Fatal("stdin closed: the parent test went away before killing this process")
}
