package outbound_test

import (
	"bufio"
	"bytes"
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

	"github.com/dscokafka/connector/pkg/dsco"
	"github.com/dscokafka/connector/pkg/dsco/dscotest"
	"github.com/dscokafka/connector/pkg/kafka/kafkatest"
	"github.com/dscokafka/connector/pkg/outbound"
	"github.com/dscokafka/connector/pkg/router"
	"github.com/dscokafka/connector/pkg/schemas"
)

// The environment TestCrashRestartNoCommandLostOrAppliedTwice hands to the copies of the
// test binary it starts and kills.
const (
	crashChildEnv    = "OUTBOUND_CRASH_CHILD"
	crashBrokersEnv  = "OUTBOUND_CRASH_BROKERS"
	crashRegistryEnv = "OUTBOUND_CRASH_REGISTRY"
	crashDscoEnv     = "OUTBOUND_CRASH_DSCO"
	crashPrefixEnv   = "OUTBOUND_CRASH_PREFIX"
	crashGroupEnv    = "OUTBOUND_CRASH_GROUP"
	crashRunning     = "outbound-crash: running"
)

// crashSubscriber is the consumer of the crash test: a dead member's partitions move
// after a short session timeout (on real brokers the shortest they accept by default,
// group.min.session.timeout.ms = 6 s: a shorter one is refused at join).
func crashSubscriber(e *env, group string) router.OutboundConfig {
	sc := e.subscriberConfig(group)
	sc.SessionTimeout = 1500 * time.Millisecond
	if kafkatest.Real() {
		sc.SessionTimeout = 6 * time.Second
	}
	sc.HeartbeatInterval = 200 * time.Millisecond
	sc.RebalanceTimeout = 3 * time.Second // above the DrainTimeout (2s), as the Subscriber requires
	cfg := e.pipelineConfig(outbound.RoleSupplier, fastRetry)
	cfg.MaxConcurrentBatches = 8
	return router.OutboundConfig{Subscriber: sc, Pipeline: cfg}
}

// TestCrashRestartNoCommandLostOrAppliedTwice runs the outbound pipeline in a child
// process, kills it with SIGKILL at random points at least 10 times while it works
// (shipment writes also fail with 500 and dropped connections), and restarts it; then
// lets one last run finish. No command is lost, none is applied twice.
func TestCrashRestartNoCommandLostOrAppliedTwice(t *testing.T) {
	if testing.Short() {
		t.Skip("kills child processes")
	}
	e := newEnv(t, dscotest.Config{Seed: 31})
	kafkatest.CreateTopic(t, e.brokers, e.topic("ship"), 8)
	var cmds []schemas.Record
	var orders []*dsco.Order
	for len(cmds) < 2000 {
		more := e.seedOrders(200)
		orders = append(orders, more...)
		cmds = append(cmds, shipAll("c", more)...)
	}
	e.sandbox.SetFault("supplierCreateShipment", dscotest.Fault{Rate500: 0.03, DropRate: 0.03, Latency: 10 * time.Millisecond})
	// The commands arrive in 11 parts, one before each run: an idle machine gets
	// through 2,000 commands in well under a second, so a child started with nothing
	// left to do would never be killed at work.
	const kills = 10
	part := (len(cmds) + kills) / (kills + 1)
	chunk := func(i int) []schemas.Record { return cmds[min(i*part, len(cmds)):min((i+1)*part, len(cmds))] }
	group := kafkatest.Name("g")
	prefix := strings.TrimSuffix(e.results, ".results")
	for killed := 0; killed < kills; killed++ {
		e.send(chunk(killed)...)
		child := startOutboundChild(t, e, prefix, group)
		select {
		case <-child.running:
		case <-child.exited:
			t.Fatalf("the child exited: %v\n%s", child.err, child.output())
		case <-time.After(waitLimit):
			t.Fatalf("the child did not start\n%s", child.output())
		}
		// Kill it once it works: a shipment call was made since it started.
		calls := e.sandbox.Stats().Calls["supplierCreateShipment"]
		require.Eventually(t, func() bool {
			return e.sandbox.Stats().Calls["supplierCreateShipment"] > calls
		}, waitLimit, 20*time.Millisecond, "the child sends shipments (after %d kills)\n%s", killed, child.output())
		time.Sleep(time.Duration(rand.IntN(60)) * time.Millisecond)
		require.NoError(t, child.cmd.Process.Signal(syscall.SIGKILL))
		<-child.exited
		assert.NotContains(t, child.output(), "DATA RACE")
	}
	results, _ := e.resultsByID()
	t.Logf("%d kills; %d of %d commands had results before the last run", kills, len(results), len(cmds))
	assert.Less(t, len(results), len(cmds), "the kills happened mid-run")
	e.send(chunk(kills)...)

	// The last run, in this process, finishes the work.
	e.sandbox.SetFault("supplierCreateShipment", dscotest.Fault{})
	e.start(crashSubscriber(e, group))
	ids := make([]string, len(cmds))
	for i, c := range cmds {
		ids[i] = c.(*schemas.ShipCommand).CommandID
	}
	var got map[string]*schemas.CommandResult
	require.Eventually(t, func() bool {
		got, _ = e.resultsByID()
		return len(got) >= len(ids)
	}, 2*waitLimit, 500*time.Millisecond, "a result for each of %d commands (got %d)", len(ids), len(got))

	shipped := map[string]bool{}
	for _, o := range orders {
		for _, li := range e.order(o.OrderID).Items {
			if li.QuantityShipped > 0 {
				shipped[fmt.Sprintf("c-%s-%s", o.OrderID, li.LineItemID)] = true
			}
		}
	}
	poisoned := map[string]string{}
	for _, p := range e.poisoned() {
		poisoned[p.CommandID] = p.Reason
	}
	applied := 0
	for _, id := range ids {
		r := got[id]
		require.NotNil(t, r, "command %s has a result", id)
		if r.Outcome == schemas.OutcomeAccepted {
			applied++
			assert.True(t, shipped[id], "%s applied: its line is shipped", id)
			continue
		}
		assert.NotEmpty(t, poisoned[id], "%s not applied: poisoned", id)
		assert.NotContains(t, poisoned[id], "INVALID_STATE", "%s was not sent again after it was applied", id)
	}
	assert.Equal(t, int64(applied), e.sandbox.Stats().Shipments, "each applied command shipped its line once")
	assert.Len(t, shipped, applied)
	t.Logf("%d commands: %d applied, %d poisoned", len(ids), applied, len(ids)-applied)
}

