package kafkatest_test

import (
	"context"
	"net"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"

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
