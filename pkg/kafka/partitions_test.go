package kafka_test

import (
	"context"
	"net"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/dscokafka/connector/pkg/kafka"
	"github.com/dscokafka/connector/pkg/kafka/kafkatest"
)

// waitGroupStable waits until group has finished its rebalance.
func waitGroupStable(t *testing.T, brokers []string, group string) {
	t.Helper()
	adm := kafkatest.Admin(t, brokers)
	require.Eventually(t, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
		defer cancel()
		groups, err := adm.DescribeGroups(ctx, group)
		return err == nil && groups[group].State == "Stable"
	}, waitLimit, 50*time.Millisecond)
}

// TestPartitionChangesAreConsumed: partitions that appear while a member consumes a topic
// (partitions added, or the topic created after Subscribe) are assigned and consumed too,
// without waiting for some unrelated rebalance; and a missing topic does not make the
// member rejoin the group in a loop.
func TestPartitionChangesAreConsumed(t *testing.T) {
	cases := []struct {
		name   string
		before int32 // partitions when Subscribe is called; 0: the topic does not exist
	}{
		{"partitions added", 1},
		{"topic created after Subscribe", 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			brokers := kafkatest.NewClusterWithoutAutoCreate(t).ListenAddrs()
			topic, group := kafkatest.Name("grow"), kafkatest.Name("g")
			if tc.before > 0 {
				kafkatest.CreateTopic(t, brokers, topic, tc.before)
			}
			sub := startSubscriber(t, brokers, group)
			ch := subscribe(t, sub, topic)
			waitGroupStable(t, brokers, group)

			ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
			defer cancel()
			if tc.before > 0 {
				resp, err := kafkatest.Admin(t, brokers).CreatePartitions(ctx, 1, topic)
				require.NoError(t, err)
				require.NoError(t, resp.Error())
			} else {
				kafkatest.CreateTopic(t, brokers, topic, 2)
			}

			// A publisher created now sees every partition; it writes to the last one, which
			// did not exist when the group was formed.
			pub := startPublisher(t, brokers, func(c *kafka.PublisherConfig) {
				c.Balancer = kafkago.BalancerFunc(func(_ kafkago.Message, partitions ...int) int {
					return partitions[len(partitions)-1]
				})
			})
			sent := publishN(t, pub, topic, 1, "")
			msg := receive(t, ch)
			require.Equal(t, sent[0].UUID, msg.UUID)
			p, ok := kafka.MessagePartitionFromCtx(msg.Context())
			require.True(t, ok)
			require.EqualValues(t, max(tc.before, 1), p)
			require.True(t, msg.Ack())
			closeSubscriber(t, sub, ch)
		})
	}
}

// TestAssignmentFromStaleMetadataIsRedone: the group leader assigns from metadata that does
// not list the topic yet (as a coordinator whose metadata lags a topic just created on a
// cluster of several brokers answers; kfake is made to answer so until the first
// SyncGroup), so the group's first assignment is empty although the topic exists. The
// member must notice and rejoin, and then consume.
func TestAssignmentFromStaleMetadataIsRedone(t *testing.T) {
	if kafkatest.Real() {
		t.Skip("answers metadata requests with kfake's controls")
	}
	cluster := kafkatest.NewCluster(t)
	brokers := cluster.ListenAddrs()
	topic, group := kafkatest.Name("stale"), kafkatest.Name("g")
	kafkatest.CreateTopic(t, brokers, topic, 2)
	pub := startPublisher(t, brokers)
	sent := publishN(t, pub, topic, 1, "")

	host, portStr, err := net.SplitHostPort(brokers[0])
	require.NoError(t, err)
	port, err := strconv.Atoi(portStr)
	require.NoError(t, err)
	var synced atomic.Bool
	cluster.ControlKey(int16(kmsg.SyncGroup), func(kmsg.Request) (kmsg.Response, error, bool) {
		synced.Store(true)
		return nil, nil, false
	})
	cluster.ControlKey(int16(kmsg.Metadata), func(req kmsg.Request) (kmsg.Response, error, bool) {
		mreq := req.(*kmsg.MetadataRequest)
		asks := false
		for _, rt := range mreq.Topics {
			asks = asks || (rt.Topic != nil && *rt.Topic == topic)
		}
		if synced.Load() || !asks {
			return nil, nil, false
		}
		cluster.KeepControl()
		resp := mreq.ResponseKind().(*kmsg.MetadataResponse)
		resp.Brokers = []kmsg.MetadataResponseBroker{{NodeID: cluster.CurrentNode(), Host: host, Port: int32(port)}}
		resp.ControllerID = cluster.CurrentNode()
		rt := kmsg.NewMetadataResponseTopic()
		rt.Topic = &topic
		rt.ErrorCode = kerr.UnknownTopicOrPartition.Code
		resp.Topics = append(resp.Topics, rt)
		return resp, nil, true
	})

	sub := startSubscriber(t, brokers, group)
	ch := subscribe(t, sub, topic)
	msg := receive(t, ch)
	require.Equal(t, sent[0].UUID, msg.UUID)
	require.True(t, msg.Ack())
	closeSubscriber(t, sub, ch)
}

