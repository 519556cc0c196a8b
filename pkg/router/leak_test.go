package router_test

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/dscokafka/connector/pkg/kafka/kafkatest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, kafkatest.LeakOptions...)
}
