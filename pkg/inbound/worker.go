package inbound

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/dscokafka/connector/pkg/dsco"
)

// slot is one page in flight: its body, its decoder (whose records live
// until its next Decode) and the batch its records are built in. Slots come
// from the pipeline's slotPool, which caps them for all partitions
// together; a worker holds at most Config.PagesInFlight of them.
type slot struct {
	objectType string
	body       []byte
	dec        PageDecoder
	page       *Page
	batch      Batch
	read       time.Time // when the read started, for the metrics
}

// worker reads one stream partition.
type worker struct {
	p    *Pipeline
	a    Assignment
	room chan struct{} // a token per page the partition may still read ahead
	full chan *slot
	cp   *checkpointer
}

func (p *Pipeline) newWorker(a Assignment) *worker {
	w := &worker{
		p:    p,
		a:    a,
		room: make(chan struct{}, p.cfg.PagesInFlight),
		full: make(chan *slot, p.cfg.PagesInFlight),
	}
	w.cp = &checkpointer{w: w, kick: make(chan struct{}, 1), room: make(chan struct{}, 1)}
	return w
}

// run reads pages (fetch), produces them (publish) and commits positions
// (the checkpointer), each in its own goroutine, until ctx is done; then the
// page being produced is finished within drain and the last safe position
// is committed.
func (w *worker) run(ctx, drain context.Context) error {
	cfg := &w.p.cfg
	for range cfg.PagesInFlight {
		w.room <- struct{}{}
	}
	fetchCtx, stopFetch := context.WithCancel(ctx)
	defer stopFetch()
	var wg sync.WaitGroup
	var fetchErr, pubErr error
	wg.Go(func() {
		fetchErr = w.fetch(fetchCtx)
		close(w.full)
	})
	cpDone := make(chan struct{})
	go func() {
		defer close(cpDone)
		w.cp.run(ctx, drain)
	}()
	pubErr = w.publish(ctx, drain)
	stopFetch() // publish stopped: nothing reads full any more
	for s := range w.full {
		w.release(s)
	}
	wg.Wait()
	w.cp.stop()
	<-cpDone
	return errors.Join(fetchErr, pubErr)
}

// prepare makes a slot from the pool the worker's: its batch says where
// the page is read and goes.
func (w *worker) prepare(s *slot) {
	cfg := &w.p.cfg
	s.batch.StreamID, s.batch.ObjectType, s.batch.Partition = w.a.Stream.ID, w.a.Stream.ObjectType, w.a.Partition
	s.batch.Topic, s.batch.PoisonTopic, s.batch.serde = cfg.Topic(w.a.Stream.ObjectType), cfg.PoisonTopic, cfg.Serde
	s.batch.partStr = ""
}

// release gives a slot back to the pool once its page is acknowledged (or
// was not produced), and the partition its room to read ahead.
func (w *worker) release(s *slot) {
	w.p.slots.put(s)
	w.room <- struct{}{}
}

