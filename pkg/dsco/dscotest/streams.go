package dscotest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// event is one state change, stored once and shared by every stream
// partition it belongs to. raw is the complete StreamEvent JSON, so a read
// only concatenates; a generated order's order.created event has no raw and
// is encoded from the order's seed when read (backlog.go).
type event struct {
	ts  int64 // unix nanoseconds
	raw []byte
	// seq and gen describe a generated order's order.created event, whose
	// raw is nil: it is encoded from st.gen[gen-1] when read.
	seq  uint64
	gen  int32
	hash uint32 // FNV-1a of the business key
}

// eventLog is a time-ordered run of events with contiguous sequence
// numbers: events[i] has sequence base+i.
type eventLog struct {
	base   uint64 // sequence of events[0]; the first event ever has sequence 1
	events []*event
}

func (l *eventLog) last() uint64 { return l.base + uint64(len(l.events)) - 1 }

// firstKept returns the index of the first event not older than cutoff.
func (l *eventLog) firstKept(cutoff int64) int {
	return sort.Search(len(l.events), func(i int) bool { return l.events[i].ts >= cutoff })
}

// prune drops the events older than cutoff, releasing their memory once the
// dropped prefix is large.
func (l *eventLog) prune(cutoff int64) {
	k := l.firstKept(cutoff)
	if k == 0 {
		return
	}
	for i := range k {
		l.events[i] = nil
	}
	l.events = l.events[k:]
	l.base += uint64(k)
	if cap(l.events) > 1024 && len(l.events) < cap(l.events)/4 {
		l.events = append(make([]*event, 0, len(l.events)*2), l.events...)
	}
}

func (l *eventLog) append(e *event) {
	if l.base == 0 {
		l.base = 1
	}
	l.events = append(l.events, e)
}

type stream struct {
	id         string
	owner      role
	objectType string
	query      map[string]any
	createdAt  time.Time
	parts      []*partition
}

type partition struct {
	log       eventLog
	committed uint64 // sequence of the last consumed event; 0 = none
}

// keyHash is FNV-1a (32 bits) of a business key, without allocating.
func keyHash[K string | []byte](key K) uint32 {
	h := uint32(2166136261)
	for i := range len(key) {
		h ^= uint32(key[i])
		h *= 16777619
	}
	return h
}

// PartitionFor returns the stream partition of a business key (order id or
// sku) in a stream with n partitions: FNV-1a of the key modulo n.
func PartitionFor(key string, n int) int {
	if n <= 1 {
		return 0
	}
	return int(keyHash(key) % uint32(n))
}

func formatPosition(partition int, seq uint64) string {
	return fmt.Sprintf("%d:%016d", partition, seq)
}

func parsePosition(p string) (int, uint64, error) {
	ps, ss, ok := strings.Cut(p, ":")
	if !ok {
		return 0, 0, fmt.Errorf("position %q is not of the form partition:sequence", p)
	}
	part, err := strconv.Atoi(ps)
	if err != nil || part < 0 {
		return 0, 0, fmt.Errorf("position %q has an invalid partition", p)
	}
	seq, err := strconv.ParseUint(ss, 10, 64)
	if err != nil {
		return 0, 0, fmt.Errorf("position %q has an invalid sequence", p)
	}
	return part, seq, nil
}

// emit records a state change: it appends one event to the object type's
// history and to the matching partition of every stream whose object type
// and query match. Callers hold s.mu for writing.
func (s *Sandbox) emit(objectType, eventType, key string, data any) {
	st := s.st
	var raw []byte
	if o, ok := data.(*order); ok {
		raw = o.appendJSON()
	} else {
		var err error
		if raw, err = json.Marshal(data); err != nil {
			s.log.Error("dscotest: encoding event data", "eventType", eventType, "err", err)
			return
		}
	}
	now := s.now()
	st.eventSeq++
	env := appendEnvelope(make([]byte, 0, len(raw)+160), st.instance, st.eventSeq, eventType, objectType, now, raw)
	s.record(objectType, &event{ts: now.UnixNano(), hash: keyHash(key), raw: env})
}