// TestOutboundCrashChild is the outbound pipeline the crash test kills. Run on its own, it
// skips.
func TestOutboundCrashChild(t *testing.T) {
	if os.Getenv(crashChildEnv) == "" {
		t.Skip("the child TestCrashRestartNoCommandLostOrAppliedTwice starts and kills")
	}
	e := newEnvOn(t, strings.Split(os.Getenv(crashBrokersEnv), ","), os.Getenv(crashRegistryEnv), nil, os.Getenv(crashPrefixEnv))
	e.dscoURL = os.Getenv(crashDscoEnv)
	e.start(crashSubscriber(e, os.Getenv(crashGroupEnv)))
	fmt.Println(crashRunning)
	// The parent keeps stdin open until it kills this process; EOF means it is gone.
	_, _ = io.Copy(io.Discard, os.Stdin)
	t.Fatal("stdin closed: the parent test went away before killing this process")
}

type outboundChild struct {
	cmd     *exec.Cmd
	running chan struct{}
	exited  chan struct{}
	err     error

	mu  sync.Mutex
	out bytes.Buffer
}

func (c *outboundChild) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.out.Write(p)
}

func (c *outboundChild) output() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.out.String()
}

func startOutboundChild(t *testing.T, e *env, prefix, group string) *outboundChild {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestOutboundCrashChild$", "-test.count=1", "-test.timeout=5m")
	cmd.Env = append(os.Environ(),
		crashChildEnv+"=1",
		crashBrokersEnv+"="+strings.Join(e.brokers, ","),
		crashRegistryEnv+"="+e.registry,
		crashDscoEnv+"="+e.dscoURL,
		crashPrefixEnv+"="+prefix,
		crashGroupEnv+"="+group,
	)
	c := &outboundChild{cmd: cmd, running: make(chan struct{}), exited: make(chan struct{})}
	cmd.Stderr = c
	cmd.WaitDelay = 10 * time.Second
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	_, err = cmd.StdinPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	go func() {
		defer close(c.exited)
		sc := bufio.NewScanner(stdout)
		once := sync.Once{}
		for sc.Scan() {
			line := sc.Text()
			_, _ = fmt.Fprintln(c, line)
			if strings.HasPrefix(line, crashRunning) {
				once.Do(func() { close(c.running) })
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
