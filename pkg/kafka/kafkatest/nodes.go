package kafkatest

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
)

// KillBrokersEnv names the environment variable that lets a test kill and restart brokers
// with scripts/kafka.sh (KillableNodes): set it to 1 where KAFKA_BROKERS is a cluster of at
// least 3 nodes that script started (CI's failover tier does).
const KillBrokersEnv = "KAFKA_KILL_BROKERS"

// Nodes are the Kafka nodes scripts/kafka.sh started, for a test to kill and start again.
type Nodes struct {
	t          testing.TB
	script     string
	restarting sync.WaitGroup
}

// KillableNodes skips t unless KAFKA_BROKERS names a real cluster of at least 3 nodes and
// KillBrokersEnv is 1, and returns its nodes. When t ends, the nodes it killed are started
// again (after any start under way).
func KillableNodes(t testing.TB) *Nodes {
	t.Helper()
	if !Real() || os.Getenv(KillBrokersEnv) != "1" {
		t.Skipf("needs a 3-node Kafka started by scripts/kafka.sh and %s=1", KillBrokersEnv)
	}
	if n := len(strings.Split(os.Getenv(BrokersEnv), ",")); n < 3 {
		t.Skipf("needs a 3-node Kafka started by scripts/kafka.sh (%s names %d)", BrokersEnv, n)
	}
	n := &Nodes{t: t, script: kafkaScript(t)}
	t.Cleanup(func() {
		n.restarting.Wait()
		if out, err := exec.Command(n.script, "start", "--brokers", "3").CombinedOutput(); err != nil {
			t.Errorf("scripts/kafka.sh start --brokers 3: %v: %s", err, out)
		}
	})
	return n
}

// kafkaScript is scripts/kafka.sh of the module the test runs in.
func kafkaScript(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatalf("kafkatest: %v", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(dir, "scripts", "kafka.sh")
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatalf("kafkatest: no go.mod above the test's directory")
		}
		dir = parent
	}
}

// Kill SIGKILLs node (scripts/kafka.sh kill).
func (n *Nodes) Kill(node int32) {
	n.t.Helper()
	out, err := exec.Command(n.script, "kill", strconv.Itoa(int(node))).CombinedOutput()
	if err != nil {
		n.t.Fatalf("scripts/kafka.sh kill %d: %v: %s", node, err, out)
	}
	n.t.Logf("scripts/kafka.sh kill %d: %s", node, out)
}

// StartAgain starts the killed nodes again in the background (a JVM start takes seconds);
// the channel says how that ended.
func (n *Nodes) StartAgain() <-chan error {
	done := make(chan error, 1)
	t0 := time.Now()
	n.restarting.Go(func() {
		out, err := exec.Command(n.script, "start", "--brokers", "3").CombinedOutput()
		n.t.Logf("scripts/kafka.sh start --brokers 3 (%s): %s", time.Since(t0).Round(time.Millisecond), out)
		done <- err
	})
	return done
}

// Leader returns the node that leads topic's partition.
func Leader(ctx context.Context, t testing.TB, adm *kadm.Client, topic string, partition int32) int32 {
	t.Helper()
	md, err := adm.Metadata(ctx, topic)
	if err != nil {
		t.Fatalf("kafkatest: metadata of %s: %v", topic, err)
	}
	p, ok := md.Topics[topic].Partitions[partition]
	if !ok || p.Err != nil || p.Leader < 0 {
		t.Fatalf("kafkatest: %s/%d has no leader (%v)", topic, partition, p.Err)
	}
	return p.Leader
}

// DeadAddr returns an address of 127.0.0.1 where nothing listens (a free port, closed):
// a broker, or any service, that is down. Dials to it are refused at once. Nothing must
// be started there later: another process may have taken the port meanwhile (a server
// that is down and comes up later takes a Port, which the test holds throughout).
func DeadAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("kafkatest: %v", err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		t.Fatalf("kafkatest: %v", err)
	}
	return addr
}
