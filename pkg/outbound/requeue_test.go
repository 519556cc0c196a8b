package outbound_test

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/components/requeuer"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"
	kafkago "github.com/segmentio/kafka-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/dscokafka/connector/pkg/dsco"
	"github.com/dscokafka/connector/pkg/dsco/dscotest"
	"github.com/dscokafka/connector/pkg/kafka"
	"github.com/dscokafka/connector/pkg/kafka/kafkatest"
	"github.com/dscokafka/connector/pkg/outbound"
	"github.com/dscokafka/connector/pkg/router"
	"github.com/dscokafka/connector/pkg/schemas"
)

// TestRequeueFromPoisonTopic: a ship command for an order Dsco does not know yet is
// poisoned; once the order exists, requeuing the poison record sends the command again and
// it is applied. The other poison record, not selected, stays where it is.
func TestRequeueFromPoisonTopic(t *testing.T) {
	e := newEnv(t, dscotest.Config{Seed: 41})
	kafkatest.CreateTopic(t, e.brokers, e.topic("ship"), 2)
	e.send(
		&schemas.ShipCommand{CommandID: "early", OrderID: "PO-LATER", LineItemID: str("1"), TrackingNumber: str("1Z1"), Carrier: str("UPS")},
		&schemas.ShipCommand{CommandID: "never", OrderID: "PO-NEVER", LineItemID: str("1"), TrackingNumber: str("1Z2"), Carrier: str("UPS")},
	)
	e.start(router.OutboundConfig{Subscriber: e.subscriberConfig(kafkatest.Name("g")), Pipeline: e.pipelineConfig(outbound.RoleSupplier)})
	got := e.waitResults("early", "never")
	require.Equal(t, schemas.OutcomeRejected, got["early"].Outcome)
	assert.Contains(t, deref(got["early"].Reason), "ORDER_NOT_FOUND")
	poisoned := e.waitPoisoned(2)

	_, err := e.client(outbound.RoleRetailer).RetailerCreateOrder(context.Background(), dsco.RetailerOrderRequest{Orders: []dsco.Order{{
		OrderID: "PO-LATER", OrderType: dsco.OrderTypeMarketplace,
		Items: []dsco.OrderItem{{LineItemID: "1", SKU: "SKU-L", Quantity: 1}},
	}}})
	require.NoError(t, err)

	var selected []outbound.PoisonRecord
	for _, p := range poisoned {
		if p.CommandID == "early" {
			selected = append(selected, p)
		}
	}
	require.Len(t, selected, 1)
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	require.NoError(t, outbound.Requeue(ctx, e.pub, selected))

	require.Eventually(t, func() bool {
		res, _ := e.resultsByID()
		return res["early"] != nil && res["early"].Outcome == schemas.OutcomeAccepted
	}, waitLimit, 100*time.Millisecond, "the requeued command is applied")
	assert.Positive(t, line(e.order("PO-LATER"), "1").QuantityShipped)
	assert.Len(t, e.poisoned(), 2, "nothing new was poisoned; the unselected record stays")
	_, n := e.resultsByID()
	assert.Equal(t, 3, n, "one result per delivery: two first, one for the requeued command")
}

