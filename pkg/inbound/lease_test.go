package inbound_test

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/dscokafka/connector/pkg/dsco/dscotest"
	"github.com/dscokafka/connector/pkg/inbound"
	"github.com/dscokafka/connector/pkg/kafka/kafkatest"
)

// TestLeaseHandoverAcrossSIGKILL runs the pipeline under the inbound lease
// in two child processes at once, of which only the holder reads Dsco. While
// a stream of 12,000 order events grows, it kills the holder with SIGKILL at
// random points, six times: the other child takes the lease over once the
// holder's session expired and goes on from the committed positions; then the
// killed one is started again, and its joining hands the lease over (or not)
// in a rebalance, without a kill. After the last kill the survivor drains
// the rest. Every event the sandbox holds is on Kafka at least once; the
// duplicates stay within the checkpoint window per kill, and a handover
// without a kill writes none; nothing is poisoned; and no child took the
// lease, by the lines the children print, while another one held it.
func TestLeaseHandoverAcrossSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("kills the lease holder of two child processes 6 times")
	}
	const kills, perLife = 6, 2000 // 12,000 events during the kills
	sb := newSandbox(t, dscotest.Config{Seed: 13})
	client := newClient(t, sb.URL)
	brokers := kafkatest.Brokers(t)
	registry := newRegistry(t)
	newSerde(t, registry) // registered once, before the children register too
	createTopics(t, brokers, "order")
	cons := newConsumer(t, brokers, "dsco.order.v1", "dsco.poison.v1")
	var recs []*kgo.Record
	seed := uint64(time.Now().UnixNano())
	t.Logf("kill points from seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 13))
	stream, err := inbound.EnsureStream(t.Context(), client, inbound.StreamConfig{ObjectType: "order", PartitionCount: crashPartitions})
	require.NoError(t, err)
	tail := &streamTail{client: client, stream: stream.ID, partitions: crashPartitions}

	// A holder that dies is replaced a session timeout after its last
	// heartbeat: kafkatest's kfake allows short ones, a real broker none
	// below its group.min.session.timeout.ms (6s by default).
	session := 3 * time.Second
	if kafkatest.Real() {
		session = 6 * time.Second
	}
	lease := &childLease{group: kafkatest.Name("inbound-lease"), topic: kafkatest.Name("inbound-lease"), session: session}
	h := &leaseHistory{events: make(chan leaseEvent, 1024)}
	var procs []*child
	// join starts a child beside the others and waits for the rebalance its
	// joining brings: the lease is taken again, by it or by the holder.
	join := func() int {
		n := len(procs)
		c := startChild(t, childSpec{sandboxURL: sb.URL, brokers: brokers, registry: registry, lease: lease,
			onLine: func(line string) { h.parse(t, n, line) }})
		procs = append(procs, c)
		select {
		case <-c.running:
		case <-c.exited:
			t.Fatalf("child %d exited: %v\n%s", n, c.err, c.output())
		case <-time.After(waitLimit):
			t.Fatalf("child %d did not start\n%s", n, c.output())
		}
		took := h.nextTook(t)
		t.Logf("child %d joined: child %d holds the lease", n, took.proc)
		return n
	}

	for life := range kills {
		_, err := sb.SeedOrders(perLife)
		require.NoError(t, err)
		if life == 0 {
			join() // alone: it takes the lease
			join()
		}
		target := len(recs) + 1 + rng.IntN(perLife)
		recs = append(recs, cons.until(t, func(rs []*kgo.Record) bool { return len(recs)+len(rs) >= target })...)
		// Every earlier duplicate comes of an earlier kill: a handover in a
		// rebalance starts from the position the holder committed last.
		require.LessOrEqual(t, duplicates(recs), life*crashPartitions*crashWindow, "life %d: duplicates within the checkpoint window per kill", life)
		holder := h.holder(t)
		h.killed(holder)
		procs[holder].kill(t)
		took := h.nextTook(t)
		require.NotEqual(t, holder, took.proc, "a killed child took the lease")
		t.Logf("life %d: killed child %d after %d records (%d duplicates); child %d took over %v later",
			life, holder, len(recs), duplicates(recs), took.proc, took.at.Sub(h.killedAt[holder]).Round(time.Millisecond))
		if life < kills-1 {
			join() // the killed one's successor
		}
	}

	// The survivor of the last kill drains the rest.
	want := tail.read(t)
	require.Len(t, want, kills*perLife)
	recs, dups := readAll(t, cons, recs, want)
	holder := h.holder(t)
	h.killed(holder)
	procs[holder].kill(t)
	t.Logf("%d events, %d records, %d duplicates after %d kills of the holder; %d children", len(want), len(recs), dups, kills, len(procs))
	assert.LessOrEqual(t, dups, kills*crashPartitions*crashWindow, "duplicates within the checkpoint window per kill")
	h.assertOneHolder(t)
}

