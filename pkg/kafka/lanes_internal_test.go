package kafka

import (
	"context"
	"math/rand/v2"
	"strconv"
	"testing"

	kafkago "github.com/segmentio/kafka-go"
)

// TestKeyLanesModel drives keyLanes with random pushes and pops against a model of one FIFO
// per key: push must say whether the record heads its lane, pop must hand out each key's
// records in push order, and the reused queues of ended lanes must carry nothing over.
func TestKeyLanesModel(t *testing.T) {
	const limit = 64
	rng := rand.New(rand.NewPCG(1, 2))
	l := newKeyLanes(limit)
	model := map[string][]int64{} // per key in flight: the head first, then those waiting
	var heads []string            // keys whose head is in flight, for pop
	held := 0
	next := int64(0)
	for step := range 100_000 {
		if held < limit && (held == 0 || rng.IntN(2) == 0) {
			if !l.acquire(context.Background()) {
				t.Fatal("acquire failed with a free slot")
			}
			held++
			key := strconv.Itoa(rng.IntN(12)) // few keys: lanes queue up
			var k []byte
			if key != "0" {
				k = []byte(key) // key "0" stands for records without a key
			}
			next++
			heads0 := len(model[key]) == 0
			model[key] = append(model[key], next)
			if got := l.push(kafkago.Message{Key: k, Offset: next}); got != heads0 {
				t.Fatalf("step %d: push of key %q returned %v, want %v", step, key, got, heads0)
			}
			if heads0 {
				heads = append(heads, key)
			}
			continue
		}
		i := rng.IntN(len(heads))
		key := heads[i]
		var k []byte
		if key != "0" {
			k = []byte(key)
		}
		rec, ok := l.pop(k)
		held--
		model[key] = model[key][1:]
		if len(model[key]) == 0 {
			delete(model, key)
			heads = append(heads[:i], heads[i+1:]...)
			if ok {
				t.Fatalf("step %d: pop of key %q gave offset %d from an empty lane", step, key, rec.Offset)
			}
			continue
		}
		if !ok || rec.Offset != model[key][0] {
			t.Fatalf("step %d: pop of key %q gave (%d, %v), want offset %d", step, key, rec.Offset, ok, model[key][0])
		}
	}
	if len(l.spare) > maxSpareLanes {
		t.Fatalf("%d spare queues kept, want at most %d", len(l.spare), maxSpareLanes)
	}
}
