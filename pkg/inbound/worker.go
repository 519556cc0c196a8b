package inbound

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/dscokafka/connector/pkg/dsco"
	"github.com/dscokafka/connector/pkg/kafka"
)

// pageBuf is where a page is read and decoded: its body and its decoder
// (whose records, which point into the body, live until its next Decode).
// It is needed until the page's records are built, and then serves the
// next read of any partition; Config.MaxPagesDecoding caps them.
type pageBuf struct {
	body []byte
	dec  PageDecoder
	// spoiled: the decoder panicked, whatever state it was left in; the
	// pageBuf is not used again.
	spoiled bool
}

// slot is one page in flight, from its read until Kafka acknowledged its
// records: the batch its records are built in, and where the partition
// goes on after it. Config.MaxPagesInFlight caps them over all partitions;
// a worker holds at most Config.PagesInFlight of them.
type slot struct {
	batch    Batch
	position string // the page's position, the next read's
	events   int
	newest   time.Time // the Dsco timestamp of the newest event published
}

// worker reads one stream partition.
type worker struct {
	p    *Pipeline
	a    Assignment
	room chan struct{} // a token per page the partition may still read ahead
	full chan *slot
	cp   *checkpointer
	// newest is the Dsco timestamp of the newest event Kafka acknowledged
	// (publish's own).
	newest time.Time
	// limit is the next read's limit (fetch's own): see Config.PageBytes.
	limit int
	// badPos, badNext and badReads count the reads in a row, with limit 1, of
	// the page after badPos naming badNext (salvagePosition's, "" for none)
	// that did not decode; salvaged is the page of one event that stands for
	// it once it is given up (fetch's own: see undecodable).
	badPos   string
	badNext  string
	badReads int
	salvaged Page
	// fromStored: the next read starts at the stream's stored position, not
	// after the position fetch holds (fetch's own: see errNoPosition).
	fromStored bool

	// queued counts the pages fetch handed to publish and not yet released
	// (Metrics.PagesInFlight). It is reported under mu with every change, so
	// that the last value reported is the current one.
	mu     sync.Mutex
	queued int
}

// probeLimit is the most events a partition's first read asks for, before
// their size is known.
const probeLimit = 100

// nextLimit is the limit of the read after a page of events taking body
// bytes, read with the limit cur: as many events as fit in pageBytes at that
// size, within 1..most; cur after a page without events, which tells no size.
func nextLimit(cur, most, pageBytes, body, events int) int {
	if events == 0 {
		return cur
	}
	return min(most, max(1, pageBytes/max(1, body/events)))
}

func (p *Pipeline) newWorker(a Assignment) *worker {
	w := &worker{
		p:     p,
		a:     a,
		room:  make(chan struct{}, p.cfg.PagesInFlight),
		full:  make(chan *slot, p.cfg.PagesInFlight),
		limit: min(p.cfg.PageLimit, probeLimit),
	}
	w.cp = &checkpointer{w: w, kick: make(chan struct{}, 1), room: make(chan struct{}, 1), fails: newStreak()}
	return w
}

// run reads and encodes pages (fetch), produces them (publish) and commits
// positions (the checkpointer), each in its own goroutine, until ctx is
// done; then the page being produced is finished within three quarters of
// ShutdownTimeout and the last safe position is committed within all of it,
// so that a Kafka slow at shutdown leaves the commit of the pages it
// acknowledged time to land. A read or a commit that Dsco refuses for good
// (but the final commit, which comes once ctx ended: it is logged) is
// handed to fail, which must end ctx (runPartitions' ends every
// partition's, so that they all stop with their time limits running
// together): the partition then stops as when ctx ends (the pages read and
// not yet produced are read again by the next run). Nothing else would end a
// publish waiting for a commit that cannot come.
func (w *worker) run(ctx context.Context, fail func(error)) {
	cfg := &w.p.cfg
	for range cfg.PagesInFlight {
		w.room <- struct{}{}
	}
	// Produce and commit on contexts that outlive ctx, with the time limits
	// set off when it ends.
	commit, cancelCommit := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelCommit()
	produce, cancelProduce := context.WithCancel(commit)
	defer context.AfterFunc(ctx, func() {
		time.AfterFunc(cfg.ShutdownTimeout*3/4, cancelProduce)
		time.AfterFunc(cfg.ShutdownTimeout, cancelCommit)
	})()
	w.cp.fail = fail
	fetchCtx, stopFetch := context.WithCancel(ctx)
	defer stopFetch()
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := w.fetch(fetchCtx); err != nil {
			fail(err)
		}
		close(w.full)
	})
	cpDone := make(chan struct{})
	go func() {
		defer close(cpDone)
		w.cp.run(ctx, commit)
	}()
	w.publish(ctx, produce)
	stopFetch() // publish stopped: nothing reads full any more
	for s := range w.full {
		w.dequeue(s)
	}
	wg.Wait()
	w.cp.stop()
	<-cpDone
}

