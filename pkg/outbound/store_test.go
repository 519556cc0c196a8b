package outbound_test

import (
	"context"
	"fmt"
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
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/dscokafka/connector/pkg/dsco/dscotest"
	"github.com/dscokafka/connector/pkg/kafka"
	"github.com/dscokafka/connector/pkg/kafka/kafkatest"
	"github.com/dscokafka/connector/pkg/outbound"
	"github.com/dscokafka/connector/pkg/router"
	"github.com/dscokafka/connector/pkg/schemas"
)

// TestStoreTopicMadeBeforehand: where Kafka refuses the connector the right to create
// topics (TOPIC_AUTHORIZATION_FAILED or CLUSTER_AUTHORIZATION_FAILED, which Kafka answers
// for an existing topic too), the store loads an applied-ids topic made beforehand and
// follows it: the marks written before it started are there once it is loaded, and a mark
// another replica writes afterwards is seen. A missing topic ends Run with an error naming
// both the topic (outbound.ErrTopicNotFound) and the refusal, since asking again cannot
// mend it.
func TestStoreTopicMadeBeforehand(t *testing.T) {
	if kafkatest.Real() {
		t.Skip("refuses topic creation with kfake's controls")
	}
	for _, tc := range []struct {
		name    string
		made    bool        // the topic was made beforehand
		refusal *kerr.Error // Kafka's answer to creating it
	}{
		{"made beforehand, topic create refused", true, kerr.TopicAuthorizationFailed},
		{"made beforehand, cluster create refused", true, kerr.ClusterAuthorizationFailed},
		{"missing", false, kerr.TopicAuthorizationFailed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cl := kafkatest.NewClusterWithoutAutoCreate(t)
			brokers := cl.ListenAddrs()
			topic := kafkatest.Name("applied")
			pub, err := kafka.NewPublisher(kafka.PublisherConfig{Connection: kafka.ConnectionConfig{Brokers: brokers}}, nil)
			require.NoError(t, err)
			t.Cleanup(func() { _ = pub.Close() })
			if tc.made {
				kafkatest.CreateTopic(t, brokers, topic, 2)
				require.NoError(t, pub.WriteRecords(
					kafkago.Message{Topic: topic, Key: []byte("cmd-1"), Value: []byte(outbound.MarkApplied.String())},
					kafkago.Message{Topic: topic, Key: []byte("cmd-2"), Value: []byte(outbound.MarkReleased.String())}))
			}
			refused := kafkatest.FailCreates(cl, tc.refusal, 0)

			store, done, cancel := runStore(t, brokers, topic, pub, nil)
			if !tc.made {
				err := storeEnds(t, store, done, outbound.ErrTopicNotFound, kafkago.Error(tc.refusal.Code))
				assert.ErrorContains(t, err, topic)
				assert.Positive(t, refused.Load(), "Kafka refused to create the topic")
				return
			}
			storeLoads(t, store, done)
			assert.Positive(t, refused.Load(), "Kafka refused to create the topic")
			assert.Equal(t, outbound.MarkApplied, store.Get("cmd-1"), "a mark written before the store started")
			assert.Equal(t, outbound.MarkReleased, store.Get("cmd-2"), "a mark written before the store started")

			// Another replica's mark, written after the store loaded.
			require.NoError(t, pub.WriteRecords(kafkago.Message{Topic: topic, Key: []byte("cmd-3"),
				Value: []byte(outbound.MarkApplied.String())}))
			require.Eventually(t, func() bool { return store.Get("cmd-3") == outbound.MarkApplied }, waitLimit,
				10*time.Millisecond, "the store follows the topic")
			cancel()
			require.ErrorIs(t, <-done, context.Canceled, "Run's error")
		})
	}
}

