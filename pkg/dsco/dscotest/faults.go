package dscotest

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"hash/fnv"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// Fault describes the misbehaviour injected into one operation. Each call
// of the operation draws its outcome from the sandbox's seed and the call's
// sequence number within that operation, so the same seed and the same
// calls per operation give the same faults, whatever the interleaving of
// different operations.
type Fault struct {
	// Latency delays every call before anything else happens.
	Latency time.Duration
	// Rate500, Rate502, Rate503, Rate504 and Rate429 are probabilities of
	// answering with that status instead of handling the call: nothing is
	// applied.
	Rate500, Rate502, Rate503, Rate504, Rate429 float64
	// Rate500Applied, Rate502Applied and Rate504Applied are probabilities of
	// handling the call (a write is applied: state, events and the
	// applied counts change) and then answering with that status instead
	// of the real answer, as a server that fails after committing, or a
	// gateway that times out while the server completes, does.
	Rate500Applied, Rate502Applied, Rate504Applied float64
	// RetryAfter is sent with 429 as whole seconds (default 1s).
	RetryAfter time.Duration
	// DropRate is the probability of closing the connection without a
	// response. The request is handled first, so a dropped write is applied.
	// It is drawn apart from the status rates, for the calls they leave
	// alone.
	DropRate float64
}

// statusRates are the rates of the outcomes drawn from one number, in the
// order they are drawn: a call gets the first whose cumulative rate exceeds
// its draw. New outcomes go last, so that a seed keeps giving the same
// faults to configurations that do not use them.
func (f Fault) statusRates() [8]float64 {
	return [8]float64{f.Rate500, f.Rate503, f.Rate429, f.Rate502, f.Rate504, f.Rate500Applied, f.Rate502Applied, f.Rate504Applied}
}

func (f Fault) validate() error {
	rates := f.statusRates()
	sum := 0.0
	for _, p := range append(rates[:], f.DropRate) {
		if p < 0 || p > 1 {
			return errors.New("rates must be between 0 and 1")
		}
	}
	for _, p := range rates {
		sum += p
	}
	if sum > 1+1e-9 {
		return errors.New("the status rates (Rate500, Rate502, Rate503, Rate504, Rate429 and the Applied ones) must not sum to more than 1")
	}
	if f.Latency < 0 || f.RetryAfter < 0 {
		return errors.New("durations must not be negative")
	}
	return nil
}

func (f Fault) isZero() bool { return f == Fault{} }

// faultOutcome is what a call gets.
type faultOutcome int

// The status outcomes are in the order of Fault.statusRates.
const (
	outcomeNone faultOutcome = iota
	outcome500
	outcome503
	outcome429
	outcome502
	outcome504
	outcome500Applied
	outcome502Applied
	outcome504Applied
	outcomeDrop
)

type faultSet struct {
	seed uint64

	mu     sync.Mutex
	faults map[string]Fault
	calls  map[string]uint64
}

func (fs *faultSet) init(seed int64, faults map[string]Fault) {
	fs.seed = uint64(seed)
	fs.faults = make(map[string]Fault, len(faults))
	for k, f := range faults {
		if !f.isZero() {
			fs.faults[k] = f
		}
	}
	fs.calls = make(map[string]uint64)
}

// SetFault replaces the fault of operation (an operationId, OpGetItemInventory,
// OpGetInventoryFile or AllOperations) at run time; the zero Fault clears it.
// Rates are clamped to 0..1 and negative durations to zero.
func (s *Sandbox) SetFault(operation string, f Fault) {
	f = f.clamped()
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	if f.isZero() {
		delete(s.faults.faults, operation)
	} else {
		s.faults.faults[operation] = f
	}
}

// retryAfter is the Retry-After a 429 of f is sent with: RetryAfter, or 1s when it is
// not set. GET /_sandbox/faults lists it so, not as the 0s the field holds.
func (f Fault) retryAfter() time.Duration {
	if f.RetryAfter <= 0 {
		return time.Second
	}
	return f.RetryAfter
}

