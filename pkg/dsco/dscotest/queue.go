package dscotest

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
)

// Batch statuses a queued batch may be answered with (QueueConfig.Status).
const (
	BatchAccepted   = "accepted"
	BatchProcessing = "processing"
)

// QueueConfig makes the sandbox answer batch writes as queued, the way
// Dsco may answer a batch it has not processed yet: HTTP 200 with status
// "accepted" (or "processing"), a batchId and no errors. The batch is
// validated against the contract and the rules that need no state first (a
// violation is still a 400), and applied later, in the order received: its
// state changes, events and applied counts appear only then. How it went is
// then known by BatchOutcome and GET /_sandbox/batches/{batchId}.
type QueueConfig struct {
	// Enabled turns the mode on.
	Enabled bool
	// Status is the status of the answer: BatchAccepted (the default) or
	// BatchProcessing.
	Status string
	// Delay applies each batch this long after it was received, measured
	// on the wall clock (not Config.Now). Zero keeps batches queued until
	// ApplyQueued is called (or POST /_sandbox/queue/apply).
	Delay time.Duration
	// Operations limits the mode to these batch write operationIds (for
	// example "supplierCreateShipment"); empty means every batch write.
	Operations []string
}

func (q *QueueConfig) setDefaults() {
	if q.Status == "" {
		q.Status = BatchAccepted
	}
}

// Validate reports a queue configuration the sandbox cannot run with.
func (q *QueueConfig) Validate() error {
	if q.Status != "" && q.Status != BatchAccepted && q.Status != BatchProcessing {
		return fmt.Errorf("dscotest: queue status must be %q or %q, not %q", BatchAccepted, BatchProcessing, q.Status)
	}
	if q.Delay < 0 {
		return fmt.Errorf("dscotest: queue delay %s is negative", q.Delay)
	}
	for _, op := range q.Operations {
		if !slices.Contains(batchWrites, op) {
			return fmt.Errorf("dscotest: queue operation %q is not a batch write; one of %s", op, strings.Join(batchWrites, ", "))
		}
	}
	return nil
}

// batchWrites are the operations QueueConfig applies to.
var batchWrites = []string{
	"supplierUpdateCatalog", "supplierUpdateInventory", "supplierCreateShipment", "supplierCancelOrderItem",
	"supplierAcknowledgeOrder", "supplierCreateReturn", "supplierCreateInvoice", "retailerCreateOrder",
	"retailerCreateReturn", "retailerRequestCancel", "retailerUpdateCatalogAttribution",
}

// BatchOutcome is how a queued batch went.
type BatchOutcome struct {
	BatchID string `json:"batchId"`
	// Status is "queued" until the batch is applied, then "completed"
	// (at least one item applied) or "failed".
	Status string `json:"status"`
	// Errors are the item errors, as a synchronous answer would have had
	// them: {"code":"ORDER_NOT_FOUND","field":"shipments[1].orderId",...}.
	Errors []BatchErrorView `json:"errors"`
}

// BatchErrorView is one item error of a BatchOutcome.
type BatchErrorView struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
}

// BatchQueued is the Status of a BatchOutcome not yet applied.
const BatchQueued = "queued"

type queuedBatch struct {
	id    string
	op    string
	n     int
	due   time.Time // zero: only on ApplyQueued
	apply func() fieldErrors
}

// queue holds the queued batches. Its mu is never held together with
// s.mu.
type queue struct {
	mu       sync.Mutex
	pending  []*queuedBatch
	outcomes map[string]*BatchOutcome
	wake     chan struct{}
	// applying serialises applying batches, so that they are applied in
	// the order received whoever applies them.
	applying sync.Mutex
}

func (s *Sandbox) queued(op string) bool {
	q := s.cfg.Queue
	return q.Enabled && (len(q.Operations) == 0 || slices.Contains(q.Operations, op))
}

