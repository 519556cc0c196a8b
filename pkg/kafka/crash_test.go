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

	child := startCrashChild(t, brokers, topic, group, hold)
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

	mu  sync.Mutex
	out bytes.Buffer // stdout and stderr, for failure messages
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

// startCrashChild starts this test binary running TestCrashChild only. The child is killed
// and waited for when the test ends, on every path.
func startCrashChild(t *testing.T, brokers []string, topic, group string, hold int) *crashChild {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1", "-test.timeout=5m")
	cmd.Env = append(os.Environ(),
		crashChildEnv+"=1",
		crashBrokersEnv+"="+strings.Join(brokers, ","),
		crashTopicEnv+"="+topic,
		crashGroupEnv+"="+group,
		crashHoldEnv+"="+strconv.Itoa(hold),
	)
	c := &crashChild{cmd: cmd, holding: make(chan string, 1), exited: make(chan struct{})}
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
