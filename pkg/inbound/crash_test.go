package inbound_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/dscokafka/connector/pkg/dsco"
	"github.com/dscokafka/connector/pkg/dsco/dscotest"
	"github.com/dscokafka/connector/pkg/inbound"
	"github.com/dscokafka/connector/pkg/kafka"
	"github.com/dscokafka/connector/pkg/kafka/kafkatest"
)

// The environment the crash test hands to the copy of the test binary it
// starts and kills.
const (
	crashChildEnv    = "INBOUND_CRASH_CHILD"
	crashSandboxEnv  = "INBOUND_CRASH_SANDBOX"
	crashBrokersEnv  = "INBOUND_CRASH_BROKERS"
	crashRegistryEnv = "INBOUND_CRASH_REGISTRY"
	crashRunningLine = "inbound-crash: running"
	// With these set, the child runs the pipeline under kafka.RunLeased and
	// prints crashTookLine or crashReleasedLine, with the time in Unix
	// nanoseconds, when it takes the lease or gives it up.
	crashLeaseGroupEnv   = "INBOUND_CRASH_LEASE_GROUP"
	crashLeaseTopicEnv   = "INBOUND_CRASH_LEASE_TOPIC"
	crashLeaseSessionEnv = "INBOUND_CRASH_LEASE_SESSION"
	crashTookLine        = "inbound-crash: took the lease at"
	crashReleasedLine    = "inbound-crash: released the lease at"
)

// The child's settings, which bound what a crash writes again.
const (
	crashPartitions       = 2
	crashPageLimit        = 100
	crashCheckpointEvents = 500
	// crashShutdown is the child's ShutdownTimeout, and crashShutdown plus
	// five seconds the RebalanceTimeout of its lease: a holder that loses the
	// lease finishes its page and its final commit before another takes it.
	crashShutdown = 3 * time.Second
	// crashWindow is the most events of a partition acknowledged by Kafka
	// and not committed at any moment: CheckpointEvents plus the page that
	// crossed the mark and the page being produced.
	crashWindow = crashCheckpointEvents + 2*crashPageLimit
)

// TestNoLossAcrossSIGKILL runs the pipeline in a child process, kills it
// with SIGKILL at random points while it drains a growing stream of 20,000
// order events, ten times, and restarts it; then a last run drains the
// rest. Every event the sandbox holds is on Kafka at least once, and after
// each kill the events on Kafka beyond the committed positions (those the
// next run writes again) stay within the checkpoint window. The sandbox,
// Kafka and the registry live in this process and outlive the child; with
// faults on, Dsco also answers 5xx and 429, is slow, drops connections and
// expires tokens every few seconds.
func TestNoLossAcrossSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("kills and restarts a child process 10 times")
	}
	for _, tc := range []struct {
		name   string
		faults map[string]dscotest.Fault
		ttl    time.Duration
	}{
		{name: "clean"},
		{name: "faults", ttl: 3 * time.Second, faults: map[string]dscotest.Fault{
			dscotest.AllOperations: {Rate500: 0.03, Rate503: 0.05, Rate429: 0.01, RetryAfter: time.Second,
				DropRate: 0.03, Latency: 2 * time.Millisecond},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			testNoLossAcrossSIGKILL(t, tc.faults, tc.ttl)
		})
	}
}

