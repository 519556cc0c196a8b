package inbound_test

import (
	"testing"

	"github.com/dscokafka/connector/pkg/kafka/kafkatest"
)

func TestMain(m *testing.M) {
	kafkatest.VerifyTestMain(m)
}