// TestRequeuedUnknownIsSentOncePerRequeue: a return poisoned as outcome_unknown (Dsco
// applies every call and answers 502) is sent when an operator requeues it, and when
// that call's outcome is unknown too and Kafka delivers the requeued record again (a
// crash before its offset was committed), it is reconciled, not sent a third time:
// whatever the requeuing machine's clock says, the second unknown mark is later than
// the requeued record.
func TestRequeuedUnknownIsSentOncePerRequeue(t *testing.T) {
	for _, tc := range []struct {
		name  string
		ahead time.Duration // of the requeuing machine's clock
	}{
		{"same clock", 0},
		{"requeuing clock an hour ahead", time.Hour},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, dscotest.Config{Seed: 63})
			o := e.shippedOrder()
			p, h := e.handler("return", outbound.RetryConfig{MaxAttempts: 1})
			calls := func() int64 { return e.sandbox.Stats().Calls["supplierCreateReturn"] }

			e.sandbox.SetFault("supplierCreateReturn", dscotest.Fault{Rate502Applied: 1})
			value, err := e.serde.Encode(&schemas.ReturnCommand{CommandID: "ret-1", OrderID: o.OrderID, LineItemID: str(o.Items[0].LineItemID), Quantity: i32(1)})
			require.NoError(t, err)
			e.deliver(h, kafkago.Message{Topic: e.topic("return"), Offset: 7, Key: []byte(o.OrderID), Value: value, Time: time.Now()})
			require.Equal(t, int64(1), calls())
			poisoned := e.waitPoisoned(1)
			require.Equal(t, "ret-1", poisoned[0].CommandID)

			// The record Requeue publishes: the original bytes and headers, poison
			// metadata included, and the requeuer's counter; Kafka's time of the write.
			requeue := func(pr outbound.PoisonRecord, offset int64) kafkago.Message {
				m := kafkago.Message{Topic: e.topic("return"), Offset: offset, Key: []byte(o.OrderID), Value: pr.Value, Time: time.Now().Add(tc.ahead)}
				for k, v := range pr.Headers {
					m.Headers = append(m.Headers, kafkago.Header{Key: k, Value: []byte(v)})
				}
				m.Headers = append(m.Headers, kafkago.Header{Key: requeuer.RetriesKey, Value: []byte("1")})
				return m
			}
			requeued := requeue(poisoned[0], 42)
			e.deliver(h, requeued)
			require.Equal(t, int64(2), calls(), "the operator's requeue is sent")
			poisoned = e.waitPoisoned(2)

			e.deliver(h, requeued) // Kafka delivers the requeued record again
			assert.Equal(t, int64(2), calls(), "a redelivery of the requeued record is reconciled, not sent")
			assert.Equal(t, int64(2), e.sandbox.Stats().Returns, "returns created")

			// The operator requeues it again, from the same machine, and Dsco applies it
			// this time: the marks after the unknown one supersede it, however far
			// ahead its time, so Kafka delivering this record again finds it applied.
			e.sandbox.SetFault("supplierCreateReturn", dscotest.Fault{})
			time.Sleep(5 * time.Millisecond) // a later millisecond than the unknown mark's
			again := requeue(poisoned[1], 43)
			e.deliver(h, again)
			require.Equal(t, int64(3), calls(), "the second requeue is sent")
			assert.Equal(t, outbound.MarkApplied, p.Store().Get("ret-1"))
			e.deliver(h, again)
			assert.Equal(t, int64(3), calls(), "a redelivery of an applied command is not sent again")
			assert.Equal(t, int64(3), e.sandbox.Stats().Returns, "returns created")
		})
	}
}

