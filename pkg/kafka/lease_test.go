package kafka_test

import (
	"context"
	"errors"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	kafkago "github.com/segmentio/kafka-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/dscokafka/connector/pkg/kafka"
	"github.com/dscokafka/connector/pkg/kafka/kafkatest"
)

// leaseConfig is a lease of a new group and topic with quick timings.
func leaseConfig(t *testing.T) kafka.LeaseConfig {
	return kafka.LeaseConfig{
		Connection:        kafka.ConnectionConfig{Brokers: kafkatest.Brokers(t)},
		Group:             kafkatest.Name("lease"),
		Topic:             kafkatest.Name("lease"),
		SessionTimeout:    6 * time.Second,
		HeartbeatInterval: 200 * time.Millisecond,
		RebalanceTimeout:  5 * time.Second,
		JoinGroupBackoff:  200 * time.Millisecond,
	}
}

// leaseMember runs RunLeased in a goroutine with a fn that holds the lease until its
// context ends, then calls stopping when not nil (a fn that takes that long to stop),
// counting the holders of the lease in holders (an error if ever more than one) and
// sending its name on took each time it starts.
type leaseMember struct {
	stop func()
	done chan struct{} // closed once RunLeased returned err
	err  error
}

func startLeaseMember(t *testing.T, cfg kafka.LeaseConfig, name string, holders *atomic.Int32, took chan<- string, stopping func()) *leaseMember {
	ctx, cancel := context.WithCancel(context.Background())
	m := &leaseMember{stop: cancel, done: make(chan struct{})}
	go func() {
		defer close(m.done)
		m.err = kafka.RunLeased(ctx, cfg, nil, nil, func(ctx context.Context) error {
			if n := holders.Add(1); n > 1 {
				t.Errorf("%s took the lease while %d other members held it", name, n-1)
			}
			took <- name
			<-ctx.Done()
			if stopping != nil {
				stopping()
			}
			holders.Add(-1)
			return ctx.Err()
		})
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-m.done:
		case <-time.After(waitLimit):
			t.Errorf("RunLeased of %s did not return", name)
		}
	})
	return m
}

func (m *leaseMember) close(t *testing.T) {
	t.Helper()
	m.stop()
	select {
	case <-m.done:
		require.NoError(t, m.err, "RunLeased returns nil once its context ended")
	case <-time.After(waitLimit):
		t.Fatal("RunLeased did not return after its context ended")
	}
}

func nextTaker(t *testing.T, took <-chan string) string {
	t.Helper()
	select {
	case name := <-took:
		return name
	case <-time.After(waitLimit):
		t.Fatal("nobody took the lease")
		return ""
	}
}

// TestRunLeased: of the members of a lease, one runs fn at a time; a member that joins
// waits (the group rebalances and gives the lease to one of the two); when the holder
// leaves, the other takes the lease over; RunLeased returns nil once its context ended,
// and what fn returned when fn ended by itself.
func TestRunLeased(t *testing.T) {
	t.Run("one holder at a time, and the lease moves when the holder leaves", func(t *testing.T) {
		cfg := leaseConfig(t)
		var holders atomic.Int32
		took := make(chan string, 16)
		members := map[string]*leaseMember{"a": startLeaseMember(t, cfg, "a", &holders, took, nil)}
		require.Equal(t, "a", nextTaker(t, took), "the only member holds the lease")
		members["b"] = startLeaseMember(t, cfg, "b", &holders, took, nil)
		// b's joining ends the generation: the lease goes to one of the two, and the
		// other waits beside it.
		adm := kafkatest.Admin(t, cfg.Connection.Brokers)
		require.Eventually(t, func() bool {
			groups, err := adm.DescribeGroups(t.Context(), cfg.Group)
			if err != nil {
				return false
			}
			g := groups[cfg.Group]
			return g.State == "Stable" && len(g.Members) == 2
		}, waitLimit, 10*time.Millisecond, "both members in one generation")
		holder := nextTaker(t, took)
		for len(took) > 0 { // a took the lease again in the generation with b
			holder = <-took
		}
		other := map[string]string{"a": "b", "b": "a"}[holder]
		members[holder].close(t)
		assert.Equal(t, other, nextTaker(t, took), "the other member takes the lease over")
		members[other].close(t)
		assert.Zero(t, holders.Load())
	})
	t.Run("fn ending by itself ends RunLeased with its error", func(t *testing.T) {
		boom := errors.New("boom")
		err := kafka.RunLeased(t.Context(), leaseConfig(t), nil, nil, func(context.Context) error { return boom })
		assert.ErrorIs(t, err, boom)
	})
	t.Run("holding is told when fn starts and returns", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		var states []bool
		err := kafka.RunLeased(ctx, leaseConfig(t), nil, func(h bool) { states = append(states, h) }, func(ctx context.Context) error {
			cancel()
			<-ctx.Done()
			return ctx.Err()
		})
		assert.NoError(t, err)
		assert.Equal(t, []bool{true, false}, states)
	})
}