// TestStoreTopicCreateFailures: a create of the applied-ids topic that Kafka answers with
// a code that may pass by itself (the broker or the controller moving, a timeout) is
// asked again after a backoff, logged as a streak (one error line, one when it works
// again), and once it succeeds the store loads the topic it
// created; any other answer but a refusal of the right to create (a policy, a config or a
// replication factor Kafka rejects, a version it does not serve) ends Run at once with
// Kafka's answer, naming the topic, since asking again cannot mend it.
func TestStoreTopicCreateFailures(t *testing.T) {
	if kafkatest.Real() {
		t.Skip("answers topic creation with kfake's controls")
	}
	const retried = "Creating the applied-ids topic failed; trying again"
	for _, tc := range kafkatest.CreateFailures {
		t.Run(tc.Name, func(t *testing.T) {
			cl := kafkatest.NewClusterWithoutAutoCreate(t)
			brokers := cl.ListenAddrs()
			topic := kafkatest.Name("applied") // missing
			answered := kafkatest.FailCreates(cl, tc.Code, tc.Times)
			pub, err := kafka.NewPublisher(kafka.PublisherConfig{Connection: kafka.ConnectionConfig{Brokers: brokers}}, nil)
			require.NoError(t, err)
			t.Cleanup(func() { _ = pub.Close() })
			logs := watermill.NewCaptureLogger()
			store, done, cancel := runStore(t, brokers, topic, pub, logs)
			if tc.Want != nil {
				err := storeEnds(t, store, done, tc.Want)
				assert.ErrorContains(t, err, topic)
				assert.Equal(t, int32(1), answered.Load(), "creates asked")
				assert.Empty(t, captured(logs, watermill.ErrorLogLevel, retried), "a create that cannot succeed is not asked again")
				return
			}
			storeLoads(t, store, done)
			require.NoError(t, store.Set(outbound.MarkApplied, "cmd-1"), "the store writes to the topic it created")
			cancel()
			require.ErrorIs(t, <-done, context.Canceled, "Run's error")
			assert.Equal(t, tc.Times, answered.Load(), "creates answered with the code before the one that succeeded")
			// One streak: its first failure at error level, the others at debug level
			// (the next error line would come a minute later), one line once it passed.
			got := captured(logs, watermill.ErrorLogLevel, retried)
			require.Len(t, got, 1, "the streak's first failure is logged at error level")
			assert.ErrorIs(t, got[0].Err, kafkago.Error(tc.Code.Code), "the log line carries Kafka's answer")
			assert.Equal(t, topic, got[0].Fields["topic"], "the log line names the topic")
			assert.Len(t, captured(logs, watermill.DebugLogLevel, retried), int(tc.Times)-1, "the other failures at debug level")
			works := captured(logs, watermill.InfoLogLevel, "Creating the applied-ids topic works again")
			require.Len(t, works, 1, "one line once the create works again")
			assert.EqualValues(t, tc.Times, works[0].Fields["failures_in_a_row"])
		})
	}
}

// captured returns the lines at level logs captured with message msg.
func captured(logs *watermill.CaptureLoggerAdapter, level watermill.LogLevel, msg string) []watermill.CapturedMessage {
	var out []watermill.CapturedMessage
	for _, m := range logs.Captured()[level] {
		if m.Msg == msg {
			out = append(out, m)
		}
	}
	return out
}

// runStore runs a Store of topic on brokers, writing with w, until the test ends or
// cancel is called; done gets Run's error.
func runStore(t *testing.T, brokers []string, topic string, w outbound.RecordWriter, logger watermill.LoggerAdapter) (store *outbound.Store, done <-chan error, cancel func()) {
	t.Helper()
	store, err := outbound.NewStore(outbound.StoreConfig{Topic: topic, Reader: outbound.TopicReader{Brokers: brokers}, Writer: w}, logger)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(t.Context())
	t.Cleanup(cancel)
	errs := make(chan error, 1)
	go func() { errs <- store.Run(ctx) }()
	return store, errs, cancel
}

// loadedStoreOnCluster runs a Store, loaded, of a new topic (6 partitions) on a kfake
// cluster of its own, whose controls a test may set, reading with reader (its Brokers
// set to the cluster's) and writing with pub.
func loadedStoreOnCluster(t *testing.T, reader outbound.TopicReader) (cl *kfake.Cluster, topic string, pub *kafka.Publisher, store *outbound.Store) {
	t.Helper()
	cl = kafkatest.NewCluster(t)
	reader.Brokers = cl.ListenAddrs()
	topic = kafkatest.Name("applied")
	pub, err := kafka.NewPublisher(kafka.PublisherConfig{Connection: kafka.ConnectionConfig{Brokers: reader.Brokers}}, nil)
	require.NoError(t, err)
	t.Cleanup(func() { _ = pub.Close() })
	store, err = outbound.NewStore(outbound.StoreConfig{Topic: topic, Reader: reader, Writer: pub}, nil)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- store.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	storeLoads(t, store, done)
	return cl, topic, pub, store
}

