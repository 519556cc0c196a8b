package outbound

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestStoreBounds: the store keeps at most MaxEntries ids, forgetting the oldest first, and
// forgets ids older than Retention.
func TestStoreBounds(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s := newStore(StoreConfig{MaxEntries: 3000, Retention: time.Hour, Now: func() time.Time { return now }}, nil)
	for i := range 5000 {
		s.remember(MarkApplied, []kafkago.Message{{Key: fmt.Append(nil, i), Time: now}})
	}
	assert.Equal(t, 3000, s.Len())
	assert.Equal(t, MarkNone, s.Get("0"), "the oldest are forgotten first")
	assert.Equal(t, MarkNone, s.Get("1999"))
	assert.Equal(t, MarkApplied, s.Get("2000"))
	assert.Equal(t, MarkApplied, s.Get("4999"))
	assert.Len(t, s.ids.ring, 3000, "the eviction queue holds MaxEntries ids")

	now = now.Add(2 * time.Hour)
	assert.Equal(t, MarkNone, s.Get("4999"), "older than the retention")
}

// TestStoreRemember: remember holds every mark it is given, with its time, whatever their
// number against the chunks it puts them in, an id marked twice holding its later mark;
// with the table full, the ids forgotten are the oldest, in order.
func TestStoreRemember(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name      string
		max, n    int
		forgotten int // the first ids forgotten
	}{
		{"one", 100, 1, 0},
		{"a chunk", 100, chunkMarks, 0},
		{"a chunk and one", 100, chunkMarks + 1, 0},
		{"chunks", 100, 3*chunkMarks + 5, 0},
		{"full", 20, 3*chunkMarks + 5, 3*chunkMarks + 5 - 20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newStore(StoreConfig{MaxEntries: tc.max, Retention: time.Hour, Now: func() time.Time { return now }}, nil)
			recs := make([]kafkago.Message, tc.n)
			for i := range recs {
				recs[i] = kafkago.Message{Key: fmt.Appendf(nil, "cmd-%d", i), Time: now.Add(time.Duration(i%7) * time.Millisecond)}
			}
			s.remember(MarkReleased, recs)
			again := recs[len(recs)-1]
			again.Time = again.Time.Add(time.Second)
			s.remember(MarkReleased, []kafkago.Message{again})
			for i, m := range recs {
				mark, at := s.get(string(m.Key))
				if i < tc.forgotten {
					assert.Equal(t, MarkNone, mark, "%s forgotten", m.Key)
					continue
				}
				want := m.Time
				if i == len(recs)-1 {
					want = again.Time
				}
				assert.Equal(t, MarkReleased, mark, "%s", m.Key)
				assert.Equal(t, want.UnixMilli(), at, "%s", m.Key)
			}
			assert.Equal(t, tc.n-tc.forgotten, s.Len())
			assert.Equal(t, again.Time.UnixMilli(), s.latest.Load(), "the latest time held")
		})
	}
}

// TestIDTable checks the store's table against a map, with ids whose index homes collide
// (so that probing, backward-shift deletion and the growing index's placing run across
// the index's wrap-around) and a ring small enough to evict most of them.
func TestIDTable(t *testing.T) {
	for _, tc := range []struct {
		name     string
		max      int
		homes    uint64 // distinct values of the key's low bits: few make long probe runs
		last     bool   // the homes are the index's last slots, whatever its size
		ids, ops int
	}{
		{"spread", 100, 1 << 32, false, 1000, 20000},
		{"colliding homes", 100, 4, false, 1000, 20000},
		{"one home", 50, 1, false, 200, 5000},
		{"homes at the end", 100, 4, true, 1000, 20000},
		{"no eviction", 5000, 1 << 32, false, 1000, 20000},
		{"no eviction, homes at the end", 5000, 4, true, 1000, 20000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, uint64(tc.max)))
			key := func(id int) idKey {
				// The low 32 bits give the home; the high ones keep ids apart.
				home := (uint64(id) * 0x9e3779b97f4a7c15) % tc.homes
				if tc.last {
					home = 1<<32 - 1 - home
				}
				return idKey{uint64(id)<<32 | home, uint64(id)}
			}
			tab := idTable{max: tc.max}
			model := map[int]storeEntry{}
			var order []int // ids in the order first marked
			for op := range tc.ops {
				id := rng.IntN(tc.ids)
				e := newStoreEntry(Mark(1+rng.IntN(4)), int64(op))
				since := int64(op - 300) // the retention's start: applied marks since then stay
				tab.put(key(id), e, since)
				old, ok := model[id]
				if !ok {
					order = append(order, id)
					if len(order) > tc.max {
						delete(model, order[0])
						order = order[1:]
					}
				}
				if !ok || old.mark() != MarkApplied || old.at() < since || e.mark() == MarkApplied {
					model[id] = e
				}
				if op%97 == 0 || op == tc.ops-1 {
					require.Len(t, tab.ring, len(model))
					for id := range tc.ids {
						got, ok := tab.get(key(id))
						want, wantOK := model[id]
						require.Equal(t, wantOK, ok, "id %d after %d puts", id, op+1)
						require.Equal(t, want, got, "id %d after %d puts", id, op+1)
					}
				}
			}
			assert.LessOrEqual(t, 4*len(tab.ring), 3*len(tab.index), "the index is at most ¾ full")
			assert.LessOrEqual(t, cap(tab.ring), tc.max, "the ring never grows past max")
		})
	}
}