// coordinatorOf returns the address of group's coordinator.
func coordinatorOf(t *testing.T, brokers []string, group string) string {
	t.Helper()
	transport := &kafkago.Transport{}
	defer transport.CloseIdleConnections()
	admin := &kafkago.Client{Addr: kafkago.TCP(brokers...), Transport: transport, Timeout: waitLimit}
	res, err := admin.FindCoordinator(context.Background(), &kafkago.FindCoordinatorRequest{Key: group})
	require.NoError(t, err)
	require.NoError(t, res.Error)
	return net.JoinHostPort(res.Coordinator.Host, strconv.Itoa(res.Coordinator.Port))
}

// notCoordinator returns the address of one of brokers that is not group's coordinator.
func notCoordinator(t *testing.T, brokers []string, group string) string {
	t.Helper()
	coordinator := coordinatorOf(t, brokers, group)
	for _, b := range brokers {
		if b != coordinator {
			return b
		}
	}
	t.Fatalf("every broker of %v is the coordinator %s", brokers, coordinator)
	return ""
}

// moveCoordinator has cl's coordinators move until group's is another broker.
func moveCoordinator(t *testing.T, cl *kfake.Cluster, group string) {
	t.Helper()
	before := coordinatorOf(t, cl.ListenAddrs(), group)
	for coordinatorOf(t, cl.ListenAddrs(), group) == before {
		cl.RehashCoordinators()
	}
}

// TestLeaseKeptWhileHolderStops: a holder whose fn takes longer than SessionTimeout to
// return once its context ended keeps the lease until fn returned, whether the lease was
// lost (another member joined: the group waits for the holder to rejoin) or the holder
// shuts down (its ctx ended: it leaves the group once fn returned). kafka-go's
// heartbeats end with the generation, before fn returned; RunLeased heartbeats for the
// member meanwhile. Without that the group dropped the holder SessionTimeout after its
// last heartbeat and gave the lease to the other member while the holder still read.
// The test waits for heartbeats of the stopping holder spanning twice SessionTimeout
// (counted on kfake; on real brokers, until that long has passed),
// the other member standing by.
func TestLeaseKeptWhileHolderStops(t *testing.T) {
	for _, tc := range []struct {
		name     string
		shutdown bool // a's ctx ends; otherwise b's joining ends a's generation
		moved    bool // the group's coordinator moves to another broker while a stops
	}{
		{"lease lost", false, false},
		{"shutdown", true, false},
		{"lease lost, coordinator moved", false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.moved && kafkatest.Real() {
				t.Skip("moves the coordinator with kfake's controls")
			}
			cfg := leaseConfig(t)
			// On kfake, seeded with one broker, not the group's coordinator: the stopping
			// holder's heartbeats must find the coordinator, as kafka-go's do.
			var cl *kfake.Cluster
			cl, cfg.Connection.Brokers = keepTestCluster(t, cfg.Group)
			cfg.SessionTimeout, cfg.HeartbeatInterval = memberTimings()
			cfg.RebalanceTimeout = 10 * cfg.SessionTimeout // the group waits that long for a to rejoin
			// Heartbeats are counted from a's stop on, when b has no generation (it waits to
			// join) and sends none: they are a's. Heartbeats an interval apart, this many,
			// span twice the session.
			hb := countHeartbeats(cl, cfg.SessionTimeout, cfg.HeartbeatInterval)
			var holders atomic.Int32
			took := make(chan string, 16)
			stopping := make(chan struct{})
			release := make(chan struct{})
			letGo := sync.OnceFunc(func() { close(release) })
			stopOnce := sync.OnceFunc(func() { close(stopping) })
			a := startLeaseMember(t, cfg, "a", &holders, took, func() {
				stopOnce()
				<-release
			})
			t.Cleanup(letGo) // before a's cleanup waits for it
			require.Equal(t, "a", nextTaker(t, took), "the only member holds the lease")
			startB := func() {
				startLeaseMember(t, cfg, "b", &holders, took, nil)
				t.Cleanup(letGo) // before b's cleanup, which may wait for a to rejoin
			}
			if tc.shutdown {
				a.stop()
			} else {
				startB()
			}
			select {
			case <-stopping:
			case <-time.After(waitLimit):
				t.Fatal("a's fn was not told to stop")
			}
			hb.start()
			if tc.shutdown {
				startB()
			}
			if tc.moved {
				moveCoordinator(t, cl, cfg.Group)
			}
			select {
			case name := <-took:
				t.Fatalf("%s took the lease while a's fn was stopping", name)
			case <-hb.kept:
			case <-time.After(waitLimit):
				t.Fatalf("%d heartbeats of the stopping holder, waiting for %d", hb.count.Load(), hb.spanning)
			}
			letGo()
			name := nextTaker(t, took)
			if tc.shutdown {
				assert.Equal(t, "b", name, "b takes the lease once a left")
			}
		})
	}
}

