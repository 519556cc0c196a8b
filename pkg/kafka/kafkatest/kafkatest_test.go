package kafkatest_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/dscokafka/connector/pkg/kafka/kafkatest"
)

func TestBrokersFromEnvironment(t *testing.T) {
	cases := []struct {
		name string
		env  string
		want []string
	}{
		{name: "one broker", env: "127.0.0.1:9092", want: []string{"127.0.0.1:9092"}},
		{name: "several with spaces", env: "127.0.0.1:9092, 127.0.0.1:9093,", want: []string{"127.0.0.1:9092", "127.0.0.1:9093"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(kafkatest.BrokersEnv, tc.env)
			assert.True(t, kafkatest.Real())
			assert.Equal(t, tc.want, kafkatest.Brokers(t))
		})
	}
}

func TestClusterOnLoopbackWithAdminHelpers(t *testing.T) {
	t.Setenv(kafkatest.BrokersEnv, "")
	brokers := kafkatest.NewCluster(t).ListenAddrs()
	require.Len(t, brokers, 1)
	host, _, err := net.SplitHostPort(brokers[0])
	require.NoError(t, err)
	assert.Equal(t, "127.0.0.1", host)

	topic, group := kafkatest.Name("topic"), kafkatest.Name("group")
	assert.True(t, strings.HasPrefix(topic, "topic-"))
	assert.NotEqual(t, kafkatest.Name("topic"), topic, "names are unique")
	kafkatest.CreateTopic(t, brokers, topic, 3)
	assert.Empty(t, kafkatest.CommittedOffsets(t, brokers, group, topic), "a new group has no commits")

	adm := kafkatest.Admin(t, brokers)
	offsets := kadm.Offsets{}
	offsets.AddOffset(topic, 1, 7, -1)
	_, err = adm.CommitOffsets(context.Background(), group, offsets)
	require.NoError(t, err)
	assert.Equal(t, map[int32]int64{1: 7}, kafkatest.CommittedOffsets(t, brokers, group, topic))
}

// TestPort: a Port resets the connections made to it while no server is up (and no
// other listener can take it then, as one could take a port let go), hands them to a
// kfake broker that comes up there, resets them again once it is closed, and serves the
// next one at the same address; one server at a time.
func TestPort(t *testing.T) {
	port := kafkatest.NewPort(t)
	down := func(when string) {
		t.Helper()
		c, err := net.Dial("tcp", port.Addr()) // the reset may come before the dial returns
		if err == nil {
			defer c.Close()
			require.NoError(t, c.SetReadDeadline(time.Now().Add(waitLimit))) // bounds the wait; not an assertion
			_, err = c.Read(make([]byte, 1))
		}
		require.Error(t, err, when)
		var nerr net.Error
		assert.False(t, errors.As(err, &nerr) && nerr.Timeout(), "%s: the connection is reset, not left open: %v", when, err)
		if ln, err := net.Listen("tcp", port.Addr()); !assert.Error(t, err, "%s: no other process can take the port", when) {
			_ = ln.Close()
		}
	}
	up := func(when string) *kfake.Cluster {
		t.Helper()
		c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.ListenFn(port.ListenFn))
		require.NoError(t, err, when)
		t.Cleanup(c.Close)
		require.Equal(t, []string{port.Addr()}, c.ListenAddrs(), when)
		_, err = kafkatest.Admin(t, c.ListenAddrs()).ListBrokers(t.Context())
		require.NoError(t, err, "%s: the broker answers at the port", when)
		return c
	}
	down("before any server")
	first := up("first")
	_, err := port.Listen()
	assert.Error(t, err, "one server at a time")
	first.Close()
	down("after the server closed")
	up("again")
}

// waitLimit bounds the waits of these tests.
const waitLimit = 30 * time.Second