// recordingWriter keeps the records written to it.
type recordingWriter struct{ recs []kafkago.Message }

func (w *recordingWriter) WriteRecords(recs ...kafkago.Message) error {
	w.recs = append(w.recs, recs...)
	return nil
}

// TestStoreAppliedIsFinal: an applied mark held for an id gives way to no other mark,
// whatever its time, read from the topic (another replica's, or this process's own read
// back) or written by this process (Set then writes none for the id: a call that
// outlived its record writes nothing over the new owner's applied mark once read); an
// applied mark takes the place of any other, whatever its time, so that replicas that
// read the same marks in whatever order hold the same. Past the retention an applied
// mark is forgotten, and the id's marks follow their times again, as other marks do: the
// later one wins, read in whatever order.
func TestStoreAppliedIsFinal(t *testing.T) {
	type step struct {
		op   string // "read": from the topic, at start+at; "set": Set; "wait": the clock moves on by at
		mark Mark
		at   time.Duration
	}
	read := func(m Mark, at time.Duration) step { return step{"read", m, at} }
	set := func(m Mark) step { return step{op: "set", mark: m} }
	wait := func(d time.Duration) step { return step{op: "wait", at: d} }
	for _, tc := range []struct {
		name    string
		steps   []step
		want    Mark
		written []string // the marks Set wrote to the topic
	}{
		{"released read after applied, later", []step{read(MarkApplied, 0), read(MarkReleased, time.Second)}, MarkApplied, nil},
		{"unknown read after applied, later", []step{read(MarkApplied, 0), read(MarkUnknown, time.Second)}, MarkApplied, nil},
		{"sending read after applied, later", []step{read(MarkApplied, 0), read(MarkSending, time.Second)}, MarkApplied, nil},
		{"applied read after a later released", []step{read(MarkReleased, time.Second), read(MarkApplied, 0)}, MarkApplied, nil},
		{"own released after applied read, ahead of this clock", []step{read(MarkApplied, time.Second), set(MarkReleased)}, MarkApplied, nil},
		{"own unknown after own applied, read back", []step{set(MarkApplied), set(MarkUnknown), read(MarkApplied, 0)}, MarkApplied, []string{"applied"}},
		{"own sending after applied read", []step{read(MarkApplied, 0), wait(time.Second), set(MarkSending)}, MarkApplied, nil},
		{"own applied after released", []step{set(MarkReleased), set(MarkApplied)}, MarkApplied, []string{"released", "applied"}},
		{"applied forgotten past the retention", []step{read(MarkApplied, 0), wait(2 * time.Hour), set(MarkSending)}, MarkSending, []string{"sending"}},
		{"released read after sending, later", []step{read(MarkSending, 0), read(MarkReleased, time.Second)}, MarkReleased, nil},
		{"released read after sending, earlier", []step{read(MarkSending, time.Second), read(MarkReleased, 0)}, MarkSending, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			now := start
			w := &recordingWriter{}
			s := newStore(StoreConfig{MaxEntries: 10, Retention: time.Hour, Writer: w, Now: func() time.Time { return now }}, nil)
			const id = "cmd-1"
			follow, done := s.follower()
			for _, st := range tc.steps {
				switch st.op {
				case "read":
					follow(kafkago.Message{Key: []byte(id), Value: []byte(st.mark.String()), Time: start.Add(st.at)})
					done()
				case "set":
					require.NoError(t, s.Set(st.mark, id))
				case "wait":
					now = now.Add(st.at)
				}
			}
			assert.Equal(t, tc.want, s.Get(id))
			var written []string
			for _, m := range w.recs {
				written = append(written, string(m.Value))
			}
			assert.Equal(t, tc.written, written, "marks written")
		})
	}
}