// release gives a slot back to the pool once its page is acknowledged (or
// will not be produced), and the partition its room to read ahead.
func (w *worker) release(s *slot) {
	s.batch.Page = nil
	w.p.slots.put("", s)
	w.room <- struct{}{}
}

// dequeue is release for a page fetch handed to publish: it leaves flight.
func (w *worker) dequeue(s *slot) {
	w.release(s)
	w.inFlight(-1)
}

// abandon is dequeue for a page whose records Kafka did not acknowledge and
// that will not be produced (a restart reads it again): its slot is not
// reused, as the transport may still be sending its records, but its place
// in the pool and the partition's room to read ahead are given back. It
// says so at warn level, with the unwritten records' count: a stop with
// Kafka away left nothing else than the retries' lines.
func (w *worker) abandon(unwritten int) {
	w.p.log.LogAttrs(context.Background(), slog.LevelWarn, "inbound: stopping with a page Kafka did not acknowledge; the next start reads it again",
		slog.String("stream", w.a.Stream.ID), slog.Int("partition", w.a.Partition), slog.Int("records", unwritten))
	w.p.slots.discard()
	w.room <- struct{}{}
	w.inFlight(-1)
}

// inFlight adds delta to the pages handed to publish and reports them.
func (w *worker) inFlight(delta int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.queued += delta
	w.p.cfg.Metrics.PagesInFlight(w.a.Stream.ObjectType, w.a.Partition, w.queued)
}