// TestStartLatestConsumesAddedPartitions: under StartLatest, a partition added while the
// group consumes the topic is consumed from its first record. The group only rebalances
// a while after the partition appears, and producers write to it meanwhile: resolving
// "latest" then would skip those records, although they were written after the group
// started. The member's ListOffsets for the new partition is held until a record is in it,
// so that the record is there whenever the member rebalances.
func TestStartLatestConsumesAddedPartitions(t *testing.T) {
	if kafkatest.Real() {
		t.Skip("holds a ListOffsets request with kfake's controls")
	}
	cluster := kafkatest.NewCluster(t)
	brokers := cluster.ListenAddrs()
	topic, group := kafkatest.Name("latestgrow"), kafkatest.Name("g")
	kafkatest.CreateTopic(t, brokers, topic, 1)
	sub := startSubscriber(t, brokers, group, func(c *kafka.SubscriberConfig) { c.StartOffset = kafka.StartLatest })
	ch := subscribe(t, sub, topic)
	// Every record goes to the last partition: partition 0, then the added partition 1.
	pub := startPublisher(t, brokers, func(c *kafka.PublisherConfig) {
		c.Balancer = kafkago.BalancerFunc(func(_ kafkago.Message, partitions ...int) int {
			return partitions[len(partitions)-1]
		})
	})
	require.True(t, receiveProbe(t, pub, topic, ch).Ack()) // the member consumes partition 0

	written := make(chan struct{})
	cluster.ControlKey(int16(kmsg.ListOffsets), func(req kmsg.Request) (kmsg.Response, error, bool) {
		for _, rt := range req.(*kmsg.ListOffsetsRequest).Topics {
			for _, rp := range rt.Partitions {
				if rt.Topic == topic && rp.Partition == 1 {
					cluster.SleepControl(func() { <-written })
					cluster.DropControl()
				}
			}
		}
		return nil, nil, false
	})
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	resp, err := kafkatest.Admin(t, brokers).CreatePartitions(ctx, 1, topic)
	require.NoError(t, err)
	require.NoError(t, resp.Error())
	// A publisher created now sees both partitions.
	pub2 := startPublisher(t, brokers, func(c *kafka.PublisherConfig) {
		c.Balancer = kafkago.BalancerFunc(func(_ kafkago.Message, partitions ...int) int {
			return partitions[len(partitions)-1]
		})
	})
	early := publishN(t, pub2, topic, 1, "")[0]
	close(written)

	// Probes follow, so that the test ends either way: the first message to arrive must be
	// the one written before the member got the partition.
	got := receiveFirst(t, pub2, topic, ch)
	p, ok := kafka.MessagePartitionFromCtx(got.Context())
	require.True(t, ok)
	require.EqualValues(t, 1, p)
	require.Equal(t, early.UUID, got.UUID, "the record written to the new partition before the rebalance is consumed")
	require.True(t, got.Ack())
	closeSubscriber(t, sub, ch)
}