// storeEnds waits for the store's Run to end without loading, and checks its error is
// each of want; it returns it.
func storeEnds(t *testing.T, store *outbound.Store, done <-chan error, want ...error) error {
	t.Helper()
	select {
	case err := <-done:
		for _, w := range want {
			require.ErrorIs(t, err, w)
		}
		return err
	case <-store.Loaded():
		t.Fatal("the store loaded a topic it cannot have")
	case <-time.After(waitLimit):
		t.Fatal("Run did not end")
	}
	return nil
}

// storeLoads waits for the store to load, its Run going on.
func storeLoads(t *testing.T, store *outbound.Store, done <-chan error) {
	t.Helper()
	select {
	case <-store.Loaded():
	case err := <-done:
		t.Fatalf("Run ended: %v", err)
	case <-time.After(waitLimit):
		t.Fatal("the store did not load")
	}
}

// TestStaleMarksAfterApplied: marks another replica wrote for an id after its applied
// mark, timestamped later (a call that outlived its record, answered after the new owner
// applied the command), do not take its place, nor does an applied mark give way to a
// later mark read before it: loaded from the topic, the id is applied, and a delivery of
// the command is answered "already applied" without a Dsco call. The later mark took the
// applied one's place, and the ship command was sent.
func TestStaleMarksAfterApplied(t *testing.T) {
	e := newEnv(t, dscotest.Config{Seed: 67})
	o := e.seedOrders(1)[0]
	now := time.Now()
	type mark struct {
		mark outbound.Mark
		at   time.Duration // from now
	}
	cases := []struct {
		name  string
		marks []mark // in log order
	}{
		{"released after", []mark{{outbound.MarkApplied, 0}, {outbound.MarkReleased, time.Second}}},
		{"unknown after", []mark{{outbound.MarkApplied, 0}, {outbound.MarkUnknown, time.Second}}},
		{"sending after", []mark{{outbound.MarkApplied, 0}, {outbound.MarkSending, time.Second}}},
		{"applied after a later released", []mark{{outbound.MarkReleased, time.Second}, {outbound.MarkApplied, 0}}},
	}
	var recs []kafkago.Message
	for i, tc := range cases {
		for _, m := range tc.marks {
			recs = append(recs, kafkago.Message{Topic: e.applied, Key: []byte(fmt.Sprint("ship-", i)),
				Value: []byte(m.mark.String()), Time: now.Add(m.at)})
		}
	}
	require.NoError(t, e.pub.WriteRecords(recs...))
	p, h := e.handler("ship", outbound.RetryConfig{MaxAttempts: 1}) // loads them

	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			id := fmt.Sprint("ship-", i)
			assert.Equal(t, outbound.MarkApplied, p.Store().Get(id))
			value, err := e.serde.Encode(&schemas.ShipCommand{CommandID: id, OrderID: o.OrderID, LineItemID: str(o.Items[0].LineItemID),
				TrackingNumber: str("1Z999"), Carrier: str("UPS"), ShippedAt: ptr(time.Now().Add(-time.Hour))})
			require.NoError(t, err)
			e.deliver(h, kafkago.Message{Topic: e.topic("ship"), Offset: int64(i), Key: []byte(o.OrderID), Value: value, Time: time.Now()})
			res := e.waitResults(id)[id]
			assert.Equal(t, schemas.StatusApplied, res.Status)
			assert.Equal(t, "already applied; delivered again", deref(res.Reason))
		})
	}
	assert.Zero(t, e.sandbox.Stats().Calls["supplierCreateShipment"], "shipment calls")
}

