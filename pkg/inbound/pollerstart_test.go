package inbound_test

import (
	"context"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"
	kafkagoplain "github.com/segmentio/kafka-go/sasl/plain"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl/plain"

	"github.com/dscokafka/connector/pkg/dsco"
	"github.com/dscokafka/connector/pkg/dsco/dscotest"
	"github.com/dscokafka/connector/pkg/inbound"
	"github.com/dscokafka/connector/pkg/kafka/kafkatest"
)

// markTopic is the poller's default mark topic.
const markTopic = "dsco.iteminventory.marks.v1"

// TestPollerWaitsForTheMarkTopic: while the mark topic cannot be read at
// start (Kafka not up yet, a leader moving), the poller asks again
// after a backoff, logging why (a warning at the first failure, the others
// at debug level, one line once it works again) and counting each failure
// in the errors metric (kind mark), instead of ending the inbound side; once the
// topic answers it starts from the stored mark and delivers, and Run returns
// nil when closed, also while it waits. Kafka refusing the connector the
// topic (authorization), which asking again cannot mend, still ends Run with
// that error.
func TestPollerWaitsForTheMarkTopic(t *testing.T) {
	if kafkatest.Real() {
		t.Skip("breaks Kafka with kfake's listener and controls")
	}
	cases := []struct {
		name string
		// broken returns the brokers of a Kafka whose mark topic cannot be
		// read, and heal, which makes it readable (nil: it never is, and the
		// poller is closed while it waits). The mark topic holds stored,
		// unless it is "".
		broken func(t *testing.T, stored string) (brokers []string, heal func())
		// noMark: the Kafka that comes up has no stored mark (the poller
		// makes the topic), so every change comes.
		noMark bool
		// wantErr is Run's error; nil: Run waits, and delivers once healed.
		wantErr error
	}{
		{name: "Kafka not up yet", broken: func(t *testing.T, stored string) ([]string, func()) {
			// The test holds the broker's port from the start: until Kafka
			// comes, connections to it are reset.
			port := kafkatest.NewPort(t)
			return []string{port.Addr()}, func() {
				// The poller reads as soon as the broker listens: the item
				// topic is there from the start, the mark topic is its own.
				brokers := kafkatest.NewCluster(t, kfake.ListenFn(port.ListenFn), kfake.SeedTopics(4, "dsco.iteminventory.v1")).ListenAddrs()
				require.Equal(t, []string{port.Addr()}, brokers)
			}
		}, noMark: true},
		{name: "Kafka never coming, closed while waiting", broken: func(t *testing.T, _ string) ([]string, func()) {
			return []string{kafkatest.DeadAddr(t)}, nil
		}},
		{name: "the mark partition's leader moving", broken: func(t *testing.T, stored string) ([]string, func()) {
			cl := kafkatest.NewCluster(t)
			brokers := cl.ListenAddrs()
			storeMark(t, brokers, stored)
			var healed atomic.Bool
			cl.ControlKey(int16(kmsg.Fetch), func(r kmsg.Request) (kmsg.Response, error, bool) {
				cl.KeepControl()
				req := r.(*kmsg.FetchRequest)
				if healed.Load() || len(req.Topics) != 1 || req.Topics[0].Topic != markTopic {
					return nil, nil, false
				}
				resp := req.ResponseKind().(*kmsg.FetchResponse)
				for _, rt := range req.Topics {
					st := kmsg.NewFetchResponseTopic()
					st.Topic, st.TopicID = rt.Topic, rt.TopicID
					for _, rp := range rt.Partitions {
						sp := kmsg.NewFetchResponseTopicPartition()
						sp.Partition, sp.ErrorCode = rp.Partition, kerr.NotLeaderForPartition.Code
						st.Partitions = append(st.Partitions, sp)
					}
					resp.Topics = append(resp.Topics, st)
				}
				return resp, nil, true
			})
			return brokers, func() { healed.Store(true) }
		}},
		{name: "Kafka refusing the topic", broken: func(t *testing.T, stored string) ([]string, func()) {
			cl := kafkatest.NewCluster(t)
			brokers := cl.ListenAddrs()
			storeMark(t, brokers, stored)
			cl.ControlKey(int16(kmsg.ListOffsets), func(r kmsg.Request) (kmsg.Response, error, bool) {
				cl.KeepControl()
				req := r.(*kmsg.ListOffsetsRequest)
				if len(req.Topics) != 1 || req.Topics[0].Topic != markTopic {
					return nil, nil, false
				}
				resp := req.ResponseKind().(*kmsg.ListOffsetsResponse)
				for _, rt := range req.Topics {
					st := kmsg.NewListOffsetsResponseTopic()
					st.Topic = rt.Topic
					for _, rp := range rt.Partitions {
						sp := kmsg.NewListOffsetsResponseTopicPartition()
						sp.Partition, sp.ErrorCode = rp.Partition, kerr.TopicAuthorizationFailed.Code
						st.Partitions = append(st.Partitions, sp)
					}
					resp.Topics = append(resp.Topics, st)
				}
				return resp, nil, true
			})
			return brokers, nil
		}, wantErr: kafkago.TopicAuthorizationFailed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			client, stored := markedSandbox(t, 18)
			want := skus(1, 3)
			if tc.noMark {
				stored, want = "", skus(1, 50)
			}

			brokers, heal := tc.broken(t, stored)
			retried := newLogSignal(markRetried)
			m := &errorMetrics{}
			p, done := startPoller(t, client, brokers, retried, func(c *inbound.PollerConfig) {
				c.Kafka.MetadataTTL, c.Metrics = 50*time.Millisecond, m
			})
			// Every failed read is counted in the errors metric, as kind mark.
			failures := func() int {
				return len(retried.find(slog.LevelWarn, markRetried)) + len(retried.find(slog.LevelDebug, markRetried))
			}

			if tc.wantErr != nil {
				runEnds(t, done, nil, tc.wantErr)
				assert.Equal(t, 1, m.count(inbound.ErrKindMark), "the refusal counted")
				return
			}
			// Several failures in a row before Kafka comes: one streak.
			for failures() < 5 {
				select {
				case <-retried.logged:
				case err := <-done:
					t.Fatalf("Run ended while the mark topic could not be read: %v", err)
				case <-time.After(waitLimit):
					t.Fatal("the poller did not try again")
				}
			}
			if heal == nil {
				require.NoError(t, p.Close())
				require.NoError(t, <-done, "Run's error")
				assert.Equal(t, failures(), m.count(inbound.ErrKindMark), "each failure counted")
				return
			}
			heal()
			wantKeys := map[string]bool{}
			for _, s := range want {
				wantKeys[s] = true
			}
			assert.Equal(t, wantKeys, delivered(t, p, done, brokers, len(want)), "the items changed after the stored mark (or all), and no other")
			// Logged as a streak: a warning at the first failure (the next would
			// come a minute later), the others at debug level, and one line once
			// the mark is read.
			warned, quiet := retried.find(slog.LevelWarn, markRetried), retried.find(slog.LevelDebug, markRetried)
			require.Len(t, warned, 1, "one warning for %d failures", 1+len(quiet))
			assert.NotNil(t, warned[0].attrs["error"], "the warning says why")
			works := retried.find(slog.LevelInfo, "inbound: reading the item inventory mark works again")
			require.Len(t, works, 1, "one line once the mark is read")
			assert.EqualValues(t, 1+len(quiet), works[0].attrs["failures_in_a_row"])
			assert.Contains(t, works[0].attrs, "failing_for")
			assert.Equal(t, 1+len(quiet), m.count(inbound.ErrKindMark), "each failure counted")
		})
	}
}