// fetch reads pages into free slots and hands them to publish, in order.
func (w *worker) fetch(ctx context.Context) error {
	cfg := &w.p.cfg
	obj, part := w.a.Stream.ObjectType, w.a.Partition
	pos := "" // the partition's committed position
	backoff := newBackoff(cfg.RetryBackoff, cfg.RetryBackoffMax)
	inFlight := 0
	for {
		select {
		case <-w.room:
			inFlight = cfg.PagesInFlight - len(w.room)
		case <-ctx.Done():
			return nil
		}
		s, err := w.p.slots.get(ctx, obj)
		if err != nil {
			w.room <- struct{}{}
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		w.prepare(s)
		s.read = time.Now()
		body, err := cfg.Client.GetStreamEventsRaw(ctx, w.a.Stream.ID,
			dsco.ReadEventsParams{Position: pos, Limit: cfg.PageLimit, Partition: part}, s.body)
		s.body = body
		s.batch.bodySize = len(body)
		if err == nil {
			s.page, err = s.dec.Decode(body, w.a.Stream.ID)
			if err != nil {
				err = fmt.Errorf("inbound: decoding a page of %s partition %d after %q: %w", w.a.Stream.ID, part, pos, err)
				cfg.Metrics.Error(obj, ErrKindDecode)
			}
		} else if ctx.Err() == nil {
			cfg.Metrics.Error(obj, ErrKindRead)
		}
		if err != nil {
			w.release(s)
			if ctx.Err() != nil {
				return nil
			}
			if errors.Is(err, dsco.ErrPositionExpired) || errors.Is(err, dsco.ErrNotFound) {
				return fmt.Errorf("inbound: reading %s partition %d after %q: %w", w.a.Stream.ID, part, pos, err)
			}
			w.p.log.WarnContext(ctx, "inbound: reading a page failed; trying again", "stream", w.a.Stream.ID,
				"partition", part, "position", pos, "error", err)
			if sleepCtx(ctx, backoff.next()) != nil {
				return nil
			}
			continue
		}
		backoff.reset()
		cfg.Metrics.PageRead(obj, part, len(s.page.Events), time.Since(s.read))
		// The page's strings point into the slot's body, which the next read
		// into the slot overwrites: keep a copy of the position.
		next, more := strings.Clone(s.page.Position), s.page.HasMore
		if len(s.page.Events) == 0 {
			w.release(s)
		} else {
			w.full <- s // never blocks: full has room for every slot
			cfg.Metrics.PagesInFlight(obj, part, inFlight)
		}
		if next != "" {
			pos = next
		}
		if !more {
			if sleepCtx(ctx, cfg.PollInterval) != nil {
				return nil
			}
		}
	}
}

// publish produces the pages fetch read, one after another, so that a
// page's position is safe once its own records are acknowledged. It stops
// when ctx is done, after finishing (within drain) the page it is producing.
func (w *worker) publish(ctx, drain context.Context) error {
	cfg := &w.p.cfg
	obj, part := w.a.Stream.ObjectType, w.a.Partition
	backoff := newBackoff(cfg.RetryBackoff, cfg.RetryBackoffMax)
	for {
		var s *slot
		select {
		case s = <-w.full:
		case <-ctx.Done():
			return nil
		}
		if s == nil {
			return nil // fetch ended
		}
		// Bound the events acknowledged and not yet committed: they are
		// what a crash duplicates.
		if !w.cp.waitRoom(ctx) || ctx.Err() != nil {
			return nil // not started: the next run reads the page again
		}
		b := &s.batch
		for {
			b.reset(s.page)
			err := w.p.handler(ctx, b)
			if err == nil {
				for i := range b.state {
					if b.state[i] == statePending || b.state[i] == stateFailed {
						b.Poison(i, fmt.Errorf("%w: %v", ErrNotMapped, b.reason[i]))
					}
				}
				err = w.p.writer.write(drain, b.Records...)
				if err != nil {
					cfg.Metrics.Error(obj, ErrKindProduce)
					err = fmt.Errorf("inbound: producing %d records of %s partition %d: %w", len(b.Records), w.a.Stream.ID, part, err)
				}
			} else {
				cfg.Metrics.Error(obj, ErrKindHandler)
			}
			if err == nil {
				break
			}
			if drain.Err() != nil || ctx.Err() != nil {
				return nil // not acknowledged: read again after a restart
			}
			w.p.log.WarnContext(ctx, "inbound: producing a page failed; trying again", "stream", w.a.Stream.ID,
				"partition", part, "error", err)
			if sleepCtx(ctx, backoff.next()) != nil {
				return nil
			}
		}
		backoff.reset()
		cfg.Metrics.PagePublished(obj, part, b.Published(), b.Poisoned())
		w.cp.ack(strings.Clone(s.page.Position), len(s.page.Events)) // outlives the slot's body
		w.release(s)
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
	since     time.Time // when the oldest of them was acknowledged
	committed string
	stopped   bool
}

func (c *checkpointer) ack(pos string, events int) {
	c.mu.Lock()
	if c.pending == 0 {
		c.since = time.Now()
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
		due := c.pending > 0 && (stopped || c.pending >= cfg.CheckpointEvents || time.Since(c.since) >= cfg.CheckpointInterval)
		c.mu.Unlock()
		if due {
			if stopped {
				c.commit(drain) // the last safe position, within the shutdown time
			} else {
				c.commit(ctx)
			}
		}
		if stopped {
			return
		}
	}
}

func (c *checkpointer) commit(ctx context.Context) {
	cfg := &c.w.p.cfg
	a := c.w.a
	c.mu.Lock()
	pos, n := c.safe, c.pending
	c.mu.Unlock()
	if pos == c.committed {
		return
	}
	if err := cfg.Client.UpdateStreamPosition(ctx, a.Stream.ID, pos); err != nil {
		if ctx.Err() == nil {
			cfg.Metrics.Error(a.Stream.ObjectType, ErrKindCheckpoint)
			c.w.p.log.WarnContext(ctx, "inbound: committing a stream position failed; the next commit covers it",
				"stream", a.Stream.ID, "partition", a.Partition, "position", pos, "error", err)
		}
		return
	}
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