func (f Fault) clamped() Fault {
	c := func(p float64) float64 { return min(max(p, 0), 1) }
	f.Rate500, f.Rate503, f.Rate429, f.DropRate = c(f.Rate500), c(f.Rate503), c(f.Rate429), c(f.DropRate)
	f.Rate502, f.Rate504 = c(f.Rate502), c(f.Rate504)
	f.Rate500Applied, f.Rate502Applied, f.Rate504Applied = c(f.Rate500Applied), c(f.Rate502Applied), c(f.Rate504Applied)
	f.Latency, f.RetryAfter = max(f.Latency, 0), max(f.RetryAfter, 0)
	return f
}

// Faults returns the faults in force, by operation.
func (s *Sandbox) Faults() map[string]Fault {
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	out := make(map[string]Fault, len(s.faults.faults))
	for k, f := range s.faults.faults {
		out[k] = f
	}
	return out
}

// draw returns the fault in force for op and the outcome of this call.
func (fs *faultSet) draw(op string) (Fault, faultOutcome) {
	fs.mu.Lock()
	f, ok := fs.faults[op]
	if !ok {
		f, ok = fs.faults[AllOperations]
	}
	if !ok {
		fs.mu.Unlock()
		return Fault{}, outcomeNone
	}
	n := fs.calls[op]
	fs.calls[op] = n + 1
	fs.mu.Unlock()

	u := fs.uniform(op, n, 0)
	cum := 0.0
	for i, p := range f.statusRates() {
		cum += p
		if p > 0 && u < cum {
			return f, outcome500 + faultOutcome(i)
		}
	}
	if f.DropRate > 0 && fs.uniform(op, n, 1) < f.DropRate {
		return f, outcomeDrop
	}
	return f, outcomeNone
}

// uniform hashes (seed, op, n, salt) to a number in [0,1).
func (fs *faultSet) uniform(op string, n uint64, salt byte) float64 {
	h := fnv.New64a()
	var b [17]byte
	binary.LittleEndian.PutUint64(b[:8], fs.seed)
	binary.LittleEndian.PutUint64(b[8:16], n)
	b[16] = salt
	_, _ = h.Write(b[:])
	_, _ = h.Write([]byte(op))
	x := h.Sum64()
	// Finalise (splitmix64) so that nearby inputs spread over the range.
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return float64(x>>11) / (1 << 53)
}

// serve runs next for op unless the operation's fault says otherwise.
func (fs *faultSet) serve(w http.ResponseWriter, r *http.Request, op string, next http.HandlerFunc) {
	f, outcome := fs.draw(op)
	if f.Latency > 0 {
		t := time.NewTimer(f.Latency)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		}
	}
	switch outcome {
	case outcome500:
		writeError(w, http.StatusInternalServerError, "INTERNAL_ERROR", "injected fault: internal error", "")
	case outcome502:
		writeError(w, http.StatusBadGateway, "BAD_GATEWAY", "injected fault: bad gateway", "")
	case outcome504:
		writeError(w, http.StatusGatewayTimeout, "GATEWAY_TIMEOUT", "injected fault: gateway timeout", "")
	case outcome500Applied:
		next(&discardWriter{h: make(http.Header)}, r)
		writeError(w, http.StatusInternalServerError, "INTERNAL_ERROR", "injected fault: internal error after handling the request", "")
	case outcome502Applied:
		next(&discardWriter{h: make(http.Header)}, r)
		writeError(w, http.StatusBadGateway, "BAD_GATEWAY", "injected fault: bad gateway after the request was handled", "")
	case outcome504Applied:
		next(&discardWriter{h: make(http.Header)}, r)
		writeError(w, http.StatusGatewayTimeout, "GATEWAY_TIMEOUT", "injected fault: gateway timeout after the request was handled", "")
	case outcome503:
		writeError(w, http.StatusServiceUnavailable, "SERVICE_UNAVAILABLE", "injected fault: service unavailable", "")
	case outcome429:
		ra := f.retryAfter()
		secs := int64((ra + time.Second - 1) / time.Second)
		w.Header().Set("Retry-After", strconv.FormatInt(secs, 10))
		writeError(w, http.StatusTooManyRequests, "TOO_MANY_REQUESTS", "injected fault: rate limited", "")
	case outcomeDrop:
		// Apply the request, then drop the connection without answering.
		next(&discardWriter{h: make(http.Header)}, r)
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				_ = conn.Close()
				return
			}
		}
		// Without a hijackable connection (an in-memory recorder), abort the
		// response the way net/http does.
		panic(http.ErrAbortHandler)
	default:
		next(w, r)
	}
}

