package outbound

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	kafkago "github.com/segmentio/kafka-go"

	"github.com/dscokafka/connector/pkg/kafka"
)

// Mark is the state of a command id in the Store.
type Mark uint8

// The marks. The record value in the store topic is the mark's name.
const (
	// MarkNone: the store knows nothing of the id (never sent, or forgotten after the
	// retention).
	MarkNone Mark = iota
	// MarkSending: a Dsco call carrying the command was about to be made; no outcome is
	// known yet. A command delivered again in this state is reconciled before any send.
	MarkSending
	// MarkApplied: Dsco applied (or queued) the command; it is never sent again. It is
	// final: no other mark takes its place (see Store).
	MarkApplied
	// MarkReleased: the command was sent but Dsco certainly did not apply it (rejected, or
	// retries exhausted on answers that say so); it may be sent again (requeue).
	MarkReleased
	// MarkUnknown: poisoned with outcome_unknown. Delivered again by Kafka, it is
	// reconciled again; requeued by an operator (a record carrying the poison metadata,
	// timestamped after the mark), it is sent.
	MarkUnknown
)

var markNames = [...]string{"", "sending", "applied", "released", "unknown"}

// String returns the mark's name.
func (m Mark) String() string {
	if int(m) < len(markNames) {
		return markNames[m]
	}
	return fmt.Sprintf("Mark(%d)", m)
}

func parseMark(b []byte) Mark {
	for i, n := range markNames {
		if i > 0 && string(b) == n {
			return Mark(i)
		}
	}
	return MarkNone
}

// StoreConfig configures the applied-ids Store.
type StoreConfig struct {
	// Topic is the compacted topic holding the marks (key: the command id, value: the
	// mark's name). Default dsco.cmd.applied.v1. Created at start when missing, with
	// cleanup.policy=compact and Partitions partitions (default 6); where Kafka refuses
	// the connector the right to create topics, make it so beforehand (see Store.Run).
	Topic      string
	Partitions int
	// Reader reads the topic (brokers, dialer). Required.
	Reader TopicReader
	// Writer writes the marks. Required.
	Writer RecordWriter
	// MaxEntries bounds the ids kept in memory (default 500,000: 32 to 40 bytes per id,
	// 16 to 20 MB, whatever the ids' length); the
	// oldest are forgotten first. Retention forgets ids older than it (default 7 days).
	// A command redelivered after its id was forgotten is treated as new: keep both
	// above the longest time a command can wait for redelivery (consumer lag plus
	// requeue delay).
	MaxEntries int
	Retention  time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
}