func testNoLossAcrossSIGKILL(t *testing.T, faults map[string]dscotest.Fault, tokenTTL time.Duration) {
	const kills, perLife = 10, 2000 // 20,000 events during the kills
	sb := newSandbox(t, dscotest.Config{Seed: 11, TokenTTL: tokenTTL})
	client := newClient(t, sb.URL) // no faults yet: the test's own reads
	brokers := kafkatest.Brokers(t)
	registry := newRegistry(t)
	serde := newSerde(t, registry)
	createTopics(t, brokers, "order")
	cons := newConsumer(t, brokers, "dsco.order.v1", "dsco.poison.v1")
	var recs []*kgo.Record
	seed := uint64(time.Now().UnixNano())
	t.Logf("kill points from seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 12))

	// One stream, found by every life of the child.
	stream, err := inbound.EnsureStream(t.Context(), client, inbound.StreamConfig{ObjectType: "order", PartitionCount: crashPartitions})
	require.NoError(t, err)

	tail := &streamTail{client: client, stream: stream.ID, partitions: crashPartitions}
	for life := range kills {
		_, err := sb.SeedOrders(perLife)
		require.NoError(t, err)
		for op, f := range faults {
			sb.SetFault(op, f)
		}
		child := startChild(t, childSpec{sandboxURL: sb.URL, brokers: brokers, registry: registry})
		select {
		case <-child.running:
		case <-child.exited:
			t.Fatalf("life %d: the child exited: %v\n%s", life, child.err, child.output())
		case <-time.After(waitLimit):
			t.Fatalf("life %d: the child did not start\n%s", life, child.output())
		}
		// Kill at a random point: once a random number of new records
		// arrived, whatever the machine's speed.
		target := len(recs) + 1 + rng.IntN(perLife)
		recs = append(recs, cons.until(t, func(rs []*kgo.Record) bool { return len(recs)+len(rs) >= target })...)
		child.kill(t)
		for op := range faults {
			sb.SetFault(op, dscotest.Fault{})
		}

		// What the next run writes again: events on Kafka beyond the
		// committed position of their partition.
		seq := tail.read(t)
		committed := committedSeqs(t, client, stream.ID)
		recs = append(recs, drain(t, cons)...)
		beyond := map[int]map[string]bool{}
		for _, rec := range recs {
			s, ok := seq[header(rec, inbound.HeaderEventID)]
			require.True(t, ok, "record of an unknown event %q", header(rec, inbound.HeaderEventID))
			if uint64(s[1]) > committed[s[0]] {
				if beyond[s[0]] == nil {
					beyond[s[0]] = map[string]bool{}
				}
				beyond[s[0]][header(rec, inbound.HeaderEventID)] = true
			}
		}
		for part, ids := range beyond {
			assert.LessOrEqual(t, len(ids), crashWindow, "life %d partition %d: events delivered beyond the commit", life, part)
		}
		t.Logf("life %d: %d records on Kafka, committed %v, beyond %d+%d", life, len(recs), committed, len(beyond[0]), len(beyond[1]))
	}

	// The last run, not killed, drains the rest.
	want := tail.read(t)
	total := len(want)
	require.Equal(t, kills*perLife, total)
	cfg := testConfig(client, serde, brokers, inbound.StreamConfig{ObjectType: "order", PartitionCount: crashPartitions})
	r := startPipeline(t, cfg)
	recs, dups := readAll(t, cons, recs, want)
	require.NoError(t, r.stop(t))
	t.Logf("%d events, %d records, %d duplicates after %d kills", total, len(recs), dups, kills)
	assert.LessOrEqual(t, dups, kills*crashPartitions*crashWindow, "duplicates within the checkpoint window")
}

// readAll reads records until every event of want is on Kafka and returns
// recs (those read before) with the records read, and the duplicates among
// them: the records of an event beyond its first. It fails the test if a
// record is not on the order topic (something was poisoned).
func readAll(t *testing.T, cons *consumer, recs []*kgo.Record, want map[string][2]int) ([]*kgo.Record, int) {
	t.Helper()
	count := map[string]int{}
	for _, rec := range recs {
		count[header(rec, inbound.HeaderEventID)]++
	}
	for len(count) < len(want) {
		more := cons.until(t, func(rs []*kgo.Record) bool { return len(rs) > 0 })
		for _, rec := range more {
			count[header(rec, inbound.HeaderEventID)]++
		}
		recs = append(recs, more...)
	}
	for id := range want {
		require.Positive(t, count[id], "event %s is on Kafka", id)
	}
	for _, rec := range recs {
		require.Equal(t, "dsco.order.v1", rec.Topic, "nothing poisoned")
	}
	return recs, duplicates(recs)
}

// duplicates counts the records of recs that repeat an earlier one's event.
func duplicates(recs []*kgo.Record) int {
	seen := map[string]bool{}
	for _, rec := range recs {
		seen[header(rec, inbound.HeaderEventID)] = true
	}
	return len(recs) - len(seen)
}

// streamTail reads a stream's events as they are appended.
type streamTail struct {
	client     *dsco.Client
	stream     string
	partitions int
	pos        map[int]string
	seq        map[string][2]int // event id -> partition, sequence (from 1)
	n          map[int]int
}

// read reads the events appended since the last call and returns every
// event id seen so far with its partition and sequence.
func (s *streamTail) read(t *testing.T) map[string][2]int {
	t.Helper()
	if s.seq == nil {
		s.pos, s.seq, s.n = map[int]string{}, map[string][2]int{}, map[int]int{}
		for part := range s.partitions {
			s.pos[part] = fmt.Sprintf("%d:%016d", part, 0)
		}
	}
	for part := range s.partitions {
		for {
			body, err := s.client.GetStreamEventsRaw(t.Context(), s.stream, dsco.ReadEventsParams{Position: s.pos[part], Limit: 1000, Partition: part}, nil)
			require.NoError(t, err)
			var page struct {
				Events []struct {
					EventID string `json:"eventId"`
				} `json:"events"`
				Position string `json:"position"`
				HasMore  bool   `json:"hasMore"`
			}
			require.NoError(t, json.Unmarshal(body, &page))
			for _, ev := range page.Events {
				s.n[part]++
				s.seq[ev.EventID] = [2]int{part, s.n[part]}
			}
			s.pos[part] = page.Position
			if !page.HasMore {
				break
			}
		}
	}
	return s.seq
}

// committedSeqs returns the committed sequence of each partition of a
// stream (the sandbox's positions are "<partition>:<seq>").
func committedSeqs(t *testing.T, c *dsco.Client, id string) map[int]uint64 {
	t.Helper()
	list, err := c.ListStreams(t.Context())
	require.NoError(t, err)
	out := map[int]uint64{}
	for _, s := range list.Streams {
		if s.StreamID == id {
			for _, p := range s.Partitions {
				out[p.Partition] = sandboxSeq(p.Position)
			}
		}
	}
	return out
}

// drain returns the records that arrive within a short quiet period.
func drain(t *testing.T, c *consumer) []*kgo.Record {
	t.Helper()
	var out []*kgo.Record
	for {
		ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
		fs := c.cl.PollFetches(ctx)
		cancel()
		rs := fs.Records()
		if len(rs) == 0 {
			return out
		}
		out = append(out, rs...)
	}
}

// TestCrashChild is the pipeline TestNoLossAcrossSIGKILL and
// TestLeaseHandoverAcrossSIGKILL kill: it prints crashRunningLine once it
// starts and runs the pipeline (under the lease of crashLeaseGroupEnv, when
// set) until it is killed. Run on its own, it skips.
func TestCrashChild(t *testing.T) {
	if os.Getenv(crashChildEnv) == "" {
		t.Skip("the child TestNoLossAcrossSIGKILL and TestLeaseHandoverAcrossSIGKILL start and kill")
	}
	client := newClient(t, os.Getenv(crashSandboxEnv))
	brokers := strings.Split(os.Getenv(crashBrokersEnv), ",")
	serde := newSerde(t, os.Getenv(crashRegistryEnv))
	cfg := testConfig(client, serde, brokers, inbound.StreamConfig{ObjectType: "order", PartitionCount: crashPartitions})
	cfg.PageLimit = crashPageLimit
	cfg.CheckpointEvents = crashCheckpointEvents
	cfg.CheckpointInterval = 200 * time.Millisecond
	cfg.ShutdownTimeout = crashShutdown
	p, err := inbound.NewPipeline(cfg, nil)
	require.NoError(t, err)
	run := p.Run
	if group := os.Getenv(crashLeaseGroupEnv); group != "" {
		session, err := time.ParseDuration(os.Getenv(crashLeaseSessionEnv))
		require.NoError(t, err)
		lease := kafka.LeaseConfig{Connection: kafka.ConnectionConfig{Brokers: brokers}, Group: group, Topic: os.Getenv(crashLeaseTopicEnv),
			SessionTimeout: session, HeartbeatInterval: 200 * time.Millisecond, RebalanceTimeout: crashShutdown + 5*time.Second,
			JoinGroupBackoff: 200 * time.Millisecond}
		run = func(ctx context.Context) error {
			return kafka.RunLeased(ctx, lease, nil, func(held bool) {
				// Unbuffered: the line is in the pipe before the pipeline
				// starts, and after it returned.
				line := crashReleasedLine
				if held {
					line = crashTookLine
				}
				fmt.Println(line, time.Now().UnixNano())
			}, p.Run)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		// The parent keeps stdin open until it kills this process; EOF
		// means the parent is gone, and this process must not outlive it.
		_, _ = io.Copy(io.Discard, os.Stdin)
		cancel()
	}()
	fmt.Println(crashRunningLine)
	require.NoError(t, run(ctx))
	t.Fatal("stdin closed: the parent test went away before killing this process")
}

// child is a running TestCrashChild process.
type child struct {
	cmd     *exec.Cmd
	running chan struct{} // closed once crashRunningLine was printed
	exited  chan struct{} // closed once the process was waited for; err is then set
	err     error

	mu  sync.Mutex
	out bytes.Buffer
}

func (c *child) output() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.out.String()
}

func (c *child) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.out.Write(p)
}