// storeMark creates the item inventory topic and, when mark is not "", the
// mark topic holding mark as the poller stores it.
func storeMark(t *testing.T, brokers []string, mark string) {
	t.Helper()
	kafkatest.CreateTopic(t, brokers, "dsco.iteminventory.v1", 4)
	if mark == "" {
		return
	}
	kafkatest.CreateTopic(t, brokers, markTopic, 1)
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	require.NoError(t, err)
	defer cl.Close()
	require.NoError(t, cl.ProduceSync(t.Context(), &kgo.Record{Topic: markTopic, Key: []byte(inbound.ItemInventoryObjectType),
		Value: []byte(mark)}).FirstErr())
}

// TestPollerMarkTopicMadeBeforehand: where Kafka refuses the connector the
// right to create topics, a mark topic made beforehand serves (the poller
// starts from its mark and delivers); a missing one ends Run with an error
// naming both the missing topic and the refusal, since asking again cannot
// mend it.
func TestPollerMarkTopicMadeBeforehand(t *testing.T) {
	if kafkatest.Real() {
		t.Skip("refuses topic creation with kfake's controls")
	}
	for _, tc := range []struct {
		name    string
		made    bool  // the mark topic was made beforehand
		wantErr error // nil: Run delivers
	}{
		{"made beforehand", true, nil},
		{"missing", false, kafkago.UnknownTopicOrPartition},
	} {
		t.Run(tc.name, func(t *testing.T) {
			client, stored := markedSandbox(t, 19)
			cl := kafkatest.NewClusterWithoutAutoCreate(t)
			brokers := cl.ListenAddrs()
			if tc.made {
				storeMark(t, brokers, stored)
			} else {
				kafkatest.CreateTopic(t, brokers, "dsco.iteminventory.v1", 4)
			}
			refused := kafkatest.FailCreates(cl, kerr.TopicAuthorizationFailed, 0)
			p, done := startPoller(t, client, brokers, nil, nil)
			if tc.wantErr != nil {
				runEnds(t, done, nil, tc.wantErr, kafkago.TopicAuthorizationFailed)
				return
			}
			got := delivered(t, p, done, brokers, 3)
			assert.Positive(t, refused.Load(), "Kafka refused to create the topic")
			assert.Equal(t, map[string]bool{"SKU-00001": true, "SKU-00002": true, "SKU-00003": true}, got,
				"the items changed after the stored mark, and no other")
		})
	}
}

