package outbound

import (
	"flag"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dscokafka/connector/pkg/kafka/kafkatest"
)

// TestMain runs the package's tests with recycled commands left unusable (poisonRecycled)
// when the race detector is off: every test then fails where a command is used after its
// batch's process returned. Under the race detector (CI's tiers) the commands go back to
// their pools, as in production, and the detector reports such a use as a race with the
// command's next user. Benchmarks measure the pools as they are: neither a run with
// -test.bench nor BenchmarkPipeline's child process (OUTBOUND_BENCH_CHILD, benchChildEnv)
// poisons.
func TestMain(m *testing.M) {
	flag.Parse()
	benchmarking := flag.Lookup("test.bench").Value.String() != "" || os.Getenv("OUTBOUND_BENCH_CHILD") != ""
	poisonRecycled = !raceEnabled && !benchmarking
	if benchmarking {
		os.Exit(m.Run()) // measured, not checked for leftovers (kafkatest.VerifyTestMain)
	}
	kafkatest.VerifyTestMain(m)
}

// TestRecycleLeavesNoCommandUsable: a command recycle is handed is zeroed (its kind, item
// and done callback, finish, nil) whether or not it goes back to its pool; with
// poisonRecycled (the tests without the race detector) it is marked recycledID and not
// handed out again. Commands its kind did not make are left as they are.
func TestRecycleLeavesNoCommandUsable(t *testing.T) {
	k := kinds[0]
	c, _ := k.newCommand()
	require.Same(t, k, c.kind)
	c.id, c.finish = "c-1", func(error) {}
	other := &command{kind: k, id: "literal"} // not made by newCommand
	k.recycle([]*command{c, other})
	assert.Nil(t, c.kind, "kind")
	assert.Nil(t, c.item, "item")
	assert.Nil(t, c.finish, "finish")
	assert.Equal(t, "literal", other.id, "a command newCommand did not make is left")
	if poisonRecycled {
		assert.Equal(t, recycledID, c.id)
		for range 100 {
			again, _ := k.newCommand()
			require.NotSame(t, c, again, "a poisoned command handed out again")
		}
	}
}
