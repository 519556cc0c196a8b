package outbound

import (
	"context"
	"sync"
)

// flights tracks the command ids carried by the Dsco calls this process has in flight, so
// that a command delivered again while a call still carries its earlier delivery waits
// for that delivery before it is reconciled or sent: the Subscriber gives a record up
// (DrainTimeout after its partition was revoked) without stopping the call carrying it,
// and a reconciliation that reads Dsco's state before that call landed would send the
// command a second time. An id's flight ends once its batch wrote the outcomes (process),
// or once the command is dropped without one (Pipeline.live): a call answered "accepted"
// is queued in Dsco, which reading its state back cannot see, but its applied mark can.
// Methods are safe for concurrent use; the zero value is ready.
type flights struct {
	mu  sync.Mutex
	ids map[string]flight
}

// flight is one id's calls in flight: how many, and, once a delivery waits for them, the
// channel closed when the last one ends.
type flight struct {
	calls int
	done  chan struct{}
}

// begin records a call carrying cmds; endAll records the end of every call begin
// recorded for a command.
func (f *flights) begin(cmds []*command) {
	f.mu.Lock()
	if f.ids == nil {
		f.ids = make(map[string]flight)
	}
	for _, c := range cmds {
		fl := f.ids[c.id]
		fl.calls++
		f.ids[c.id] = fl
		c.flown++
	}
	f.mu.Unlock()
}

// endAll ends every call begin recorded for cmds.
func (f *flights) endAll(cmds []*command) {
	f.mu.Lock()
	for _, c := range cmds {
		for ; c.flown > 0; c.flown-- {
			f.endLocked(c)
		}
	}
	f.mu.Unlock()
}

// endLocked ends one call carrying c. f.mu is held.
func (f *flights) endLocked(c *command) {
	fl := f.ids[c.id]
	if fl.calls--; fl.calls > 0 {
		f.ids[c.id] = fl
		return
	}
	delete(f.ids, c.id)
	if fl.done != nil {
		close(fl.done)
	}
}

// wait returns once no call carries any of cmds' ids, or false when ctx ended first.
func (f *flights) wait(ctx context.Context, cmds []*command) bool {
	for {
		done := f.waitOn(cmds)
		if done == nil {
			return true
		}
		select {
		case <-done: // look again: another call may carry one of the ids by now
		case <-ctx.Done():
			return false
		}
	}
}

// waitOn returns the channel closed once the calls of the first of cmds' ids in flight
// have ended, or nil when none is.
func (f *flights) waitOn(cmds []*command) chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.ids) == 0 {
		return nil
	}
	for _, c := range cmds {
		fl, ok := f.ids[c.id]
		if !ok {
			continue
		}
		if fl.done == nil {
			fl.done = make(chan struct{})
			f.ids[c.id] = fl
		}
		return fl.done
	}
	return nil
}
