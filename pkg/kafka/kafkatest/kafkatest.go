package kafkatest

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	kafkago "github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/goleak"
)

// BrokersEnv is the environment variable naming real brokers.
const BrokersEnv = "KAFKA_BROKERS"

// adminTimeout bounds each admin request a helper makes.
const adminTimeout = 30 * time.Second

// Real reports whether tests run against the real brokers of KAFKA_BROKERS.
func Real() bool { return os.Getenv(BrokersEnv) != "" }

// Brokers returns the brokers to test against: those in KAFKA_BROKERS when set, otherwise
// those of a new single-broker kfake cluster (see NewCluster).
//
// Real brokers outlive a test, so that tests with fixed topic names (dsco.order.v1) do not
// see each other's records, the topics that appear while the test runs (created by it or
// by the code under test) are deleted when it ends, and the cleanup waits until the
// cluster no longer lists them. Tests on real brokers therefore run one at a time: no
// t.Parallel, and one package at a time (make test-kafka runs go test -p 1).
func Brokers(t testing.TB) []string {
	t.Helper()
	if env := os.Getenv(BrokersEnv); env != "" {
		var brokers []string
		for _, b := range strings.Split(env, ",") {
			if b = strings.TrimSpace(b); b != "" {
				brokers = append(brokers, b)
			}
		}
		isolateTopics(t, brokers)
		return brokers
	}
	return NewCluster(t).ListenAddrs()
}

// isolateTopics deletes, when t ends, the topics of brokers that did not exist when it
// was called. A failure to clean up is logged, not failed: the next test's own checks
// (CreateTopic refuses a topic that exists) will name it.
func isolateTopics(t testing.TB, brokers []string) {
	t.Helper()
	before, err := listTopics(brokers)
	if err != nil {
		// Not a broker to isolate on (a test of Brokers itself, or one that is down): the
		// test's own calls will name the problem.
		t.Logf("kafkatest: not isolating topics: %v", err)
		return
	}
	t.Cleanup(func() {
		// A client of its own: kgo answers a metadata request from its cache for
		// MetadataMinAge, so a client that listed the topics a moment ago would list the
		// same again.
		cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
		if err != nil {
			t.Logf("kafkatest: creating admin client: %v", err)
			return
		}
		defer cl.Close()
		adm := kadm.NewClient(cl)
		ctx, cancel := context.WithTimeout(context.Background(), adminTimeout)
		defer cancel()
		after, err := adm.ListTopics(ctx)
		if err != nil {
			t.Logf("kafkatest: listing topics to delete: %v", err)
			return
		}
		var added []string
		for _, name := range after.Names() {
			if !before.Has(name) {
				added = append(added, name)
			}
		}
		if len(added) == 0 {
			return
		}
		if _, err := adm.DeleteTopics(ctx, added...); err != nil {
			t.Logf("kafkatest: deleting topics %v: %v", added, err)
			return
		}
		if err := waitTopicsGone(ctx, brokers, added); err != nil {
			t.Logf("kafkatest: %v", err)
		}
	})
}

// listTopics lists the topics of brokers with a client of its own.
func listTopics(brokers []string) (kadm.TopicDetails, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), adminTimeout)
	defer cancel()
	return kadm.NewClient(cl).ListTopics(ctx)
}

