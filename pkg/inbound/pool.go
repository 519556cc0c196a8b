package inbound

import (
	"context"
	"fmt"
	"sync"
)

// pool caps the items of a kind that exist at once over all partitions of
// a pipeline, and keeps released items with their buffers for the next
// get. Items are kept per key (the object type, for the decoders of page
// buffers); an item of another key is dropped to make room for a new one.
// Its methods are safe for concurrent use.
type pool[T any] struct {
	newItem func(key string) (*T, error)
	tokens  chan struct{} // one per item that may be taken

	mu    sync.Mutex
	idle  []pooled[T] // released items, their buffers kept
	items int         // items alive: taken plus idle
	max   int
}

type pooled[T any] struct {
	key  string
	item *T
}

func newPool[T any](maxItems int, newItem func(key string) (*T, error)) *pool[T] {
	p := &pool[T]{newItem: newItem, tokens: make(chan struct{}, maxItems), max: maxItems}
	for range maxItems {
		p.tokens <- struct{}{}
	}
	return p
}

// get waits until fewer than the maximum items are taken and returns an
// idle item of key when there is one, else a new one. It returns ctx's
// error when ctx ends first, and newItem's error.
func (p *pool[T]) get(ctx context.Context, key string) (*T, error) {
	select {
	case <-p.tokens:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	p.mu.Lock()
	for i := len(p.idle) - 1; i >= 0; i-- {
		if p.idle[i].key == key {
			it := p.idle[i].item
			p.idle = append(p.idle[:i], p.idle[i+1:]...)
			p.mu.Unlock()
			return it, nil
		}
	}
	if p.items == p.max {
		// We hold a token, so an item is idle, of another key: drop it so
		// that its buffers can be collected.
		p.idle[0] = pooled[T]{}
		p.idle = p.idle[1:]
		p.items--
	}
	p.items++
	p.mu.Unlock()
	it, err := p.newItem(key)
	if err != nil {
		p.discard()
		return nil, err
	}
	return it, nil
}

// put returns an item taken with get under key, for reuse.
func (p *pool[T]) put(key string, it *T) {
	p.mu.Lock()
	p.idle = append(p.idle, pooled[T]{key: key, item: it})
	p.mu.Unlock()
	p.tokens <- struct{}{}
}

// discard returns the token of an item taken with get but not the item,
// which may still be in use elsewhere (the transport encoding the records of
// a request given up on) or is not worth keeping (a page buffer grown for
// events larger than the next ones): it is left to the garbage collector.
func (p *pool[T]) discard() {
	p.mu.Lock()
	p.items--
	p.mu.Unlock()
	p.tokens <- struct{}{}
}

// newPageBufPool returns the pool of page buffers, keyed by object type.
func newPageBufPool(maxItems int, newDecoder NewDecoderFunc) *pool[pageBuf] {
	return newPool(maxItems, func(objectType string) (*pageBuf, error) {
		dec, err := newDecoder(objectType)
		if err != nil {
			return nil, fmt.Errorf("inbound: decoder for %s: %w", objectType, err)
		}
		return &pageBuf{dec: dec}, nil
	})
}

// newSlotPool returns the pool of pages in flight.
func newSlotPool(maxItems int) *pool[slot] {
	return newPool(maxItems, func(string) (*slot, error) { return &slot{}, nil })
}