// childSpec is what a TestCrashChild process runs against.
type childSpec struct {
	sandboxURL string
	brokers    []string
	registry   string
	// lease, when set, runs the pipeline under the lease of this group and
	// topic, with this SessionTimeout.
	lease *childLease
	// onLine, when set, is called with each line the child prints on
	// stdout, in order, on a goroutine of the child's.
	onLine func(line string)
}

type childLease struct {
	group, topic string
	session      time.Duration
}

// startChild starts this test binary running TestCrashChild only; it is
// killed and waited for when the test ends, on every path.
func startChild(t *testing.T, spec childSpec) *child {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1", "-test.timeout=5m")
	cmd.Env = append(os.Environ(),
		crashChildEnv+"=1",
		crashSandboxEnv+"="+spec.sandboxURL,
		crashBrokersEnv+"="+strings.Join(spec.brokers, ","),
		crashRegistryEnv+"="+spec.registry,
	)
	if l := spec.lease; l != nil {
		cmd.Env = append(cmd.Env, crashLeaseGroupEnv+"="+l.group, crashLeaseTopicEnv+"="+l.topic, crashLeaseSessionEnv+"="+l.session.String())
	}
	c := &child{cmd: cmd, running: make(chan struct{}), exited: make(chan struct{})}
	cmd.Stderr = c
	cmd.WaitDelay = 10 * time.Second
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	_, err = cmd.StdinPipe() // held open until the child is waited for
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	go func() {
		defer close(c.exited)
		sc := bufio.NewScanner(stdout)
		once := sync.OnceFunc(func() { close(c.running) })
		for sc.Scan() {
			line := sc.Text()
			_, _ = fmt.Fprintln(c, line)
			if line == crashRunningLine {
				once()
			}
			if spec.onLine != nil {
				spec.onLine(line)
			}
		}
		_, _ = io.Copy(c, stdout)
		c.err = cmd.Wait()
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		select {
		case <-c.exited:
		case <-time.After(waitLimit):
			t.Errorf("the child (pid %d) did not exit after SIGKILL", cmd.Process.Pid)
		}
	})
	return c
}

// kill kills the child with SIGKILL and checks that it died of it.
func (c *child) kill(t *testing.T) {
	t.Helper()
	require.NoError(t, c.cmd.Process.Kill())
	select {
	case <-c.exited:
	case <-time.After(waitLimit):
		t.Fatal("the child did not exit after SIGKILL")
	}
	status, ok := c.cmd.ProcessState.Sys().(syscall.WaitStatus)
	require.True(t, ok && status.Signaled() && status.Signal() == syscall.SIGKILL,
		"the child ended by SIGKILL, not on its own: %v\n%s", c.err, c.output())
	assert.NotContains(t, c.output(), "DATA RACE")
}