// fetch reads pages, decodes them and builds their records, and hands them
// to publish in order. A page's body and decoded records go back to the
// pool as soon as its records are built; its records stay in its slot
// until publish released it. A failed read is tried again, with half the
// limit when the page was too large for the client; fetch returns the
// error of a read that cannot succeed (permanent).
func (w *worker) fetch(ctx context.Context) error {
	cfg := &w.p.cfg
	obj, part := w.a.Stream.ObjectType, w.a.Partition
	pos := "" // where the partition has read to: "" is the stream's stored position
	backoff := newBackoff(cfg.RetryBackoff, cfg.RetryBackoffMax)
	fails := newStreak()
	for {
		select {
		case <-w.room:
		case <-ctx.Done():
			return nil
		}
		s, err := w.p.slots.get(ctx, "")
		if err != nil {
			w.room <- struct{}{}
			return nil // ctx is done: slots have no other error
		}
		pb, err := w.p.bufs.get(ctx, obj)
		if err != nil {
			w.release(s)
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		next, more, err := w.readPage(ctx, pos, pb, s)
		if cap(pb.body) > 2*cfg.PageBytes || pb.spoiled {
			// Events larger than their predecessors: the next reads, of fewer, grow a
			// buffer of their own. The decoder goes too: what it decoded points into the
			// body until it decodes as many events again. (A decoder that panicked
			// goes, whatever state it was left in.)
			w.p.bufs.discard()
		} else {
			w.p.bufs.put(obj, pb)
		}
		if err != nil {
			w.release(s)
			if ctx.Err() != nil {
				return nil
			}
			if tooLarge(err) && w.limit > 1 {
				// The same request would fail again: fewer events fit.
				w.limit = max(1, w.limit/2)
				w.p.log.WarnContext(ctx, "inbound: a page is larger than the Dsco client reads; reading fewer events", "stream", w.a.Stream.ID,
					"partition", part, "position", pos, "limit", w.limit, "error", err)
				continue
			}
			if errors.Is(err, errReadFewer) {
				w.p.log.WarnContext(ctx, "inbound: a page does not decode; reading fewer events", "stream", w.a.Stream.ID,
					"partition", part, "position", pos, "limit", w.limit, "error", err)
				continue
			}
			if permanent(err) {
				return fmt.Errorf("inbound: reading %s partition %d after %s: %w", w.a.Stream.ID, part, w.readAfter(pos), err)
			}
			if errors.Is(err, errNoPosition) && w.cp.covers(pos) {
				// The page is read again from the stream's stored position, which is pos
				// until someone moves it past the page: the partition goes on from there.
				w.fromStored = true
			}
			logFailure(ctx, w.p.log, &fails, "inbound: reading a page failed; trying again", err, slog.String("stream", w.a.Stream.ID),
				slog.Int("partition", part), slog.String("position", pos))
			if sleepCtx(ctx, backoff.next()) != nil {
				return nil
			}
			continue
		}
		backoff.reset()
		logWorks(ctx, w.p.log, &fails, "inbound: reading pages works again", slog.String("stream", w.a.Stream.ID), slog.Int("partition", part))
		// A page without events that leaves the partition where it was: nothing
		// to publish, nowhere new to commit. Asked again at once (hasMore), it
		// would come back the same, in a loop only the client's rate limit slows.
		stuck := s.events == 0 && (next == "" || next == pos)
		if stuck {
			w.release(s)
		} else {
			// A page without events that moves the partition on goes through
			// publish too, so that its position is committed after the pages
			// before it: a partition whose pages carry no events must not keep
			// an old position until Dsco expires it.
			w.inFlight(1) // before publish can release it
			w.full <- s   // never blocks: full has room for every slot
		}
		if next != "" {
			pos, w.fromStored = next, false
		}
		if !more || stuck {
			if sleepCtx(ctx, cfg.PollInterval) != nil {
				return nil
			}
		}
	}
}

// permanent reports whether reading a page failed in a way that reading it
// again cannot mend, so that the partition cannot go on: Dsco refused the
// read with a status that is not worth retrying (a position expired, a
// stream gone, a position or partition it does not know, credentials or
// rights it refuses), or a single event is larger than the client reads.
func permanent(err error) bool {
	if apiErr, ok := errors.AsType[*dsco.APIError](err); ok {
		return !apiErr.Retryable()
	}
	return tooLarge(err)
}

// tooLarge reports whether err is the Dsco client's refusal of an answer
// larger than it reads into memory.
func tooLarge(err error) bool { return errors.Is(err, dsco.ErrAnswerTooLarge) }

// readAfter names where the next read starts, for its errors and poison
// reasons: pos quoted, or the stream's stored position (fromStored), which
// someone may have moved past pos.
func (w *worker) readAfter(pos string) string {
	if w.fromStored {
		return "the stream's stored position"
	}
	return strconv.Quote(pos)
}

// errDecoderPanicked marks a page whose decoding panicked.
var errDecoderPanicked = errors.New("the page decoder panicked")

// decodePage decodes pb's body with its decoder; a panic (a bug the page
// reaches) is an error, so that the process goes on and the page is one
// that does not decode (see undecodable): read again with fewer events,
// by a decoder of its own (pb is spoiled), until it holds the event that
// makes the decoder panic, which is poisoned after three reads alone.
func decodePage(pb *pageBuf, streamID string) (page *Page, err error) {
	defer func() {
		if r := recover(); r != nil {
			pb.spoiled = true
			err = fmt.Errorf("%w: %v\n%s", errDecoderPanicked, r, debug.Stack())
		}
	}()
	return pb.dec.Decode(pb.body, streamID)
}

// readPage reads the page after pos (after the stream's stored position
// when fromStored) into pb, decodes it and builds its records in s with the
// page handler chain. It returns the position to read
// from next (a copy: the page's strings point into pb's body) and whether
// Dsco said more events were ready.
func (w *worker) readPage(ctx context.Context, pos string, pb *pageBuf, s *slot) (next string, more bool, err error) {
	cfg := &w.p.cfg
	obj, part := w.a.Stream.ObjectType, w.a.Partition
	start := time.Now()
	from := pos
	if w.fromStored {
		from = ""
	}
	pb.body, err = cfg.Client.GetStreamEventsRaw(ctx, w.a.Stream.ID,
		dsco.ReadEventsParams{Position: from, Limit: w.limit, Partition: part}, pb.body)
	if err != nil {
		if ctx.Err() == nil {
			cfg.Metrics.Error(obj, ErrKindRead)
		}
		return "", false, err
	}
	page, err := decodePage(pb, w.a.Stream.ID)
	if err != nil {
		cfg.Metrics.Error(obj, ErrKindDecode)
		if page, err = w.undecodable(pos, pb.body, err); err != nil {
			return "", false, fmt.Errorf("inbound: decoding a page of %s partition %d after %s: %w", w.a.Stream.ID, part, w.readAfter(pos), err)
		}
		w.p.log.ErrorContext(ctx, "inbound: a page does not decode; poisoning it whole and going on from the position it names", "stream", w.a.Stream.ID,
			"partition", part, "position", pos, "next", page.Position, "error", page.Events[0].Err)
	} else {
		w.badReads = 0
	}
	took := time.Since(start)
	w.limit = nextLimit(w.limit, cfg.PageLimit, cfg.PageBytes, len(pb.body), len(page.Events))
	next, more = strings.Clone(page.Position), page.HasMore
	s.position, s.events = next, len(page.Events)
	if s.events == 0 {
		cfg.Metrics.PageRead(obj, part, 0, took)
		return next, more, nil
	}
	b := &s.batch
	b.StreamID, b.ObjectType, b.Partition = w.a.Stream.ID, obj, part
	b.Topic, b.PoisonTopic, b.serde = cfg.Topic(obj), cfg.PoisonTopic, cfg.Serde
	b.maxBytes = cfg.Kafka.BatchBytes
	b.partStr = ""
	b.bodySize = len(pb.body)
	b.reset(page)
	if err := w.p.handler(ctx, b); err != nil {
		cfg.Metrics.Error(obj, ErrKindHandler)
		return "", false, fmt.Errorf("inbound: mapping a page of %s partition %d after %s: %w", w.a.Stream.ID, part, w.readAfter(pos), err)
	}
	s.newest = time.Time{}
	for i := range b.state {
		switch b.state[i] {
		case statePending, stateFailed:
			b.Poison(i, fmt.Errorf("%w: %v", ErrNotMapped, b.reason[i]))
		case statePublished:
			if rec := page.Events[i].Record; rec != nil && rec.Env().Timestamp.After(s.newest) {
				s.newest = rec.Env().Timestamp
			}
		}
	}
	b.learnSize()
	b.Page = nil // the records are copies: the body and decoder go back now
	// Reported once the page is built: a page whose handler failed is read
	// again, and its events count when they are read for good.
	cfg.Metrics.PageRead(obj, part, s.events, took)
	return next, more, nil
}

// publish produces the pages fetch built, one after another, so that a
// page's position is safe once its own records are acknowledged. It stops
// when ctx is done, after finishing (within drain) the page it is producing.
func (w *worker) publish(ctx, drain context.Context) {
	cfg := &w.p.cfg
	obj, part := w.a.Stream.ObjectType, w.a.Partition
	backoff := newBackoff(cfg.RetryBackoff, cfg.RetryBackoffMax)
	fails := newStreak()
	for {
		var s *slot
		select {
		case s = <-w.full:
		case <-ctx.Done():
			return
		}
		if s == nil {
			return // fetch ended
		}
		// Bound the events acknowledged and not yet committed: they are
		// what a crash duplicates.
		if !w.cp.waitRoom(ctx) || ctx.Err() != nil {
			w.dequeue(s)
			return // not started: the next run reads the page again
		}
		if s.events == 0 {
			// A page without events: its batch holds an earlier page's records.
			w.cp.ack(s.position, 0)
			w.dequeue(s)
			continue
		}
		b := &s.batch
		recs := b.Records
		for {
			err := w.p.writer.Write(drain, recs...)
			if err == nil {
				break
			}
			recs = kafka.Unwritten(recs, err) // what Kafka acknowledged is not written again at every try
			cfg.Metrics.Error(obj, ErrKindProduce)
			if drain.Err() != nil || ctx.Err() != nil {
				w.abandon(len(recs))
				return
			}
			logFailure(ctx, w.p.log, &fails, "inbound: producing a page failed; trying again", err, slog.String("stream", w.a.Stream.ID),
				slog.Int("partition", part), slog.Int("records", len(recs)))
			if sleepCtx(ctx, backoff.next()) != nil {
				w.abandon(len(recs)) // stopped while waiting to produce it again
				return
			}
		}
		backoff.reset()
		logWorks(ctx, w.p.log, &fails, "inbound: producing pages works again", slog.String("stream", w.a.Stream.ID), slog.Int("partition", part))
		cfg.Metrics.PagePublished(obj, part, b.Published(), b.Poisoned())
		if n := notAfterNow(s.newest); n.After(w.newest) {
			w.newest = n
			cfg.Metrics.NewestEvent(obj, part, w.newest)
		}
		w.cp.ack(s.position, s.events)
		w.dequeue(s)
	}
}

// checkpointer commits a partition's safe position: the position of the
// last page whose records Kafka acknowledged. Pages are acknowledged in
// order, so the safe position only moves forward, and so do commits.
type checkpointer struct {
	w    *worker
	kick chan struct{}
	room chan struct{} // signalled after each commit

	mu        sync.Mutex
	safe      string
	pending   int       // events up to safe not covered by a commit
	since     time.Time // when the oldest page up to safe no commit covers was acknowledged
	committed string
	stopped   bool
	// fail is run's: it is handed a commit before the final one that Dsco
	// refused for good (see permanent).
	fail func(error)
	// fails is the run of failed commits, logged as a run (run's own).
	fails kafka.Streak
}

// covers reports whether pos is the position last committed ("" before any commit): no
// page before it is left to commit.
func (c *checkpointer) covers(pos string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.committed == pos
}

// ack records that Kafka acknowledged the events of the page ending at pos
// (none for a page without events that moved the partition on).
func (c *checkpointer) ack(pos string, events int) {
	c.mu.Lock()
	if c.safe == c.committed {
		c.since = time.Now() // the oldest acknowledgement no commit covers
	}
	c.safe = pos
	c.pending += events
	full := c.pending >= c.w.p.cfg.CheckpointEvents
	c.mu.Unlock()
	if full {
		select {
		case c.kick <- struct{}{}:
		default:
		}
	}
}

// waitRoom waits until fewer than CheckpointEvents acknowledged events
// wait for a commit, so that at most CheckpointEvents plus two pages (the
// one that crossed the mark and the one being produced) are written again
// after a crash. It returns false when ctx ends first.
func (c *checkpointer) waitRoom(ctx context.Context) bool {
	for {
		c.mu.Lock()
		ok := c.pending < c.w.p.cfg.CheckpointEvents
		c.mu.Unlock()
		if ok {
			return true
		}
		select {
		case c.kick <- struct{}{}:
		default:
		}
		select {
		case <-c.room:
		case <-ctx.Done():
			return false
		}
	}
}

// stop asks run for its final commit; run returns after it.
func (c *checkpointer) stop() {
	c.mu.Lock()
	c.stopped = true
	c.mu.Unlock()
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

func (c *checkpointer) run(ctx, drain context.Context) {
	cfg := &c.w.p.cfg
	t := time.NewTicker(max(cfg.CheckpointInterval/4, time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-c.kick:
		case <-t.C:
		}
		c.mu.Lock()
		stopped := c.stopped
		due := (c.pending > 0 || c.safe != c.committed) &&
			(stopped || c.pending >= cfg.CheckpointEvents || time.Since(c.since) >= cfg.CheckpointInterval)
		c.mu.Unlock()
		if due {
			if stopped {
				c.commit(drain, true) // the last safe position, within the shutdown time
			} else {
				c.commit(ctx, false)
			}
		}
		if stopped {
			return
		}
	}
}

// commit commits the safe position. A commit that fails is made again by a
// later one, or, when ctx ends first, by the final one; one that Dsco refuses
// for good is handed to fail. A final commit that fails, however, is logged:
// at warn level, as what it would have covered is read again after a
// restart, or at error level when Dsco refused it for good, as a restart may
// be refused too, or find the stream gone.
func (c *checkpointer) commit(ctx context.Context, final bool) {
	cfg := &c.w.p.cfg
	a := c.w.a
	c.mu.Lock()
	pos, n := c.safe, c.pending
	c.mu.Unlock()
	if pos == c.committed {
		// Pages whose position Dsco gave again: the commit covers their events.
		c.mu.Lock()
		c.pending -= n
		c.mu.Unlock()
		select {
		case c.room <- struct{}{}:
		default:
		}
		return
	}
	if err := cfg.Client.UpdateStreamPosition(ctx, a.Stream.ID, pos); err != nil {
		if ctx.Err() != nil && !final {
			return // stopping: the final commit follows
		}
		cfg.Metrics.Error(a.Stream.ObjectType, ErrKindCheckpoint)
		switch {
		case final && permanent(err):
			// Not handed to fail: run's ctx has ended before its final commit,
			// so that fail would only log it, saying less.
			c.w.p.log.ErrorContext(ctx, "inbound: Dsco refused the final commit of a stream position for good (check the credentials and their rights, and whether the stream still exists); if a later start can read the stream, it reads and publishes again the events after the last position committed",
				"stream", a.Stream.ID, "partition", a.Partition, "position", pos, "committed", c.committed, "events", n, "error", err)
		case final:
			c.w.p.log.WarnContext(ctx, "inbound: the final commit of a stream position failed; the events after the last position committed are read and published again at the next start",
				"stream", a.Stream.ID, "partition", a.Partition, "position", pos, "committed", c.committed, "events", n, "error", err)
		case permanent(err):
			// The partition cannot go on: its pages would wait for this commit
			// forever (waitRoom), and its process would look alive. fail ends
			// ctx: the final commit follows.
			c.fail(fmt.Errorf("inbound: committing %s partition %d at %q: %w", a.Stream.ID, a.Partition, pos, err))
		default:
			// Asked again at every tick while it fails: logged as a run, not a line a try.
			logFailure(ctx, c.w.p.log, &c.fails, "inbound: committing a stream position failed; the next commit covers it", err,
				slog.String("stream", a.Stream.ID), slog.Int("partition", a.Partition), slog.String("position", pos))
		}
		return
	}
	logWorks(ctx, c.w.p.log, &c.fails, "inbound: committing stream positions works again", slog.String("stream", a.Stream.ID),
		slog.Int("partition", a.Partition))
	now := time.Now()
	c.mu.Lock()
	c.committed = pos
	c.pending -= n
	c.since = now
	c.mu.Unlock()
	cfg.Metrics.Checkpointed(a.Stream.ObjectType, a.Partition, n, now)
	select {
	case c.room <- struct{}{}:
	default:
	}
}

// backoff is exponential with full jitter.
type backoff struct {
	base, maxDelay, cur time.Duration
}

func newBackoff(base, maxDelay time.Duration) *backoff {
	return &backoff{base: base, maxDelay: maxDelay, cur: base}
}

func (b *backoff) next() time.Duration {
	d := b.cur
	b.cur = min(2*b.cur, b.maxDelay)
	return d/2 + rand.N(d/2+1)
}

func (b *backoff) reset() { b.cur = b.base }

// logFailure counts err as a failure of s's run and logs msg with attrs, err
// and the run's fields on log: at warn level when the run's line is due (its
// first failure, then one a minute: see kafka.Streak), at debug level
// otherwise, so that Dsco or Kafka away for an hour is not a line per attempt.
func logFailure(ctx context.Context, log *slog.Logger, s *kafka.Streak, msg string, err error, attrs ...slog.Attr) {
	now := time.Now()
	level := slog.LevelDebug
	if s.Fail(now, 0) {
		level = slog.LevelWarn
	}
	log.LogAttrs(ctx, level, msg, append(attrs, slog.Any("error", err), s.LogAttr(now))...)
}

// logWorks ends s's run and, when a line of it was logged, logs msg with attrs
// and the run's fields at info level on log. The loops call it after every
// page or poll that worked: with nothing logged it costs no allocation, which
// attrs of slog.Attr (a string's is not boxed) allow where arguments of type
// any would box each one at every call.
func logWorks(ctx context.Context, log *slog.Logger, s *kafka.Streak, msg string, attrs ...slog.Attr) {
	if ended, logged := s.Works(); logged {
		log.LogAttrs(ctx, slog.LevelInfo, msg, append(attrs, ended.LogAttr(time.Now()))...)
	}
}

// newStreak is the kafka.Streak of a retry loop's failures.
func newStreak() kafka.Streak { return kafka.Streak{Every: kafka.StreakInterval} }
