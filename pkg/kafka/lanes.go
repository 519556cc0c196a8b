package kafka

import (
	"context"
	"hash/maphash"
	"sync"

	kafkago "github.com/segmentio/kafka-go"
)

// keyLanes schedules the records of one partition under OrderPerKey (the model of
// Confluent's Parallel Consumer and LINE's Decaton): one lane per record key in flight, each
// lane delivering its records one after another in offset order, lanes running
// concurrently. Records without a key share the lane of the empty key. Lanes are found by a
// 64-bit hash of the key: two keys whose hashes collide share a lane, which keeps each one's
// order and only costs them their concurrency with each other.
//
// A slot is held for every record read and not yet acked, waiting or in flight; there are
// limit slots, so at most limit records of the partition are held at once. The partition
// goroutine takes a slot before it reads a record (acquire), a lane gives it back once its
// record is acked (release).
type keyLanes struct {
	slots chan struct{} // a token per record held
	limit int

	seed  maphash.Seed
	mu    sync.Mutex
	lanes map[uint64][]kafkago.Message // per key hash with a record in flight: the records waiting
	spare [][]kafkago.Message          // emptied queues of ended lanes, to be used again
}

// maxSpareLanes bounds the emptied queues kept for reuse.
const maxSpareLanes = 64

func newKeyLanes(limit int) *keyLanes {
	return &keyLanes{slots: make(chan struct{}, limit), limit: limit, seed: maphash.MakeSeed(), lanes: map[uint64][]kafkago.Message{}}
}

// acquire takes a slot, waiting while all are held. It returns false when ctx ended first.
func (l *keyLanes) acquire(ctx context.Context) bool {
	select {
	case l.slots <- struct{}{}:
		return true
	case <-ctx.Done():
		return false
	}
}

// release gives back a slot.
func (l *keyLanes) release() { <-l.slots }

// waitIdle waits until no record is held (every slot free), and returns false when ctx
// ended first. The caller must hold no slot.
func (l *keyLanes) waitIdle(ctx context.Context) bool {
	taken := 0
	defer func() {
		for range taken {
			l.release()
		}
	}()
	for taken < l.limit {
		if !l.acquire(ctx) {
			return false
		}
		taken++
	}
	return true
}

// push queues rec, for which the caller holds a slot, on the lane of its key. It returns
// true when rec heads its lane (no record of its key is in flight): the caller delivers
// it, and calls pop once it was acked.
func (l *keyLanes) push(rec kafkago.Message) bool {
	h := maphash.Bytes(l.seed, rec.Key)
	l.mu.Lock()
	defer l.mu.Unlock()
	waiting, busy := l.lanes[h]
	if !busy {
		l.lanes[h] = nil // in flight, none waiting: the common case allocates nothing
		return true
	}
	if waiting == nil && len(l.spare) > 0 {
		waiting = l.spare[len(l.spare)-1]
		l.spare = l.spare[:len(l.spare)-1]
	}
	l.lanes[h] = append(waiting, rec)
	return false
}

// pop ends the flight of the head of key's lane, which was acked, gives back its slot, and
// returns the lane's next record, now its head, if there is one: the caller delivers it.
func (l *keyLanes) pop(key []byte) (kafkago.Message, bool) {
	h := maphash.Bytes(l.seed, key)
	l.release()
	l.mu.Lock()
	defer l.mu.Unlock()
	waiting := l.lanes[h]
	if len(waiting) == 0 {
		delete(l.lanes, h)
		if waiting != nil && len(l.spare) < maxSpareLanes {
			l.spare = append(l.spare, waiting)
		}
		return kafkago.Message{}, false
	}
	// Shift rather than reslice, so the queue keeps its capacity: lanes are short (at most
	// the slots), and a resliced queue would allocate again on every few pushes.
	next := waiting[0]
	copy(waiting, waiting[1:])
	waiting[len(waiting)-1] = kafkago.Message{} // let the records be collected once done
	l.lanes[h] = waiting[:len(waiting)-1]
	return next, true
}

// dispatch queues rec, for which the caller holds a slot, on the lane of its key, and
// starts that lane (counted in wg) unless a record of the key is in flight already.
// deliver is called for one record at a time per lane and returns true once the record
// was acked, false when the lane must stop (the generation ended): the records still
// queued are then dropped, unacked, and so never committed.
func (l *keyLanes) dispatch(rec kafkago.Message, wg *sync.WaitGroup, deliver func(kafkago.Message) bool) {
	if !l.push(rec) {
		return
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for ok := true; ok; {
			if !deliver(rec) {
				return
			}
			rec, ok = l.pop(rec.Key)
		}
	}()
}