type discardWriter struct {
	h    http.Header
	body bytes.Buffer
}

func (d *discardWriter) Header() http.Header         { return d.h }
func (d *discardWriter) Write(b []byte) (int, error) { return d.body.Write(b) }
func (d *discardWriter) WriteHeader(int)             {}

// faultRequest is the body of POST /_sandbox/faults.
type faultRequest struct {
	Operation string `json:"operation"`
	faultView
}

type faultView struct {
	Latency        string  `json:"latency"`
	Rate500        float64 `json:"rate500"`
	Rate502        float64 `json:"rate502"`
	Rate503        float64 `json:"rate503"`
	Rate504        float64 `json:"rate504"`
	Rate429        float64 `json:"rate429"`
	Rate500Applied float64 `json:"rate500Applied"`
	Rate502Applied float64 `json:"rate502Applied"`
	Rate504Applied float64 `json:"rate504Applied"`
	RetryAfter     string  `json:"retryAfter"`
	DropRate       float64 `json:"dropRate"`
}

// serveFaults lets tools outside the process change faults: GET lists them,
// POST {"operation":"*","rate503":0.2,"latency":"50ms"} sets one (all zero
// clears it).
func (s *Sandbox) serveFaults(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet:
	case http.MethodPost:
		var fr faultRequest
		dec := json.NewDecoder(r.Body)
		// A misspelt field would otherwise be a rate of zero, and a
		// request of zeros clears the operation's fault.
		dec.DisallowUnknownFields()
		if err := dec.Decode(&fr); err != nil {
			writeError(w, http.StatusBadRequest, "INVALID_BODY", err.Error(), "")
			return
		}
		if fr.Operation == "" {
			writeError(w, http.StatusBadRequest, "REQUIRED", "operation is required", "operation")
			return
		}
		if err := checkFaultOperation(fr.Operation); err != nil {
			writeError(w, http.StatusBadRequest, "INVALID_FIELD", err.Error(), "operation")
			return
		}
		f := Fault{Rate500: fr.Rate500, Rate502: fr.Rate502, Rate503: fr.Rate503, Rate504: fr.Rate504, Rate429: fr.Rate429,
			Rate500Applied: fr.Rate500Applied, Rate502Applied: fr.Rate502Applied, Rate504Applied: fr.Rate504Applied,
			DropRate: fr.DropRate}
		var err error
		if fr.Latency != "" {
			if f.Latency, err = time.ParseDuration(fr.Latency); err != nil {
				writeError(w, http.StatusBadRequest, "INVALID_FIELD", err.Error(), "latency")
				return
			}
		}
		if fr.RetryAfter != "" {
			if f.RetryAfter, err = time.ParseDuration(fr.RetryAfter); err != nil {
				writeError(w, http.StatusBadRequest, "INVALID_FIELD", err.Error(), "retryAfter")
				return
			}
		}
		if err := f.validate(); err != nil {
			writeError(w, http.StatusBadRequest, "INVALID_FIELD", err.Error(), "")
			return
		}
		s.SetFault(fr.Operation, f)
	default:
		writeError(w, http.StatusMethodNotAllowed, "METHOD_NOT_ALLOWED", "use GET or POST", "")
		return
	}
	out := map[string]faultView{}
	for op, f := range s.Faults() {
		out[op] = faultView{Latency: f.Latency.String(), Rate500: f.Rate500, Rate502: f.Rate502, Rate503: f.Rate503,
			Rate504: f.Rate504, Rate429: f.Rate429, Rate500Applied: f.Rate500Applied, Rate502Applied: f.Rate502Applied,
			Rate504Applied: f.Rate504Applied, RetryAfter: f.retryAfter().String(), DropRate: f.DropRate}
	}
	writeJSON(w, http.StatusOK, out)
}