// TestLeaseTopicCreateFailuresLogged: a create of the lease topic that keeps failing (a
// broker that is not available, asked again every JoinGroupBackoff) is logged as a
// streak: one error line for many failures, the others at debug level, and one info
// line once the create works again; then the lease is taken.
func TestLeaseTopicCreateFailuresLogged(t *testing.T) {
	if kafkatest.Real() {
		t.Skip("answers topic creation with kfake's controls")
	}
	const failures = 20
	cl := kafkatest.NewClusterWithoutAutoCreate(t)
	answered := kafkatest.FailCreates(cl, kerr.BrokerNotAvailable, failures)
	cfg := leaseConfig(t)
	cfg.Connection.Brokers = cl.ListenAddrs()
	cfg.JoinGroupBackoff = 10 * time.Millisecond // many failures within the streak's minute
	logs := newLogRecorder()
	ctx, cancel := context.WithCancel(t.Context())
	err := kafka.RunLeased(ctx, cfg, logs, nil, func(ctx context.Context) error {
		cancel()
		return nil
	})
	require.NoError(t, err)
	require.EqualValues(t, failures, answered.Load(), "creates answered with BROKER_NOT_AVAILABLE")
	const failed = "Creating the lease topic failed"
	loud := logs.find(watermill.ErrorLogLevel, failed)
	require.Len(t, loud, 1, "one error line for %d failures", failures)
	assert.ErrorIs(t, loud[0].err, kafkago.BrokerNotAvailable)
	assert.Len(t, logs.find(watermill.DebugLogLevel, failed), failures-1, "the other failures at debug level")
	works := logs.find(watermill.InfoLogLevel, "Creating the lease topic works again")
	require.Len(t, works, 1, "one line once the create works again")
	assert.EqualValues(t, failures, works[0].fields["failures_in_a_row"])
}

// TestLeaseHolderDroppedIsLogged: a holder whose fn takes longer than RebalanceTimeout to
// return once it lost the lease is dropped by the group, which gives the lease to the
// other member meanwhile; the holder says so at error level, once, and stops
// heartbeating for a membership that is gone. (Its heartbeats' answers are read right:
// kafka-go's Client decodes them wrong, see heartbeatError.)
func TestLeaseHolderDroppedIsLogged(t *testing.T) {
	cfg := leaseConfig(t)
	rec := newLogRecorder()
	ctx, cancel := context.WithCancel(context.Background())
	tookA, release := make(chan struct{}), make(chan struct{})
	letGo := sync.OnceFunc(func() { close(release) })
	done := make(chan struct{}) // closed once RunLeased of a returned
	go func() {
		defer close(done)
		var once sync.Once
		_ = kafka.RunLeased(ctx, cfg, rec, nil, func(ctx context.Context) error {
			once.Do(func() { close(tookA) })
			<-ctx.Done()
			<-release
			return nil
		})
	}()
	t.Cleanup(func() {
		letGo()
		cancel()
		select {
		case <-done:
		case <-time.After(waitLimit):
			t.Error("RunLeased of a did not return")
		}
	})
	select {
	case <-tookA:
	case <-time.After(waitLimit):
		t.Fatal("a did not take the lease")
	}
	var holdersB atomic.Int32
	took := make(chan string, 16)
	startLeaseMember(t, cfg, "b", &holdersB, took, nil)
	// b's joining ends a's generation; a's fn does not return, so the group goes on
	// without a once RebalanceTimeout passed, and b holds the lease.
	require.Equal(t, "b", nextTaker(t, took))
	rec.await(t, watermill.ErrorLogLevel, "The group dropped this member")
	letGo()
	cancel()
	select {
	case <-done:
	case <-time.After(waitLimit):
		t.Fatal("RunLeased of a did not return")
	}
	assert.Len(t, rec.find(watermill.ErrorLogLevel, "The group dropped this member"), 1)
}
