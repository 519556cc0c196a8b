package ops

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// Check is one readiness condition, such as "kafka" (the brokers answer) or
// "dsco" (a token and a read succeed).
type Check struct {
	// Name identifies the check in /readyz and on the status page.
	Name string
	// Func reports nil when the condition holds. It must return when its
	// context ends: the server gives it Config.CheckTimeout.
	Func func(ctx context.Context) error
}

// CheckResult is the outcome of one Check.
type CheckResult struct {
	Name string `json:"name"`
	OK   bool   `json:"ok"`
	// Error is the failure's text; empty when OK.
	Error string `json:"error,omitempty"`
	// Checked is when the check ran.
	Checked time.Time `json:"checked"`
}

// readiness evaluates the checks at most once per ttl: callers within ttl of
// the last evaluation get its results, and callers that arrive while an
// evaluation runs wait for it rather than start another.
type readiness struct {
	checks  []Check
	timeout time.Duration
	ttl     time.Duration

	mu      sync.Mutex
	results []CheckResult
	at      time.Time
	running chan struct{} // closed when the running evaluation ends; nil if none
}

// get returns the results, fresh within ttl. ctx bounds only the wait: an
// evaluation once started finishes for the callers that come after.
func (r *readiness) get(ctx context.Context) []CheckResult {
	r.mu.Lock()
	if r.results != nil && time.Since(r.at) < r.ttl {
		defer r.mu.Unlock()
		return r.results
	}
	done := r.running
	if done == nil {
		done = make(chan struct{})
		r.running = done
		go r.evaluate(done)
	}
	r.mu.Unlock()

	select {
	case <-done:
	case <-ctx.Done():
		return r.timedOut(ctx)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.results
}

// timedOut reports every check as failed because the caller gave up waiting.
func (r *readiness) timedOut(ctx context.Context) []CheckResult {
	out := make([]CheckResult, len(r.checks))
	for i, c := range r.checks {
		out[i] = CheckResult{Name: c.Name, Error: fmt.Sprintf("not evaluated: %v", ctx.Err()), Checked: time.Now()}
	}
	return out
}

// evaluate runs every check concurrently, each within the timeout, stores
// the results and closes done.
func (r *readiness) evaluate(done chan struct{}) {
	results := make([]CheckResult, len(r.checks))
	var wg sync.WaitGroup
	for i, c := range r.checks {
		wg.Go(func() { results[i] = r.run(c) })
	}
	wg.Wait()

	r.mu.Lock()
	r.results, r.at, r.running = results, time.Now(), nil
	r.mu.Unlock()
	close(done)
}

// run runs one check within the timeout. A check that does not return when
// its context ends (nor within as long again) is reported as timed out and
// left to finish on its own.
func (r *readiness) run(c Check) CheckResult {
	ctx, cancel := context.WithTimeout(context.Background(), r.timeout)
	defer cancel()
	errc := make(chan error, 1)
	go func() {
		defer func() {
			if p := recover(); p != nil {
				errc <- fmt.Errorf("check panicked: %v", p)
			}
		}()
		errc <- c.Func(ctx)
	}()
	var err error
	select {
	case err = <-errc:
	case <-ctx.Done():
		// A check that honours its context returns at once, and its own error
		// says more (which broker, which call): wait for it a little longer.
		grace := time.NewTimer(r.timeout)
		defer grace.Stop()
		select {
		case err = <-errc:
		case <-grace.C:
			err = fmt.Errorf("no answer within %s", r.timeout)
		}
	}
	res := CheckResult{Name: c.Name, OK: err == nil, Checked: time.Now()}
	if err != nil {
		res.Error = err.Error()
	}
	return res
}
