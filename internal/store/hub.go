package store

import (
	"context"
	"sync"
)

// Hub fans configuration versions out to Changes subscribers; every backend
// uses it. Each subscriber has a one-slot channel holding the newest
// undelivered version, so a slow receiver sees coalesced versions and never
// holds up a writer.
type Hub struct {
	mu     sync.Mutex
	base   int64 // the version when the store opened
	last   int64
	subs   map[chan int64]struct{}
	closed bool
}

// NewHub returns a hub whose subscribers will see versions after current.
func NewHub(current int64) *Hub {
	return &Hub{base: current, last: current, subs: make(map[chan int64]struct{})}
}

// Publish delivers v unless a version at least as new was already delivered,
// so receivers only ever see versions increase.
func (h *Hub) Publish(v int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if v <= h.last {
		return
	}
	h.last = v
	for ch := range h.subs {
		select {
		case <-ch: // replace the undelivered older version
		default:
		}
		ch <- v // cannot block: only publish sends, under h.mu
	}
}

// Subscribe returns a channel of versions published after the call, closed
// when ctx ends or the hub closes: what Store.Changes returns. It starts
// with the newest version published since the store opened, if any: a
// subscriber that read the configuration just before subscribing must not
// miss a version published in between, since Publish never repeats one.
func (h *Hub) Subscribe(ctx context.Context) <-chan int64 {
	ch := make(chan int64, 1)
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		close(ch)
		return ch
	}
	if h.last > h.base {
		ch <- h.last
	}
	h.subs[ch] = struct{}{}
	context.AfterFunc(ctx, func() { h.unsubscribe(ch) })
	return ch
}

func (h *Hub) unsubscribe(ch chan int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.subs[ch]; ok {
		delete(h.subs, ch)
		close(ch)
	}
}

// Close ends every subscription; the Store is going away.
func (h *Hub) Close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	for ch := range h.subs {
		delete(h.subs, ch)
		close(ch)
	}
}