// TestStoreCatchUp: CatchUp returns once the store holds every mark the topic held when
// it was called, however slow the follow: here marks another replica wrote while the
// store's fetches are held (kfake answers them once CatchUp has listed the topic's ends)
// are there as CatchUp returns, in the partitions they were written to, the other
// partitions, empty, waited for by no one. They are 40, in two partitions, so that the
// follow puts them in chunks, and what is left of a partition's once it waits for more.
func TestStoreCatchUp(t *testing.T) {
	if kafkatest.Real() {
		t.Skip("holds fetches with kfake's controls")
	}
	cl, topic, pub, store := loadedStoreOnCluster(t, outbound.TopicReader{})

	hold := holdFollow(cl, topic, 6, true)
	hold.waitHeld(t, 6)
	var marks []kafkago.Message
	for i := 0; len(marks) < 40; i++ {
		m := kafkago.Message{Topic: topic, Key: fmt.Appendf(nil, "cmd-%d", i), Value: []byte(outbound.MarkApplied.String())}
		if (&kafkago.Murmur2Balancer{}).Balance(m, 0, 1, 2, 3, 4, 5) < 2 { // the Publisher's partitioner
			marks = append(marks, m)
		}
	}
	require.NoError(t, pub.WriteRecords(marks...))
	for _, m := range marks {
		require.Equal(t, outbound.MarkNone, store.Get(string(m.Key)), "the follow is held")
	}

	ctx, cancel := context.WithTimeout(t.Context(), waitLimit)
	defer cancel()
	require.NoError(t, store.CatchUp(ctx))
	for _, m := range marks {
		assert.Equal(t, outbound.MarkApplied, store.Get(string(m.Key)), "%s once CatchUp returned", m.Key)
	}
}

// TestStoreCatchUpsShareListings: the CatchUps of a rebalance (one per command partition
// assigned, at once) share the listing of the store topic's ends, instead of each
// connecting to every partition's leader: 20 calls at once list the 6 partitions' ends a
// few times (the listing under way as they came, the one they joined, and one for a call
// the scheduler started late), where they listed them 20 times. Each still returns with
// the mark written before it was called.
func TestStoreCatchUpsShareListings(t *testing.T) {
	if kafkatest.Real() {
		t.Skip("counts requests with kfake's controls")
	}
	cl, topic, pub, store := loadedStoreOnCluster(t, outbound.TopicReader{})
	require.NoError(t, pub.WriteRecords(kafkago.Message{Topic: topic, Key: []byte("cmd-1"), Value: []byte(outbound.MarkApplied.String())}))

	var lists atomic.Int64 // requests for the latest offset of a partition of the topic
	cl.ControlKey(int16(kmsg.ListOffsets), func(r kmsg.Request) (kmsg.Response, error, bool) {
		for _, rt := range r.(*kmsg.ListOffsetsRequest).Topics {
			for _, rp := range rt.Partitions {
				if rt.Topic == topic && rp.Timestamp == -1 {
					lists.Add(1)
				}
			}
		}
		return nil, nil, false
	})
	ctx, cancel := context.WithTimeout(t.Context(), waitLimit)
	defer cancel()
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			assert.NoError(t, store.CatchUp(ctx))
			assert.Equal(t, outbound.MarkApplied, store.Get("cmd-1"), "the mark written before the call")
		})
	}
	wg.Wait()
	assert.Positive(t, lists.Load())
	assert.LessOrEqual(t, lists.Load(), int64(3*6), "latest offsets listed for 20 CatchUps at once")
}

// TestAppliedElsewhereBeforeAssignment: a command another replica applied, its applied
// mark written just before this process is assigned the command's partition (the replica
// gave the partition up, its offset not committed), is found applied when delivered again
// here, and not sent, however slow the store's follow: the partition's first command is
// decided once the store has read every mark the topic held as it was assigned. Here the
// store's fetches are held until it lists the topic's ends, and the group's join until
// the mark is written. Without that barrier the command was decided from a store that had
// not read the mark, and sent again.
func TestAppliedElsewhereBeforeAssignment(t *testing.T) {
	if kafkatest.Real() {
		t.Skip("holds fetches and joins with kfake's controls")
	}
	e, cl := newClusterEnv(t, dscotest.Config{})
	kafkatest.CreateTopic(t, e.brokers, e.topic("inventory"), 1)
	e.send(&schemas.InventoryCommand{CommandID: "inv-1", SKU: "SKU-E1", Quantity: i32(4)})

	// The store's topic is empty as it loads: its follow fetches from the start, held.
	hold := holdFollow(cl, e.applied, 6, false)
	group := kafkatest.Name("g")
	cl.ControlKey(int16(kmsg.JoinGroup), func(r kmsg.Request) (kmsg.Response, error, bool) {
		if r.(*kmsg.JoinGroupRequest).Group != group+".inventory" {
			return nil, nil, false
		}
		cl.DropControl()
		// The store is loaded (the router joins once it is): the other replica's mark.
		cl.SleepControl(func() {
			hold.arm()
			assert.NoError(t, e.pub.WriteRecords(kafkago.Message{Topic: e.applied, Key: []byte("inv-1"),
				Value: []byte(outbound.MarkApplied.String())}))
		})
		return nil, nil, false
	})
	e.start(router.OutboundConfig{Subscriber: e.subscriberConfig(group), Pipeline: e.pipelineConfig(outbound.RoleSupplier)})

	res := e.waitResults("inv-1")["inv-1"]
	assert.Equal(t, schemas.StatusApplied, res.Status)
	assert.Equal(t, "already applied; delivered again", deref(res.Reason))
	assert.Zero(t, e.sandbox.Stats().Calls["supplierUpdateInventory"], "inventory calls")
}