// record appends e to the object type's history and to the matching
// partition of every stream whose object type and query match. Callers hold
// s.mu for writing.
func (s *Sandbox) record(objectType string, e *event) {
	st := s.st
	st.eventCount[objectType]++
	cutoff := s.now().Add(-s.cfg.Retention).UnixNano()

	h := st.history[objectType]
	if h == nil {
		h = &eventLog{}
		st.history[objectType] = h
	}
	h.prune(cutoff)
	h.append(e)

	var fields map[string]any // decoded lazily for streams with a query
	for _, id := range st.streamIDs {
		str := st.streams[id]
		if str.objectType != objectType {
			continue
		}
		if len(str.query) > 0 {
			if fields == nil {
				fields = s.eventData(e)
			}
			if !matchQuery(str.query, fields) {
				continue
			}
		}
		p := str.parts[e.hash%uint32(len(str.parts))]
		p.log.prune(cutoff)
		p.log.append(e)
	}
}

func matchQuery(query, fields map[string]any) bool {
	for k, want := range query {
		got, ok := fields[k]
		if !ok {
			return false
		}
		if ws, ok := want.(string); ok {
			if gs, ok := got.(string); !ok || gs != ws {
				return false
			}
			continue
		}
		wb, _ := json.Marshal(want)
		gb, _ := json.Marshal(got)
		if string(wb) != string(gb) {
			return false
		}
	}
	return true
}

// streamView is the contract's Stream plus the partitions extension.
type streamView struct {
	StreamID       string          `json:"streamId"`
	ObjectType     string          `json:"objectType"`
	PartitionCount int             `json:"partitionCount"`
	CreatedAt      string          `json:"createdAt"`
	QueryParams    map[string]any  `json:"queryParams"`
	Partitions     []partitionView `json:"partitions"`
}

type partitionView struct {
	Partition int    `json:"partition"`
	Position  string `json:"position"`
}

func (str *stream) view() streamView {
	v := streamView{StreamID: str.id, ObjectType: str.objectType, PartitionCount: len(str.parts),
		CreatedAt: fmtTime(str.createdAt), QueryParams: str.query, Partitions: make([]partitionView, len(str.parts))}
	if v.QueryParams == nil {
		v.QueryParams = map[string]any{}
	}
	for i, p := range str.parts {
		v.Partitions[i] = partitionView{Partition: i, Position: formatPosition(i, p.committed)}
	}
	return v
}

// maxPartitions bounds partitionCount.
const maxPartitions = 64

func (s *Sandbox) handleCreateStream(w http.ResponseWriter, r *http.Request, req *request) {
	var def struct {
		ObjectType     string         `json:"objectType"`
		QueryParams    map[string]any `json:"queryParams"`
		PartitionCount *int           `json:"partitionCount"`
	}
	if err := json.Unmarshal(req.body, &def); err != nil {
		writeError(w, http.StatusBadRequest, "INVALID_BODY", err.Error(), "")
		return
	}
	if def.ObjectType == "" {
		writeError(w, http.StatusBadRequest, "REQUIRED", "objectType is required", "objectType")
		return
	}
	n := 1
	if def.PartitionCount != nil {
		n = *def.PartitionCount
	}
	if n < 1 || n > maxPartitions {
		writeError(w, http.StatusBadRequest, "INVALID_FIELD", fmt.Sprintf("partitionCount must be 1..%d", maxPartitions), "partitionCount")
		return
	}
	s.mu.Lock()
	st := s.st
	st.streamSeq++
	str := &stream{
		id:         fmt.Sprintf("stream-%s-%d", st.instance, st.streamSeq),
		owner:      req.role,
		objectType: def.ObjectType,
		query:      def.QueryParams,
		createdAt:  s.now(),
		parts:      make([]*partition, n),
	}
	for i := range str.parts {
		str.parts[i] = &partition{}
	}
	// A new stream starts with every retained event of its type, so that
	// consumers created after the first orders still see them.
	if h := st.history[def.ObjectType]; h != nil {
		cutoff := s.now().Add(-s.cfg.Retention).UnixNano()
		for _, e := range h.events[h.firstKept(cutoff):] {
			if len(str.query) > 0 && !matchQuery(str.query, s.eventData(e)) {
				continue
			}
			str.parts[e.hash%uint32(n)].log.append(e)
		}
	}
	st.streams[str.id] = str
	st.streamIDs = append(st.streamIDs, str.id)
	v := str.view()
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, v)
}