// TestPollerMarkTopicCreateFailures: when Kafka answers the creation of a missing
// mark topic with a code that says the request cannot succeed as it stands
// (a policy, a config or a replication factor it refuses, a version it does
// not serve), Run ends at once with that error, naming the topic, instead of
// asking again for ever; a code that may pass by itself (the broker or the
// controller moving, a timeout) is asked again after a backoff, logged, and
// once the create succeeds the poller delivers.
func TestPollerMarkTopicCreateFailures(t *testing.T) {
	if kafkatest.Real() {
		t.Skip("answers topic creation with kfake's controls")
	}
	for _, tc := range kafkatest.CreateFailures {
		t.Run(tc.Name, func(t *testing.T) {
			sb := newSandbox(t, dscotest.Config{Seed: 20})
			client := newClient(t, sb.URL)
			_, err := sb.SeedOrders(0) // 50 catalog items with inventory: 50 changes
			require.NoError(t, err)

			cl := kafkatest.NewClusterWithoutAutoCreate(t)
			brokers := cl.ListenAddrs()
			kafkatest.CreateTopic(t, brokers, "dsco.iteminventory.v1", 4) // the mark topic is missing
			answered := kafkatest.FailCreates(cl, tc.Code, tc.Times)
			retried := newLogSignal(markRetried)
			m := &errorMetrics{}
			p, done := startPoller(t, client, brokers, retried, func(c *inbound.PollerConfig) { c.Metrics = m })
			if tc.Want != nil {
				runEnds(t, done, retried, tc.Want)
				assert.Equal(t, int32(1), answered.Load(), "creates asked")
				assert.Equal(t, 1, m.count(inbound.ErrKindMark), "the failure counted")
				return
			}
			select {
			case <-retried.logged:
			case err := <-done:
				t.Fatalf("Run ended: %v", err)
			case <-time.After(waitLimit):
				t.Fatal("the poller did not ask again")
			}
			got := delivered(t, p, done, brokers, 50)
			assert.Equal(t, tc.Times, answered.Load(), "creates refused before the one that succeeded")
			assert.EqualValues(t, tc.Times, m.count(inbound.ErrKindMark), "each failure counted")
			assert.Len(t, got, 50, "every item, from the start")
		})
	}
}

// TestPollerMarkTopicNotDescribed: where the connector's credentials may not
// describe the mark topic (no ACL on it), Kafka refuses it
// (TOPIC_AUTHORIZATION_FAILED) to a request that names it, but leaves it out
// of an answer listing every topic, as if it did not exist. The poller reads
// the mark with a metadata cache of the mark topic alone, so Run ends with
// the refusal, naming the topic, whether or not the connector may create
// topics; it must not report the topic missing, nor, where the create
// answers that the topic exists, wait for it for ever.
func TestPollerMarkTopicNotDescribed(t *testing.T) {
	if kafkatest.Real() {
		t.Skip("sets ACLs with kfake's SASL users")
	}
	const user, pass = "connector", "s3cret-Pa55"
	const admin, adminPass = "admin", "adm1n-Pa55"
	itemTopic := kafkatest.Name("dsco.iteminventory")
	for _, tc := range []struct {
		name   string
		create bool // the connector may create topics (Create on the cluster)
	}{
		{"create refused", false},
		{"create allowed", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			acls := []kfake.ACL{{Resource: kmsg.ACLResourceTypeTopic, Name: itemTopic, Pattern: kmsg.ACLResourcePatternTypeLiteral,
				Operation: kmsg.ACLOperationWrite, Allow: true}}
			if tc.create {
				acls = append(acls, kfake.ACL{Resource: kmsg.ACLResourceTypeCluster, Name: "kafka-cluster",
					Pattern: kmsg.ACLResourcePatternTypeLiteral, Operation: kmsg.ACLOperationCreate, Allow: true})
			}
			cl := kafkatest.NewClusterWithoutAutoCreate(t, kfake.EnableSASL(), kfake.EnableACLs(),
				kfake.Superuser("PLAIN", admin, adminPass), kfake.User("PLAIN", user, pass, acls...))
			brokers := cl.ListenAddrs()
			// The admin makes both topics and stores a mark.
			kc, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.SASL(plain.Auth{User: admin, Pass: adminPass}.AsMechanism()))
			require.NoError(t, err)
			defer kc.Close()
			adm := kadm.NewClient(kc)
			_, err = adm.CreateTopic(t.Context(), 4, -1, nil, itemTopic)
			require.NoError(t, err)
			_, err = adm.CreateTopic(t.Context(), 1, -1, map[string]*string{"cleanup.policy": kadm.StringPtr("compact")}, markTopic)
			require.NoError(t, err)
			require.NoError(t, kc.ProduceSync(t.Context(), &kgo.Record{Topic: markTopic, Key: []byte(inbound.ItemInventoryObjectType),
				Value: []byte("2026-01-01T00:00:00.000Z")}).FirstErr())

			retried := newLogSignal(markRetried)
			_, done := startPoller(t, newClient(t, newSandbox(t, dscotest.Config{Seed: 21}).URL), brokers, retried, func(c *inbound.PollerConfig) {
				c.Topic, c.Kafka.Transport = itemTopic, &kafkago.Transport{SASL: kafkagoplain.Mechanism{Username: user, Password: pass}}
			})
			err = runEnds(t, done, retried, kafkago.TopicAuthorizationFailed)
			assert.NotErrorIs(t, err, kafkago.UnknownTopicOrPartition, "the topic exists")
		})
	}
}