// waitTopicsGone waits until no broker lists any of topics, asking with a new client each
// time (see isolateTopics).
func waitTopicsGone(ctx context.Context, brokers, topics []string) error {
	for {
		all, err := listTopics(brokers)
		var listed []string
		for _, name := range topics {
			if all.Has(name) {
				listed = append(listed, name)
			}
		}
		if err == nil && len(listed) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("topics %v still listed after deletion (%v)", listed, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// NewCluster starts an in-process kfake cluster listening on 127.0.0.1 (a free port per
// broker) and stops it when the test ends. Defaults: one broker, topics auto-created with
// 4 partitions, and a group minimum session timeout of 100ms so group tests settle fast;
// opts are applied after them (kfake.NumBrokers(3) for three brokers; do not pass
// kfake.Ports, which would override the broker count).
func NewCluster(t testing.TB, opts ...kfake.Opt) *kfake.Cluster {
	t.Helper()
	return newCluster(t, append([]kfake.Opt{kfake.AllowAutoTopicCreation()}, opts...))
}

// NewClusterWithoutAutoCreate is NewCluster with brokers that, like production brokers
// with auto.create.topics.enable=false, never create a topic on first use.
func NewClusterWithoutAutoCreate(t testing.TB, opts ...kfake.Opt) *kfake.Cluster {
	t.Helper()
	return newCluster(t, opts)
}

func newCluster(t testing.TB, opts []kfake.Opt) *kfake.Cluster {
	t.Helper()
	all := append([]kfake.Opt{
		kfake.NumBrokers(1), // each on a free port of 127.0.0.1 (kfake's listener)
		kfake.DefaultNumPartitions(4),
		kfake.GroupMinSessionTimeout(100 * time.Millisecond),
	}, opts...)
	c, err := kfake.NewCluster(all...)
	if err != nil {
		t.Fatalf("starting kfake cluster: %v", err)
	}
	t.Cleanup(c.Close)
	return c
}

// CreateFailure is a way Kafka may answer a request to create a topic, for tests of
// what a component that creates a topic of its own does with it (see FailCreates): Code
// for the first Times requests (0: every one), and Want, the kafka-go error the component
// ends with (nil: it asks again until the create succeeds).
type CreateFailure struct {
	Name  string
	Code  *kerr.Error
	Times int32
	Want  error
}

// CreateFailures are the answers that reject a create as it stands (asking again cannot
// help) and those that may pass by themselves (a broker or the controller moving, a
// timeout). Refusals of the right to create are not among them: a component goes on to
// read a topic made beforehand then.
var CreateFailures = []CreateFailure{
	{"policy violation", kerr.PolicyViolation, 0, kafkago.PolicyViolation},
	{"invalid config", kerr.InvalidConfig, 0, kafkago.InvalidConfiguration},
	{"invalid replication factor", kerr.InvalidReplicationFactor, 0, kafkago.InvalidReplicationFactor},
	{"unsupported version", kerr.UnsupportedVersion, 0, kafkago.UnsupportedVersion},
	{"broker not available", kerr.BrokerNotAvailable, 2, nil},
	{"not controller", kerr.NotController, 2, nil},
	{"request timed out", kerr.RequestTimedOut, 2, nil},
}

// FailCreates has c answer CreateTopics requests with code for every topic they name: the
// first times requests, or every one when times is 0 (the requests after the first times
// create their topics). It returns the number of requests so answered, as they come.
func FailCreates(c *kfake.Cluster, code *kerr.Error, times int32) *atomic.Int32 {
	var answered atomic.Int32
	c.ControlKey(int16(kmsg.CreateTopics), func(r kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		if times > 0 && answered.Load() >= times {
			return nil, nil, false
		}
		req := r.(*kmsg.CreateTopicsRequest)
		resp := req.ResponseKind().(*kmsg.CreateTopicsResponse)
		for _, rt := range req.Topics {
			st := kmsg.NewCreateTopicsResponseTopic()
			st.Topic, st.ErrorCode = rt.Topic, code.Code
			resp.Topics = append(resp.Topics, st)
		}
		answered.Add(1)
		return resp, nil, true
	})
	return &answered
}

// FailFindCoordinator has c answer the requests for group's coordinator with code, as
// Kafka answers a client that may not describe the group (its ACLs: GroupAuthorizationFailed),
// while refusing, asked before each answer with the number of requests so answered
// before it, reports true; the requests after are answered as usual. It returns the
// number of requests so answered, as they come.
func FailFindCoordinator(c *kfake.Cluster, group string, code *kerr.Error, refusing func(answered int32) bool) *atomic.Int32 {
	var answered atomic.Int32
	c.ControlKey(int16(kmsg.FindCoordinator), func(r kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		req := r.(*kmsg.FindCoordinatorRequest)
		if req.CoordinatorKey != group && (len(req.CoordinatorKeys) == 0 || req.CoordinatorKeys[0] != group) ||
			!refusing(answered.Load()) {
			return nil, nil, false
		}
		answered.Add(1)
		resp := req.ResponseKind().(*kmsg.FindCoordinatorResponse)
		resp.ErrorCode = code.Code
		for _, key := range req.CoordinatorKeys {
			co := kmsg.NewFindCoordinatorResponseCoordinator()
			co.Key, co.ErrorCode = key, code.Code
			resp.Coordinators = append(resp.Coordinators, co)
		}
		return resp, nil, true
	})
	return &answered
}

// Name returns a name unique to this call, starting with prefix, usable as a topic or group
// name (letters, digits, '.', '_' and '-' only).
func Name(prefix string) string {
	return prefix + "-" + uuid.NewString()
}

// Admin returns a kadm client for brokers, closed when the test ends.
func Admin(t testing.TB, brokers []string) *kadm.Client {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatalf("creating admin client: %v", err)
	}
	t.Cleanup(cl.Close)
	return kadm.NewClient(cl)
}

// CreateTopic creates topic with the given partitions (replication factor: the broker's
// default) and fails the test if that does not succeed. It returns once every broker's
// metadata lists the topic with a leader for each partition: on a cluster of several
// brokers the others learn of a new topic a little after the one that created it, and a
// client asking one of them would be told the topic does not exist.
func CreateTopic(t testing.TB, brokers []string, topic string, partitions int32) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), adminTimeout)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatalf("creating admin client: %v", err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	resp, err := adm.CreateTopic(ctx, partitions, -1, nil, topic)
	if err != nil {
		t.Fatalf("creating topic %s: %v", topic, err)
	}
	if resp.Err != nil {
		t.Fatalf("creating topic %s: %v", topic, resp.Err)
	}
	if err := waitTopicEverywhere(ctx, cl, adm, topic, partitions); err != nil {
		t.Fatalf("topic %s: %v", topic, err)
	}
}