func (s *Sandbox) handleListStreams(w http.ResponseWriter, r *http.Request, req *request) {
	s.mu.RLock()
	out := struct {
		Streams []streamView `json:"streams"`
	}{Streams: []streamView{}}
	for _, id := range s.st.streamIDs {
		if str := s.st.streams[id]; str.owner == req.role {
			out.Streams = append(out.Streams, str.view())
		}
	}
	s.mu.RUnlock()
	writeJSON(w, http.StatusOK, out)
}

const (
	defaultPageLimit = 100
	maxPageLimit     = 1000
)

// pageLimit reads the limit query parameter of a page read (getStreamEvents,
// supplierListOrders): defaultPageLimit when absent, and a larger one than maxPageLimit
// capped at it. The contract says only "Maximum number of ... to return" (no maximum, no
// answer for one above it), so the sandbox serves a page of at most maxPageLimit, whose
// hasMore says whether more follow, rather than refuse the read (docs/dsco-sandbox.md). A
// limit below 1 is answered 400 INVALID_FIELD, and ok is false (one that is not an integer
// the contract refuses before).
func (s *Sandbox) pageLimit(w http.ResponseWriter, r *http.Request, op string) (limit int, ok bool) {
	v := r.URL.Query().Get("limit")
	if v == "" {
		return defaultPageLimit, true
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		writeError(w, http.StatusBadRequest, "INVALID_FIELD", "limit must be a positive integer", "limit")
		return 0, false
	}
	if n > maxPageLimit {
		s.log.Debug("dscotest: limit capped", "operation", op, "limit", n, "max", maxPageLimit)
	}
	return min(n, maxPageLimit), true
}