// applyBatch applies a validated batch of n items now and answers with the
// result, or queues it and answers it queued. apply runs with s.mu held for
// writing and returns the item errors.
func (s *Sandbox) applyBatch(w http.ResponseWriter, req *request, n int, apply func() fieldErrors) {
	if !s.queued(req.op) {
		s.mu.Lock()
		errs := apply()
		s.mu.Unlock()
		finishBatch(w, n, errs)
		return
	}
	b := &queuedBatch{id: newBatchID(), op: req.op, n: n, apply: apply}
	if s.cfg.Queue.Delay > 0 {
		b.due = time.Now().Add(s.cfg.Queue.Delay)
	}
	s.q.mu.Lock()
	s.q.pending = append(s.q.pending, b)
	s.q.outcomes[b.id] = &BatchOutcome{BatchID: b.id, Status: BatchQueued, Errors: []BatchErrorView{}}
	s.q.mu.Unlock()
	select {
	case s.q.wake <- struct{}{}:
	default:
	}
	writeJSON(w, http.StatusOK, batchResponse{BatchID: b.id, Status: s.cfg.Queue.Status, Errors: []batchError{}})
}

// ApplyQueued applies every queued batch now, in the order received, and
// returns how many it applied.
func (s *Sandbox) ApplyQueued() int { return s.applyQueued(time.Time{}) }

// applyQueued applies the queued batches due by now (all of them when now
// is zero), in order, and returns how many.
func (s *Sandbox) applyQueued(now time.Time) int {
	s.q.applying.Lock()
	defer s.q.applying.Unlock()
	n := 0
	for {
		s.q.mu.Lock()
		if len(s.q.pending) == 0 || (!now.IsZero() && (s.q.pending[0].due.IsZero() || s.q.pending[0].due.After(now))) {
			s.q.mu.Unlock()
			return n
		}
		b := s.q.pending[0]
		s.q.pending[0] = nil
		s.q.pending = s.q.pending[1:]
		s.q.mu.Unlock()

		s.mu.Lock()
		errs := b.apply()
		s.mu.Unlock()
		out := BatchOutcome{BatchID: b.id, Status: batchStatus(b.n, errs), Errors: make([]BatchErrorView, 0, len(errs))}
		for _, e := range errs {
			out.Errors = append(out.Errors, BatchErrorView(e))
		}
		s.q.mu.Lock()
		s.q.outcomes[b.id] = &out
		s.q.mu.Unlock()
		n++
	}
}

// Queued returns how many batches wait to be applied.
func (s *Sandbox) Queued() int {
	s.q.mu.Lock()
	defer s.q.mu.Unlock()
	return len(s.q.pending)
}

// Batch returns the outcome of a batch answered as queued; ok is false for
// a batch id the sandbox did not queue.
func (s *Sandbox) Batch(batchID string) (BatchOutcome, bool) {
	s.q.mu.Lock()
	defer s.q.mu.Unlock()
	o, ok := s.q.outcomes[batchID]
	if !ok {
		return BatchOutcome{}, false
	}
	return *o, true
}

// runQueue applies batches when they are due until the sandbox closes.
func (s *Sandbox) runQueue() {
	defer s.bg.Done()
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	for {
		s.applyQueued(time.Now())
		next := time.Hour
		s.q.mu.Lock()
		if len(s.q.pending) > 0 && !s.q.pending[0].due.IsZero() {
			next = max(time.Until(s.q.pending[0].due), 0)
		}
		s.q.mu.Unlock()
		t.Reset(next)
		select {
		case <-s.closed:
			return
		case <-s.q.wake:
		case <-t.C:
		}
	}
}

// serveQueue serves GET /_sandbox/queue ({"queued":n}), POST
// /_sandbox/queue/apply ({"applied":n}) and GET /_sandbox/batches/{id}.
func (s *Sandbox) serveQueue(w http.ResponseWriter, r *http.Request, path string) {
	switch {
	case path == "/_sandbox/queue" && r.Method == http.MethodGet:
		writeJSON(w, http.StatusOK, map[string]int{"queued": s.Queued()})
	case path == "/_sandbox/queue/apply" && r.Method == http.MethodPost:
		writeJSON(w, http.StatusOK, map[string]int{"applied": s.ApplyQueued()})
	case strings.HasPrefix(path, "/_sandbox/batches/") && r.Method == http.MethodGet:
		id := strings.TrimPrefix(path, "/_sandbox/batches/")
		o, ok := s.Batch(id)
		if !ok {
			writeError(w, http.StatusNotFound, "BATCH_NOT_FOUND", "no queued batch "+id, "batchId")
			return
		}
		writeJSON(w, http.StatusOK, o)
	default:
		writeError(w, http.StatusMethodNotAllowed, "METHOD_NOT_ALLOWED",
			"use GET /_sandbox/queue, POST /_sandbox/queue/apply or GET /_sandbox/batches/{batchId}", "")
	}
}
