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
	lanes map[uint64]*lane // per key hash with a record in flight
	spare []*lane          // ended lanes, to be used again: at most limit, as lanes are
}

// A lane is the records of one key (hash) held: the one in flight, and those waiting
// behind it. Lanes are used again once ended, so that a record handed to a lane costs no
// allocation once the partition has run a while: a lane holds the slot of its head, so
// at most limit lanes exist at once.
type lane struct {
	key  uint64
	head kafkago.Message // in flight
	// waiting[next:] are the records behind head, in offset order: pop takes the first
	// and moves next on (shifting the queue at each pop cost a copy of every record
	// behind, per record, behind a hot key); the queue starts again at its front when it
	// empties, and push moves it there when it is full.
	waiting []kafkago.Message
	next    int
	done    func(error) // asyncLanes' callback for head, made once per lane
}

// maxSpareQueue is the longest waiting queue an ended lane keeps for its next key: without
// it, lanes used again could each keep the longest queue they ever had, up to limit² records.
const maxSpareQueue = 16

func newKeyLanes(limit int) *keyLanes {
	return &keyLanes{slots: make(chan struct{}, limit), limit: limit, seed: maphash.MakeSeed(), lanes: map[uint64]*lane{}}
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

// push queues rec, for which the caller holds a slot, on the lane of its key, and returns
// the lane. It returns true when rec heads the lane (no record of its key was in flight):
// the caller delivers lane.head, and calls pop once it was acked.
func (l *keyLanes) push(rec kafkago.Message) (*lane, bool) {
	h := maphash.Bytes(l.seed, rec.Key)
	l.mu.Lock()
	defer l.mu.Unlock()
	if ln, busy := l.lanes[h]; busy {
		if len(ln.waiting) == cap(ln.waiting) && ln.next > 0 {
			n := copy(ln.waiting, ln.waiting[ln.next:])
			clear(ln.waiting[n:])
			ln.waiting, ln.next = ln.waiting[:n], 0
		}
		ln.waiting = append(ln.waiting, rec)
		return ln, false
	}
	var ln *lane
	if n := len(l.spare); n > 0 {
		ln, l.spare = l.spare[n-1], l.spare[:n-1]
	} else {
		ln = &lane{}
	}
	ln.key, ln.head = h, rec
	l.lanes[h] = ln
	return ln, true
}

// pop ends the flight of ln's head, which was acked, and gives back its slot. It returns
// true when a record was waiting: it is ln's head now, and the caller delivers it. False:
// the lane ended, and the caller must not use ln again.
func (l *keyLanes) pop(ln *lane) bool {
	l.release()
	l.mu.Lock()
	defer l.mu.Unlock()
	if ln.next == len(ln.waiting) {
		delete(l.lanes, ln.key)
		ln.head = kafkago.Message{} // let the acked record be collected
		if cap(ln.waiting) > maxSpareQueue {
			ln.waiting = nil // a hot key's long queue is not kept for whichever key comes next
		}
		l.spare = append(l.spare, ln)
		return false
	}
	ln.head = ln.waiting[ln.next]
	ln.waiting[ln.next] = kafkago.Message{} // let it be collected once acked
	if ln.next++; ln.next == len(ln.waiting) {
		ln.waiting, ln.next = ln.waiting[:0], 0 // empty: the queue starts again at its front
	}
	return true
}

// dispatch queues rec, for which the caller holds a slot, on the lane of its key, and
// starts that lane (counted in wg) unless a record of the key is in flight already.
// deliver is called for one record at a time per lane and returns true once the record
// was acked, false when the lane must stop (the generation ended): the records still
// queued are then dropped, unacked, and so never committed.
func (l *keyLanes) dispatch(rec kafkago.Message, wg *sync.WaitGroup, deliver func(kafkago.Message) bool) {
	ln, head := l.push(rec)
	if !head {
		return
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for deliver(ln.head) && l.pop(ln) {
		}
	}()
}