func (s *Sandbox) handleStreamEvents(w http.ResponseWriter, r *http.Request, req *request) {
	q := r.URL.Query()
	limit, ok := s.pageLimit(w, r, "getStreamEvents")
	if !ok {
		return
	}
	part := 0
	if v := q.Get("partition"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			writeError(w, http.StatusBadRequest, "INVALID_FIELD", "partition must be a non-negative integer", "partition")
			return
		}
		part = n
	}
	posGiven := q.Get("position")

	s.mu.RLock()
	defer s.mu.RUnlock()
	str := s.st.streams[req.params["streamId"]]
	if str == nil || str.owner != req.role {
		writeError(w, http.StatusNotFound, "STREAM_NOT_FOUND", "no stream "+req.params["streamId"], "streamId")
		return
	}
	var from uint64
	if posGiven != "" {
		pp, seq, err := parsePosition(posGiven)
		if err != nil {
			writeError(w, http.StatusBadRequest, "INVALID_POSITION", err.Error(), "position")
			return
		}
		if q.Get("partition") != "" && pp != part {
			writeError(w, http.StatusBadRequest, "INVALID_POSITION",
				fmt.Sprintf("position %s belongs to partition %d, not %d", posGiven, pp, part), "position")
			return
		}
		part, from = pp, seq
	}
	if part >= len(str.parts) {
		writeError(w, http.StatusBadRequest, "INVALID_FIELD",
			fmt.Sprintf("partition %d does not exist; the stream has %d", part, len(str.parts)), "partition")
		return
	}
	p := str.parts[part]
	if posGiven == "" {
		from = p.committed
	}
	l := &p.log
	cutoff := s.now().Add(-s.cfg.Retention).UnixNano()
	// Events older than the retention are gone even when not yet pruned.
	oldest := l.base + uint64(l.firstKept(cutoff)) // sequence of the oldest kept event
	if l.base == 0 {
		oldest = 1
	}
	lastSeq := uint64(0)
	if len(l.events) > 0 {
		lastSeq = l.last()
	} else if l.base > 0 {
		lastSeq = l.base - 1
	}
	if from > lastSeq {
		writeError(w, http.StatusBadRequest, "INVALID_POSITION",
			fmt.Sprintf("position %s is beyond the end of partition %d (%s)", formatPosition(part, from), part, formatPosition(part, lastSeq)), "position")
		return
	}
	if from+1 < oldest {
		writeError(w, http.StatusGone, "POSITION_EXPIRED",
			fmt.Sprintf("events after position %s are older than the retention; the oldest available position is %s",
				formatPosition(part, from), formatPosition(part, oldest-1)), "position")
		return
	}
	start := int(from + 1 - l.base)
	if l.base == 0 {
		start = 0
	}
	end := min(start+limit, len(l.events))
	pos := from
	if end > start {
		pos = l.base + uint64(end) - 1
	}
	bp := pageBufs.Get().(*[]byte)
	defer putPageBuf(bp)
	buf := append((*bp)[:0], `{"events":[`...)
	for i := start; i < end; i++ {
		if i > start {
			buf = append(buf, ',')
		}
		buf = s.appendEvent(buf, l.events[i])
	}
	buf = append(buf, `],"position":"`...)
	buf = append(buf, formatPosition(part, pos)...)
	buf = append(buf, `","hasMore":`...)
	buf = strconv.AppendBool(buf, end < len(l.events))
	buf = append(buf, '}')
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(buf))) // as an API gateway answers: not chunked
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(buf)
	*bp = buf
}

// pageBufs holds the buffers pages are encoded into, so that a page of
// large events is not grown from scratch every time.
var pageBufs = sync.Pool{New: func() any { b := make([]byte, 0, 1<<20); return &b }}

func putPageBuf(b *[]byte) {
	if cap(*b) > 64<<20 {
		return // a rare huge page: let it go
	}
	pageBufs.Put(b)
}

func (s *Sandbox) handleUpdatePosition(w http.ResponseWriter, r *http.Request, req *request) {
	var body struct {
		Position string `json:"position"`
	}
	if err := json.Unmarshal(req.body, &body); err != nil {
		writeError(w, http.StatusBadRequest, "INVALID_BODY", err.Error(), "")
		return
	}
	if body.Position == "" {
		writeError(w, http.StatusBadRequest, "REQUIRED", "position is required", "position")
		return
	}
	part, seq, err := parsePosition(body.Position)
	if err != nil {
		writeError(w, http.StatusBadRequest, "INVALID_POSITION", err.Error(), "position")
		return
	}
	s.mu.Lock()
	str := s.st.streams[req.params["streamId"]]
	if str == nil || str.owner != req.role {
		s.mu.Unlock()
		writeError(w, http.StatusNotFound, "STREAM_NOT_FOUND", "no stream "+req.params["streamId"], "streamId")
		return
	}
	if part >= len(str.parts) {
		s.mu.Unlock()
		writeError(w, http.StatusBadRequest, "INVALID_POSITION", fmt.Sprintf("partition %d does not exist", part), "position")
		return
	}
	p := str.parts[part]
	last := uint64(0)
	if p.log.base > 0 {
		last = p.log.base + uint64(len(p.log.events)) - 1
	}
	if seq > last {
		s.mu.Unlock()
		writeError(w, http.StatusBadRequest, "INVALID_POSITION",
			fmt.Sprintf("position %s is beyond the end of partition %d", body.Position, part), "position")
		return
	}
	p.committed = seq
	v := str.view()
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, v)
}
