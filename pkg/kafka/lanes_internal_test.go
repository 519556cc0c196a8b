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
// records in push order, and lanes used again once ended must carry nothing over; no more
// lanes are ever made than there are slots.
func TestKeyLanesModel(t *testing.T) {
	const limit = 64
	rng := rand.New(rand.NewPCG(1, 2))
	l := newKeyLanes(limit)
	model := map[string][]int64{} // per key in flight: the head first, then those waiting
	var heads []string            // keys whose head is in flight, for pop
	inFlight := map[string]*lane{}
	made := map[*lane]bool{}
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
			ln, got := l.push(kafkago.Message{Key: k, Offset: next})
			if got != heads0 {
				t.Fatalf("step %d: push of key %q returned %v, want %v", step, key, got, heads0)
			}
			made[ln] = true
			if heads0 {
				if ln.head.Offset != next || len(ln.waiting) != 0 {
					t.Fatalf("step %d: a new lane of key %q has head %d and %d waiting", step, key, ln.head.Offset, len(ln.waiting))
				}
				heads = append(heads, key)
				inFlight[key] = ln
			} else if ln != inFlight[key] {
				t.Fatalf("step %d: key %q queued on another lane", step, key)
			}
			continue
		}
		i := rng.IntN(len(heads))
		key := heads[i]
		ln := inFlight[key]
		if ln.head.Offset != model[key][0] {
			t.Fatalf("step %d: key %q has head %d in flight, want %d", step, key, ln.head.Offset, model[key][0])
		}
		ok := l.pop(ln)
		held--
		model[key] = model[key][1:]
		if len(model[key]) == 0 {
			delete(model, key)
			heads = append(heads[:i], heads[i+1:]...)
			delete(inFlight, key)
			if ok {
				t.Fatalf("step %d: pop of key %q gave offset %d from an empty lane", step, key, ln.head.Offset)
			}
			continue
		}
		if !ok || ln.head.Offset != model[key][0] {
			t.Fatalf("step %d: pop of key %q gave (%d, %v), want offset %d", step, key, ln.head.Offset, ok, model[key][0])
		}
	}
	for _, ln := range l.spare {
		if cap(ln.waiting) > maxSpareQueue {
			t.Fatalf("an ended lane keeps a queue of %d", cap(ln.waiting))
		}
	}
	if len(made) > limit {
		t.Fatalf("%d lanes made for %d slots", len(made), limit)
	}
}

// TestKeyLanesHotKeyQueueBounded: a key whose lane never empties (a record pushed behind
// it for every one acked) keeps handing out its records in order, and its queue's
// storage stays within twice the slots: taking from the front moves an index, and the
// queue moves back to the front of its storage when that is full.
func TestKeyLanesHotKeyQueueBounded(t *testing.T) {
	const limit = 8
	l := newKeyLanes(limit)
	key := []byte("hot")
	var ln *lane
	pushed := int64(0)
	push := func() {
		t.Helper()
		if !l.acquire(context.Background()) {
			t.Fatal("acquire failed with a free slot")
		}
		pushed++
		got, _ := l.push(kafkago.Message{Key: key, Offset: pushed})
		if ln != nil && got != ln {
			t.Fatalf("offset %d queued on another lane", pushed)
		}
		ln = got
	}
	for range limit {
		push()
	}
	for want := int64(1); want <= 10_000; want++ {
		if ln.head.Offset != want {
			t.Fatalf("head %d in flight, want %d", ln.head.Offset, want)
		}
		if !l.pop(ln) {
			t.Fatalf("the lane ended after offset %d with %d pushed", want, pushed)
		}
		push()
		if c := cap(ln.waiting); c > 2*limit {
			t.Fatalf("after offset %d the queue's storage holds %d records for %d slots", want, c, limit)
		}
	}
}