// TestListPoisonedStoppedEarly: a listing whose time runs out before every partition
// was read to its end (here partition 1's fetches come back empty, as from a slow
// broker) is an error, not a shorter list that looks complete (`poison replay -all`
// would replay part of the topic and say it replayed everything).
func TestListPoisonedStoppedEarly(t *testing.T) {
	if kafkatest.Real() {
		t.Skip("answers fetches with kfake's controls")
	}
	cl := kafkatest.NewCluster(t)
	brokers := cl.ListenAddrs()
	topic := kafkatest.Name("poison")
	kafkatest.CreateTopic(t, brokers, topic, 2)
	// Records in both partitions, whatever the producer's view of the topic when it
	// starts (kafka-go's Writer, seeing one partition, once put them all in partition 0).
	pc, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	require.NoError(t, err)
	defer pc.Close()
	for i := range 8 {
		rec := &kgo.Record{Topic: topic, Partition: int32(i % 2), Value: fmt.Appendf(nil, "v-%d", i)}
		require.NoError(t, pc.ProduceSync(t.Context(), rec).FirstErr())
	}

	cl.ControlKey(int16(kmsg.Fetch), func(r kmsg.Request) (kmsg.Response, error, bool) {
		cl.KeepControl()
		req := r.(*kmsg.FetchRequest)
		for _, rt := range req.Topics {
			for _, rp := range rt.Partitions {
				if rp.Partition != 1 {
					return nil, nil, false
				}
			}
		}
		time.Sleep(20 * time.Millisecond) // not a busy loop
		resp := req.ResponseKind().(*kmsg.FetchResponse)
		for _, rt := range req.Topics {
			st := kmsg.NewFetchResponseTopic()
			st.Topic, st.TopicID = rt.Topic, rt.TopicID
			for _, rp := range rt.Partitions {
				sp := kmsg.NewFetchResponseTopicPartition()
				sp.Partition = rp.Partition
				sp.HighWatermark = rp.FetchOffset + 1
				sp.LastStableOffset = rp.FetchOffset + 1
				st.Partitions = append(st.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, st)
		}
		return resp, nil, true
	})
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_, err = outbound.ListPoisoned(ctx, outbound.TopicReader{Brokers: brokers}, topic)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.ErrorContains(t, err, "stopped before its end")
}

// TestListPoisonedTimeOfInboundRecords: the inbound side's poison records carry no
// poison time header; their Time is their Kafka time, so that `poison list`, which
// shows the newest records, ranks them where they belong.
func TestListPoisonedTimeOfInboundRecords(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	topic := kafkatest.Name("poison")
	kafkatest.CreateTopic(t, brokers, topic, 1)
	// Acknowledged before the listing reads the topic's end (kafka-go's default is
	// fire-and-forget), on a transport of its own (the shared one may cache metadata
	// from before the topic existed).
	tr := &kafkago.Transport{} // the Writer's Close leaves it running
	t.Cleanup(tr.CloseIdleConnections)
	w := &kafkago.Writer{Addr: kafkago.TCP(brokers...), Topic: topic, RequiredAcks: kafkago.RequireAll, Transport: tr}
	defer w.Close()
	written := time.Now().Truncate(time.Millisecond)
	require.NoError(t, w.WriteMessages(t.Context(), kafkago.Message{Key: []byte("stream-1/0"), Value: []byte(`{"not":"mapped"}`), Time: written,
		Headers: []kafkago.Header{{Key: middleware.ReasonForPoisonedKey, Value: []byte("inbound: the event has no business key")}}}))
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	recs, err := outbound.ListPoisoned(ctx, outbound.TopicReader{Brokers: brokers}, topic)
	require.NoError(t, err)
	require.Len(t, recs, 1)
	assert.True(t, recs[0].Time.Equal(written), "Time %v, written %v", recs[0].Time, written)
}

// TestRequeueToSourcePartition: with a SourcePartitionBalancer, a requeued record goes back
// to the partition it was consumed from, even where its key's murmur2 partition is another
// (its producer used another partitioner); a record naming no partition, or one the topic
// does not have, goes to its key's murmur2 partition.
func TestRequeueToSourcePartition(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	topic := kafkatest.Name("requeue")
	kafkatest.CreateTopic(t, brokers, topic, 4)
	parts := []int{0, 1, 2, 3}
	murmur2 := func(key string) int {
		return (&kafkago.Murmur2Balancer{}).Balance(kafkago.Message{Key: []byte(key)}, parts...)
	}
	cases := []struct {
		key, partition string // the PoisonPartitionKey header; "" for none
		want           func(key string) int
	}{
		{"source", "", nil}, // want set below: a partition other than the key's murmur2 one
		{"no-header", "", murmur2},
		{"no-such-partition", "9", murmur2},
		{"not-a-number", "two", murmur2},
	}
	src := (murmur2("source") + 1) % len(parts)
	cases[0].partition, cases[0].want = strconv.Itoa(src), func(string) int { return src }
	var recs []outbound.PoisonRecord
	for i, tc := range cases {
		h := map[string]string{middleware.PoisonedTopicKey: topic, middleware.ReasonForPoisonedKey: "test"}
		if tc.partition != "" {
			h[outbound.PoisonPartitionKey] = tc.partition
		}
		recs = append(recs, outbound.PoisonRecord{Partition: 0, Offset: int64(i), Key: tc.key, SourceTopic: topic, Value: []byte(tc.key), Headers: h})
	}
	pub, err := kafka.NewPublisher(kafka.PublisherConfig{Connection: kafka.ConnectionConfig{Brokers: brokers},
		Balancer: outbound.SourcePartitionBalancer{}}, nil)
	require.NoError(t, err)
	defer pub.Close()
	ctx, cancel := context.WithTimeout(t.Context(), waitLimit)
	defer cancel()
	require.NoError(t, outbound.Requeue(ctx, pub, recs))

	got := map[string]int{}
	var mu sync.Mutex
	require.NoError(t, outbound.TopicReader{Brokers: brokers}.Read(ctx, topic, false, nil, func(m kafkago.Message) {
		mu.Lock()
		got[string(m.Key)] = m.Partition
		mu.Unlock()
	}))
	require.Len(t, got, len(cases))
	for _, tc := range cases {
		assert.Equal(t, tc.want(tc.key), got[tc.key], tc.key)
	}
}

// TestLatestPoisonings: of the poisonings of one command (source topic and command id),
// only the latest is kept for a requeue, and each earlier one names it; records naming no
// command stand alone.
func TestLatestPoisonings(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	rec := func(part int, off int64, topic, id string, at time.Time) outbound.PoisonRecord {
		return outbound.PoisonRecord{Partition: part, Offset: off, SourceTopic: topic, CommandID: id, Time: at}
	}
	for _, tc := range []struct {
		name    string
		recs    []outbound.PoisonRecord
		latest  []string
		earlier []string // record>its latest
	}{
		{"one each", []outbound.PoisonRecord{rec(0, 1, "ship", "a", t0), rec(0, 2, "ship", "b", t0)}, []string{"0/1", "0/2"}, nil},
		{"poisoned twice: the later time", []outbound.PoisonRecord{rec(0, 1, "ship", "a", t0.Add(time.Minute)), rec(0, 2, "ship", "a", t0)}, []string{"0/1"}, []string{"0/2>0/1"}},
		{"same time: the later offset", []outbound.PoisonRecord{rec(0, 2, "ship", "a", t0), rec(0, 1, "ship", "a", t0), rec(0, 3, "ship", "b", t0)}, []string{"0/2", "0/3"}, []string{"0/1>0/2"}},
		{"same time: the later partition", []outbound.PoisonRecord{rec(1, 1, "ship", "a", t0), rec(0, 4, "ship", "a", t0)}, []string{"1/1"}, []string{"0/4>1/1"}},
		{"three times", []outbound.PoisonRecord{rec(0, 1, "ret", "a", t0), rec(1, 5, "ret", "a", t0.Add(2*time.Minute)), rec(0, 9, "ret", "a", t0.Add(time.Minute))}, []string{"1/5"}, []string{"0/1>1/5", "0/9>1/5"}},
		{"same id, other topics", []outbound.PoisonRecord{rec(0, 1, "ship", "a", t0), rec(0, 2, "invoice", "a", t0)}, []string{"0/1", "0/2"}, nil},
		{"no command id stands alone", []outbound.PoisonRecord{rec(0, 1, "ship", "", t0), rec(0, 2, "ship", "", t0), rec(0, 3, "", "", t0)}, []string{"0/1", "0/2", "0/3"}, nil},
		{"none", nil, nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var l outbound.LatestPoisonings
			for _, r := range tc.recs {
				l.Add(r)
			}
			var latest, earlier []string
			for _, r := range tc.recs {
				if lt, ok := l.Earlier(r); ok {
					earlier = append(earlier, fmt.Sprintf("%d/%d>%d/%d", r.Partition, r.Offset, lt.Partition, lt.Offset))
				} else {
					latest = append(latest, fmt.Sprintf("%d/%d", r.Partition, r.Offset))
				}
			}
			assert.Equal(t, tc.latest, latest, "latest")
			assert.Equal(t, tc.earlier, earlier, "earlier")
		})
	}
	t.Run("a command not added", func(t *testing.T) {
		var l outbound.LatestPoisonings
		l.Add(rec(0, 1, "ship", "a", t0.Add(time.Minute)))
		_, ok := l.Earlier(rec(0, 2, "ship", "b", t0))
		assert.False(t, ok)
	})
}
