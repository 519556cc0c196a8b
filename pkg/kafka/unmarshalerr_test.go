package kafka_test

import (
	"testing"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dscokafka/connector/pkg/kafka"
)

func TestRejectUnmarshalFailures(t *testing.T) {
	cases := []struct {
		name        string
		metadata    map[string]string
		wantHandled bool
	}{
		{name: "decoded message reaches the handler", wantHandled: true},
		{name: "undecodable message is rejected", metadata: map[string]string{kafka.UnmarshalErrorMetadata: "bad magic byte"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			msg := message.NewMessage("id", []byte("raw"))
			for k, v := range tc.metadata {
				msg.Metadata.Set(k, v)
			}
			handled := false
			_, err := kafka.RejectUnmarshalFailures(func(*message.Message) ([]*message.Message, error) {
				handled = true
				return nil, nil
			})(msg)
			assert.Equal(t, tc.wantHandled, handled)
			if tc.wantHandled {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, kafka.ErrUnmarshal)
			assert.Contains(t, err.Error(), "bad magic byte")
		})
	}
}