// TestCatchUpEndsWithItsContext: a CatchUp returns once its context ends, also while a
// broker holds the listing of the topic's ends unanswered: the one whose call lists them
// (a revoked partition's, whose generation cannot end before it returns), and one that
// waits for that listing to end before it lists them again. Both waited until the broker
// TestCatchUpBoundedByOffsetsTimeout: a broker that holds the listing's offsets request
// unanswered, while the caller's context lives on, fails CatchUp after the TopicReader's
// OffsetsTimeout, with an error naming the partition, instead of holding it (and the
// partition's first delivery) until TCP gives the connection up.
func TestCatchUpBoundedByOffsetsTimeout(t *testing.T) {
	if kafkatest.Real() {
		t.Skip("holds requests with kfake's controls")
	}
	cl, topic, _, store := loadedStoreOnCluster(t, outbound.TopicReader{OffsetsTimeout: 200 * time.Millisecond})

	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	cl.ControlKey(int16(kmsg.ListOffsets), func(r kmsg.Request) (kmsg.Response, error, bool) {
		cl.KeepControl()
		for _, rt := range r.(*kmsg.ListOffsetsRequest).Topics {
			if rt.Topic == topic {
				cl.SleepControl(func() { <-release })
			}
		}
		return nil, nil, false
	})
	wait, stop := context.WithTimeout(t.Context(), waitLimit)
	defer stop()
	err := store.CatchUp(wait)
	require.Error(t, err)
	require.NoError(t, wait.Err(), "CatchUp returned before the test's limit")
	assert.Contains(t, err.Error(), "reading the offsets of "+topic)
}

// answered.
func TestCatchUpEndsWithItsContext(t *testing.T) {
	if kafkatest.Real() {
		t.Skip("holds requests with kfake's controls")
	}
	cl, topic, _, store := loadedStoreOnCluster(t, outbound.TopicReader{})

	held, release := make(chan struct{}, 16), make(chan struct{})
	t.Cleanup(func() { close(release) })
	cl.ControlKey(int16(kmsg.ListOffsets), func(r kmsg.Request) (kmsg.Response, error, bool) {
		for _, rt := range r.(*kmsg.ListOffsetsRequest).Topics {
			for _, rp := range rt.Partitions {
				if rt.Topic == topic && rp.Timestamp == -1 {
					select {
					case held <- struct{}{}:
					default:
					}
					cl.SleepControl(func() { <-release })
					return nil, nil, false
				}
			}
		}
		return nil, nil, false
	})
	catchUp := func(ctx context.Context) <-chan error {
		errs := make(chan error, 1)
		go func() { errs <- store.CatchUp(ctx) }()
		return errs
	}
	listing, cancelListing := context.WithCancel(t.Context())
	defer cancelListing()
	listed := catchUp(listing)
	select {
	case <-held:
	case <-time.After(waitLimit):
		t.Fatal("the ends were not listed")
	}
	waiting, cancelWaiting := context.WithCancel(t.Context())
	waited := catchUp(waiting)
	for _, c := range []struct {
		name   string
		cancel context.CancelFunc
		errs   <-chan error
	}{
		{"waiting for the listing under way", cancelWaiting, waited},
		{"listing", cancelListing, listed},
	} {
		c.cancel()
		select {
		case err := <-c.errs:
			assert.ErrorIs(t, err, context.Canceled, c.name)
		case <-time.After(waitLimit):
			t.Fatalf("CatchUp %s did not return once its context ended", c.name)
		}
	}
}