// leaseEvent is a line a leased child printed: it took the lease (took) or
// gave it up, at the time of the machine's wall clock, which the children
// share with the test.
type leaseEvent struct {
	proc int
	took bool
	at   time.Time
}

// leaseHistory collects the lease lines of the children of
// TestLeaseHandoverAcrossSIGKILL; events is fed by the children's
// goroutines, the rest belongs to the test's.
type leaseHistory struct {
	events   chan leaseEvent
	seen     []leaseEvent
	holding  map[int]bool
	killedAt map[int]time.Time
}

// parse sends proc's line on events when it is a lease line.
func (h *leaseHistory) parse(t *testing.T, proc int, line string) {
	for prefix, took := range map[string]bool{crashTookLine: true, crashReleasedLine: false} {
		if rest, ok := strings.CutPrefix(line, prefix+" "); ok {
			ns, err := strconv.ParseInt(rest, 10, 64)
			if err != nil {
				t.Errorf("child %d: %q: %v", proc, line, err)
				return
			}
			h.events <- leaseEvent{proc: proc, took: took, at: time.Unix(0, ns)}
		}
	}
}

func (h *leaseHistory) record(ev leaseEvent) {
	if h.holding == nil {
		h.holding = map[int]bool{}
	}
	h.seen = append(h.seen, ev)
	h.holding[ev.proc] = ev.took
}

func (ev leaseEvent) String() string {
	what := "gave up"
	if ev.took {
		what = "took"
	}
	return fmt.Sprintf("child %d %s the lease at %s", ev.proc, what, ev.at.Format(time.StampMicro))
}

// next waits for the next lease line of any child; waiting says what for.
func (h *leaseHistory) next(t *testing.T, waiting string) leaseEvent {
	t.Helper()
	select {
	case ev := <-h.events:
		h.record(ev)
		return ev
	case <-time.After(waitLimit):
		t.Fatalf("%s: no child took or gave up the lease in %v; so far:\n%s", waiting, waitLimit, h)
		return leaseEvent{}
	}
}

func (h *leaseHistory) String() string {
	var b strings.Builder
	for _, ev := range h.seen {
		fmt.Fprintln(&b, ev)
	}
	return b.String()
}

// nextTook waits until a child takes the lease.
func (h *leaseHistory) nextTook(t *testing.T) leaseEvent {
	t.Helper()
	for {
		if ev := h.next(t, "waiting for a child to take the lease"); ev.took {
			return ev
		}
	}
}

// holder returns the child that holds the lease by the lines printed so
// far. While two seem to (one's line that it gave the lease up may not have
// been read yet: the children print on pipes of their own), it waits for
// more lines.
func (h *leaseHistory) holder(t *testing.T) int {
	t.Helper()
	for {
		for len(h.events) > 0 {
			h.record(<-h.events)
		}
		var holders []int
		for proc, held := range h.holding {
			if held && h.killedAt[proc].IsZero() {
				holders = append(holders, proc)
			}
		}
		if len(holders) == 1 {
			return holders[0]
		}
		slices.Sort(holders)
		h.next(t, fmt.Sprintf("%d children hold the lease %v", len(holders), holders))
	}
}

// killed notes that proc is about to be killed: it no longer holds
// anything from now on.
func (h *leaseHistory) killed(proc int) {
	if h.killedAt == nil {
		h.killedAt = map[int]time.Time{}
	}
	h.killedAt[proc] = time.Now()
}

// assertOneHolder checks by the children's clock that no child took the
// lease while another held it: from its line that it took the lease until
// its line that it gave it up, or until it was killed.
func (h *leaseHistory) assertOneHolder(t *testing.T) {
	t.Helper()
	for len(h.events) > 0 {
		h.record(<-h.events)
	}
	type span struct {
		proc       int
		start, end time.Time
	}
	var spans []span
	open := map[int]time.Time{}
	for _, ev := range h.seen {
		if ev.took {
			open[ev.proc] = ev.at
			continue
		}
		spans = append(spans, span{ev.proc, open[ev.proc], ev.at})
		delete(open, ev.proc)
	}
	for proc, start := range open {
		require.False(t, h.killedAt[proc].IsZero(), "child %d holds the lease and was not killed", proc)
		spans = append(spans, span{proc, start, h.killedAt[proc]})
	}
	slices.SortFunc(spans, func(a, b span) int { return a.start.Compare(b.start) })
	for i := 1; i < len(spans); i++ {
		// The span that ends last of those that started before this one.
		prev := slices.MaxFunc(spans[:i], func(a, b span) int { return a.end.Compare(b.end) })
		cur := spans[i]
		assert.False(t, cur.start.Before(prev.end), "child %d took the lease at %v while child %d held it (from %v to %v)",
			cur.proc, cur.start.Format(time.StampMicro), prev.proc, prev.start.Format(time.StampMicro), prev.end.Format(time.StampMicro))
	}
	t.Logf("%d spans of holding the lease", len(spans))
}