// waitTopicEverywhere waits until the metadata of every broker lists topic with partitions
// partitions, each with a leader.
func waitTopicEverywhere(ctx context.Context, cl *kgo.Client, adm *kadm.Client, topic string, partitions int32) error {
	var last string
	for {
		brokers, err := adm.ListBrokers(ctx)
		if err == nil {
			last = ""
			for _, b := range brokers {
				if why := topicReadyOn(ctx, cl.Broker(int(b.NodeID)), topic, partitions); why != "" {
					last = fmt.Sprintf("broker %d: %s", b.NodeID, why)
					break
				}
			}
			if last == "" {
				return nil
			}
		} else {
			last = err.Error()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("not known to every broker within %s (%s)", adminTimeout, last)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// topicReadyOn returns why broker's metadata does not list topic as ready, or "".
func topicReadyOn(ctx context.Context, broker *kgo.Broker, topic string, partitions int32) string {
	req := kmsg.NewPtrMetadataRequest()
	rt := kmsg.NewMetadataRequestTopic()
	rt.Topic = kmsg.StringPtr(topic)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, broker)
	if err != nil {
		return err.Error()
	}
	if len(resp.Topics) != 1 {
		return fmt.Sprintf("%d topics in the answer", len(resp.Topics))
	}
	if err := kerr.ErrorForCode(resp.Topics[0].ErrorCode); err != nil {
		return err.Error()
	}
	if got := len(resp.Topics[0].Partitions); got != int(partitions) {
		return fmt.Sprintf("%d of %d partitions", got, partitions)
	}
	for _, p := range resp.Topics[0].Partitions {
		if err := kerr.ErrorForCode(p.ErrorCode); err != nil || p.Leader < 0 {
			return fmt.Sprintf("partition %d has no leader (%v)", p.Partition, err)
		}
	}
	return ""
}

// CommittedOffsets returns the offsets group has committed for topic, by partition. A
// partition without a commit is absent; a group that does not exist has none.
// Retryable answers (a coordinator that is loading or moving, as on a fresh broker
// creating __consumer_offsets) are asked again until the admin timeout.
func CommittedOffsets(t testing.TB, brokers []string, group, topic string) map[int32]int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), adminTimeout)
	defer cancel()
	// A client of its own, closed on return: watchers call this in a loop.
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatalf("creating admin client: %v", err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	for {
		out, err := committedOffsets(ctx, adm, group, topic)
		if err == nil {
			return out
		}
		// A seed broker that is down (kgo asks a random one) is tried again too.
		var netErr net.Error
		if !kerr.IsRetriable(err) && !errors.As(err, &netErr) || ctx.Err() != nil {
			t.Fatalf("fetching offsets of group %s for %s: %v", group, topic, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func committedOffsets(ctx context.Context, adm *kadm.Client, group, topic string) (map[int32]int64, error) {
	resp, err := adm.FetchOffsets(ctx, group)
	if errors.Is(err, kerr.GroupIDNotFound) {
		return map[int32]int64{}, nil
	}
	if err != nil {
		return nil, err
	}
	out := map[int32]int64{}
	for p, o := range resp[topic] {
		if o.Err != nil {
			return nil, fmt.Errorf("partition %d: %w", p, o.Err)
		}
		if o.At >= 0 {
			out[p] = o.At
		}
	}
	return out, nil
}

// ServeBatches has c answer the fetches of topic's partition from an offset up to last
// with batches: record batches as a broker's log may hold them (damaged, in an old message
// format, crafted), the first holding the offset fetched from. Other fetches are c's own,
// so that the partition reads as batches up to last and the records c holds after it:
// write last+1 records to the partition first, which batches stand in for, then those
// that follow. It returns the number of fetches so answered, as they come.
func ServeBatches(c *kfake.Cluster, topic string, partition int32, last int64, batches []byte) *atomic.Int32 {
	var answered atomic.Int32
	c.ControlKey(int16(kmsg.Fetch), func(r kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		req := r.(*kmsg.FetchRequest)
		if len(req.Topics) != 1 || req.Topics[0].Topic != topic || len(req.Topics[0].Partitions) != 1 {
			return nil, nil, false
		}
		rp := req.Topics[0].Partitions[0]
		if rp.Partition != partition || rp.FetchOffset > last {
			return nil, nil, false
		}
		resp := req.ResponseKind().(*kmsg.FetchResponse)
		st := kmsg.NewFetchResponseTopic()
		st.Topic, st.TopicID = topic, req.Topics[0].TopicID
		sp := kmsg.NewFetchResponseTopicPartition()
		sp.Partition = partition
		sp.HighWatermark, sp.LastStableOffset, sp.LogStartOffset = last+1, last+1, 0
		sp.RecordBatches = batches
		st.Partitions = append(st.Partitions, sp)
		resp.Topics = append(resp.Topics, st)
		answered.Add(1)
		return resp, nil, true
	})
	return &answered
}

// VerifyTestMain runs m's tests under goleak with LeakOptions: the package fails when a
// goroutine its tests started still runs once they ended. A run of benchmarks
// (-test.bench) is not checked: benchmarks measure, and leave their fixtures to the end of
// the process. Call it from TestMain.
func VerifyTestMain(m *testing.M) {
	flag.Parse()
	if flag.Lookup("test.bench").Value.String() != "" {
		os.Exit(m.Run())
	}
	goleak.VerifyTestMain(m, LeakOptions...)
}

// LeakOptions are the goleak options of the packages whose tests run kfake clusters
// (goleak.VerifyTestMain(m, kafkatest.LeakOptions...)). They leave out kfake's one known
// leftover: control functions asleep (Cluster.SleepControl) and woken together can leave
// the cluster's run loop waiting for one of them while another waits for the lock the
// first holds, and the loop and those functions' goroutines then outlive Close, whether
// it came before or after they woke. A cluster a test did not close still shows, by its
// listeners' and connections' goroutines.
var LeakOptions = []goleak.Option{
	goleak.IgnoreAnyFunction("github.com/twmb/franz-go/pkg/kfake.(*Cluster).run"),
	goleak.IgnoreAnyFunction("github.com/twmb/franz-go/pkg/kfake.(*Cluster).runControl.func1"),
}
