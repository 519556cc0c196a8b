package inbound

import (
	"context"
	"fmt"
	"sync"
)

// slotPool holds the pages in flight of every partition of a pipeline: at
// most Config.MaxPagesInFlight slots exist at once, each with its buffers
// (the page body, the decoder's arenas, the batch's records and arena),
// and a slot released after its page was acknowledged is reused by the
// next read of any partition. That bounds the pipeline's memory whatever
// the number of partitions. Its methods are safe for concurrent use.
type slotPool struct {
	newDecoder NewDecoderFunc
	tokens     chan struct{} // one per slot that may be taken

	mu    sync.Mutex
	idle  []*slot // released slots, their buffers kept
	slots int     // slots alive: taken plus idle
	max   int
}

func newSlotPool(maxSlots int, newDecoder NewDecoderFunc) *slotPool {
	p := &slotPool{newDecoder: newDecoder, tokens: make(chan struct{}, maxSlots), max: maxSlots}
	for range maxSlots {
		p.tokens <- struct{}{}
	}
	return p
}

// get waits until fewer than the maximum slots are taken and returns a
// slot for a page of objectType: an idle one of that object type when
// there is one, else a new one (dropping an idle slot of another object
// type when the maximum is reached, so that its buffers can be collected).
// It returns ctx's error when ctx ends first.
func (p *slotPool) get(ctx context.Context, objectType string) (*slot, error) {
	select {
	case <-p.tokens:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	p.mu.Lock()
	for i := len(p.idle) - 1; i >= 0; i-- {
		if s := p.idle[i]; s.objectType == objectType {
			p.idle = append(p.idle[:i], p.idle[i+1:]...)
			p.mu.Unlock()
			return s, nil
		}
	}
	if p.slots == p.max {
		// We hold a token, so some slot is idle, of another object type.
		p.idle[0] = nil
		p.idle = p.idle[1:]
		p.slots--
	}
	p.slots++
	p.mu.Unlock()
	dec, err := p.newDecoder(objectType)
	if err != nil {
		p.mu.Lock()
		p.slots--
		p.mu.Unlock()
		p.tokens <- struct{}{}
		return nil, fmt.Errorf("inbound: decoder for %s: %w", objectType, err)
	}
	return &slot{objectType: objectType, dec: dec}, nil
}

// put returns a slot taken with get; its page and records must no longer
// be used.
func (p *slotPool) put(s *slot) {
	s.page = nil
	s.batch.Page = nil
	p.mu.Lock()
	p.idle = append(p.idle, s)
	p.mu.Unlock()
	p.tokens <- struct{}{}
}