func (c *StoreConfig) setDefaults() {
	if c.Topic == "" {
		c.Topic = "dsco.cmd.applied.v1"
	}
	if c.Partitions == 0 {
		c.Partitions = 6
	}
	if c.MaxEntries == 0 {
		c.MaxEntries = 500_000
	}
	if c.Retention == 0 {
		c.Retention = 7 * 24 * time.Hour
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

// Validate reports whether the configuration is usable.
func (c StoreConfig) Validate() error {
	var errs []error
	if len(c.Reader.Brokers) == 0 {
		errs = append(errs, errors.New("missing required Store.Reader.Brokers"))
	}
	if c.Writer == nil {
		errs = append(errs, errors.New("missing required Store.Writer"))
	}
	if c.MaxEntries < 0 || c.Retention < 0 || c.Partitions < 0 {
		errs = append(errs, errors.New("negative Store.MaxEntries, Store.Retention or Store.Partitions"))
	}
	return errors.Join(errs...)
}

// storeEntry is a mark and its time (unix milliseconds) in one word: at<<8 | mark.
type storeEntry uint64

func newStoreEntry(mark Mark, at int64) storeEntry { return storeEntry(uint64(at)<<8 | uint64(mark)) }

func (e storeEntry) mark() Mark { return Mark(e & 0xff) }
func (e storeEntry) at() int64  { return int64(e >> 8) }

// idKey stands for a command id in memory: 128 bits of two independently seeded maphash
// hashes, so that the store holds no strings (no pointers for the garbage collector to
// scan, a fixed size per id, whatever the id's length). Two ids share a key with a
// probability of about n²/2¹²⁹: nil for any n a process holds.
type idKey [2]uint64

// Store remembers, per command id, whether the command was sent to Dsco and with what
// outcome, durably in a compacted topic: Run loads the topic, then follows it, so that
// marks written by another replica (a partition that moved after a rebalance) are seen
// too. The follow has the broker gather marks before it answers, so a mark reaches memory
// up to 100 ms after it was written (sooner once 64 KiB of them wait: see
// TopicReader.Read); this process's own marks are in memory as they are written. That
// delay is waited for only by CatchUp: it returns once every mark the topic held at its
// call was read, and the outbound router calls it as a command partition is assigned to
// this process, before the partition's first command is decided, so that a command
// another replica applied before the partition moved is found applied. Memory is bounded
// by MaxEntries and Retention. Methods are safe for concurrent use.
//
// A mark takes the place of the one held for its id when its time is no earlier (of two
// marks of one time, the one put last: a log's order), with one exception: applied is
// final. An applied mark takes the place of any other, whatever their times, and while
// the id is held within the Retention no other mark takes its place, whether this
// process writes it or reads it from the topic; nor is one written (see Set). No
// legitimate path marks an applied id otherwise: a delivery, a requeue or a reused id
// finds it applied and is not sent. A mark but applied after an applied one comes from a
// call that outlived its record: on a replica that lost the partition, answered after
// the drain and after the new owner applied the command (see Pipeline.complete). What
// the store cannot fence is such a mark written before that replica read the applied
// one. Every replica that reads both holds the id applied, but compaction keeps a key's
// last record, so a replica that loads the topic once it was compacted finds the stale
// mark instead: "sending" or "unknown" has the next delivery reconciled, "released" has
// it sent again.
type Store struct {
	cfg    StoreConfig
	logger watermill.LoggerAdapter

	seeds [2]maphash.Seed

	mu  sync.RWMutex
	ids idTable
	// latest is the latest time of a mark held (unix milliseconds): an applied mark
	// written at a time no earlier takes the place of whatever is held for its id without
	// a look-up (see after).
	latest atomic.Int64

	loaded chan struct{}

	// follow is how far Run has read each partition of the topic (see CatchUp).
	follow struct {
		sync.Mutex
		read map[int]int64 // every record of the partition before it was applied
		// wake is closed when read changes or the store is loaded, and replaced by the
		// next CatchUp that waits; nil while none waits.
		wake chan struct{}
	}
	// listing is the listing of the topic's ends the next CatchUp joins (see ends), and
	// listingRun holds a token while one runs.
	listing struct {
		sync.Mutex
		next *endsListing
	}
	listingRun chan struct{}
}

// endsListing is one listing of the ends of the store's topic, shared by the CatchUps
// that joined it before it started; done is closed once ends or err is set.
type endsListing struct {
	done chan struct{}
	ends map[int]int64
	err  error
	cut  bool // err is the end of the context of the call that ran it
}

// idTable holds the marks of up to max ids in about 40 bytes per id (a Go map of the
// same, with an eviction queue beside it, took 76).
//
// ring holds the ids and their marks in the order the ids were first marked: it grows to
// max, then the newest id takes the place of the oldest (at head), which is forgotten.
// index finds an id's ring position: open addressing with linear probing, at most ¾ full,
// each slot 0 (empty) or the low 32 bits of key[0] (which also give the slot's home) above
// the ring position plus one. Probes compare those 32 bits before reading the ring, and
// deletion moves slots back without reading it either (backward-shift deletion), so that
// a lookup costs about one cache miss in the index and one in the ring. Not safe for
// concurrent use.
type idTable struct {
	max   int
	ring  []idSlot
	head  int
	index []uint64
	// touched is what touch read, kept so that the compiler keeps the loads.
	touched uint64
}

type idSlot struct {
	key   idKey
	entry storeEntry
}

func indexSlot(k idKey, pos int) uint64 { return uint64(uint32(k[0]))<<32 | uint64(pos+1) }

// find returns the index slot of k, and whether k is there; when it is not, the slot is
// where it would go.
func (t *idTable) find(k idKey) (int, bool) {
	if len(t.index) == 0 {
		return 0, false
	}
	mask := len(t.index) - 1
	tag := uint32(k[0])
	for i := int(tag) & mask; ; i = (i + 1) & mask {
		s := t.index[i]
		if s == 0 {
			return i, false
		}
		if uint32(s>>32) == tag && t.ring[uint32(s)-1].key == k {
			return i, true
		}
	}
}

// touch loads the index slots that puts of keys, in turn, start from: the home of each
// key, and while the ring is full that of each id they would forget (the oldest, in
// order), so that the cache misses of those loads overlap (they depend on no other)
// instead of each put waiting for its own. It changes nothing.
func (t *idTable) touch(keys []idKey) {
	if len(t.index) == 0 {
		return
	}
	mask := len(t.index) - 1
	full := len(t.ring) == t.max
	sum := t.touched
	for j, k := range keys {
		sum += t.index[int(uint32(k[0]))&mask]
		if full {
			old := t.ring[(t.head+j)%len(t.ring)].key
			sum += t.index[int(uint32(old[0]))&mask]
		}
	}
	t.touched = sum
}

// get returns the entry of k.
func (t *idTable) get(k idKey) (storeEntry, bool) {
	i, ok := t.find(k)
	if !ok {
		return 0, false
	}
	return t.ring[uint32(t.index[i])-1].entry, true
}

// replaces reports whether e takes the place of held, the entry of its id (see Store):
// an applied mark held at since or later (within the retention) gives way to no other
// mark, and an applied mark takes the place of any other, whatever their times;
// otherwise the later entry wins, e between equal times.
func (e storeEntry) replaces(held storeEntry, since int64) bool {
	if final := held.mark() == MarkApplied && held.at() >= since; final != (e.mark() == MarkApplied) {
		return !final
	}
	return held.at() <= e.at()
}

// put sets the entry of k unless the entry held stays (see storeEntry.replaces, with
// since); it reports whether it set it.
func (t *idTable) put(k idKey, e storeEntry, since int64) bool {
	i, ok := t.find(k)
	if ok {
		slot := &t.ring[uint32(t.index[i])-1]
		if !e.replaces(slot.entry, since) {
			return false
		}
		slot.entry = e
		return true
	}
	pos := len(t.ring)
	if pos < t.max {
		if pos == cap(t.ring) { // grow it, never past max
			ring := make([]idSlot, pos, min(t.max, max(64, 2*pos)))
			copy(ring, t.ring)
			t.ring = ring
		}
		t.ring = append(t.ring, idSlot{k, e})
		if 4*len(t.ring) > 3*len(t.index) {
			t.grow()
			i, _ = t.find(k)
		}
	} else {
		pos = t.head
		old, _ := t.find(t.ring[pos].key)
		t.remove(old)
		t.ring[pos] = idSlot{k, e}
		t.head = (t.head + 1) % len(t.ring)
		i, _ = t.find(k)
	}
	t.index[i] = indexSlot(k, pos)
	return true
}

// remove empties index slot i, moving back the slots after it that probing could no
// longer reach.
func (t *idTable) remove(i int) {
	mask := len(t.index) - 1
	for j := i; ; {
		t.index[i] = 0
		for {
			j = (j + 1) & mask
			s := t.index[j]
			if s == 0 {
				return
			}
			// s stays at j if its home is cyclically in (i, j].
			home := int(uint32(s>>32)) & mask
			if (j-home)&mask >= (j-i)&mask {
				t.index[i] = s
				i = j
				break
			}
		}
	}
}

// grow doubles the index (8 slots at first) and places the slots of the old one in it
// again (the id being added, last in the ring, is in neither: put places it). It walks
// the old index in order, and a slot's home in the new one is its home in the old one or
// that plus the old size (one more bit of its tag is read), so that both indexes are
// read and written in order, 8 slots to a cache line: placing the ring's ids in their
// order cost a cache miss for each (growing to hold 196,609 ids took 12 ms, 1.7 now).
func (t *idTable) grow() {
	old := t.index
	t.index = make([]uint64, max(8, 2*len(old)))
	mask := len(t.index) - 1
	for _, s := range old {
		if s == 0 {
			continue
		}
		i := int(uint32(s>>32)) & mask
		for t.index[i] != 0 {
			i = (i + 1) & mask
		}
		t.index[i] = s
	}
}

// newStore is a Store with empty memory.
func newStore(cfg StoreConfig, logger watermill.LoggerAdapter) *Store {
	return &Store{cfg: cfg, logger: logger, seeds: [2]maphash.Seed{maphash.MakeSeed(), maphash.MakeSeed()},
		ids: idTable{max: cfg.MaxEntries}, loaded: make(chan struct{}), listingRun: make(chan struct{}, 1)}
}

func (s *Store) key(id string) idKey {
	return idKey{maphash.String(s.seeds[0], id), maphash.String(s.seeds[1], id)}
}

// keyOf is key for an id in bytes (a record's key).
func (s *Store) keyOf(id []byte) idKey {
	return idKey{maphash.Bytes(s.seeds[0], id), maphash.Bytes(s.seeds[1], id)}
}

// NewStore returns a Store; Run loads it.
func NewStore(cfg StoreConfig, logger watermill.LoggerAdapter) (*Store, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("outbound: invalid store config: %w", err)
	}
	if logger == nil {
		logger = watermill.NopLogger{}
	}
	return newStore(cfg, logger), nil
}

// Loaded is closed once Run has read every mark the topic held when it started.
func (s *Store) Loaded() <-chan struct{} { return s.loaded }

// Run creates the topic when missing, loads it, then follows it until ctx ends; it
// returns ctx's error, or the error that stopped it.
//
// A create that fails in a way that may pass by itself (kafka.Transient: Kafka not
// answering, BROKER_NOT_AVAILABLE, NOT_CONTROLLER, REQUEST_TIMED_OUT and kafka-go's other
// temporary codes) is asked again after a pause (kafka.RetryPause) until ctx ends, the
// failures logged as a kafka.Streak: the first at error level, then one a minute
// (kafka.StreakInterval) with how long it has been failing, the others at debug level,
// and a line at info level once the create works again. Kafka refusing the connector the right to create topics
// (TOPIC_AUTHORIZATION_FAILED or CLUSTER_AUTHORIZATION_FAILED, which Kafka answers for an
// existing topic too) is no failure when the topic exists: made beforehand by an admin,
// it is loaded and followed as one the store created. When it is missing too, Run
// returns an error wrapping ErrTopicNotFound and the refusal, naming the topic. Any other
// failure to create it (POLICY_VIOLATION, INVALID_CONFIG, INVALID_REPLICATION_FACTOR,
// UNSUPPORTED_VERSION, Kafka refusing the connector's credentials) ends Run at once with
// that error, naming the topic, since asking again cannot mend it.
func (s *Store) Run(ctx context.Context) error {
	refused, err := s.create(ctx)
	if err != nil {
		return err
	}
	start := s.cfg.Now()
	var once sync.Once
	reader := s.cfg.Reader
	reader.view = true // the follower keeps nothing of a record
	reader.stage = s.follower
	// Created, or found by the create: a broker may not list it yet. After a refusal the
	// store knows nothing of the topic, and a missing one is an error at once.
	reader.created = refused == nil
	reader.progress = s.progress
	err = reader.Read(ctx, s.cfg.Topic, true, func() {
		once.Do(func() {
			s.mu.RLock()
			n := len(s.ids.ring)
			s.mu.RUnlock()
			s.logger.Info("Applied-ids store loaded", watermill.LogFields{"ids": n, "took": s.cfg.Now().Sub(start).String()})
			s.follow.Lock()
			close(s.loaded)
			s.wake()
			s.follow.Unlock()
		})
	}, nil) // the records go to the follower (reader.stage)
	if refused != nil && errors.Is(err, ErrTopicNotFound) {
		err = fmt.Errorf("%w (%w)", err, refused)
	}
	return err
}

// progress records that Run has applied every record of partition before next (a
// TopicReader's progress), and wakes the CatchUps waiting.
func (s *Store) progress(partition int, next int64) {
	s.follow.Lock()
	defer s.follow.Unlock()
	if s.follow.read == nil {
		s.follow.read = make(map[int]int64)
	}
	s.follow.read[partition] = next
	s.wake()
}

// wake wakes the CatchUps waiting; s.follow must be held.
func (s *Store) wake() {
	if s.follow.wake != nil {
		close(s.follow.wake)
		s.follow.wake = nil
	}
}

// CatchUp returns once Run has read every mark the topic held when CatchUp was called,
// so that Get and the pipeline's decisions see them: it lists the end of each of the
// topic's partitions (the offset after its last record, as Run's load does), then waits
// until Run has read each up to its end (a partition empty then has nothing to wait
// for). Concurrent calls each wait for the ends they listed. Called before Run has
// loaded the topic, it waits for the load too. Once the ends are listed, it waits at
// most about as long as the follow's fetches wait for marks to gather (100 ms): the fetch
// under way then brings every mark written before, as will the next one if none is.
//
// It returns ctx's error when ctx ends first; an error naming the topic when its ends
// cannot be listed (temporary failures are asked again for a minute first); and an error
// naming a partition Run does not read: one added to the topic after Run started, which
// a restart reads.
func (s *Store) CatchUp(ctx context.Context) error {
	ends, err := s.ends(ctx)
	if err != nil {
		return fmt.Errorf("outbound: catching up with %s: %w", s.cfg.Topic, err)
	}
	for {
		s.follow.Lock()
		behind, err := s.behind(ends)
		wake := s.follow.wake
		if behind && wake == nil {
			wake = make(chan struct{})
			s.follow.wake = wake
		}
		s.follow.Unlock()
		if !behind || err != nil {
			return err
		}
		select {
		case <-wake:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// ends lists the ends of the topic's partitions for CatchUp, in one listing for every
// call made while no listing it could join has started: the listing a call joins starts
// after the call, so it lists ends no earlier than the call's own would, and the calls of
// a rebalance (one per command partition assigned) share one or two listings instead of
// each connecting to the leader of every partition. A listing starts once the one under
// way ended. A call returns once its context ends, also while it waits for that or lists
// the ends; a listing so cut short is not taken for the others' answer: they join the
// next.
func (s *Store) ends(ctx context.Context) (map[int]int64, error) {
	for {
		s.listing.Lock()
		l := s.listing.next
		run := l == nil
		if run {
			l = &endsListing{done: make(chan struct{})}
			s.listing.next = l
		}
		s.listing.Unlock()
		if run {
			select {
			case s.listingRun <- struct{}{}: // the listing under way ended
				s.listing.Lock()
				s.listing.next = nil // joined no more: the calls from now on list after it starts
				s.listing.Unlock()
				l.ends, l.err = s.cfg.Reader.ends(ctx, s.cfg.Topic)
				<-s.listingRun
			case <-ctx.Done(): // not started: those that joined it join the next
				s.listing.Lock()
				if s.listing.next == l {
					s.listing.next = nil
				}
				s.listing.Unlock()
				l.err = ctx.Err()
			}
			l.cut = l.err != nil && ctx.Err() != nil
			close(l.done)
			if l.cut {
				return nil, ctx.Err()
			}
		}
		select {
		case <-l.done:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		if l.cut && !run && ctx.Err() == nil {
			continue // the context of the call that ran it ended
		}
		return l.ends, l.err
	}
}

// behind reports whether Run has not yet read some partition up to its end in ends (-1:
// empty); s.follow must be held.
func (s *Store) behind(ends map[int]int64) (bool, error) {
	loaded := false
	select {
	case <-s.loaded:
		loaded = true // every partition Run reads is in s.follow.read
	default:
	}
	for p, end := range ends {
		if end < 0 {
			continue
		}
		next, ok := s.follow.read[p]
		if !ok && loaded {
			return false, fmt.Errorf("outbound: partition %d of %s was added after the applied-ids store started reading the topic: restart the connector for its marks to be read", p, s.cfg.Topic)
		}
		if next < end {
			return true, nil
		}
	}
	return false, nil
}

// create creates the topic unless it exists, asking again after a pause while the
// failure may pass by itself (see Run). It returns Kafka's refusal of the right to create
// topics as refused, any other failure as err, and ctx's error as err when ctx ends first.
func (s *Store) create(ctx context.Context) (refused, err error) {
	fails := kafka.Streak{Every: kafka.StreakInterval}
	for attempt := 1; ; attempt++ {
		err := s.cfg.Reader.CreateTopic(ctx, s.cfg.Topic, s.cfg.Partitions, map[string]string{"cleanup.policy": "compact"})
		switch {
		case err == nil:
			fails.LogWorks(s.logger, "Creating the applied-ids topic works again", watermill.LogFields{"topic": s.cfg.Topic})
			return nil, nil
		case ctx.Err() != nil:
			return nil, ctx.Err()
		case kafka.CreateRefused(err):
			return err, nil
		case !kafka.Transient(err):
			return nil, err
		}
		pause := kafka.RetryPause(attempt)
		fails.LogFailure(s.logger, watermill.ErrorLogLevel, "Creating the applied-ids topic failed; trying again", err,
			watermill.LogFields{"topic": s.cfg.Topic, "pause": pause.String()})
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-t.C:
		}
	}
}

// follower returns the functions the follow passes the records of a partition to (see
// TopicReader.stage): add reads a record's mark and gathers it, putting those gathered
// once chunkMarks are (see putChunk), and done puts those gathered. A record that is no
// mark (a value that names none, no key) is left; one that stands for a batch that does
// not decode is logged.
func (s *Store) follower() (add func(kafkago.Message), done func()) {
	c := new(markChunk)
	add = func(m kafkago.Message) {
		if err := kafka.Undecodable(m); err != nil {
			s.logger.Error("A record batch of the applied-ids topic does not decode; the marks it held are lost", err,
				watermill.LogFields{"topic": m.Topic, "partition": m.Partition, "offset": m.Offset})
			return
		}
		mark := parseMark(m.Value)
		if mark == MarkNone || len(m.Key) == 0 {
			return
		}
		if c.add(s.keyOf(m.Key), newStoreEntry(mark, m.Time.UnixMilli())) {
			s.putChunk(c)
		}
	}
	return add, func() { s.putChunk(c) }
}

// since is the earliest time (unix milliseconds) of a mark within the retention at now.
func (s *Store) since(now time.Time) int64 { return now.Add(-s.cfg.Retention).UnixMilli() }

// put holds entry e for k, unless the mark held stays (see Store; since: the retention's
// start); s.mu must be held.
func (s *Store) put(k idKey, e storeEntry, since int64) {
	if s.ids.put(k, e, since) && e.at() > s.latest.Load() {
		s.latest.Store(e.at())
	}
}

// after is the time of a new mark for id at t: t, or the time of the mark held for id
// when that is later, so that the new mark takes its place (marks of equal times do in
// the order they are put, and read back in log order), also when that one is
// timestamped ahead of this clock (an unknown mark after a record from a clock ahead,
// see unknownMarkTime, or another replica's). ok is false when mark is not applied and
// id is held applied at since or later (within the retention): such a mark is not
// written (see Store). An applied mark skips the look-up while no mark held is later
// than t.
func (s *Store) after(id string, mark Mark, t, since int64) (at int64, ok bool) {
	if mark == MarkApplied && t >= s.latest.Load() {
		return t, true
	}
	s.mu.RLock()
	held, found := s.ids.get(s.key(id))
	s.mu.RUnlock()
	if !found {
		return t, true
	}
	at = max(t, held.at())
	return at, newStoreEntry(mark, at).replaces(held, since)
}

// Get returns the mark of a command id.
func (s *Store) Get(id string) Mark {
	m, _ := s.get(id)
	return m
}

// get returns the mark of a command id and its time (unix milliseconds).
func (s *Store) get(id string) (Mark, int64) {
	k := s.key(id)
	s.mu.RLock()
	e, ok := s.ids.get(k)
	s.mu.RUnlock()
	if !ok || e.at() < s.since(s.cfg.Now()) {
		return MarkNone, 0
	}
	return e.mark(), e.at()
}

// Len returns the number of ids held.
func (s *Store) Len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.ids.ring)
}

// Set writes mark for ids to the topic, in one write, and then to memory. It returns once
// Kafka acknowledged the marks. An id held applied gets no other mark (see Store).
func (s *Store) Set(mark Mark, ids ...string) error {
	if len(ids) == 0 {
		return nil
	}
	recs, _ := s.records(nil, nil, mark, ids, nil)
	if err := s.cfg.Writer.WriteRecords(recs...); err != nil {
		return fmt.Errorf("outbound: writing %s marks to %s: %w", mark, s.cfg.Topic, err)
	}
	s.remember(mark, recs)
	return nil
}

// records appends to dst the records that mark ids: key the id, value the mark's name,
// time at[i] (unix milliseconds), or now when at is nil, or the time of the mark held for
// the id when that is later (see after). An id held applied gets no record unless mark
// is applied: a call that outlived its record, answered after the id's new owner applied
// it, writes nothing over it once this process has read that applied mark. The keys are
// appended to keys, each cut with its capacity at its length (see resultArena), which
// records returns.
func (s *Store) records(dst []kafkago.Message, keys []byte, mark Mark, ids []string, at []int64) ([]kafkago.Message, []byte) {
	if len(ids) == 0 {
		return dst, keys
	}
	value := []byte(mark.String())
	size := 0
	for _, id := range ids {
		size += len(id)
	}
	keys = slices.Grow(keys, size) // every key in one allocation, at most
	now := s.cfg.Now()
	since := s.since(now)
	for i, id := range ids {
		t := now.UnixMilli()
		if at != nil {
			t = at[i]
		}
		t, ok := s.after(id, mark, t, since)
		if !ok {
			continue
		}
		keys = append(keys, id...)
		dst = append(dst, kafkago.Message{Topic: s.cfg.Topic, Key: keys[len(keys)-len(id) : len(keys) : len(keys)], Value: value,
			Time: time.UnixMilli(t)})
	}
	return dst, keys
}

// chunkMarks is how many marks the Store puts under one hold of its lock (see putChunk).
const chunkMarks = 16

// markChunk gathers marks to put together (see putChunk).
type markChunk struct {
	n       int
	keys    [chunkMarks]idKey
	entries [chunkMarks]storeEntry
}

// add gathers the mark e of the id of key k; it reports whether c is full.
func (c *markChunk) add(k idKey, e storeEntry) bool {
	c.keys[c.n], c.entries[c.n] = k, e
	c.n++
	return c.n == len(c.keys)
}

// putChunk puts the marks gathered in c (see put), but those older than the retention,
// under one hold of s.mu, after loading the slots of the index their look-ups start from
// (idTable.touch), and empties c: with many ids held, each look-up waits for a cache miss
// or two, and those of a chunk overlap, where the lock taken for each put (atomic
// instructions, which the loads after them do not pass) had each wait for its own. With
// 200,000 ids held and the caches emptied, 100 marks took about 48 µs put one by one, 16
// in chunks (50 and 22 with the table full, forgetting an id at each put).
func (s *Store) putChunk(c *markChunk) {
	if c.n == 0 {
		return
	}
	since := s.since(s.cfg.Now())
	s.mu.Lock()
	s.ids.touch(c.keys[:c.n])
	for i, e := range c.entries[:c.n] {
		if e.at() >= since {
			s.put(c.keys[i], e, since)
		}
	}
	s.mu.Unlock()
	c.n = 0
}

// remember records in memory the marks Kafka acknowledged: recs, made by records for
// mark, with their keys and times, in chunks (see putChunk).
func (s *Store) remember(mark Mark, recs []kafkago.Message) {
	var c markChunk
	for _, m := range recs {
		if c.add(s.keyOf(m.Key), newStoreEntry(mark, m.Time.UnixMilli())) {
			s.putChunk(&c)
		}
	}
	s.putChunk(&c)
}