// markRetried is what the poller logs when it asks again for its stored mark.
const markRetried = "inbound: reading the item inventory mark failed; trying again"

// markedSandbox returns a client of a new sandbox with 50 catalog items with inventory,
// and a stored mark after their changes, followed by changes of the first three items
// (skus(1, 3)): a poller starting from the mark delivers those three.
func markedSandbox(t *testing.T, seed int64) (client *dsco.Client, stored string) {
	t.Helper()
	sb := newSandbox(t, dscotest.Config{Seed: seed})
	client = newClient(t, sb.URL)
	_, err := sb.SeedOrders(0) // 50 catalog items with inventory: 50 changes
	require.NoError(t, err)
	time.Sleep(5 * time.Millisecond)
	stored = time.Now().UTC().Format("2006-01-02T15:04:05.000Z07:00")
	time.Sleep(5 * time.Millisecond)
	setInventory(t, client, skus(1, 3), 900)
	return client, stored
}

// startPoller runs a poller of client on brokers (quick polls and retries, its logs to
// logs when not nil, its configuration changed by adjust when not nil) until the test
// ends, and returns it with the channel of its Run's error.
func startPoller(t *testing.T, client *dsco.Client, brokers []string, logs *logSignal, adjust func(*inbound.PollerConfig)) (*inbound.Poller, <-chan error) {
	t.Helper()
	cfg := inbound.PollerConfig{Client: client, Serde: newSerde(t, newRegistry(t)), Kafka: inbound.KafkaConfig{Brokers: brokers},
		Limit: 7, PollInterval: 20 * time.Millisecond, RetryBackoff: 10 * time.Millisecond, RetryBackoffMax: 100 * time.Millisecond}
	if adjust != nil {
		adjust(&cfg)
	}
	var logger *slog.Logger
	if logs != nil {
		logger = slog.New(logs)
	}
	p, err := inbound.NewPoller(cfg, logger)
	require.NoError(t, err)
	t.Cleanup(func() { _ = p.Close() })
	done := make(chan error, 1)
	go func() { done <- p.Run(context.Background()) }()
	return p, done
}

// runEnds waits for the poller's Run to end, and checks its error: each of want, and the
// mark topic named. It fails the test if the poller says first that it asks again
// (retried, when not nil): what it met cannot pass by itself.
func runEnds(t *testing.T, done <-chan error, retried *logSignal, want ...error) error {
	t.Helper()
	var again <-chan struct{}
	if retried != nil {
		again = retried.logged
	}
	select {
	case err := <-done:
		for _, w := range want {
			require.ErrorIs(t, err, w)
		}
		assert.ErrorContains(t, err, markTopic)
		return err
	case <-again:
		t.Fatal("the poller asked again for what cannot pass by itself")
	case <-time.After(waitLimit):
		t.Fatal("Run did not end")
	}
	return nil
}

// delivered waits for n item inventory records on brokers while the poller runs, stops
// it (its Run must not have ended, and ends without error), and returns the keys of
// every record delivered.
func delivered(t *testing.T, p *inbound.Poller, done <-chan error, brokers []string, n int) map[string]bool {
	t.Helper()
	cons := newConsumer(t, brokers, "dsco.iteminventory.v1")
	recs := cons.until(t, func(rs []*kgo.Record) bool { return len(rs) >= n })
	select {
	case err := <-done:
		t.Fatalf("Run ended: %v", err)
	default:
	}
	require.NoError(t, p.Close())
	require.NoError(t, <-done, "Run's error")
	got := map[string]bool{}
	for _, rec := range append(recs, drain(t, cons)...) {
		got[string(rec.Key)] = true
	}
	return got
}
